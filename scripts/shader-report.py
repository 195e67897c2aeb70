#!/usr/bin/env python3
"""Analyses the AMD assembly that `vkattn-bench --shader-stats --ir DIR` wrote.

For every pipeline (a .json description and a .txt with the driver's
internal representations) it finds the loops of the final assembly (a
branch back to an earlier block) and, for the key-block loop, counts:

  instr    instructions in the loop body (inner loops, if any, counted once)
  fma      FMA-type instructions (v_fma*, v_fmac*, v_mac*, v_mad_f*, v_pk_fma*, v_dot*)
  lds      LDS reads, by width in bytes
  vmem     buffer/global loads, by width in bytes
  vmcnt0   `s_waitcnt vmcnt(0)` (every load in flight waited for)
  barriers s_barrier
  cost     issue cost per (key, query row): instr x workgroup size /
           (keys per tile x query rows per workgroup), i.e. lane-slots
           issued per (key, row) by all the workgroup's waves

and the occupancy: the driver's "Subgroups per SIMD", bounded by what the
workgroup's shared memory allows (RDNA: 128 KiB per WGP of 4 SIMDs; GCN:
64 KiB per CU of 4 SIMDs).

With --check the exit status is 1 if any pipeline spills or uses scratch.
With --targets it also checks the issue's targets for the three headline
cases (prefill D=64 and D=128, decode D=128 GQA 4:1 f16).

Only the Python standard library is used.
"""
import argparse
import glob
import json
import os
import re
import sys

FMA_RE = re.compile(r"^v_(fma|fmac|mac|mad_f|madmk_f|madak_f|pk_fma|dot\d)")
LDS_READ_RE = re.compile(r"^ds_(read|load)")  # ds_read_b128, ds_read2_b32, gfx11 ds_load_b64, ds_load_2addr_b64
VMEM_LOAD_RE = re.compile(r"^(buffer|global)_load_(\w+)")
LABEL_RE = re.compile(r"^(BB\d+):")
BRANCH_RE = re.compile(r"^s_(cbranch_\w+|branch)\s+(BB\d+)")

# Bytes per load mnemonic suffix (gfx9/10 and gfx11 spellings).
VMEM_WIDTH = {
    "ubyte": 1, "sbyte": 1, "u8": 1, "i8": 1, "ubyte_d16": 1, "ubyte_d16_hi": 1, "sbyte_d16": 1,
    "ushort": 2, "sshort": 2, "u16": 2, "i16": 2, "short_d16": 2, "short_d16_hi": 2, "d16_b16": 2, "d16_hi_b16": 2,
    "dword": 4, "b32": 4, "dwordx2": 8, "b64": 8, "dwordx3": 12, "b96": 12, "dwordx4": 16, "b128": 16,
    "format_x": 4, "format_xy": 8, "format_xyz": 12, "format_xyzw": 16,
}

# The anchor: ggml's scalar flash attention on navi21, issue cost per
# (key, query row) for prefill D=64, prefill D=128, decode D=128.
HEADLINE = [
    ("prefill_h8_s2048_d64_f32", 287.0),
    ("prefill_h8_s2048_d128_f32", 632.0),
    ("decode_q1_kv4096_h32x8_d128_f16", 840.0),
]


def assembly_lines(text):
    """The instruction and label lines of the final assembly, comments removed."""
    start = text.find("Assembly")
    if start < 0:
        return []
    block = text[start:]
    end = block.find("\n=== ", 1)
    if end >= 0:
        block = block[:end]
    lines = []
    for raw in block.splitlines()[1:]:
        line = raw.split(";")[0].strip()
        if line:
            lines.append(line)
    return lines


def find_loops(lines):
    """(first, last) line index pairs: a label and a later branch back to it."""
    labels = {}
    loops = []
    for i, line in enumerate(lines):
        m = LABEL_RE.match(line)
        if m:
            labels[m.group(1)] = i
            continue
        m = BRANCH_RE.match(line)
        if m and m.group(2) in labels and labels[m.group(2)] < i:
            loops.append((labels[m.group(2)], i))
    return loops


