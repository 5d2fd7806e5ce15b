"""A numpy integer reference of the models the RTL tests simulate, written from the fixed-point rules the README
states for the generated blocks (not from the generator's code): what the hardware must compute, bit for bit."""

from __future__ import annotations

import math

import numpy as np


def sat8(x):
    return np.clip(x, -128, 127).astype(np.int64)


def shift_of(k: int) -> int:
    """GEMM output shift: 7 + ceil(log2(K) / 2)."""
    return 7 + math.ceil(math.log2(k) / 2) if k > 1 else 7


def linear(x, w):
    """x [count, M, K] (or [M, K]), w [count, K, N] -> sat8(floor(x @ w / 2^shift))."""
    count, k, n = w.shape
    x = x.reshape(count, -1, k)
    return sat8(np.floor_divide(np.einsum("gmk,gkn->gmn", x, w), 2 ** shift_of(k)))


def table(f):
    vals = {}
    for x in range(-128, 128):
        vals[x] = int(min(127, max(-128, math.floor(16 * f(x / 16) + 0.5))))
    return vals


GELU = table(lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))))
SILU = table(lambda x: x / (1 + math.exp(-x)))


def apply(tab, x):
    return np.vectorize(lambda v: tab[int(v)])(x).astype(np.int64)


def relu(x):
    return np.maximum(x, 0)


def add(a, b):
    return sat8(a + b)


def mul(a, b):
    return sat8(np.floor_divide(a * b, 16))


def softmax(x, cols):
    e_tab = [math.floor(32768 * math.exp(-d / 16) + 0.5) for d in range(256)]
    rows = x.reshape(-1, cols)
    out = []
    for r in rows:
        e = np.array([e_tab[int(r.max() - v)] for v in r], dtype=np.int64)
        recip = (1 << 31) // int(e.sum())
        out.append(np.minimum(127, (e * recip) >> 24))
    return np.array(out, dtype=np.int64).reshape(x.shape)


def norm(x, cols, rms=False):
    recip = round((1 << 20) / cols)
    out = []
    for r in x.reshape(-1, cols):
        mean = 0 if rms else (int(r.sum()) * recip) >> 20
        d = r - mean
        var = (int((d * d).sum()) * recip) >> 20
        std = max(1, math.isqrt(var))
        inv = 65536 // std
        out.append(sat8((d * inv) >> 12))
    return np.array(out, dtype=np.int64).reshape(x.shape)


def conv2d(x, w, k, pad):
    """x [H, W, C] (HWC), w [K*K*C, N] rows ordered (ky, kx, c) -> [OH*OW, N] with stride 1."""
    h, wd, c = x.shape
    xp = np.zeros((h + 2 * pad, wd + 2 * pad, c), dtype=np.int64)
    xp[pad:pad + h, pad:pad + wd] = x
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    patches = np.array([[xp[y:y + k, z:z + k, :].reshape(-1) for z in range(ow)] for y in range(oh)]).reshape(oh * ow, -1)
    return linear(patches[None], w[None] if w.ndim == 2 else w).reshape(oh * ow, -1), (oh, ow)


def maxpool(x, h, w, c, r):
    return x.reshape(h // r, r, w // r, r, c).max(axis=(1, 3)).reshape(-1)
