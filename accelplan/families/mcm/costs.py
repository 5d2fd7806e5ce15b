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
- ``compute = count * ceil(m/tm) * ceil(K/tk) * ceil(n/tn) / (efficiency * clock)``
- ``in_total = count * (M*K [+ K*N when both operands are activations]) * B``; per chiplet ``in = count * (m*K [+ K*n]) * B``
- ``out_total = count * M*N * B``; per chiplet ``out = count * m*n * B``
- ``nop = max(in_total, out_total) / (link_bw * min(r, c)) `` (the cluster's bisection / narrow face)
  ``max= max(in, out) / link_bw`` (each chiplet's own link) ``+ hop_latency * (r + c - 1)``
- ``time = max(compute, nop) + layer_overhead + element-wise epilogue``
  (epilogue: elements moved / (g * elementwise_per_cycle * clock))
- ``energy = padded MACs * e_mac + g*(in+out) * 8 * e_bit_nop * (r+c)/2 + g*(in+out+w) * e_sram``
- SRAM per chiplet: weights ``w = count*K*n*B`` (weight operands only) and double-buffered
  activations ``2*(in+out)``.

Weights enter from DRAM once per batch when a cluster's weights fit its chiplets' SRAM, else per
input (streamed); that and the segment-level terms are in :mod:`accelplan.execution.segments`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...specs.lowering import Elementwise, Gemm
from ...specs.schema import DTYPE_BYTES
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


def dram_bandwidth(hw: MCMHardware) -> float:
    """Bytes/s of all DRAM controllers together."""
    return sum(c.bandwidth for c in hw.dram.controllers)


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


def dram_byte_energy(hw: MCMHardware) -> float:
    """Joules per byte to or from DRAM: the DRAM access plus the NoP hops from the nearest controller (mesh average)."""
    rows, cols = hw.mesh
    hops = np.mean([min(abs(r - c.at[0]) + abs(q - c.at[1]) for c in hw.dram.controllers)
                    for r in range(rows) for q in range(cols)])
    return 8 * hw.dram.energy_per_bit + 8 * hw.nop.energy_per_bit * float(hops)


def elementwise_time(hw: MCMHardware, cfg: ClusterConfig, op: Elementwise) -> float:
    return op.elements_moved / (cfg.units * hw.chiplet.elementwise_per_cycle * hw.chiplet.clock)


def elementwise_energy(hw: MCMHardware, dtype: str, op: Elementwise) -> float:
    return op.elements_moved * DTYPE_BYTES[dtype] * hw.energy.sram_byte


def mappings(hw: MCMHardware, dtype: str, gemm: Gemm, cfg: ClusterConfig, epilogue: list[Elementwise]) -> list[Mapping]:
    """Every (partition factors, chiplet tile) of ``gemm`` on ``cfg``, priced per input (module docstring)."""
    nbytes = DTYPE_BYTES[dtype]
    g = cfg.units
    eff, clock = hw.chiplet.efficiency, hw.chiplet.clock
    bw, links = hw.nop.link_bandwidth, cfg.bisection_links
    m_all, k, n_all, cnt = gemm.m, gemm.k, gemm.n, gemm.count
    in_total = cnt * (m_all * k + (0 if gemm.weight else k * n_all)) * nbytes
    out_total = cnt * m_all * n_all * nbytes
    ep_t = sum(elementwise_time(hw, cfg, e) for e in epilogue)
    ep_e = sum(elementwise_energy(hw, dtype, e) for e in epilogue)
    hops = (cfg.rows + cfg.cols) / 2
    out = []
    for gm in range(1, g + 1):
        if g % gm:
            continue
        gn = g // gm
        m, n = math.ceil(m_all / gm), math.ceil(n_all / gn)
        cin = cnt * (m * k + (0 if gemm.weight else k * n)) * nbytes
        cout = cnt * m * n * nbytes
        w = cnt * k * n * nbytes if gemm.weight else 0
        nop = max(max(in_total, out_total) / (bw * links), max(cin, cout) / bw) + hw.nop.hop_latency * cfg.diameter_hops
        for tile in hw.chiplet.tiles[dtype]:
            tm, tk, tn = tile
            cycles = cnt * math.ceil(m / tm) * math.ceil(k / tk) * math.ceil(n / tn)
            compute = cycles / (eff * clock)
            time_s = max(compute, nop) + hw.layer_overhead + ep_t
            energy = (g * cycles * tm * tk * tn * hw.energy.mac[dtype]
                      + g * (cin + cout) * 8 * hw.nop.energy_per_bit * hops
                      + g * (cin + cout + w) * hw.energy.sram_byte + ep_e)
            out.append(Mapping(gm, gn, tuple(tile), time_s, energy, w, 2 * (cin + cout)))
    return out


def best_mapping(candidates: list[Mapping], objective: str, static_share_w: float) -> Mapping:
    """The mapping a plan uses: fastest (then least energy, then least SRAM) for throughput and latency;
    for energy the least dynamic energy plus ``static_share_w`` x time (the cluster's share of static power)."""
    if objective == "energy":
        return min(candidates, key=lambda c: (c.energy_j + static_share_w * c.time_s, c.time_s, c.weight_bytes_per_chiplet))
    return min(candidates, key=lambda c: (c.time_s, c.energy_j, c.weight_bytes_per_chiplet))


def weight_bytes(gemm: Gemm, dtype: str) -> float:
    """Bytes of the layer's stored weights (0 when both operands are activations)."""
    return gemm.weight_elements * DTYPE_BYTES[dtype]


def output_bytes(gemm: Gemm, dtype: str) -> float:
    return gemm.m * gemm.n * gemm.count * DTYPE_BYTES[dtype]


def input_bytes(gemm: Gemm, dtype: str) -> float:
    return gemm.m * gemm.k * gemm.count * DTYPE_BYTES[dtype]


def peak_macs_per_s(hw: MCMHardware, dtype: str) -> float:
    """Peak MAC rate of one chiplet [MAC/s]."""
    return hw.chiplet.macs_per_cycle[dtype] * hw.chiplet.clock