def outermost(loops):
    """Loops not inside another loop, in program order."""
    result = []
    for a in sorted(loops):
        if not any(b[0] <= a[0] and a[1] <= b[1] and b != a for b in loops):
            result.append(a)
    return result


def loop_metrics(lines, first, last, inner_loops):
    m = {"instr": 0, "fma": 0, "lds": {}, "vmem": {}, "vmcnt0": 0, "barriers": 0, "inner_loops": inner_loops}
    for line in lines[first:last + 1]:
        if LABEL_RE.match(line):
            continue
        op = line.split()[0]
        m["instr"] += 1
        if FMA_RE.match(op):
            m["fma"] += 1
        if LDS_READ_RE.match(op):
            pair = op.startswith("ds_read2") or op.startswith("ds_load_2addr")
            width = int(re.findall(r"\d+", op)[-1]) // 8 * (2 if pair else 1)
            m["lds"][width] = m["lds"].get(width, 0) + 1
        vmem = VMEM_LOAD_RE.match(op)
        if vmem:
            width = VMEM_WIDTH.get(vmem.group(2), 0)
            m["vmem"][width] = m["vmem"].get(width, 0) + 1
        if op == "s_waitcnt" and "vmcnt(0)" in line:
            m["vmcnt0"] += 1
        if op == "s_barrier":
            m["barriers"] += 1
    return m


def is_key_loop(metrics):
    return metrics["fma"] > 0 and sum(metrics["vmem"].values()) + sum(metrics["lds"].values()) > 0


