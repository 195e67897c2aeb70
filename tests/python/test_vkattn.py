"""vkattn's Python package against a float64 NumPy reference and against
PyTorch's matmul/softmax composition, on the CPU backend and on every usable
Vulkan device (lavapipe and SwiftShader in CI)."""

import math
import threading

import numpy as np
import pytest

import vkattn

TARGETS = [("cpu", None)] + [
    ("vulkan", d["index"]) for d in vkattn.devices() if d["backend"] == "vulkan" and d["usable"]
]
TARGET_IDS = [b if i is None else f"{b}:{i}" for b, i in TARGETS]


def reference(q, k, v, bool_mask=None, add_mask=None, causal=None, scale=None, window=None, kv_lens=None):
    """float64 attention on [B, H, L, E] arrays; returns (out, lse); rows
    that see no key give zeros and LSE -inf."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    batch, q_heads, q_len, dim = q.shape
    kv_heads, kv_len = k.shape[1], k.shape[2]
    group = q_heads // kv_heads
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scale = 1.0 / math.sqrt(dim) if scale is None else scale
    s = scale * np.einsum("bhle,bhse->bhls", q, k)
    visible = np.ones(s.shape, dtype=bool)
    lens = np.full(batch, kv_len) if kv_lens is None else np.asarray(kv_lens)
    i = np.arange(q_len)[:, None]
    j = np.arange(kv_len)[None, :]
    for b in range(batch):
        d = i if causal == "top_left" else i + lens[b] - q_len
        allowed = j < lens[b]
        if causal is not None:
            allowed = allowed & (j <= d)
        if window is not None:
            left, right = window
            if left is not None and left >= 0:
                allowed = allowed & (j >= d - left)
            if right is not None and right >= 0:
                allowed = allowed & (j <= d + right)
        visible[b] &= allowed
    if bool_mask is not None:
        visible &= np.broadcast_to(bool_mask, s.shape)
    if add_mask is not None:
        s = s + np.broadcast_to(np.asarray(add_mask, dtype=np.float64), s.shape)
        visible &= np.isfinite(s) | (s > 0)
    s = np.where(visible, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m_safe)
    total = p.sum(axis=-1, keepdims=True)
    out = np.where(total > 0, (p @ v) / np.where(total > 0, total, 1.0), 0.0)
    lse = np.where(total[..., 0] > 0, np.log(np.where(total[..., 0] > 0, total[..., 0], 1.0)) + m_safe[..., 0], -np.inf)
    return out, lse


def tolerance(dtype):
    return 2e-5 if dtype == np.float32 else 4e-3


def random(shape, dtype, rng):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("backend,device", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_masked_gqa_attention_matches_the_float64_reference(backend, device, dtype):
    rng = np.random.default_rng(1)
    q = random((2, 4, 37, 64), dtype, rng)
    k = random((2, 2, 53, 64), dtype, rng)
    v = random((2, 2, 53, 48), dtype, rng)
    mask = rng.random((2, 1, 37, 53)) < 0.8  # broadcast over heads
    out, lse = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True, return_lse=True,
                                                   backend=backend, device=device)
    want, want_lse = reference(q, k, v, bool_mask=mask)
    assert out.dtype == dtype and out.shape == (2, 4, 37, 48)
    np.testing.assert_allclose(out.astype(np.float64), want, atol=tolerance(dtype), rtol=0)
    np.testing.assert_allclose(lse, want_lse, atol=tolerance(dtype) * 10, rtol=0)


@pytest.mark.parametrize("backend,device", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("alignment", ["top_left", "bottom_right"])
def test_causal_windowed_attention_with_key_lengths_matches_the_reference(backend, device, alignment):
    rng = np.random.default_rng(2)
    q = random((3, 2, 20, 32), np.float32, rng)
    k = random((3, 2, 45, 32), np.float32, rng)
    v = random((3, 2, 45, 32), np.float32, rng)
    lens = [45, 30, 21]
    out = vkattn.scaled_dot_product_attention(q, k, v, is_causal=True, causal_alignment=alignment, window=(7, None),
                                              kv_lens=lens, scale=0.3, backend=backend, device=device)
    want, _ = reference(q, k, v, causal=alignment, window=(7, None), kv_lens=lens, scale=0.3)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)


@pytest.mark.parametrize("backend,device", TARGETS, ids=TARGET_IDS)
def test_float_masks_add_to_the_logits_and_fully_masked_rows_give_zeros(backend, device):
    rng = np.random.default_rng(3)
    q = random((1, 3, 9, 16), np.float32, rng)
    k = random((1, 3, 11, 16), np.float32, rng)
    v = random((1, 3, 11, 16), np.float32, rng)
    mask = rng.standard_normal((9, 11)).astype(np.float32)
    mask[4, :] = -np.inf  # query 4 sees nothing
    out, lse = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask, return_lse=True, backend=backend,
                                                   device=device)
    want, want_lse = reference(q, k, v, add_mask=mask)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    assert np.all(out[:, :, 4] == 0) and np.all(np.isneginf(lse[:, :, 4]))
    np.testing.assert_allclose(lse[:, :, [0, 1, 2, 3, 5, 6, 7, 8]], want_lse[:, :, [0, 1, 2, 3, 5, 6, 7, 8]],
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("backend,device", TARGETS, ids=TARGET_IDS)
def test_strided_views_give_the_results_of_their_contiguous_copies(backend, device):
    rng = np.random.default_rng(4)
    # [B, S, H, D] storage seen as [B, H, S, D] (BSHD), a packed QKV tensor,
    # every other query row, and a transposed (non-contiguous last axis) key.
    qkv = random((2, 33, 3, 4, 32), np.float32, rng)
    q = qkv[:, ::2, 0].transpose(0, 2, 1, 3)
    k = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1)).transpose(0, 1, 3, 2)
    v = qkv[:, :, 2].transpose(0, 2, 1, 3)
    assert not q.flags.c_contiguous and k.strides[-1] != 4
    out = vkattn.scaled_dot_product_attention(q, k, v, backend=backend, device=device)
    copies = vkattn.scaled_dot_product_attention(*(np.ascontiguousarray(a) for a in (q, k, v)), backend=backend,
                                                 device=device)
    assert np.array_equal(out, copies)


def test_leading_dimensions_follow_pytorch_shapes():
    rng = np.random.default_rng(5)
    q3 = random((4, 10, 8), np.float32, rng)  # [H, L, E]
    k3 = random((4, 12, 8), np.float32, rng)
    v3 = random((4, 12, 8), np.float32, rng)
    out3 = vkattn.scaled_dot_product_attention(q3, k3, v3, backend="cpu")
    assert out3.shape == (4, 10, 8)
    np.testing.assert_allclose(out3, reference(q3[None], k3[None], v3[None])[0][0], atol=2e-5, rtol=0)
    q5 = random((2, 3, 4, 10, 8), np.float32, rng)  # [N1, N2, H, L, E]
    k5 = random((2, 3, 4, 12, 8), np.float32, rng)
    out5, lse5 = vkattn.scaled_dot_product_attention(q5, k5, k5, return_lse=True, backend="cpu")
    assert out5.shape == (2, 3, 4, 10, 8) and lse5.shape == (2, 3, 4, 10)
    want, _ = reference(q5.reshape(6, 4, 10, 8), k5.reshape(6, 4, 12, 8), k5.reshape(6, 4, 12, 8))
    np.testing.assert_allclose(out5.reshape(6, 4, 10, 8), want, atol=2e-5, rtol=0)


def test_bad_arguments_raise_exceptions_with_the_library_message():
    q = np.zeros((1, 2, 4, 8), np.float32)
    k = np.zeros((1, 1, 4, 8), np.float32)
    with pytest.raises(vkattn.InvalidArgumentError, match="enable_gqa"):
        vkattn.scaled_dot_product_attention(q, k, k, backend="cpu")
    with pytest.raises(ValueError, match="dropout_p"):
        vkattn.scaled_dot_product_attention(q, q, q, dropout_p=0.1, backend="cpu")
    with pytest.raises(vkattn.InvalidArgumentError, match="dtypes differ"):
        vkattn.scaled_dot_product_attention(q, q.astype(np.float16), q, backend="cpu")
    with pytest.raises(vkattn.InvalidArgumentError, match="does not broadcast"):
        vkattn.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 4), bool), backend="cpu")
    with pytest.raises(vkattn.InvalidArgumentError, match="float32 or float16"):
        vkattn.scaled_dot_product_attention(q.astype(np.float64), q.astype(np.float64), q.astype(np.float64),
                                            backend="cpu")
    # The library's own checks come through with its message: 3 heads of keys for 2 of queries.
    with pytest.raises(vkattn.InvalidArgumentError, match="kv_heads"):
        vkattn.scaled_dot_product_attention(q, np.zeros((1, 3, 4, 8), np.float32), np.zeros((1, 3, 4, 8), np.float32),
                                            enable_gqa=True, backend="cpu")
    with pytest.raises(vkattn.InvalidArgumentError, match="kv_lens"):
        vkattn.scaled_dot_product_attention(q, q, q, kv_lens=[4, 4], backend="cpu")
    with pytest.raises(vkattn.InvalidArgumentError, match="backend"):
        vkattn.Context(backend="tpu")


def test_calls_from_several_threads_give_the_single_threaded_results():
    rng = np.random.default_rng(6)
    inputs = [tuple(random((1, 4, 64, 32), np.float32, rng) for _ in range(3)) for _ in range(4)]
    expected = [vkattn.scaled_dot_product_attention(*args, backend="cpu") for args in inputs]
    results = [None] * len(inputs)

    def work(n):  # every thread uses the module's one CPU context
        results[n] = vkattn.scaled_dot_product_attention(*inputs[n], backend="cpu")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("backend,device", TARGETS, ids=TARGET_IDS)
def test_a_plan_executed_on_buffers_matches_the_reference_each_time(backend, device):
    rng = np.random.default_rng(8)
    batch, q_heads, kv_heads, kv_len, dim = 2, 8, 2, 700, 64
    k = random((batch, kv_heads, kv_len, dim), np.float16, rng)
    v = random((batch, kv_heads, kv_len, dim), np.float16, rng)
    lens = np.array([700, 513], np.int32)
    with vkattn.Context(backend=backend, device=-1 if device is None else device) as context:
        plan = context.plan(batch=batch, q_heads=q_heads, kv_heads=kv_heads, q_len=1, kv_len=kv_len, qk_dim=dim,
                            dtype="float16", causal="bottom_right", kv_lens=True, lse=True)
        assert plan.info()["kernel"].startswith(backend)
        k_buffer, v_buffer = context.upload(k), context.upload(v)
        out = context.buffer(batch * q_heads * dim * 2)
        lse = context.buffer(batch * q_heads * 4)
        for step in range(3):  # a decode loop: new queries against the same cache
            q = random((batch, q_heads, 1, dim), np.float16, rng)
            plan.execute(context.upload(q), k_buffer, v_buffer, out, lse=lse, kv_lens=lens)
            got = out.read(np.float16, (batch, q_heads, 1, dim))
            want, want_lse = reference(q, k, v, causal="bottom_right", kv_lens=lens)
            np.testing.assert_allclose(got.astype(np.float64), want, atol=4e-3, rtol=0, err_msg=f"step {step}")
            np.testing.assert_allclose(lse.read(np.float32, (batch, q_heads, 1)), want_lse, atol=4e-2, rtol=0)
        with pytest.raises(vkattn.InvalidArgumentError):  # an output buffer too small for the problem
            plan.execute(context.upload(q), k_buffer, v_buffer, context.buffer(16), lse=lse, kv_lens=lens)
        with pytest.raises(vkattn.InvalidArgumentError, match="no argument 'heads'"):
            context.plan(heads=3)


@pytest.mark.parametrize("backend,device", TARGETS, ids=TARGET_IDS)
def test_plans_submitted_together_give_tickets_that_complete_with_the_reference_results(backend, device):
    rng = np.random.default_rng(12)
    batch, heads, kv_len, dim = 1, 4, 300, 32
    k = random((batch, heads, kv_len, dim), np.float32, rng)
    v = random((batch, heads, kv_len, dim), np.float32, rng)
    with vkattn.Context(backend=backend, device=-1 if device is None else device) as context:
        k_buffer, v_buffer = context.upload(k), context.upload(v)
        steps = []
        for _ in range(3):  # three plans in flight, as three layers would be
            plan = context.plan(batch=batch, q_heads=heads, kv_heads=heads, q_len=2, kv_len=kv_len, qk_dim=dim,
                                causal="bottom_right")
            q = random((batch, heads, 2, dim), np.float32, rng)
            out = context.buffer(q.nbytes)
            ticket = plan.submit(context.upload(q), k_buffer, v_buffer, out)
            steps.append((plan, q, out, ticket))
        tickets = [step[3] for step in steps]
        assert tickets == sorted(tickets) and len(set(tickets)) == 3
        context.wait(tickets[-1])
        for plan, q, out, ticket in steps:
            assert context.poll(ticket)
            want, _ = reference(q, k, v, causal="bottom_right")
            np.testing.assert_allclose(out.read(np.float32, q.shape).astype(np.float64), want, atol=1e-5, rtol=0)
        with pytest.raises(vkattn.InvalidArgumentError, match="never issued"):
            context.wait(tickets[-1] + 100)


@pytest.mark.parametrize("backend,device", TARGETS, ids=TARGET_IDS)
def test_numpy_views_of_mapped_buffers_feed_and_read_a_plan_in_place(backend, device):
    rng = np.random.default_rng(9)
    shape = (1, 4, 37, 32)  # [batch, heads, seq, dim], f32
    q, k, v = (random(shape, np.float32, rng) for _ in range(3))
    with vkattn.Context(backend=backend, device=-1 if device is None else device) as context:
        plan = context.plan(batch=1, q_heads=4, kv_heads=4, q_len=37, kv_len=37, qk_dim=32, dtype="float32")
        buffers = [context.buffer(q.nbytes, host_visible=True) for _ in range(4)]
        for buffer, data in zip(buffers, (q, k, v)):
            view = np.frombuffer(buffer, dtype=np.float32).reshape(shape)  # the buffer's own memory
            view[...] = data
            assert memoryview(buffer).nbytes == q.nbytes
            del view
        with pytest.raises(vkattn.Error, match="mapped"):  # a live view keeps the buffer mapped
            held = memoryview(buffers[0])
            plan.execute(*buffers)
        with pytest.raises(BufferError):
            buffers[0].close()
        held.release()
        plan.execute(*buffers)
        out = np.frombuffer(buffers[3], dtype=np.float32).reshape(shape)
        want, _ = reference(q, k, v)
        np.testing.assert_allclose(out.astype(np.float64), want, atol=tolerance(np.float32), rtol=0)
        got = out.copy()
        del out  # the last view: the buffer is unmapped, so read works again
        np.testing.assert_array_equal(buffers[3].read(np.float32, shape), got)
