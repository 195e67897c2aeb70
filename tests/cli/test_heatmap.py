#!/usr/bin/python3
"""vkattn-heatmap on the CPU backend.

  test_heatmap.py VKATTN_HEATMAP draw      problems with causal masking (bottom-right and top-left),
                                           a sliding window, global keys and key lengths: exit 0, the
                                           row-sum check printed as OK, and a PNG that is decoded here
                                           (zlib only) and checked cell by cell: the grey cells are
                                           exactly the (query, key) pairs hidden by the problem's
                                           parameters, computed here from include/vkattn.h's
                                           visibility rule, each cell a uniform block of --scale
                                           pixels, and the visible cells coloured, not all alike,
                                           different for another head and the same on a rerun;
                                           an existing file is replaced, no temporary file is left
  test_heatmap.py VKATTN_HEATMAP bad-args  each bad argument, a problem over the tool's work limit,
                                           and a problem the library rejects: a message naming it on
                                           stderr, a non-zero exit (never a signal), no PNG left
                                           behind, an existing file left as it was
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

HEATMAP, MODE = sys.argv[1], sys.argv[2]
failures = []

# samples/vkattn-heatmap/main.cpp: grey for a key the query does not see, magenta for a weight that
# is not a number, viridis (from (68, 1, 84) at 0 to (253, 231, 37) at 1) for the others.
HIDDEN = (160, 160, 160)
INVALID = (255, 0, 255)
VIRIDIS_TOP = (253, 231, 37)


def expect(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    return subprocess.run([HEATMAP, "--backend", "cpu", *args], capture_output=True, text=True, timeout=120)


def read_png(path):
    """(width, height, rows) of an 8-bit RGB, non-interlaced PNG, rows[y][x] an (r, g, b) tuple.
    Raises ValueError on anything else, or on a damaged file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, header, idat, ended = 8, None, [], False
    while pos < len(data) and not ended:
        if pos + 12 > len(data):
            raise ValueError("truncated chunk")
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise ValueError(f"chunk {kind!r}: bad length or CRC")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended = True
        pos += 12 + length
    if header is None or not ended:
        raise ValueError("no IHDR or no IEND")
    width, height, depth, colour, compression, filtering, interlace = header
    if (depth, colour, compression, filtering, interlace) != (8, 2, 0, 0, 0):
        raise ValueError(f"not 8-bit RGB without interlacing: {header}")
    raw = zlib.decompress(b"".join(idat))
    bpp, stride = 3, width * 3
    if len(raw) != height * (stride + 1):
        raise ValueError(f"{len(raw)} bytes of image data for {width} x {height}")
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0          # left
            b = previous[x]                               # up
            c = previous[x - bpp] if x >= bpp else 0      # up-left
            if kind == 0:
                predictor = 0
            elif kind == 1:
                predictor = a
            elif kind == 2:
                predictor = b
            elif kind == 3:
                predictor = (a + b) // 2
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                raise ValueError(f"row {y}: filter type {kind}")
            line[x] = (line[x] + predictor) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, 3)])
        previous = line
    return width, height, rows


def hidden_pairs(q_len, kv_len, causal=None, window=(-1, -1), global_keys=0, key_length=None):
    """The (query i, key j) pairs a query does not see, from include/vkattn.h: with L the key length
    (kv_lens when given, else kv_len), key j is visible to query i when j < L; causal bottom-right:
    j <= i + (L - q_len), top-left: j <= i; and the window, with d = i + (L - q_len) (bottom-right
    alignment, used without causal masking too) or d = i (top-left): j >= d - left (left >= 0) and
    j <= d + right (right >= 0), where keys j < global_keys are exempt from the window only."""
    length = kv_len if key_length is None else key_length
    left, right = window
    hidden = set()
    for i in range(q_len):
        d = i if causal == "top-left" else i + (length - q_len)
        for j in range(kv_len):
            visible = j < length
            if causal == "bottom-right":
                visible = visible and j <= i + (length - q_len)
            elif causal == "top-left":
                visible = visible and j <= i
            if j >= global_keys:
                visible = visible and (left < 0 or j >= d - left) and (right < 0 or j <= d + right)
            if not visible:
                hidden.add((i, j))
    return hidden


