"""Analytical cost model of layers on clusters of chiplets in a multi-chip module (MCM).

A *cluster* is a group of ``g`` chiplets (a near-square rectangle of the mesh where one exists,
else a strip of full rows in snake order) that runs a run of consecutive layers back to back.
Each layer is partitioned over its cluster's chiplets by two factors ``gm x gn = g``:
``gm`` weight-shared groups split the rows M (pixels, tokens) and receive the weights broadcast,
``gn`` input-shared groups split the output channels N and receive the inputs broadcast
(``gn = g``: purely input-shared; ``gm = g``: purely weight-shared). Inside a chiplet the MAC
array takes one of its per-cycle tile shapes ``(tm, tk, tn)``. Partition factors and tile are
decisions: for each (layer, cluster size) the best pair is kept (see :func:`best_mapping`).

Per input, for a GEMM ``count x [M,K]x[K,N]`` of ``B`` bytes per element on a cluster of ``g``
chiplets shaped ``r x c`` with factors ``(gm, gn)`` and tile ``(tm, tk, tn)``:

- ``m = ceil(M/gm)``, ``n = ceil(N/gn)``                      [each chiplet's share; ceilings = padding]
  (a convolution splits its output pixels into a ``gh x gw = gm`` grid, ``m`` = one rectangle's pixels, or
  into runs of ``ceil(M/gm)`` consecutive pixels: both are candidate mappings)
- ``compute = cycles / (efficiency * clock)``, ``cycles = count * ceil(m/tm) * ceil(K/tk) * ceil(n/tn)``; for a
  convolution the array's ``tk`` lanes take the input channels ``C`` of one kernel position and the ``R x S``
  kernel positions run one after another (``ceil(K/tk)`` becomes ``R*S * ceil(C/tk)``), as Simba's vector MACs
  run over input channels (Shao et al., MICRO 2019, Sec. III; ZigZag/Stream map Simba-like cores spatially
  over K and C the same way): a 3-channel first layer fills 3 of 32 lanes, not 147 of 160 im2col columns.
  The layer's *spatial utilisation* is the fraction of the cluster's MAC array its shape fills,
  ``macs / (g * cycles * tm*tk*tn)`` (every ceiling above and the partition's ``ceil(M/gm)``, ``ceil(N/gn)``
  padding are idle lanes); it is reported per layer (``Mapping.utilization``) instead of assuming 100 %;
- inputs at their real size (:mod:`.memory`): per chiplet ``in = count * x [+ count * K*n when both operands
  are activations]`` with ``x = m*K``, or for a convolution the input its share reads (its pixels'
  rows and columns plus the halo), not the im2col expansion; ``in_total`` = the same summed over the
  distinct shares (a convolution: the feature map plus the halos read twice)
- ``out_total = count * M*N * B``; per chiplet ``out = count * m*n * B``
- ``nop = max(in_total, out_total) / (link_bw * min(r, c)) `` (the cluster's bisection / narrow face)
  ``max= max(in, out) / link_bw`` (each chiplet's own link) ``+ hop_latency * (r + c - 1)``
- ``spill``: 0 when the share fits a chiplet's SRAM (``w + 2*(in+out) <= sram``), else the DRAM bytes
  of the cheaper of weight- and input-stationary blocking beyond the weights' first pass, at the
  cluster's share of the DRAM bandwidth ``dram_bw * g / chiplets`` (:mod:`.memory`, :func:`dram_share`)
- ``time = max(compute, nop, spill) + layer_overhead + element-wise epilogue``
  (epilogue: elements moved / (g * elementwise_per_cycle * clock)): the layer's time when its cluster holds
  its weights (loaded once per batch, :mod:`accelplan.execution.segments`);
- ``streamed_time``: the layer's time when its cluster streams its weights from DRAM for every input.
  Weights stream *double-buffered*: while the MACs work on one weight tile the next is fetched, so the
  streaming overlaps the compute it feeds and only the first tile's fetch (or the last tile's compute) is
  exposed. With ``S = (W + spill) / dram_share`` (the layer's distinct weights plus its blocking re-reads
  at the cluster's DRAM share) and ``C = max(compute, nop)`` over ``n_t`` tiles,
  ``fill + (n_t - 1) * max(C/n_t, S/n_t) + drain = max(C, S) + min(C, S) / n_t``:
  ``streamed_time = max(C, S) + min(C, S) / n_t + layer_overhead + epilogue`` — the max, not the sum
  ``C + S`` an undivided load would cost. ``n_t = ceil(w / (buffer / 2))``: a chiplet's weights ``w`` in
  tiles of half its weight buffer (``chiplet.weight_buffer``; undeclared: the global buffer left after
  the double-buffered activations), the other half feeding the array. This is how the hardware and
  the schedulers that model it run: Simba's PEs double-buffer their weight and input buffers so
  transfers hide behind compute (Shao et al., MICRO 2019, Sec. III-A); Stream (Symons et al., "Stream: A
  Modeling Framework for Fine-grained Layer Fusion on Multi-core DNN Accelerators", arXiv 2212.10612) and
  ZigZag schedule a layer's off-chip transfers concurrently with the compute and charge a stall only
  where the transfer outlasts it; Tangram (Gao et al., ASPLOS 2019) and Gemini (Cai et al., HPCA 2024)
  likewise price a layer on a chiplet at the slower of compute and its (DRAM or NoP) traffic;
- ``energy = padded MACs * e_mac + g*(in+out) * 8 * e_bit_nop * (r+c)/2 + g*(in+out+w) * e_sram
  + spill bytes * (DRAM access + mean NoP hops from the controllers)``
- SRAM per chiplet: weights ``w = count*K*n*B`` (weight operands only) and double-buffered
  activations ``2*(in+out)``. The spec's buffers: ``sram`` (all of a chiplet's SRAM: the fit test, the
  blocking of a spilled layer and, by default, the streaming tile) and ``weight_buffer`` (the part of it
  next to the MACs that streamed weights are double-buffered in: the streaming tile).

Weights enter from DRAM once per batch when a cluster's weights fit its chiplets' SRAM, else per
input (streamed); that and the segment-level terms are in :mod:`accelplan.execution.segments`.
DRAM bandwidth is the controllers' total, each capped by the NoP links leaving its chiplet
(:func:`dram_bandwidth`), and a cluster streams at its chiplets' share of it (:func:`dram_share`).
Not modelled: NoP contention between clusters (each cluster's traffic is priced on its own links;
DRAM traffic crossing other clusters' links is not), activations
kept on chip between layers of a cluster when consecutive layers share a partition (every layer's input
is priced as redistributed), and the live tensors of residual branches at segment cuts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ...problem import binding_term
from ...specs.lowering import Elementwise, Gemm
from ...specs.schema import DTYPE_BYTES
from . import memory
from .spec import MCMHardware


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster of ``units`` chiplets laid out as ``rows x cols`` on the mesh (the last row may be partial)."""

    rows: int
    cols: int
    units: int

    @property
    def label(self) -> str:
        shape = f"{self.rows}x{self.cols}" if self.rows * self.cols == self.units else f"{self.units} in {self.rows}x{self.cols}"
        return f"{self.units} chiplet{'s' if self.units > 1 else ''} ({shape})"

    @property
    def bisection_links(self) -> int:
        """Links across the cluster's narrow face: the bandwidth into, out of and across it."""
        return max(1, min(self.rows, self.cols))

    @property
    def diameter_hops(self) -> int:
        return self.rows + self.cols - 1

    def resources(self) -> dict[str, float]:
        return {"chiplets": self.units}

    def plan_fields(self) -> dict[str, object]:
        """The fields of a replica's :class:`~accelplan.execution.pipeline.PipelineAccelerator`: label, chiplets, shape."""
        return {"config": self.label, "units": self.units, "array": (self.rows, self.cols, 1)}


