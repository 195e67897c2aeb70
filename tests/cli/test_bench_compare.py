#!/usr/bin/python3
"""vkattn-bench's comparisons on the CPU: a case with a compare_to case (q8_0 K/V against f16) is
run again alternately with it when both are in the run, and --json and the printed table carry the
median of the rounds' ratios inside its middle half; a case whose compare_to case is not in the run
gets no comparison.

Usage: test_bench_compare.py VKATTN_BENCH
"""
import json
import os
import subprocess
import sys
import tempfile

BENCH = sys.argv[1]
Q8, F16, Q4 = ("decode_q1_kv4096_h32x8_d128_" + t for t in ("q8_0", "f16", "q4_0"))
failures = []


def expect(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def run(cases, json_path):
    r = subprocess.run([BENCH, "--backend", "cpu", "--quiet", "--case-seconds", "0.5", "--filter", ",".join(cases),
                        "--json", json_path], capture_output=True, text=True, timeout=600)
    print(r.stdout, r.stderr, sep="")
    expect(r.returncode == 0, f"vkattn-bench exits 0 (got {r.returncode})")
    with open(json_path) as f:
        return r.stdout, json.load(f)["comparisons"]


with tempfile.TemporaryDirectory() as tmp:
    out, comparisons = run([Q8, F16], os.path.join(tmp, "pair.json"))
    expect(len(comparisons) == 1, f"one comparison: {comparisons}")
    if len(comparisons) == 1:
        c = comparisons[0]
        expect((c["case"], c["compare_to"], c["target"]) == (Q8, F16, "cpu"), f"q8_0 against f16 on the CPU: {c}")
        expect(c["ran"] and c["rounds"] >= 5, f"ran at least 5 rounds: {c}")
        expect(0 < c["ratio_low"] <= c["time_ratio"] <= c["ratio_high"], f"median inside the middle half: {c}")
        line = [l for l in out.splitlines() if l.strip().startswith(Q8) and "the time of " + F16 in l]
        expect(len(line) == 1 and f"{c['time_ratio']:.2f}x" in line[0], f"the table prints the ratio: {line}")
    _, comparisons = run([Q4], os.path.join(tmp, "alone.json"))
    expect(comparisons == [], f"no comparison without the f16 case in the run: {comparisons}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("vkattn-bench comparisons: all checks passed")