def cells(path, q_len, kv_len, scale, what):
    """The picture's cell colours, cells[i][j] for query i and key j, after checking its size (kv_len
    cells across, q_len down, `scale` pixels each) and that each cell is one uniform block; None when
    the file cannot be read that way."""
    try:
        width, height, rows = read_png(path)
    except (OSError, ValueError, zlib.error) as e:
        expect(False, f"{what}: a readable 8-bit RGB PNG ({e})")
        return None
    if (width, height) != (kv_len * scale, q_len * scale):
        expect(False, f"{what}: {kv_len * scale} x {q_len * scale} pixels (keys across, queries down), "
                      f"not {width} x {height}")
        return None
    result = [[rows[i * scale][j * scale] for j in range(kv_len)] for i in range(q_len)]
    uneven = [(i, j) for i in range(q_len) for j in range(kv_len)
              if any(rows[i * scale + dy][j * scale + dx] != result[i][j] for dy in range(scale) for dx in range(scale))]
    expect(not uneven, f"{what}: every cell a uniform {scale} x {scale} block (not: {uneven[:5]})")
    return result


def check_picture(picture, expected_hidden, what):
    """The grey cells are exactly the hidden pairs; the visible ones are valid weights (not grey, not
    magenta), in more than one colour."""
    if picture is None:
        return
    grey = {(i, j) for i, row in enumerate(picture) for j, rgb in enumerate(row) if rgb == HIDDEN}
    expect(grey == expected_hidden,
           f"{what}: grey cells are exactly the hidden pairs ({len(grey)} grey, {len(expected_hidden)} hidden; "
           f"grey but visible: {sorted(grey - expected_hidden)[:5]}, "
           f"hidden but not grey: {sorted(expected_hidden - grey)[:5]})")
    visible = [rgb for i, row in enumerate(picture) for j, rgb in enumerate(row) if (i, j) not in expected_hidden]
    expect(INVALID not in visible, f"{what}: no visible cell in magenta (a weight that is not a number)")
    expect(len(set(visible)) > 1, f"{what}: the visible cells are not all one colour ({set(visible)})")