#: the terms of a layer's time on a cluster: the first OVERLAPPED at once (the slowest sets the time), the rest add;
#: held weights: ``max(compute, NoP, DRAM re-reads) + overhead + element-wise``; streamed weights: ``max(compute, NoP,
#: DRAM streaming) + the exposed first tile + overhead + element-wise`` (:func:`overlapped_s`)
TERMS = ("compute", "NoP", "DRAM", "first weight tile", "overhead", "element-wise")
OVERLAPPED = 3


@dataclass(frozen=True)
class Mapping:
    """How one layer runs on a cluster: partition factors, chiplet tile and what that costs per input."""

    weight_groups: int  # gm: groups splitting M (weights broadcast)
    input_groups: int  # gn: groups splitting N (inputs broadcast)
    tile: tuple[int, int, int]
    time_s: float
    energy_j: float
    weight_bytes_per_chiplet: float
    buffer_bytes_per_chiplet: float  # double-buffered activations
    blocking: str = ""  # "" (fits the SRAM), "weight-stationary" or "input-stationary" (runs blocked from DRAM)
    spill_bytes: float = 0.0  # DRAM bytes per input of that blocking beyond the weights' first pass
    utilization: float = 1.0  # spatial: fraction of the cluster's MAC array the layer's shape fills (module docstring)
    streamed_time_s: float = 0.0  # per input when the cluster streams its weights from DRAM (overlapped, double-buffered)
    weight_tiles: int = 1  # n_t: the double-buffered tiles a chiplet's weights stream in
    when_streamed: "Mapping | None" = None  # the mapping a cluster streaming its weights uses instead (None: this one)
    # the time's :data:`TERMS` [s] held (time_s) and streamed (streamed_time_s), and the index of the one that binds
    terms: tuple[float, ...] = ()
    streamed_terms: tuple[float, ...] = ()
    bound: int = 0
    streamed_bound: int = 0

    def as_streamed(self) -> "Mapping":
        """The mapping used when the layer's cluster streams its weights (the best by streamed time may differ)."""
        return self.when_streamed or self

    @property
    def streaming_time_s(self) -> float:
        return self.as_streamed().streamed_time_s

    @property
    def streaming_energy_j(self) -> float:
        return self.as_streamed().energy_j

    @property
    def partition(self) -> str:
        """``input-shared``, ``weight-shared`` or ``weight-shared x input-shared`` factors."""
        if self.weight_groups == 1 and self.input_groups == 1:
            return "whole"
        if self.weight_groups == 1:
            return "input-shared"
        if self.input_groups == 1:
            return "weight-shared"
        return f"ws{self.weight_groups}xis{self.input_groups}"


