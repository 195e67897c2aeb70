#!/usr/bin/python3
"""How far from the float64 reference would a decode over a q8_0 KV cache land if Q, too, were
rounded per 32-value block, as integer dot products (AVX-512 VNNI vpdpbusd, llama.cpp's q8_0
activations) need? Prints the worst error over 20 random draws per row of the table, as a multiple
of vkattn's tolerance: O against the f16 bound (2e-3 of the output scale), LSE against its f32
bound (1e-5 of max(1, |LSE|)). Q is rounded to 8 bits (llama.cpp: d = max|q| / 127) and to
16 bits (d = max|q| / 32767); K and V are q8_0 in every column, attended exactly.

Usage: /usr/bin/python3 bench/quantized_q_error.py   (needs NumPy)
"""
import numpy as np

DIM = 128
ROWS = 4  # query heads per KV head


def round_blocks(x, levels):
    """Each 32-value block as round(x / d) * d with d = max|x| / levels (q8_0's rule for levels = 127,
    its f16 scale included)."""
    blocks = x.reshape(-1, 32)
    d = np.abs(blocks).max(axis=1, keepdims=True) / levels
    if levels == 127:
        d = d.astype(np.float16).astype(np.float64)
    safe = np.where(d > 0, d, 1.0)
    return (np.round(blocks / safe) * d).reshape(x.shape)


def attend(q, k, v):
    s = q @ k.T / np.sqrt(DIM)
    m = s.max(axis=1, keepdims=True)
    p = np.exp(s - m)
    l = p.sum(axis=1, keepdims=True)
    return p @ v / l, (m + np.log(l))[:, 0]


def main():
    rng = np.random.default_rng(2026)
    print(f"{'keys':>6} {'|q| scale':>9} | {'8-bit Q: O':>11} {'LSE':>7} | {'16-bit Q: O':>11} {'LSE':>7}   (x tolerance)")
    for keys, q_scale in [(64, 1), (1000, 1), (8000, 1), (1000, 4), (300, 8)]:
        worst = {8: [0.0, 0.0], 16: [0.0, 0.0]}
        for _ in range(20):
            q = rng.standard_normal((ROWS, DIM)) * q_scale
            k = round_blocks(rng.standard_normal((keys, DIM)), 127)
            v = round_blocks(rng.standard_normal((keys, DIM)), 127)
            o, lse = attend(q, k, v)
            for bits, levels in ((8, 127), (16, 32767)):
                o_q, lse_q = attend(round_blocks(q, levels), k, v)
                o_err = np.abs(o_q - o).max() / np.abs(o).max() / 2e-3
                lse_err = (np.abs(lse_q - lse) / (1e-5 * np.maximum(1.0, np.abs(lse)))).max()
                worst[bits] = [max(worst[bits][0], o_err), max(worst[bits][1], lse_err)]
        print(f"{keys:>6} {q_scale:>9} | {worst[8][0]:>10.2f}x {worst[8][1]:>6.1f}x | "
              f"{worst[16][0]:>10.3f}x {worst[16][1]:>6.2f}x")


if __name__ == "__main__":
    main()
