#!/usr/bin/python3
"""vkattn-run against NumPy: outputs match an independent float64 computation,
the fixed interface (--json keys, shapes, dtypes) holds, and every bad input
ends in a message on stderr, a non-zero exit and no output file.

Usage: test_vkattn_run.py VKATTN_RUN [--backend cpu|vulkan]
Exits 77 (CTest's skip code) when NumPy is missing or the backend is absent.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("NumPy is not installed for this Python; skipping")
    sys.exit(77)

RUN = sys.argv[1]
BACKEND = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--backend" else "cpu"
failures = []


def run(*args):
    return subprocess.run([RUN, "--backend", BACKEND, *args], capture_output=True, text=True)


def reference(q, k, v, scale, visible, additive=None):
    """Naive float64 attention; rows that see nothing give zeros and -inf."""
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k.astype(np.float64), group, axis=1)
    v = np.repeat(v.astype(np.float64), group, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k) * scale
    if additive is not None:
        s = s + np.where(np.isfinite(additive), additive, 0.0)
    s = np.where(visible, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m)
    l = p.sum(axis=-1, keepdims=True)
    o = np.einsum("bhij,bhjd->bhid", p, v) / np.where(l > 0, l, 1.0)
    lse = np.where(l[..., 0] > 0, m[..., 0] + np.log(np.where(l[..., 0] > 0, l[..., 0], 1.0)), -np.inf)
    return o, lse


def expect(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as tmp:
    def path(name):
        return os.path.join(tmp, name)

    probe = run("--list-devices")
    if BACKEND == "vulkan" and "vulkan" not in probe.stdout:
        print("no Vulkan device; skipping")
        sys.exit(77)

    rng = np.random.default_rng(7)
    B, Hq, Hkv, Sq, Skv, D, Dv = 2, 8, 2, 37, 101, 64, 48
    q = rng.standard_normal((B, Hq, Sq, D), dtype=np.float32)
    k = rng.standard_normal((B, Hkv, Skv, D), dtype=np.float32)
    v = rng.standard_normal((B, Hkv, Skv, Dv), dtype=np.float32)
    for name, array in {"q": q, "k": k, "v": v}.items():
        np.save(path(name + ".npy"), array)
    i = np.arange(Sq)[:, None]
    j = np.arange(Skv)[None, :]
    scale = np.float32(1 / np.sqrt(D))

    # 1. Causal (bottom-right) + boolean mask broadcast over batch and heads + kv-lens, with LSE.
    mask = rng.random((Sq, Skv)) < 0.8
    lens = np.array([Skv, 50], dtype=np.int64)
    np.save(path("mask.npy"), mask)
    np.save(path("lens.npy"), lens)
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("o.npy"),
            "--lse", path("lse.npy"), "--causal", "--mask", path("mask.npy"), "--kv-lens", path("lens.npy"), "--json")
    expect(r.returncode == 0, "causal+mask+lens run succeeds: " + r.stderr)
    if r.returncode == 0:
        info = json.loads(r.stdout)
        for key in ("backend", "device", "ms", "gflops"):
            expect(key in info, "--json has key " + key)
        visible = np.zeros((B, 1, Sq, Skv), dtype=bool)
        for b in range(B):
            visible[b, 0] = (j < lens[b]) & (j <= i + (lens[b] - Sq)) & mask
        expect(info["visible_pairs"] == int(visible.sum()) * Hq, "visible_pairs counts every mask")
        o_ref, lse_ref = reference(q, k, v, scale, visible)
        o = np.load(path("o.npy"))
        lse = np.load(path("lse.npy"))
        expect(o.dtype == np.float32 and o.shape == (B, Hq, Sq, Dv), "O is float32 [B,Hq,Sq,Dv]")
        expect(lse.dtype == np.float32 and lse.shape == (B, Hq, Sq), "LSE is float32 [B,Hq,Sq]")
        expect(np.abs(o - o_ref).max() <= 1e-5 * np.abs(o_ref).max(), "O matches float64 reference")
        finite = np.isfinite(lse_ref)
        expect(np.abs(lse[finite] - lse_ref[finite]).max() <= 1e-5 * max(1, np.abs(lse_ref[finite]).max()),
               "LSE matches reference")
        expect(np.all(lse[~finite] == -np.inf) and np.all(o[np.broadcast_to(~finite[..., None], o.shape)] == 0),
               "rows that see nothing give zeros and LSE -inf")

    # 2. f16 storage, top-left causal with a window, explicit scale, 3-D inputs (leading 1 implied).
    q3, k3, v3 = q[0], k[0], v[0]
    np.save(path("q3.npy"), q3.astype(np.float16))
    np.save(path("k3.npy"), k3)
    np.save(path("v3.npy"), v3)
    r = run("--q", path("q3.npy"), "--k", path("k3.npy"), "--v", path("v3.npy"), "--out", path("o3.npy"),
            "--causal=top-left", "--window", "5,2", "--scale", "0.2", "--dtype", "f16", "--repeat", "3")
    expect(r.returncode == 0, "f16 top-left window run succeeds: " + r.stderr)
    if r.returncode == 0:
        f16 = lambda a: a.astype(np.float16).astype(np.float64)
        visible = ((j <= i) & (j >= i - 5) & (j <= i + 2))[None, None]
        o_ref, _ = reference(f16(q3)[None], f16(k3)[None], f16(v3)[None], np.float32(0.2), visible)
        o = np.load(path("o3.npy"))
        expect(o.shape == (1, Hq, Sq, Dv), "3-D inputs gain a leading batch of 1")
        expect(np.abs(o - o_ref).max() <= 2e-3 * np.abs(o_ref).max(), "f16 output within 2e-3 of reference")

    # 3. Additive float mask per batch with -inf entries, single thread.
    additive = np.where(rng.random((B, 1, Sq, Skv)) < 0.8, rng.standard_normal((B, 1, Sq, Skv)), -np.inf)
    np.save(path("amask.npy"), additive.astype(np.float32))
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("oa.npy"),
            "--mask", path("amask.npy"), "--threads", "1")
    expect(r.returncode == 0, "additive mask run succeeds: " + r.stderr)
    if r.returncode == 0:
        a32 = additive.astype(np.float32).astype(np.float64)
        o_ref, _ = reference(q, k, v, scale, np.isfinite(a32), a32)
        expect(np.abs(np.load(path("oa.npy")) - o_ref).max() <= 1e-5 * np.abs(o_ref).max(), "additive mask output")

    # 3a. Linear attention: elu(x)+1 causal with key lengths, FAVOR+ with W from a file, and FAVOR+
    # features drawn from a seed (the same seed twice: the same output).
    def linear_reference(q, k, v, scale, phi, causal_lens=None):
        group = q.shape[1] // k.shape[1]
        fq = phi(np.sqrt(scale) * q.astype(np.float64))
        fk = np.repeat(phi(np.sqrt(scale) * k.astype(np.float64)), group, axis=1)
        vv = np.repeat(v.astype(np.float64), group, axis=1)
        w = np.einsum("bhif,bhjf->bhij", fq, fk)
        if causal_lens is not None:
            for b in range(w.shape[0]):
                w[b] *= (j < causal_lens[b]) & (j <= i + (causal_lens[b] - Sq))
        den = w.sum(axis=-1, keepdims=True)
        return np.einsum("bhij,bhjd->bhid", w, vv) / np.where(den > 0, den, 1.0)

    elu1 = lambda x: np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("ol.npy"),
            "--mode", "linear", "--feature-map", "elu", "--causal", "--kv-lens", path("lens.npy"), "--json")
    expect(r.returncode == 0, "linear elu run succeeds: " + r.stderr)
    if r.returncode == 0:
        expect("linear" in json.loads(r.stdout)["kernel"], "linear mode runs a linear kernel")
        o_ref = linear_reference(q, k, v, float(scale), elu1, lens)
        expect(np.abs(np.load(path("ol.npy")) - o_ref).max() <= 1e-5 * np.abs(o_ref).max(), "linear elu output")
    w = (rng.standard_normal((32, D)) * 0.5).astype(np.float32)
    np.save(path("w.npy"), w)
    favor = lambda x: np.exp(np.einsum("fd,bhid->bhif", w.astype(np.float64), x) - 0.5 * (x * x).sum(-1, keepdims=True))
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("of.npy"),
            "--mode", "linear", "--feature-map", "favor", "--features", path("w.npy"))
    expect(r.returncode == 0, "linear favor run succeeds: " + r.stderr)
    if r.returncode == 0:
        o_ref = linear_reference(q, k, v, float(scale), favor)
        expect(np.abs(np.load(path("of.npy")) - o_ref).max() <= 1e-5 * np.abs(o_ref).max(), "linear favor output")
    seeded = [run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path(f"os{n}.npy"),
                  "--mode", "linear", "--feature-map", "favor", "--features", "64", "--seed", "3") for n in (1, 2)]
    expect(all(x.returncode == 0 for x in seeded), "favor with drawn features runs: " + seeded[0].stderr)
    if all(x.returncode == 0 for x in seeded):
        expect(np.array_equal(np.load(path("os1.npy")), np.load(path("os2.npy"))), "the same seed gives the same output")

    # 3a'. Linformer: E and F shared by the kv heads with key lengths (keys past a length are not
    # projected), then one E and F per kv head with LSE.
    def linformer_reference(q, k, v, scale, e, f, lens=None):
        group = q.shape[1] // k.shape[1]
        kk, vv = k.astype(np.float64).copy(), v.astype(np.float64).copy()
        if lens is not None:
            for b in range(kk.shape[0]):
                kk[b, :, lens[b]:] = 0.0
                vv[b, :, lens[b]:] = 0.0
        pattern = "pj,bhjd->bhpd" if e.ndim == 2 else "hpj,bhjd->bhpd"
        kp = np.repeat(np.einsum(pattern, e.astype(np.float64), kk), group, axis=1)
        vp = np.repeat(np.einsum(pattern, f.astype(np.float64), vv), group, axis=1)
        return reference(q, kp, vp, scale, np.ones((1, 1, q.shape[2], kp.shape[2]), bool))

    for shape, lens_args, lse_args, tag in (((24, Skv), ["--kv-lens", path("lens.npy")], [], "shared"),
                                            ((Hkv, 24, Skv), [], ["--lse", path("lsep.npy")], "per kv head")):
        e = (rng.uniform(-1.0, 1.0, shape) * np.sqrt(3.0 / Skv)).astype(np.float32)
        f = (rng.uniform(-1.0, 1.0, shape) * np.sqrt(3.0 / Skv)).astype(np.float32)
        np.save(path("e.npy"), e)
        np.save(path("f.npy"), f)
        r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("op.npy"),
                "--mode", "linformer", "--proj", path("e.npy") + "," + path("f.npy"), "--json", *lens_args, *lse_args)
        expect(r.returncode == 0, f"linformer ({tag}) run succeeds: " + r.stderr)
        if r.returncode == 0:
            expect("linformer" in json.loads(r.stdout)["kernel"], "linformer mode runs the linformer kernel")
            o_ref, lse_ref = linformer_reference(q, k, v, float(scale), e, f, lens if lens_args else None)
            expect(np.abs(np.load(path("op.npy")) - o_ref).max() <= 1e-4 * np.abs(o_ref).max(), f"linformer ({tag}) output")
            if lse_args:
                expect(np.abs(np.load(path("lsep.npy")) - lse_ref).max() <= 1e-4, "linformer LSE")

    # 3a''. Block-sparse: a bool block mask per query head in blocks of 16 x 32, causal, with LSE.
    block_mask = rng.random((Hq, (Sq + 15) // 16, (Skv + 31) // 32)) < 0.5
    np.save(path("blocks.npy"), block_mask)
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("obs.npy"),
            "--lse", path("lsebs.npy"), "--causal", "--mode", "block-sparse", "--block-mask", path("blocks.npy"),
            "--block-size", "16,32")
    expect(r.returncode == 0, "block-sparse run succeeds: " + r.stderr)
    if r.returncode == 0:
        expanded = block_mask[:, np.arange(Sq) // 16][:, :, np.arange(Skv) // 32]  # [Hq, Sq, Skv]
        visible = expanded[None] & (j <= i + (Skv - Sq))[None, None]
        o_ref, lse_ref = reference(q, k, v, scale, visible)
        expect(np.abs(np.load(path("obs.npy")) - o_ref).max() <= 1e-5 * np.abs(o_ref).max(), "block-sparse output")
        lse = np.load(path("lsebs.npy"))
        expect(np.array_equal(np.isinf(lse), np.isinf(lse_ref)) and
               np.abs(np.where(np.isinf(lse_ref), 0, lse - lse_ref)).max() <= 1e-4, "block-sparse LSE (-inf where no key)")

    # 3a'''. Top-k: Q and K of small integers with scale 1/8 (every logit exact, ties on purpose:
    # the lower key must win), causal with key lengths (early rows see fewer than k keys), LSE.
    qi = rng.integers(-3, 4, (B, Hq, Sq, D)).astype(np.float32)
    ki = rng.integers(-3, 4, (B, Hkv, Skv, D)).astype(np.float32)
    np.save(path("qi.npy"), qi)
    np.save(path("ki.npy"), ki)
    r = run("--q", path("qi.npy"), "--k", path("ki.npy"), "--v", path("v.npy"), "--out", path("otk.npy"),
            "--lse", path("lsetk.npy"), "--causal", "--kv-lens", path("lens.npy"), "--scale", "0.125",
            "--mode", "topk", "--topk", "20", "--json")
    expect(r.returncode == 0, "top-k run succeeds: " + r.stderr)
    if r.returncode == 0:
        expect("topk" in json.loads(r.stdout)["kernel"], "topk mode runs the top-k kernel")
        group = Hq // Hkv
        s_all = np.einsum("bhid,bhjd->bhij", qi.astype(np.float64), np.repeat(ki.astype(np.float64), group, axis=1)) * 0.125
        visible = np.zeros((B, Hq, Sq, Skv), dtype=bool)
        for b in range(B):
            visible[b] = (j < lens[b]) & (j <= i + (lens[b] - Sq))
        kept = np.zeros_like(visible)
        for b, h, row in np.ndindex(B, Hq, Sq):
            order = np.argsort(np.where(visible[b, h, row], -s_all[b, h, row], np.inf), kind="stable")
            count = min(20, int(visible[b, h, row].sum()))
            kept[b, h, row, order[:count]] = True
        o_ref, lse_ref = reference(qi, ki, v, 0.125, kept)
        expect(np.abs(np.load(path("otk.npy")) - o_ref).max() <= 1e-5 * np.abs(o_ref).max(), "top-k output")
        finite = np.isfinite(lse_ref)
        expect(np.abs(np.load(path("lsetk.npy"))[finite] - lse_ref[finite]).max() <= 1e-4, "top-k LSE")

    # 3b. Soft-capping, ALiBi (the paper's default slopes for 8 heads: 2^-1 .. 2^-8) and sinks, causal.
    sinks = rng.uniform(-1.0, 3.0, Hq).astype(np.float32)
    np.save(path("sinks.npy"), sinks)
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("os.npy"),
            "--lse", path("lses.npy"), "--causal", "--softcap", "2.5", "--alibi", "--sinks", path("sinks.npy"))
    expect(r.returncode == 0, "softcap+alibi+sinks run succeeds: " + r.stderr)
    if r.returncode == 0:
        group = Hq // Hkv
        kk = np.repeat(k.astype(np.float64), group, axis=1)
        vv = np.repeat(v.astype(np.float64), group, axis=1)
        s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), kk) * scale
        s = 2.5 * np.tanh(s / 2.5)
        slopes = 2.0 ** -np.arange(1, Hq + 1)
        diagonal = i + (Skv - Sq)
        s = s - slopes[None, :, None, None] * np.abs(diagonal - j)[None, None]
        s = np.where((j <= diagonal)[None, None], s, -np.inf)
        sink = sinks.astype(np.float64)[None, :, None, None]
        m = np.maximum(s.max(axis=-1, keepdims=True), sink)
        p = np.exp(s - m)
        l = p.sum(axis=-1, keepdims=True) + np.exp(sink - m)
        o_ref = np.einsum("bhij,bhjd->bhid", p, vv) / l
        lse_ref = (m + np.log(l))[..., 0]
        expect(np.abs(np.load(path("os.npy")) - o_ref).max() <= 1e-5 * np.abs(o_ref).max(),
               "softcap+alibi+sinks output matches float64 reference")
        expect(np.abs(np.load(path("lses.npy")) - lse_ref).max() <= 1e-5 * np.abs(lse_ref).max(),
               "softcap+alibi+sinks LSE includes the sink")
    np.save(path("sinks_bad.npy"), np.zeros(Hq + 1, np.float32))
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("ob.npy"),
            "--sinks", path("sinks_bad.npy"))
    expect(r.returncode != 0 and "--sinks" in r.stderr and not os.path.exists(path("ob.npy")),
           "a sinks array of the wrong length is refused by name: " + r.stderr)

    # 3c. --kv-dtype q8_0 / q4_0: vkattn quantizes K and V; the output matches float64 attention over the
    # values llama.cpp's reference quantizer gives (transcribed here from its formulas), and not the
    # unquantized inputs' (the quantization happened).
    def f16_round(x):
        return np.float32(x).astype(np.float16).astype(np.float32)

    def round_away(x):  # C's roundf: halves away from zero
        return np.where(x >= 0, np.floor(x.astype(np.float64) + 0.5), np.ceil(x.astype(np.float64) - 0.5))

    def dequantized(x, kind):
        blocks = x.reshape(-1, 32).astype(np.float32)
        out = np.empty_like(blocks)
        for n, block in enumerate(blocks):
            if kind == "q8_0":
                d = np.float32(np.abs(block).max() / np.float32(127))
                inv = np.float32(1) / d if d != 0 else np.float32(0)
                codes = round_away(block * inv)
                out[n] = codes.astype(np.float32) * f16_round(d)
            else:
                xm = block[np.argmax(np.abs(block))]  # the first of equal magnitudes
                d = np.float32(xm / np.float32(-8))
                inv = np.float32(1) / d if d != 0 else np.float32(0)
                codes = np.minimum(15, np.trunc((block * inv + np.float32(8.5)).astype(np.float32)))
                out[n] = (codes - 8).astype(np.float32) * f16_round(d)
        return out.reshape(x.shape)

    v64 = rng.standard_normal((B, Hkv, Skv, 64), dtype=np.float32)
    np.save(path("v64.npy"), v64)
    visible = (j <= i + (Skv - Sq))[None, None]
    exact, _ = reference(q, k, v64, scale, visible)
    for kind in ("q8_0", "q4_0"):
        r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v64.npy"), "--out", path("oq.npy"),
                "--causal", "--kv-dtype", kind, "--json")
        expect(r.returncode == 0, kind + " run succeeds: " + r.stderr)
        if r.returncode == 0:
            expect(json.loads(r.stdout)["kv_dtype"] == kind, "--json names the K/V storage " + kind)
            o_ref, _ = reference(q, dequantized(k, kind), dequantized(v64, kind), scale, visible)
            o = np.load(path("oq.npy"))
            expect(np.abs(o - o_ref).max() <= 1e-5 * np.abs(o_ref).max(),
                   kind + " output matches float64 attention over the dequantized K and V")
            expect(np.abs(o - exact).max() > 1e-3 * np.abs(exact).max(), kind + " K and V were quantized")
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("ob.npy"),
            "--kv-dtype", "q4_0")
    expect(r.returncode != 0 and "v_dim" in r.stderr and not os.path.exists(path("ob.npy")),
           "q4_0 V with a head dimension of 48 is refused naming v_dim: " + r.stderr)
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("ob.npy"),
            "--kv-dtype", "f16", "--dtype", "f32")
    expect(r.returncode == 2 and "--kv-dtype" in r.stderr, "--kv-dtype f16 contradicting --dtype f32 is a usage error")

    # 3d. --global-keys: the first keys stay visible through a sliding window (StreamingLLM).
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("og.npy"),
            "--causal", "--window", "10,-1", "--global-keys", "3", "--json")
    expect(r.returncode == 0, "global keys run succeeds: " + r.stderr)
    if r.returncode == 0:
        diagonal = i + (Skv - Sq)
        visible = ((j <= diagonal) & ((j >= diagonal - 10) | (j < 3)))[None, None]
        o_ref, _ = reference(q, k, v, scale, visible)
        expect(np.abs(np.load(path("og.npy")) - o_ref).max() <= 1e-5 * np.abs(o_ref).max(),
               "global keys output matches float64 reference")
        expect(json.loads(r.stdout)["visible_pairs"] == int(visible.sum()) * Hq * B, "visible_pairs counts the global keys")

    # 3e. --page-size: K and V in a shuffled page pool give bitwise the contiguous result.
    for extra in ([], ["--kv-dtype", "q8_0"]):
        common = ["--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v64.npy"), "--causal",
                  "--kv-lens", path("lens.npy")] + extra
        r1 = run(*common, "--out", path("oc.npy"), "--lse", path("lc.npy"))
        r2 = run(*common, "--out", path("op.npy"), "--lse", path("lp.npy"), "--page-size", "7")
        expect(r1.returncode == 0 and r2.returncode == 0, "paged runs succeed: " + r1.stderr + r2.stderr)
        if r1.returncode == 0 and r2.returncode == 0:
            expect(np.array_equal(np.load(path("oc.npy")), np.load(path("op.npy")), equal_nan=True) and
                   np.array_equal(np.load(path("lc.npy")), np.load(path("lp.npy"))),
                   "--page-size 7 gives bitwise the contiguous output " + " ".join(extra))

    # 3f. --rope: keys turned at their cache positions j as they are appended, queries at L_b - Sq + i
    # (each sequence's own length), NeoX halves or GPT-J pairs over the first R dimensions.
    def rope(x, positions, style, theta, dims):
        x = x.astype(np.float64).copy()
        p = np.arange(dims // 2)
        angle = positions[..., None] * theta ** (-2.0 * p / dims)  # [..., S, R/2]
        first, second = (p, p + dims // 2) if style == "neox" else (2 * p, 2 * p + 1)
        a, b = x[..., first].copy(), x[..., second].copy()
        x[..., first] = a * np.cos(angle) - b * np.sin(angle)
        x[..., second] = a * np.sin(angle) + b * np.cos(angle)
        return x

    for style, theta, dims in (("neox", 10000.0, D), ("gptj", 500.0, 32)):
        args = ["--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("or.npy"),
                "--causal", "--kv-lens", path("lens.npy"), "--rope", style, "--rope-dims", str(dims)]
        if theta != 10000.0:
            args += ["--rope-theta", str(theta)]
        r = run(*args)
        expect(r.returncode == 0, "rope run succeeds: " + r.stderr)
        if r.returncode == 0:
            q_pos = np.stack([lens[b] - Sq + np.arange(Sq) for b in range(B)]).astype(np.float64)[:, None, :]
            k_pos = np.arange(Skv, dtype=np.float64)[None, None, :]
            visible = np.zeros((B, 1, Sq, Skv), dtype=bool)
            for b in range(B):
                visible[b, 0] = (j < lens[b]) & (j <= i + (lens[b] - Sq))
            o_ref, _ = reference(rope(q, q_pos, style, theta, dims), rope(k, k_pos, style, theta, dims), v, scale,
                                 visible)
            o = np.load(path("or.npy"))
            expect(np.abs(o - o_ref).max() <= 1e-5 * np.abs(o_ref).max(),
                   f"--rope {style} output matches float64 attention over turned Q and K")
            plain, _ = reference(q, k, v, scale, visible)
            expect(np.abs(o - plain).max() > 1e-2 * np.abs(plain).max(), f"--rope {style} turned Q and K")

    # 3g. --q-lens: ragged queries; each sequence aligns its own rows (bottom-right), and rows past its
    # count stay zero in the output file.
    q_lens = np.array([Sq, 12], dtype=np.int32)
    np.save(path("qlens.npy"), q_lens)
    r = run("--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("oragged.npy"),
            "--lse", path("lragged.npy"), "--causal", "--kv-lens", path("lens.npy"), "--q-lens", path("qlens.npy"),
            "--json")
    expect(r.returncode == 0, "ragged run succeeds: " + r.stderr)
    if r.returncode == 0:
        o = np.load(path("oragged.npy"))
        lse = np.load(path("lragged.npy"))
        for b in range(B):
            n = q_lens[b]
            rows_i = np.arange(n)[:, None]
            visible = ((j < lens[b]) & (j <= rows_i + (lens[b] - n)))[None, None]
            o_ref, _ = reference(q[b:b + 1, :, :n], k[b:b + 1], v[b:b + 1], scale, visible)
            expect(np.abs(o[b:b + 1, :, :n] - o_ref).max() <= 1e-5 * np.abs(o_ref).max(),
                   f"ragged sequence {b} ({n} queries) matches float64 attention aligned to its own length")
            expect(np.all(o[b, :, n:] == 0) and np.all(lse[b, :, n:] == 0),
                   f"rows past sequence {b}'s {n} queries stay zero")
        counted = sum(int(((j < lens[b]) & (j <= np.arange(q_lens[b])[:, None] + (lens[b] - q_lens[b]))).sum())
                      for b in range(B)) * Hq
        expect(json.loads(r.stdout)["visible_pairs"] == counted, "visible_pairs counts only the ragged rows")

    # 3h. --cu-seqlens-q: the same ragged sequences with Q packed [T, Hq, D] from row 2 on, a gap row
    # between them; O comes back packed [T, Hq, Dv] and the rows no sequence covers stay zero.
    cu = np.array([2, 2 + Sq, 3 + Sq + 12], dtype=np.int32)
    T = int(cu[-1]) + 1
    q_packed = rng.standard_normal((T, Hq, D), dtype=np.float32)
    np.save(path("qpacked.npy"), q_packed)
    np.save(path("cu.npy"), cu)
    r = run("--q", path("qpacked.npy"), "--k", path("k.npy"), "--v", path("v.npy"), "--out", path("opacked.npy"),
            "--lse", path("lpacked.npy"), "--causal", "--kv-lens", path("lens.npy"), "--cu-seqlens-q", path("cu.npy"),
            "--json")
    expect(r.returncode == 0, "packed-query run succeeds: " + r.stderr)
    if r.returncode == 0:
        o = np.load(path("opacked.npy"))
        lse = np.load(path("lpacked.npy"))
        expect(o.shape == (T, Hq, Dv) and lse.shape == (T, Hq), f"packed O and LSE shapes {o.shape} {lse.shape}")
        covered = np.zeros(T, bool)
        for b in range(B):
            n = int(cu[b + 1] - cu[b])
            rows = slice(int(cu[b]), int(cu[b + 1]))
            covered[rows] = True
            visible = ((j < lens[b]) & (j <= np.arange(n)[:, None] + (lens[b] - n)))[None, None]
            qb = q_packed[rows].transpose(1, 0, 2)[None]  # [1, Hq, n, D]
            o_ref, lse_ref = reference(qb, k[b:b + 1], v[b:b + 1], scale, visible)
            got = o[rows].transpose(1, 0, 2)[None]
            expect(np.abs(got - o_ref).max() <= 1e-5 * np.abs(o_ref).max(),
                   f"packed sequence {b} ({n} queries) matches float64 attention aligned to its own length")
            expect(np.abs(lse[rows].T[None] - lse_ref).max() <= 1e-4, f"packed sequence {b}'s LSE")
        expect(np.all(o[~covered] == 0) and np.all(lse[~covered] == 0), "rows no sequence covers stay zero")
        expect(json.loads(r.stdout)["q_len"] == Sq, "q_len is the longest packed sequence")

    # 4. Bad inputs: message naming the problem, non-zero exit, no output file.
    np.save(path("k_heads3.npy"), np.zeros((B, 3, Skv, D), np.float32))
    np.save(path("v_heads3.npy"), np.zeros((B, 3, Skv, Dv), np.float32))
    np.save(path("k_dim.npy"), np.zeros((B, Hkv, Skv, 32), np.float32))
    np.save(path("ints.npy"), np.zeros((B, Hq, Sq, D), np.int32))
    np.save(path("fortran.npy"), np.asfortranarray(q))
    np.save(path("mask_bad.npy"), np.zeros((3, 1, Sq, Skv), bool))
    np.save(path("lens_bad.npy"), np.array([Skv, Skv + 1], np.int32))
    with open(path("q.npy"), "rb") as f:
        good = f.read()
    with open(path("truncated.npy"), "wb") as f:
        f.write(good[:-10])
    with open(path("junk.npy"), "wb") as f:
        f.write(b"not numpy at all")
    base = ["--k", path("k.npy"), "--v", path("v.npy"), "--out", path("bad_out.npy")]
    bad_cases = [
        (["--q", path("missing.npy")] + base, "missing.npy"),
        (["--q", path("junk.npy")] + base, "not a .npy file"),
        (["--q", path("truncated.npy")] + base, "data holds"),
        (["--q", path("fortran.npy")] + base, "Fortran"),
        (["--q", path("ints.npy")] + base, "int32"),
        (["--q", path("q.npy"), "--k", path("k_dim.npy"), "--v", path("v.npy"), "--out", path("bad_out.npy")],
         "last dimension"),
        (["--q", path("q.npy"), "--k", path("k_heads3.npy"), "--v", path("v_heads3.npy"), "--out", path("bad_out.npy")],
         "not a multiple"),
        (["--q", path("q.npy")] + base + ["--mask", path("mask_bad.npy")], "does not broadcast"),
        (["--q", path("q.npy")] + base + ["--kv-lens", path("lens_bad.npy")], "kv-lens[1]"),
        (["--q", path("q.npy")] + base + ["--q-lens", path("lens_bad.npy")], "q-lens[0]"),
        (["--q", path("q.npy")] + base + ["--cu-seqlens-q", path("cu.npy")], "must be [T, Hq, D]"),
        (["--q", path("qpacked.npy")] + base + ["--cu-seqlens-q", path("lens_bad.npy")], "cu-seqlens-q must have shape [3]"),
        (["--q", path("qpacked.npy")] + base + ["--cu-seqlens-q", path("cu.npy"), "--q-lens", path("lens.npy")],
         "exclude each other"),
        (["--q", path("q.npy")] + base + ["--bogus"], "unknown argument"),
        (["--q", path("q.npy")] + base + ["--window", "x,1"], "--window"),
        (["--q", path("q.npy")] + base + ["--dtype", "bf16"], "--dtype"),
        (["--q", path("q.npy")] + base + ["--kv-dtype", "q5_1"], "--kv-dtype"),
        (["--q", path("q.npy")] + base + ["--global-keys", "-1"], "--global-keys"),
        (["--q", path("q.npy")] + base + ["--page-size", "257"], "--page-size"),
        (["--q", path("q.npy")] + base + ["--rope", "yarn"], "--rope"),
        (["--q", path("q.npy")] + base + ["--rope", "neox", "--rope-dims", "7"], "--rope-dims"),
        (["--q", path("q.npy")] + base + ["--rope", "neox", "--rope-dims", "66"], "rope.dims"),
        (["--q", path("q.npy")] + base + ["--rope-theta", "100"], "--rope"),
        (["--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy")], "required"),
        (["--q", path("q.npy")] + base + ["--mode", "topk"], "--mode"),
        (["--q", path("q.npy")] + base + ["--mode", "linformer"], "needs --proj"),
        (["--q", path("q.npy")] + base + ["--mode", "topk"], "--mode topk needs --topk K"),
        (["--q", path("q.npy")] + base + ["--topk", "4"], "--topk needs --mode topk"),
        (["--q", path("q.npy")] + base + ["--mode", "topk", "--topk", "0"], "--topk needs an integer from 1 to 4096"),
        (["--q", path("q.npy")] + base + ["--mode", "block-sparse", "--block-size", "16,16"], "needs --block-mask"),
        (["--q", path("q.npy")] + base + ["--block-mask", path("blocks.npy")], "need --mode block-sparse"),
        (["--q", path("q.npy")] + base + ["--mode", "block-sparse", "--block-mask", path("blocks.npy"),
                                          "--block-size", "24,16"], "--block-size needs BQ,BK"),
        (["--q", path("q.npy")] + base + ["--mode", "block-sparse", "--block-mask", path("blocks.npy"),
                                          "--block-size", "16,16"], "--block-mask must be a bool or uint8 array"),
        (["--q", path("q.npy")] + base + ["--proj", path("e.npy") + "," + path("f.npy")], "--proj needs --mode linformer"),
        (["--q", path("q.npy")] + base + ["--mode", "linformer", "--proj", path("e.npy")], "--proj needs two files"),
        (["--q", path("q.npy")] + base + ["--mode", "linformer", "--proj", path("e.npy") + "," + path("w.npy")],
         "--proj: F must be a float32 array of shape"),
        (["--q", path("q.npy")] + base + ["--mode", "linformer", "--proj", path("e.npy") + "," + path("f.npy"),
                                          "--causal"], "causal is not supported in Linformer mode"),
        (["--q", path("q.npy")] + base + ["--feature-map", "elu"], "needs --mode linear"),
        (["--q", path("q.npy")] + base + ["--mode", "linear"], "needs --feature-map"),
        (["--q", path("q.npy")] + base + ["--mode", "linear", "--feature-map", "favor"], "needs --features"),
        (["--q", path("q.npy")] + base + ["--mode", "linear", "--feature-map", "elu", "--features", "8"],
         "--features needs --feature-map favor"),
        (["--q", path("q.npy")] + base + ["--mode", "linear", "--feature-map", "favor", "--features", path("w.npy"),
                                          "--seed", "2"], "--seed needs --features M"),
        (["--q", path("q.npy")] + base + ["--mode", "linear", "--feature-map", "favor", "--features", path("v.npy")],
         "--features must be a float32 array of shape [M, 64]"),
        (["--q", path("q.npy")] + base + ["--mode", "linear", "--feature-map", "elu", "--lse", path("bad_out_lse.npy")],
         "has_lse is not supported in linear mode"),
    ]
    for args, needle in bad_cases:
        r = run(*args)
        expect(r.returncode != 0, f"bad input {needle!r} exits non-zero")
        expect(needle in r.stderr, f"bad input message mentions {needle!r}: {r.stderr.strip()}")
        expect("Traceback" not in r.stderr and r.returncode > 0, f"no crash for {needle!r}")
        expect(not any(name.startswith("bad_out") for name in os.listdir(tmp)), f"no output left for {needle!r}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("vkattn-run: all checks passed")