def cluster_shape(hw: MCMHardware, units: int) -> ClusterConfig:
    """The most square ``r x c`` rectangle of ``units`` chiplets that fits the mesh, else full-width rows."""
    rows, cols = hw.mesh
    best = None
    for r in range(1, rows + 1):
        if units % r == 0 and units // r <= cols:
            c = units // r
            if best is None or abs(r - c) < abs(best[0] - best[1]):
                best = (r, c)
    if best is None:
        c = min(units, cols)
        best = (math.ceil(units / c), c)
    return ClusterConfig(best[0], best[1], units)


def menu(hw: MCMHardware) -> list[ClusterConfig]:
    """Cluster sizes: ``menu.cluster_chiplets``, else every rectangle size ``r*c`` (r <= rows, c <= cols)."""
    rows, cols = hw.mesh
    sizes = hw.menu.cluster_chiplets or sorted({r * c for r in range(1, rows + 1) for c in range(1, cols + 1)})
    return [cluster_shape(hw, g) for g in sorted(set(sizes))]


def mesh_links(hw: MCMHardware, at: tuple[int, int]) -> int:
    """Links from the chiplet at mesh position ``at`` to its neighbours (2 at a corner, 4 inside)."""
    rows, cols = hw.mesh
    r, c = at
    return (r > 0) + (r < rows - 1) + (c > 0) + (c < cols - 1)


