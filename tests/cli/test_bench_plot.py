#!/usr/bin/python3
"""vkattn-bench --plot on the CPU with two small cases (a comma-separated --filter): the SVG is
well-formed XML, has a panel for the CPU with its measured roof, and a point for every case that
ran (the --json results), in that target's panel.

Usage: test_bench_plot.py VKATTN_BENCH
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.dom.minidom

BENCH = sys.argv[1]
CASES = ["decode_q1_kv1024_h32x8_d128_f16", "prefill_h8_s512_d64_causal_f32"]
failures = []


def expect(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as tmp:
    svg_path, json_path = os.path.join(tmp, "roofline.svg"), os.path.join(tmp, "bench.json")
    r = subprocess.run([BENCH, "--backend", "cpu", "--quiet", "--filter", ",".join(CASES), "--plot", svg_path,
                        "--json", json_path], capture_output=True, text=True, timeout=300)
    print(r.stdout, r.stderr, sep="")
    expect(r.returncode == 0, f"vkattn-bench exits 0 (got {r.returncode})")
    expect(os.path.isfile(svg_path), "writes the SVG")
    if os.path.isfile(svg_path) and os.path.isfile(json_path):
        document = xml.dom.minidom.parse(svg_path)  # raises (and fails the test) if not well-formed
        expect(document.documentElement.tagName == "svg", "the root element is <svg>")
        with open(json_path) as f:
            results = json.load(f)["results"]
        ran = [(x["target"], x["case"]) for x in results if x["ran"]]
        expect(sorted(case for _, case in ran) == sorted(CASES), f"both cases ran on the CPU: {ran}")
        panels = {g.getAttribute("data-target"): g for g in document.getElementsByTagName("g")
                  if g.getAttribute("class") == "panel"}
        expect(list(panels) == ["cpu"], f"one panel, for the CPU: {list(panels)}")
        points = [(panel, g.getAttribute("data-case")) for panel, element in panels.items()
                  for g in element.getElementsByTagName("g") if g.getAttribute("class") == "case"]
        expect(sorted(points) == sorted(ran), f"a point per case that ran: {points}")
        circles = [c for c in document.getElementsByTagName("circle") if c.getAttribute("class") == "case"]
        expect(len(circles) == len(ran), f"{len(circles)} circles for {len(ran)} cases")
        if "cpu" in panels:
            roofs = panels["cpu"].getElementsByTagName("polyline")
            expect(len(roofs) == 1, "the CPU panel has its roof (measured FMA peak and bandwidth)")
            text = "".join(t.firstChild.data for t in panels["cpu"].getElementsByTagName("text") if t.firstChild)
            expect("FMA peak" in text and "GB/s" in text, "the roofs are labelled")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("vkattn-bench --plot: all checks passed")