def occupancy(description, statistics):
    reported = statistics.get("Subgroups per SIMD")
    lds = statistics.get("LDS size", 0)
    device = description.get("device", "").upper()
    rdna = any(name in device for name in ("NAVI", "GFX1", "VANGOGH", "REMBRANDT", "RAPHAEL", "PHOENIX"))
    wave = description.get("wave_size") or 64
    waves_per_group = max(1, -(-description["workgroup_size"] // wave))
    if lds:
        pool = 131072 if rdna else 65536  # bytes per WGP (RDNA) or CU (GCN), 4 SIMDs each
        groups = pool // lds
        by_lds = groups * waves_per_group / 4.0
        return min(reported, by_lds) if reported is not None else by_lds
    return reported


def analyse(json_path):
    with open(json_path) as f:
        description = json.load(f)
    txt_path = json_path[:-5] + ".txt"
    with open(txt_path) as f:
        text = f.read()
    executable = description["executables"][0] if description.get("executables") else {}
    statistics = executable.get("statistics", {})
    description["wave_size"] = executable.get("subgroup_size", 0)
    lines = assembly_lines(text)
    loops = find_loops(lines)
    key_loops = []
    for first, last in outermost(loops):
        inner = sum(1 for l in loops if first <= l[0] and l[1] <= last and l != (first, last))
        metrics = loop_metrics(lines, first, last, inner)
        if is_key_loop(metrics):
            key_loops.append(metrics)
    result = {
        "name": os.path.basename(json_path)[:-5],
        "case": description["case"],
        "pipeline": description["pipeline"],
        "shader": description["shader"],
        "device": description["device"],
        "workgroup_size": description["workgroup_size"],
        "rows": description["rows_per_workgroup"],
        "keys": description["keys_per_tile"],
        "wave": description["wave_size"],
        "vgprs": statistics.get("VGPRs"),
        "spills": statistics.get("Spilled VGPRs", 0) + statistics.get("Spilled SGPRs", 0),
        "scratch": statistics.get("Scratch size", 0),
        "lds_bytes": statistics.get("LDS size", 0),
        "occupancy": occupancy(description, statistics),
        "loops": key_loops,
    }
    for loop in key_loops:
        loop["cost"] = loop["instr"] * description["workgroup_size"] / float(
            description["keys_per_tile"] * description["rows_per_workgroup"])
        lds_reads = sum(loop["lds"].values())
        loop["fma_per_lds"] = loop["fma"] / lds_reads if lds_reads else None
    return result


def widths(counts):
    if not counts:
        return "-"
    return " ".join("%dx%dB" % (counts[w], w) for w in sorted(counts))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ir_dir", help="the --ir directory of vkattn-bench --shader-stats")
    parser.add_argument("--check", action="store_true", help="fail on any spill or scratch use")
    parser.add_argument("--targets", action="store_true", help="check the issue's targets on the headline cases")
    parser.add_argument("--json", help="write the analysis here")
    args = parser.parse_args()

    paths = sorted(glob.glob(os.path.join(args.ir_dir, "**", "*.json"), recursive=True))
    if not paths:
        print("shader-report: no pipeline descriptions under %s" % args.ir_dir, file=sys.stderr)
        return 2
    results = [analyse(p) for p in paths]
    header = "%-44s %-8s %5s %6s %5s %7s %6s %6s %5s %-18s %-22s %6s %4s %8s" % (
        "pipeline", "shader", "VGPR", "spill", "scr", "LDS", "waves", "instr", "fma", "lds reads", "vmem loads",
        "vmcnt0", "bar", "cost")
    failures = []
    device = None
    for r in results:
        if r["device"] != device:
            device = r["device"]
            print("\n%s" % device)
            print(header)
        shader = r["shader"].replace("flash_attn_", "")
        occupancy_text = "-" if r["occupancy"] is None else "%.2f" % r["occupancy"]
        prefix = "%-44s %-8s %5s %6s %5s %7s %6s" % (
            (r["case"] + " " + r["pipeline"].replace("attention", "attn"))[:44], shader[:8], r["vgprs"], r["spills"],
            r["scratch"], r["lds_bytes"], occupancy_text)
        if not r["loops"]:
            print(prefix + "  (no key loop found)")
        for i, loop in enumerate(r["loops"]):
            if i > 0:
                prefix = " " * len(prefix)
            print("%s %6d %5d %-18s %-22s %6d %4d %8.1f%s" % (
                prefix, loop["instr"], loop["fma"], widths(loop["lds"]), widths(loop["vmem"]), loop["vmcnt0"],
                loop["barriers"], loop["cost"], "  (inner loops counted once: %d)" % loop["inner_loops"]
                if loop["inner_loops"] else ""))
        if r["spills"] or r["scratch"]:
            failures.append("%s on %s: %s spilled registers, %s bytes of scratch" % (
                r["name"], r["device"], r["spills"], r["scratch"]))

    if args.targets:
        print("\nTargets (issue 12, item 6) on the key loop of interior tiles (the first key loop):")
        for case, anchor in HEADLINE:
            for r in results:
                if r["case"] != case or not r["pipeline"].startswith("attention") or not r["loops"]:
                    continue
                loop = r["loops"][0]
                checks = [
                    ("no spills or scratch", r["spills"] == 0 and r["scratch"] == 0),
                    ("occupancy >= 4 waves/SIMD", (r["occupancy"] or 0) >= 4),
                    ("K/V loads >= 8 bytes", all(w >= 8 for w in loop["vmem"]) or not loop["vmem"]),
                    ("<= 8 vmcnt(0) per key block", loop["vmcnt0"] <= 8),
                    (">= 4 FMA per LDS read", loop["fma_per_lds"] is None or loop["fma_per_lds"] >= 4),
                    ("issue cost below ggml's %.0f" % anchor, loop["cost"] < anchor),
                ]
                print("  %s on %s: cost %.1f, %s" % (case, r["device"], loop["cost"], "; ".join(
                    "%s %s" % (name, "met" if ok else "MISSED") for name, ok in checks)))

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.check and failures:
        print("\nshader-report: spills or scratch:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