def check_run(r, rows_seeing, rows_seeing_none, what):
    print(r.stdout, r.stderr, sep="")
    expect(r.returncode == 0, f"{what}: exit 0 (got {r.returncode})")
    match = re.search(r"max \|sum - 1\| = (\S+) over (\d+) rows that see a key .*?; (\d+) rows see none", r.stdout)
    expect(match is not None, f"{what}: prints the largest |row sum - 1|")
    if match:
        expect(float(match.group(1)) < 1e-3, f"{what}: row sums are 1")
        expect(int(match.group(2)) == rows_seeing, f"{what}: {rows_seeing} rows see a key (got {match.group(2)})")
        expect(int(match.group(3)) == rows_seeing_none, f"{what}: {rows_seeing_none} rows see none")
    expect("check: OK" in r.stdout, f"{what}: reports the check as OK")


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "attention.png")
    if MODE == "draw":
        # 48 queries over 80 keys: bottom-right causal (--causal alone), a window of 12 with 3 global
        # keys, the last 8 keys padding; 2 query heads sharing a KV head, head 1 drawn at 3 pixels per
        # cell. --out already holds a file, which the picture replaces.
        with open(out, "wb") as f:
            f.write(b"an older file")
        problem = ["--q-len", "48", "--kv-len", "80", "--head-dim", "32", "--heads", "2", "--kv-heads", "1",
                   "--window", "12,0", "--global-keys", "3", "--kv-len-valid", "72", "--scale", "3"]
        r = run("--out", out, "--causal", *problem, "--head", "1")
        check_run(r, 2 * 48, 0, "bottom-right, head 1")
        expected = hidden_pairs(48, 80, "bottom-right", (12, 0), 3, 72)
        head1 = cells(out, 48, 80, 3, "bottom-right, head 1")
        check_picture(head1, expected, "bottom-right, head 1")
        expect(sorted(os.listdir(tmp)) == ["attention.png"], f"no temporary file left: {sorted(os.listdir(tmp))}")

        # The same problem with --causal MODE (the separate form), rerun for head 1 and drawn for
        # head 0: the same hidden pairs; head 1 again gives the same picture, head 0 another.
        again = os.path.join(tmp, "again.png")
        r = run("--out", again, "--causal", "bottom_right", *problem, "--head", "1")
        check_run(r, 2 * 48, 0, "--causal bottom_right, head 1 again")
        expect(cells(again, 48, 80, 3, "head 1 again") == head1, "head 1 drawn twice gives the same picture")
        head0_path = os.path.join(tmp, "head0.png")
        r = run("--out", head0_path, "--causal=bottom-right", *problem, "--head", "0")
        check_run(r, 2 * 48, 0, "--causal=bottom-right, head 0")
        head0 = cells(head0_path, 48, 80, 3, "head 0")
        check_picture(head0, expected, "head 0")
        expect(head0 != head1, "heads 0 and 1 give different pictures (the drawn head is --head)")

        # Top-left causal (--causal=MODE) with more queries than keys and a window on both sides: query
        # 19 sees no key (a grey row), query 0 only key 0 (weight 1: the top of the colour map); --norm
        # row puts each row's largest weight at the top of the map. --causal directly before --out
        # is bottom-right, not a mode named "--out": the last case.
        top_left = os.path.join(tmp, "top-left.png")
        r = run("--causal=top-left", "--out", top_left, "--q-len", "20", "--kv-len", "16", "--window", "3,2",
                "--scale", "2", "--norm", "row")
        check_run(r, 19, 1, "top-left")
        expected = hidden_pairs(20, 16, "top-left", (3, 2))
        picture = cells(top_left, 20, 16, 2, "top-left")
        check_picture(picture, expected, "top-left")
        if picture is not None:
            expect(picture[0][0] == VIRIDIS_TOP, f"top-left: query 0's one key, weight 1, is {VIRIDIS_TOP}")
            expect(all(VIRIDIS_TOP in picture[i] for i in range(19)),
                   "top-left, --norm row: every row that sees a key has its largest weight at the top of the map")
        bare = os.path.join(tmp, "bare.png")
        r = subprocess.run([HEATMAP, "--backend", "cpu", "--q-len", "20", "--kv-len", "24", "--scale", "1",
                            "--causal", "--out", bare], capture_output=True, text=True, timeout=120)
        check_run(r, 20, 0, "--causal --out")
        check_picture(cells(bare, 20, 24, 1, "--causal --out"), hidden_pairs(20, 24, "bottom-right"), "--causal --out")
    elif MODE == "bad-args":
        bad_cases = [
            (["--window", "5"], "--window"),
            (["--window", "a,b"], "--window"),
            (["--causal", "sideways"], "--causal"),
            (["--causal=sideways"], "--causal"),
            (["--scale", "0"], "--scale"),
            (["--q-len", "-3"], "--q-len"),
            (["--head", "4", "--heads", "2"], "--head"),
            (["--heads", "4", "--kv-heads", "3"], "--kv-heads"),
            (["--bool-mask", "keys:1.5"], "--bool-mask"),
            (["--norm", "linear"], "--norm"),
            (["--backend", "tpu"], "--backend"),
            (["--bogus"], "unknown argument"),
            (["--q-len"], "needs a value"),
            # The work limits: logits (2^24, which also bounds a pairs mask) and multiply-adds (2^31).
            (["--q-len", "32768", "--kv-len", "32768"], "16777216"),
            (["--q-len", "8192", "--kv-len", "8192", "--bool-mask", "pairs:0.5"], "16777216"),
            (["--q-len", "1024", "--kv-len", "1024", "--heads", "32", "--kv-heads", "1"], "16777216"),
            (["--q-len", "1024", "--kv-len", "1024", "--head-dim", "4096"], "2147483648"),
            # Valid command lines the library rejects: its message, naming the field.
            (["--head-dim", "5000"], "qk_dim"),
            (["--kv-len", "64", "--kv-len-valid", "65"], "kv_lens"),
            (["--window", "-2,0"], "--window"),
        ]
        for args, needle in bad_cases:
            r = run("--out", out, *args)
            expect(r.returncode > 0, f"{args}: non-zero exit, not a signal (got {r.returncode})")
            expect("vkattn-heatmap: error:" in r.stderr and needle in r.stderr,
                   f"{args}: the message names {needle!r}: {r.stderr.strip().splitlines()[:1]}")
            expect(not os.path.exists(out), f"{args}: no PNG left behind")
        # A run that fails after the file is opened (the library rejects the problem) leaves an
        # existing --out as it was, and no temporary file.
        with open(out, "wb") as f:
            f.write(b"an older file")
        r = run("--out", out, "--head-dim", "5000")
        expect(r.returncode == 1 and "qk_dim" in r.stderr, f"a rejected problem: exit 1 naming qk_dim ({r.returncode})")
        with open(out, "rb") as f:
            expect(f.read() == b"an older file", "a failed run leaves an existing --out as it was")
        expect(sorted(os.listdir(tmp)) == ["attention.png"], f"no temporary file left: {sorted(os.listdir(tmp))}")
        os.remove(out)
        r = subprocess.run([HEATMAP], capture_output=True, text=True, timeout=60)
        expect(r.returncode == 2 and "--out" in r.stderr, "without --out: usage error naming --out")
        r = run("--out", os.path.join(tmp, "missing", "x.png"))
        expect(r.returncode == 1 and "cannot create" in r.stderr, "an unwritable path: 'cannot create'")
    else:
        sys.exit(f"unknown mode {MODE}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print(f"vkattn-heatmap {MODE}: all checks passed")