def dram_bandwidth(hw: MCMHardware) -> float:
    """Bytes/s of all DRAM controllers together, each at most what the NoP links leaving its chiplet carry
    (``min(bandwidth, links * link_bw)``; on a one-chiplet mesh the chiplet takes it all)."""
    bw = hw.nop.link_bandwidth
    return sum(min(c.bandwidth, mesh_links(hw, c.at) * bw) if mesh_links(hw, c.at) else c.bandwidth
               for c in hw.dram.controllers)


def snake_order(hw: MCMHardware) -> list[tuple[int, int]]:
    """Mesh positions in boustrophedon order: row 0 left to right, row 1 right to left, ...

    A segment's clusters take consecutive runs of this order, so consecutive clusters are neighbours.
    """
    rows, cols = hw.mesh
    return [(r, c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]


def dram_hops(hw: MCMHardware, configs: list[ClusterConfig]) -> np.ndarray:
    """``hops[u, c]``: mean NoP hops from the nearest DRAM controller to the chiplets of a cluster of
    configuration ``c`` placed at snake positions ``u .. u+g-1`` (inf where it would not fit)."""
    order = snake_order(hw)
    near = np.array([min(abs(r - ctl.at[0]) + abs(q - ctl.at[1]) for ctl in hw.dram.controllers) for r, q in order], float)
    prefix = np.concatenate([[0.0], np.cumsum(near)])
    n = len(order)
    out = np.full((n + 1, len(configs)), np.inf)
    for c, cfg in enumerate(configs):
        g = cfg.units
        u = np.arange(0, n - g + 1)
        out[u, c] = (prefix[u + g] - prefix[u]) / g
    return out


def dram_access_energy(hw: MCMHardware) -> float:
    """Joules per byte of the DRAM access itself."""
    return 8 * hw.dram.energy_per_bit


@lru_cache(maxsize=256)
def _mean_hops(mesh: tuple[int, int], controllers: tuple[tuple[int, int], ...]) -> float:
    rows, cols = mesh
    return float(np.mean([min(abs(r - a) + abs(q - b) for a, b in controllers) for r in range(rows) for q in range(cols)]))


def dram_byte_energy(hw: MCMHardware) -> float:
    """Joules per byte to or from DRAM: the DRAM access plus the NoP hops from the nearest controller (mesh average)."""
    hops = _mean_hops(tuple(hw.mesh), tuple(tuple(c.at) for c in hw.dram.controllers))
    return 8 * hw.dram.energy_per_bit + 8 * hw.nop.energy_per_bit * hops


def elementwise_time(hw: MCMHardware, cfg: ClusterConfig, op: Elementwise) -> float:
    return op.elements_moved / (cfg.units * hw.chiplet.elementwise_per_cycle * hw.chiplet.clock)


def elementwise_energy(hw: MCMHardware, dtype: str, op: Elementwise) -> float:
    return op.elements_moved * DTYPE_BYTES[dtype] * hw.energy.sram_byte


def dram_share(hw: MCMHardware, cfg: ClusterConfig) -> float:
    """Bytes/s of DRAM a cluster may use while the other clusters of its segment run: its chiplets' share
    of all controllers (``dram_bw * g / chiplets``), so the clusters running at once never exceed the total."""
    return dram_bandwidth(hw) * cfg.units / (hw.mesh[0] * hw.mesh[1])


def mappings(hw: MCMHardware, dtype: str, gemm: Gemm, cfg: ClusterConfig, epilogue: list[Elementwise]) -> list[Mapping]:
    """Every (partition factors, pixel split, chiplet tile) of ``gemm`` on ``cfg``, priced per input (module docstring)."""
    fixed = (sum(elementwise_time(hw, cfg, e) for e in epilogue), sum(elementwise_energy(hw, dtype, e) for e in epilogue),
             dram_byte_energy(hw), dram_share(hw, cfg))
    out = []
    for gm in range(1, cfg.units + 1):
        if cfg.units % gm == 0:
            for share in memory.shares(gemm, gm, cfg.units // gm):
                out += _priced(hw, dtype, gemm, cfg, (gm, cfg.units // gm), share, fixed)
    return out


def array_cycles(gemm: Gemm, m: int, n: int, tile: tuple[int, int, int]) -> int:
    """Cycles of one chiplet computing ``m`` rows and ``n`` columns of ``gemm`` on a ``(tm, tk, tn)`` array: ``tk``
    lanes over K, or for a convolution over its input channels with the kernel positions in time (module docstring)."""
    tm, tk, tn = tile
    if gemm.conv is not None and gemm.conv.channels * gemm.conv.kernel[0] * gemm.conv.kernel[1] == gemm.k:
        k_steps = gemm.conv.kernel[0] * gemm.conv.kernel[1] * math.ceil(gemm.conv.channels / tk)
    else:
        k_steps = math.ceil(gemm.k / tk)
    return gemm.count * math.ceil(m / tm) * k_steps * math.ceil(n / tn)


def weight_tile_bytes(hw: MCMHardware, activations: float) -> float:
    """Bytes of one streamed weight tile on a chiplet: half its weight buffer (double buffering), or half the global
    buffer left after the ``activations`` (double-buffered inputs and outputs) when the spec declares none."""
    if hw.chiplet.weight_buffer is not None:
        return hw.chiplet.weight_buffer / 2
    return max(hw.chiplet.sram - activations, hw.chiplet.sram / 2) / 2


def overlapped_s(compute_s: float, transfer_s: float, tiles: int) -> float:
    """``tiles`` double-buffered tiles: the first fetch (or the last compute) exposed, the rest hidden behind the
    slower of the two: ``fill + (tiles - 1) * max(c, s) + drain = max(C, S) + min(C, S) / tiles``."""
    return max(compute_s, transfer_s) + min(compute_s, transfer_s) / max(1, tiles)


def _priced(hw: MCMHardware, dtype: str, gemm: Gemm, cfg: ClusterConfig, factors: tuple[int, int], s: memory.Shares,
            fixed: tuple[float, float, float, float]) -> list[Mapping]:
    """One partition ``(gm, gn)`` and share of ``gemm`` on ``cfg``, once per chiplet tile; ``fixed``: the epilogue's
    time and energy, the joules per DRAM byte and the cluster's DRAM bandwidth, the same for every share."""
    ep_t, ep_e, spill_j, share_bw = fixed
    nbytes, g = DTYPE_BYTES[dtype], cfg.units
    bw = hw.nop.link_bandwidth
    act_y, act_y_total = (0, 0) if gemm.weight else (s.y, s.y_total)
    in_total, out_total = (s.x_total + act_y_total) * nbytes, s.o_total * nbytes
    cin, cout = (s.x + act_y) * nbytes, s.o * nbytes
    w = s.y * nbytes if gemm.weight else 0
    fits = w + 2 * (cin + cout) <= hw.chiplet.sram * (1 + 1e-12)
    spill = memory.NO_SPILL if fits else memory.blocking(s, nbytes, gemm.weight, hw.chiplet.sram)
    nop = (max(max(in_total, out_total) / (bw * cfg.bisection_links), max(cin, cout) / bw)
           + hw.nop.hop_latency * cfg.diameter_hops)
    io = max(nop, spill.extra_bytes / share_bw)
    streamed_s = (weight_bytes(gemm, dtype) + spill.extra_bytes) / share_bw  # weights and re-reads at the DRAM share
    tiles = max(1, math.ceil(w / weight_tile_bytes(hw, 2 * (cin + cout)))) if w else 1
    n = math.ceil(gemm.n / factors[1])
    moved_j = (g * (cin + cout) * 8 * hw.nop.energy_per_bit * (cfg.rows + cfg.cols) / 2
               + g * (cin + cout + w) * hw.energy.sram_byte + spill.extra_bytes * spill_j + ep_e)
    fixed_s = hw.layer_overhead + ep_t
    out = []
    for tile in hw.chiplet.tiles[dtype]:
        cycles = array_cycles(gemm, s.m, n, tile)
        lanes = tile[0] * tile[1] * tile[2]
        compute_s = cycles / (hw.chiplet.efficiency * hw.chiplet.clock)
        time_s = max(compute_s, io) + fixed_s
        streamed = overlapped_s(max(compute_s, nop), streamed_s, tiles) + fixed_s
        energy = g * cycles * lanes * hw.energy.mac[dtype] + moved_j
        held_terms = (compute_s, nop, spill.extra_bytes / share_bw, 0.0, hw.layer_overhead, ep_t)
        streamed_terms = (compute_s, nop, streamed_s, min(max(compute_s, nop), streamed_s) / max(1, tiles),
                          hw.layer_overhead, ep_t)
        out.append(Mapping(*factors, tuple(tile), time_s, energy, w, 2 * (cin + cout), spill.kind, spill.extra_bytes,
                           gemm.macs / (g * cycles * lanes), streamed, tiles, terms=held_terms,
                           streamed_terms=streamed_terms, bound=binding_term(held_terms, OVERLAPPED),
                           streamed_bound=binding_term(streamed_terms, OVERLAPPED)))
    return out


def best_mapping(candidates: list[Mapping], objective: str, static_share_w: float) -> Mapping:
    """The mapping a plan uses: fastest (then least energy, then least SRAM) for throughput and latency;
    for energy the least dynamic energy plus ``static_share_w`` x time (the cluster's share of static power).
    Chosen twice: for a cluster holding its weights (``time_s``) and for one streaming them (``streamed_time_s``),
    the second kept as the first's ``when_streamed`` when it differs."""
    def pick(time: str) -> Mapping:
        if objective == "energy":
            return min(candidates, key=lambda c: (c.energy_j + static_share_w * getattr(c, time), getattr(c, time),
                                                  c.weight_bytes_per_chiplet))
        return min(candidates, key=lambda c: (getattr(c, time), c.energy_j, c.weight_bytes_per_chiplet))
    held, streamed = pick("time_s"), pick("streamed_time_s")
    return held if streamed is held else replace(held, when_streamed=streamed)


def weight_bytes(gemm: Gemm, dtype: str) -> float:
    """Bytes of the layer's stored weights (0 when both operands are activations)."""
    return gemm.weight_elements * DTYPE_BYTES[dtype]


def output_bytes(gemm: Gemm, dtype: str, epilogue: tuple[Elementwise, ...] = ()) -> float:
    """Bytes of the tensor a layer hands on: its last element-wise pass's output (a pooling shrinks it), else the GEMM's."""
    elements = epilogue[-1].elements if epilogue else gemm.m * gemm.n * gemm.count
    return elements * DTYPE_BYTES[dtype]


def input_bytes(gemm: Gemm, dtype: str) -> float:
    """Bytes of the layer's input tensor as stored (a convolution's feature map, not its im2col expansion)."""
    return gemm.input_elements * DTYPE_BYTES[dtype]


def boundary_bytes(gemms: list[Gemm], epilogues: list[tuple[Elementwise, ...]], dtype: str) -> list[float]:
    """Per cut point ``p`` (0..L): bytes per input crossing DRAM when a segment starts or ends there: the model's
    input at 0, layer ``p-1``'s output written and layer ``p``'s input read back between, the output written at L."""
    outs = [output_bytes(g, dtype, e) for g, e in zip(gemms, epilogues)]
    ins = [input_bytes(g, dtype) for g in gemms]
    return [ins[0]] + [outs[p - 1] + ins[p] for p in range(1, len(gemms))] + [outs[-1]]


def peak_macs_per_s(hw: MCMHardware, dtype: str) -> float:
    """Peak MAC rate of one chiplet [MAC/s]."""
    return hw.chiplet.macs_per_cycle[dtype] * hw.chiplet.clock
