"""What a layer's share on a chiplet reads, and what it costs when it does not fit the chiplet's SRAM.

Two pieces of the chiplet cost model (:mod:`.costs`), in elements or bytes per input:

**Real tensor sizes.** A convolution's input crosses a link as the feature map, not as its im2col
expansion (formed on chip). Split over ``gm`` weight-shared groups by output pixels, the output is cut
into a grid of ``gh x gw`` rectangles (``gh * gw = gm``; the pair with the fewest pixels per chiplet,
then the least input read, is used) of ``th = ceil(out_h / gh)`` x ``tw = ceil(out_w / gw)`` pixels,
or into runs of ``ceil(pixels / gm)`` consecutive pixels in row-major order (balanced, but a run
across rows reads whole input rows): both are candidate mappings, the cost model keeps the better.
Rectangle ``(i, j)`` reads the input rows ``o * stride - padding + a * dilation`` (``o`` its output
rows, ``a < kernel``) that lie inside the input, and the same for columns: its share plus the halo
it shares with its neighbours (a 1x1 stride-2 convolution reads a quarter of its input).
:func:`spatial_split` and :func:`raster_split` give the pixels per chiplet, the largest share's input
and the sum over shares (the feature map plus the halos read twice), per group of the convolution.

**SRAM spill.** A layer's share fits a chiplet when its weights plus double-buffered activations fit
the global buffer (``w + 2 * (x + o) <= sram``, ``2 * (x + y + o)`` when both operands are
activations; ``x``: the ``[m,k]`` operand's share, ``y``: the ``[k,n]`` operand's, weights or
activations, ``w = y`` for weights). Otherwise the layer runs blocked from DRAM, one of two
blockings, each keeping a block of one operand in half the SRAM and streaming the other through the
other half (:func:`blocking`):

- weight-stationary: ``n_y = ceil(y / (sram/2))`` blocks of ``y``; DRAM bytes ``Y + n_y * X + O``;
- input-stationary: ``n_x = ceil(x / (sram/2))`` blocks of ``x``; DRAM bytes ``X + n_x * Y + O``;

(``X, Y, O``: the cluster's totals, distinct data only: a block broadcast to several chiplets is read
once). The one with less DRAM traffic is chosen. The weights' first pass is the cluster's weight
streaming (:mod:`accelplan.execution.segments`), so a spilled layer's own DRAM traffic is the rest,
``extra = blocking bytes - W`` (``W``: stored weights, 0 when ``y`` is an activation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ...specs.lowering import ConvGeometry, Gemm


@dataclass(frozen=True)
class SpatialSplit:
    """A convolution's output cut into ``parts`` shares of ``pixels`` output pixels each (padding kept): a ``grid``
    of rectangles, or (``kind == "raster"``) runs of consecutive pixels in row-major order; the input elements one
    group reads: ``largest`` for the largest share, ``total`` summed over all shares."""

    grid: tuple[int, int]
    pixels: int
    largest: int
    total: int
    kind: str = "grid"


@lru_cache(maxsize=262144)
def _axis(size: int, first: int, last: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Input positions read along one axis by the outputs ``first .. last - 1``."""
    read = {o * stride - padding + a * dilation for o in range(first, last) for a in range(kernel)}
    return sum(1 for r in read if 0 <= r < size)


@lru_cache(maxsize=65536)
def _reads(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int, parts: int) -> tuple[int, ...]:
    """Input positions read along one axis by each of ``parts`` bands of ``ceil(out / parts)`` outputs."""
    band = math.ceil(out / parts)
    return tuple(_axis(size, p * band, min(out, (p + 1) * band), kernel, stride, padding, dilation) for p in range(parts))


def _split(geo: ConvGeometry, gh: int, gw: int) -> SpatialSplit:
    rows = _reads(geo.height, geo.out_h, geo.kernel[0], geo.stride[0], geo.padding[0], geo.dilation[0], gh)
    cols = _reads(geo.width, geo.out_w, geo.kernel[1], geo.stride[1], geo.padding[1], geo.dilation[1], gw)
    pixels = math.ceil(geo.out_h / gh) * math.ceil(geo.out_w / gw)
    return SpatialSplit((gh, gw), pixels, geo.channels * max(rows) * max(cols), geo.channels * sum(rows) * sum(cols))


