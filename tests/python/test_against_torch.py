"""vkattn.scaled_dot_product_attention against PyTorch. Debian's PyTorch
(python3-torch) is 1.13, which has no public scaled_dot_product_attention:
the reference is its matmul / softmax composition."""

import math

import numpy as np
import torch

import vkattn


def random(shape, rng):
    return rng.standard_normal(shape).astype(np.float32)


def test_matches_pytorch_matmul_softmax_composition():
    rng = np.random.default_rng(7)
    q = random((2, 4, 17, 32), rng)
    k = random((2, 4, 23, 32), rng)
    v = random((2, 4, 23, 32), rng)
    mask = rng.random((17, 23)) < 0.7
    mask[:, 0] = True  # PyTorch's composition gives NaN for rows that see nothing
    out = vkattn.scaled_dot_product_attention(q, k, v, attn_mask=mask, backend="cpu")
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    scores = tq @ tk.transpose(-2, -1) / math.sqrt(32)
    scores = scores.masked_fill(~torch.from_numpy(mask), float("-inf"))
    want = torch.softmax(scores, dim=-1) @ tv
    np.testing.assert_allclose(out, want.numpy(), atol=2e-5, rtol=0)
    causal = vkattn.scaled_dot_product_attention(q, k[:, :, :17], v[:, :, :17], is_causal=True, backend="cpu")
    scores = tq @ tk[:, :, :17].transpose(-2, -1) / math.sqrt(32)
    scores = scores.masked_fill(~torch.ones(17, 17, dtype=torch.bool).tril(), float("-inf"))
    np.testing.assert_allclose(causal, (torch.softmax(scores, dim=-1) @ tv[:, :, :17]).numpy(), atol=2e-5, rtol=0)
