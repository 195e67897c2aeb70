#!/usr/bin/python3
"""vkattn-approx: its table has every mode at every size and input, linear
attention approximates the flat input far better than the peaked one (the
structure the two inputs are built with), so does Linformer with
mean-pooling projections (without causal masking, where it is run), top-k
(on the CPU backend) the other way round,
--plot writes a well-formed SVG
with a line per mode and input in each panel, and bad arguments end in a
message and exit 2 with no plot left behind.

Usage: test_approx.py VKATTN_APPROX [--backend cpu|vulkan]
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.dom.minidom

APPROX = sys.argv[1]
BACKEND = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--backend" else "cpu"
failures = []


def expect(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as tmp:
    plot = os.path.join(tmp, "approx.svg")
    r = subprocess.run([APPROX, "--backend", BACKEND, "--sizes", "256,512", "--heads", "2", "--features", "64",
                        "--repeat", "1", "--json", "--plot", plot], capture_output=True, text=True)
    if BACKEND == "vulkan" and "BACKEND_UNAVAILABLE" in r.stderr:
        print("no Vulkan device; skipping")
        sys.exit(77)
    expect(r.returncode == 0, "a small run succeeds: " + r.stderr)
    if r.returncode == 0:
        rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        keys = {(row["size"], row["input"], row["mode"]) for row in rows}
        for size in (256, 512):
            for data in ("peaked", "flat"):
                for mode in ("exact", "linear-elu", "linear-favor64", "longformer64"):
                    expect((size, data, mode) in keys, f"a row for {size} {data} {mode}")
        for row in rows:
            expect(row["ms"] > 0, f"a time for {row}")
            if row["mode"] == "exact":
                expect(row["max_error"] < 0, "exact has no error against itself")
        for mode in ("linear-elu", "linear-favor64"):
            for size in (256, 512):
                error = {row["input"]: row["max_error"] for row in rows if row["mode"] == mode and row["size"] == size}
                expect(0 <= error["flat"] < 0.2, f"{mode} approximates the flat input at {size}: {error}")
                expect(error["peaked"] > 0.5, f"{mode} cannot resolve one dominant key at {size}: {error}")
        # Top-k keeps the peaked input's dominant key and drops most of the flat input's spread weight.
        topk = {(row["size"], row["input"]): row["max_error"] for row in rows if row["mode"] == "topk64"}
        expect(len(topk) == 4, f"top-k rows at both sizes and inputs: {topk}")
        for size in (256, 512):
            expect(0 <= topk.get((size, "peaked"), 1) < 0.1, f"top-64 keeps the peaked input's key at {size}: {topk}")
            expect(topk.get((size, "flat"), 0) > 0.15, f"top-64 drops most of the flat input's weight at {size}: {topk}")
        modes = 5
        svg = xml.dom.minidom.parse(plot)
        expect(len(svg.getElementsByTagName("polyline")) == 2 * (modes - 1) + 2 * modes,
               "two panels: an error line per approximate mode and input, a time line per mode and input")
        # Longformer's blocks (64 keys, 2 on either side): at 256 keys every block is
        # visible, so it is exact attention; at 512 it misses the peaked input's far targets.
        error = {(row["size"], row["input"]): row["max_error"] for row in rows if row["mode"] == "longformer64"}
        expect(error.get((256, "peaked"), 1) < 1e-5 and error.get((256, "flat"), 1) < 1e-5,
               f"longformer64 covers every block at 256: {error}")

    # Without causal masking Linformer joins (32 pooled keys): pooling keeps
    # the flat input's near-uniform average and blurs the peaked input's one key.
    r = subprocess.run([APPROX, "--backend", BACKEND, "--sizes", "512", "--heads", "2", "--features", "64",
                        "--proj-len", "32", "--causal=none", "--repeat", "1", "--json"], capture_output=True, text=True)
    expect(r.returncode == 0, "a non-causal run succeeds: " + r.stderr)
    if r.returncode == 0:
        rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        error = {row["input"]: row["max_error"] for row in rows if row["mode"] == "linformer32"}
        expect(set(error) == {"peaked", "flat"}, f"Linformer rows for both inputs: {error}")
        if set(error) == {"peaked", "flat"}:
            expect(0 <= error["flat"] < 0.2, f"Linformer approximates the flat input: {error}")
            expect(error["peaked"] > 0.5, f"Linformer's pooling cannot resolve one dominant key: {error}")

    bad = os.path.join(tmp, "bad.svg")
    for args, needle in [(["--sizes", "0"], "--sizes"), (["--features", "0"], "--features"),
                         (["--proj-len", "0"], "--proj-len"), (["--topk", "4097"], "--topk"),
                         (["--causal=top-left"], "--causal"), (["--bogus"], "unknown argument"),
                         (["--heads", "x"], "--heads")]:
        r = subprocess.run([APPROX, "--backend", BACKEND, "--plot", bad, *args], capture_output=True, text=True)
        expect(r.returncode == 2 and needle in r.stderr, f"bad argument {args}: exit 2 mentioning {needle!r}")
        expect(not os.path.exists(bad), f"no plot left for {args}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("vkattn-approx: all checks passed")
