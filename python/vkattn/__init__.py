"""vkattn: memory-bounded scaled dot-product attention (Vulkan or XNNPACK CPU) on NumPy arrays.

    import numpy as np, vkattn
    out = vkattn.scaled_dot_product_attention(q, k, v, is_causal=True)

Arguments mean what they mean in PyTorch's
torch.nn.functional.scaled_dot_product_attention. Beyond it: key lengths per
sequence, sliding windows, bottom-right causal alignment (decode with a KV
cache), the log-sum-exp output, and a choice of backend and device.
"""

import threading

import numpy as np

from ._vkattn import (
    CAUSAL_BOTTOM_RIGHT,
    CAUSAL_NONE,
    CAUSAL_TOP_LEFT,
    BackendUnavailableError,
    Buffer,
    Context,
    Error,
    InvalidArgumentError,
    OutOfMemoryError,
    Plan,
    UnsupportedError,
    attention as _attention,
    devices,
    version as __version__,
)

__all__ = [
    "scaled_dot_product_attention",
    "devices",
    "Context",
    "Buffer",
    "Plan",
    "Error",
    "InvalidArgumentError",
    "UnsupportedError",
    "BackendUnavailableError",
    "OutOfMemoryError",
]

# One context per (backend, device), created on first use: contexts hold
# compiled pipelines and worker threads, too costly to make per call.
_contexts = {}
_contexts_lock = threading.Lock()


def _context(backend, device):
    key = (backend, -1 if device is None else int(device))
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            context = Context(backend=key[0], device=key[1])
            _contexts[key] = context
        return context


def _as_4d(array, name):
    """A [batch, heads, seq, dim] view of `array` ([..., heads, seq, dim],
    [heads, seq, dim] or [seq, dim]) with a contiguous last axis; copies
    only when the last axis is strided or a reshape cannot be a view."""
    array = np.asarray(array)
    if array.ndim < 2:
        raise InvalidArgumentError(f"invalid argument: {name} needs at least 2 dimensions (..., seq, dim)")
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[None]
    elif array.ndim > 4:
        array = array.reshape((-1,) + array.shape[-3:])  # a view where strides allow, else a copy
    if array.shape[-1] > 1 and array.strides[-1] != array.itemsize or any(s < 0 for s in array.strides):
        array = np.ascontiguousarray(array)
    return array


def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p=0.0,
    is_causal=False,
    scale=None,
    enable_gqa=False,
    *,
    causal_alignment="top_left",
    window=None,
    kv_lens=None,
    return_lse=False,
    backend="auto",
    device=None,
):
    """softmax(scale * query @ key^T + mask) @ value, never materialising the scores.

    query [..., Hq, L, E], key [..., Hkv, S, E], value [..., Hkv, S, Ev]: all
    float32 or all float16 (the output has their dtype; sums are float32).
    Hkv == Hq unless enable_gqa (then Hq must be a multiple of Hkv).
    attn_mask: broadcastable to [..., Hq, L, S]; bool (True = may attend) or
      float (added to the logits; float32, other float types are converted).
    dropout_p: must be 0 (inference only).
    is_causal: query i sees keys j <= i (PyTorch's top-left alignment), or
      j <= i + S - L with causal_alignment="bottom_right" (the last query
      sees every key: decode against a cache).
    scale: default 1 / sqrt(E).
    window: (left, right) sliding window around each query's aligned
      position; None or -1 on a side means unbounded.
    kv_lens: int [batch] (flattened leading dims): keys past a sequence's
      length are never seen.
    return_lse: also return the natural-log log-sum-exp, float32 [..., Hq, L].
    backend: "auto" (a GPU through Vulkan if there is one, else the CPU),
      "cpu" or "vulkan"; device: the Vulkan device index.

    A query that sees no key gets zeros (PyTorch gives NaN). Arrays whose
    last axis is contiguous are read in place; others are copied once. The
    library then copies them into its own buffers (a one-shot call); the
    GIL is released while it computes.
    """
    if dropout_p != 0.0:
        raise InvalidArgumentError("invalid argument: dropout_p must be 0.0 (vkattn is for inference)")
    if is_causal and attn_mask is not None:
        raise InvalidArgumentError("invalid argument: give is_causal or attn_mask, not both (as PyTorch)")
    if scale is not None and float(scale) == 0.0:
        raise InvalidArgumentError("invalid argument: scale must not be 0 (vkattn reads 0 as 'the default')")
    alignments = {"top_left": CAUSAL_TOP_LEFT, "bottom_right": CAUSAL_BOTTOM_RIGHT}
    if causal_alignment not in alignments:
        raise InvalidArgumentError("invalid argument: causal_alignment must be 'top_left' or 'bottom_right'")
    query_array = np.asarray(query)
    lead = query_array.shape[:-3] if query_array.ndim >= 3 else ()
    q = _as_4d(query_array, "query")
    k = _as_4d(key, "key")
    v = _as_4d(value, "value")
    batch, q_heads, q_len, _ = q.shape
    kv_heads, kv_len = k.shape[1], k.shape[2]
    if not enable_gqa and kv_heads != q_heads:
        raise InvalidArgumentError(
            f"invalid argument: key has {kv_heads} heads and query {q_heads}: pass enable_gqa=True for grouped-query attention")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise InvalidArgumentError(f"invalid argument: query, key and value dtypes differ ({q.dtype}, {k.dtype}, {v.dtype})")

    additive_mask = bool_mask = None
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        try:
            mask = np.broadcast_to(mask, query_array.shape[:-2] + (q_len, kv_len))
        except ValueError:
            raise InvalidArgumentError(
                f"invalid argument: attn_mask of shape {mask.shape} does not broadcast to "
                f"{query_array.shape[:-2] + (q_len, kv_len)}") from None
        mask = _as_4d(mask, "attn_mask") if mask.ndim != 4 else mask
        if mask.dtype == np.bool_:
            bool_mask = mask.view(np.uint8)
        elif mask.dtype.kind == "f":
            additive_mask = mask if mask.dtype == np.float32 else mask.astype(np.float32)
        else:
            raise InvalidArgumentError(f"invalid argument: attn_mask must be bool or float, not {mask.dtype}")

    left, right = (-1, -1) if window is None else window
    left = -1 if left is None else int(left)
    right = -1 if right is None else int(right)
    causal = alignments[causal_alignment] if is_causal else CAUSAL_NONE
    lens = None if kv_lens is None else np.ascontiguousarray(kv_lens, dtype=np.int32)

    out = np.empty((batch, q_heads, q_len, v.shape[3]), dtype=q.dtype)
    lse = np.empty((batch, q_heads, q_len), dtype=np.float32) if return_lse else None
    _attention(_context(backend, device), q, k, v, out, lse, additive_mask, bool_mask, lens, causal,
               0.0 if scale is None else float(scale), left, right)
    shape = lead + (q_heads, q_len) if query_array.ndim >= 3 else (q_len,)
    out = out.reshape(shape + (v.shape[3],))
    if return_lse:
        return out, lse.reshape(shape)
    return out