@lru_cache(maxsize=16384)
def spatial_split(geo: ConvGeometry, parts: int) -> SpatialSplit:
    """The grid of ``parts`` output rectangles with the fewest pixels per chiplet, then the least input read."""
    pairs = [(gh, parts // gh) for gh in range(1, parts + 1) if parts % gh == 0]
    return min((_split(geo, gh, gw) for gh, gw in pairs), key=lambda s: (s.pixels, s.largest, s.total))


@lru_cache(maxsize=16384)
def raster_split(geo: ConvGeometry, parts: int) -> SpatialSplit:
    """``parts`` runs of ``ceil(pixels / parts)`` consecutive output pixels (row-major): a run within one output row
    reads its columns' inputs; a run across rows reads the input rows of all its output rows, every column."""
    rows_h = (geo.height, geo.kernel[0], geo.stride[0], geo.padding[0], geo.dilation[0])
    cols_w = (geo.width, geo.kernel[1], geo.stride[1], geo.padding[1], geo.dilation[1])
    total_px = geo.out_h * geo.out_w
    run = math.ceil(total_px / parts)
    reads = []
    for j in range(parts):
        lo, hi = j * run, min(total_px, (j + 1) * run) - 1
        if lo > hi:
            reads.append(0)
            continue
        (r0, c0), (r1, c1) = divmod(lo, geo.out_w), divmod(hi, geo.out_w)
        rows = _axis(rows_h[0], r0, r1 + 1, *rows_h[1:])
        cols = _axis(cols_w[0], c0, c1 + 1, *cols_w[1:]) if r0 == r1 else _axis(cols_w[0], 0, geo.out_w, *cols_w[1:])
        reads.append(geo.channels * rows * cols)
    return SpatialSplit((parts, 1), run, max(reads), sum(reads), "raster")


@dataclass(frozen=True)
class Shares:
    """Elements per input of one layer on one mapping: per chiplet ``x`` ([m,k] operand as read), ``y`` ([k,n]
    operand), ``o`` (output), and the cluster's distinct totals ``X``, ``Y``, ``O``; ``m``: rows per chiplet."""

    m: int
    x: int
    y: int
    o: int
    x_total: int
    y_total: int
    o_total: int


def shares(gemm: Gemm, gm: int, gn: int) -> tuple[Shares, ...]:
    """Shares of ``gemm`` split ``gm`` ways by rows and ``gn`` ways by columns N: one for a plain GEMM; for a
    convolution split by output pixels, one per way of cutting them (the best grid and row-major runs)."""
    cnt, k = gemm.count, gemm.k
    n = math.ceil(gemm.n / gn)
    y, y_total, o_total = cnt * k * n, cnt * k * gemm.n, cnt * gemm.m * gemm.n
    if gemm.conv is None:
        m = math.ceil(gemm.m / gm)
        return (Shares(m, cnt * m * k, y, cnt * m * n, cnt * gemm.m * k, y_total, o_total),)
    grid, raster = spatial_split(gemm.conv, gm), raster_split(gemm.conv, gm)
    same = (grid.pixels, grid.largest, grid.total) == (raster.pixels, raster.largest, raster.total)
    return tuple(Shares(sp.pixels, cnt * sp.largest, y, cnt * sp.pixels * n, cnt * sp.total, y_total, o_total)
                 for sp in ((grid,) if same else (grid, raster)))


@dataclass(frozen=True)
class Blocking:
    """How a layer that does not fit its chiplets' SRAM runs: ``kind`` (weight- or input-stationary), the
    passes over the streamed operand, and the DRAM bytes per input beyond the weights' first pass."""

    kind: str
    passes: int
    extra_bytes: float


NO_SPILL = Blocking("", 0, 0.0)


def blocking(s: Shares, nbytes: int, stored_weights: bool, sram: float) -> Blocking:
    """The blocking with the least DRAM traffic (module docstring), in bytes per input."""
    half = sram / 2
    x, y = s.x * nbytes, s.y * nbytes
    big_x, big_y, big_o = s.x_total * nbytes, s.y_total * nbytes, s.o_total * nbytes
    n_y, n_x = max(1, math.ceil(y / half)), max(1, math.ceil(x / half))
    ws = big_y + n_y * big_x + big_o
    is_ = big_x + n_x * big_y + big_o
    first = big_y if stored_weights else 0.0
    if ws <= is_:
        return Blocking("weight-stationary", n_y, ws - first)
    return Blocking("input-stationary", n_x, is_ - first)
