"""Analytical cost model of GEMM accelerators on a Versal AI Engine array.

An *accelerator* is an ``A x B x C`` sub-array of AI Engines: ``A`` engines along M, a cascade of
``B`` along K and ``C`` along N, each engine computing a per-engine tile ``tm x tk x tn`` per
step. The accelerator tile is therefore ``(A*tm) x (B*tk) x (C*tn)``. Operands are streamed from
PL buffers over PLIO ports and results streamed back; double buffering overlaps compute and
transfer. Every quantity below is in SI units (seconds, bytes, joules) unless its name says so.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ...specs.lowering import Elementwise, Gemm
from ...specs.schema import DTYPE_BYTES
from .spec import VersalAIEHardware

#: bytes of a partial sum held in an engine's output tile: int accumulators are 32 bit, floats fp32
ACCUMULATOR_BYTES = 4


@dataclass(frozen=True)
class AIEConfig:
    """One candidate accelerator: array shape, per-engine tile and the resources it takes."""

    array: tuple[int, int, int]
    engine_tile: tuple[int, int, int]
    units: int
    ports_in: int
    ports_out: int
    buffer_bytes: int
    ports_lhs: int = 0  # of ports_in, the LHS (M x K) streams; the rest carry the RHS (K x N)
    kernel_efficiency: float = 1.0  # fraction of the engine's peak its per-engine kernel reaches (see tile_efficiency)

    @property
    def tile(self) -> tuple[int, int, int]:
        """Accelerator tile (M, K, N) covered by one step of the whole array."""
        (a, b, c), (tm, tk, tn) = self.array, self.engine_tile
        return a * tm, b * tk, c * tn

    @property
    def label(self) -> str:
        (a, b, c), (tm, tk, tn) = self.array, self.engine_tile
        return f"{a}x{b}x{c}@{tm}x{tk}x{tn}"

    def plan_fields(self) -> dict[str, object]:
        """The fields of its :class:`~accelplan.plan.AcceleratorPlan`: label, engines, tile, ports, PL buffer."""
        return {"config": self.label, "units": self.units, "array": self.array, "engine_tile": self.engine_tile,
                "ports_in": self.ports_in, "ports_out": self.ports_out, "ports_lhs": self.ports_lhs,
                "buffer_bytes": self.buffer_bytes}

    def resources(self) -> dict[str, float]:
        """Shared budgets this accelerator draws on."""
        return {"units": self.units, "ports_in": self.ports_in, "ports_out": self.ports_out, "buffer_bytes": self.buffer_bytes}


#: the terms of a layer's time (:func:`gemm_cost`): the first OVERLAPPED run at once (double buffered), the rest add
TERMS = ("compute", "PLIO", "DDR", "DDR store", "launch", "element-wise")
OVERLAPPED = 3


@dataclass(frozen=True)
class Cost:
    """Cost of one operator on one accelerator configuration, per input (sample); ``terms``: its time's :data:`TERMS`
    (without the element-wise epilogue, priced apart) [s]."""

    time_s: float
    energy_j: float
    compute_s: float = 0.0
    transfer_s: float = 0.0
    padded_macs: int = 0
    ddr_s: float = 0.0  # DDR time of the layer alone (overlapped streams + the exposed last store)
    terms: tuple[float, ...] = ()


def budgets(hw: VersalAIEHardware) -> dict[str, float]:
    """Device-wide budgets shared by all accelerators."""
    return {"units": hw.aie.units, "ports_in": hw.plio.ports_in, "ports_out": hw.plio.ports_out,
            "buffer_bytes": hw.pl.buffer}


def make_config(hw: VersalAIEHardware, dtype: str, array: tuple[int, int, int], engine_tile: tuple[int, int, int]) -> AIEConfig:
    """Resources of an ``array`` of engines with per-engine ``engine_tile``.

    - ports_in  = ceil(A*B/p) + ceil(B*C/p)   [LHS and RHS streams; p engines share one port]
    - ports_out = ceil(A*C/p)                  [only the last engine of each K cascade writes]
    - buffer    = 2 * (Mt*Kt + Kt*Nt + Mt*Nt) * bytes   [PL ping-pong buffers of one accelerator tile]
    """
    a, b, c = array
    p = hw.plio.engines_per_port
    mt, kt, nt = a * engine_tile[0], b * engine_tile[1], c * engine_tile[2]
    nbytes = DTYPE_BYTES[dtype]
    return AIEConfig(
        array=array,
        engine_tile=engine_tile,
        units=a * b * c,
        ports_in=math.ceil(a * b / p) + math.ceil(b * c / p),
        ports_out=math.ceil(a * c / p),
        buffer_bytes=2 * (mt * kt + kt * nt + mt * nt) * nbytes,
        ports_lhs=math.ceil(a * b / p),
        kernel_efficiency=tile_efficiency(hw, dtype, engine_tile),
    )


def engine_tile_fits(hw: VersalAIEHardware, dtype: str, tile: tuple[int, int, int]) -> bool:
    """Engine local memory [bytes] >= 2*(tm*tk + tk*tn)*bytes (double-buffered inputs) + tm*tn*4 (accumulators)."""
    tm, tk, tn = tile
    need = 2 * (tm * tk + tk * tn) * DTYPE_BYTES[dtype] + tm * tn * ACCUMULATOR_BYTES
    return need <= hw.aie.local_memory


def _listed_tiles(hw: VersalAIEHardware, dtype: str) -> dict[tuple[int, int, int], float | None]:
    """The ``engine_tiles`` of ``dtype`` in menu order: tile -> its own kernel efficiency (None: the dtype's).

    An entry is ``[m, k, n]`` (the old form) or ``{tile: [m, k, n], efficiency: e}``; the first entry of a
    tile listed twice wins.
    """
    out: dict[tuple[int, int, int], float | None] = {}
    for entry in hw.menu.engine_tiles.get(dtype, []):
        tile, eff = (tuple(entry), None) if isinstance(entry, tuple) else (tuple(entry.tile), entry.efficiency)
        out.setdefault(tile, eff)
    return out


def tile_efficiency(hw: VersalAIEHardware, dtype: str, tile: tuple[int, int, int]) -> float:
    """Fraction of an engine's peak MAC rate its kernel on ``tile`` reaches: the tile's own ``efficiency`` on the
    menu, else ``aie.kernel_efficiency`` of the dtype (a tile generated from ``engine_tile_dims`` too), else 1.0."""
    own = _listed_tiles(hw, dtype).get(tuple(tile))
    return own if own is not None else hw.aie.kernel_efficiency.get(dtype, 1.0)


def engine_tiles(hw: VersalAIEHardware, dtype: str) -> list[tuple[int, int, int]]:
    """Per-engine tile candidates: the listed ``engine_tiles`` plus every (m, k, n) of ``engine_tile_dims``,
    kept when they fit the engine's local memory (see :func:`engine_tile_fits`), without repeats."""
    dims = hw.menu.engine_tile_dims.get(dtype, [])
    tiles = list(_listed_tiles(hw, dtype)) + list(itertools.product(dims, repeat=3))
    return [t for t in dict.fromkeys(tiles) if engine_tile_fits(hw, dtype, t)]


def menu(hw: VersalAIEHardware, dtype: str) -> list[AIEConfig]:
    """Every (engine array, engine tile) allowed by the hardware's menu that fits the device on its own.

    The tile is a decision: the candidates of :func:`engine_tiles` times the A x B x C arrays of
    ``array_dims`` (at most ``max_units_per_accelerator`` engines), each bounded by the device's
    engines, PLIO ports and PL buffer. :func:`accelplan.problem.build_problem` then prunes the
    configurations another one beats on every layer's time and energy and on every resource.
    """
    cap = budgets(hw)
    max_units = min(hw.menu.max_units_per_accelerator or hw.aie.units, hw.aie.units)
    out = []
    for tile in engine_tiles(hw, dtype):
        for array in itertools.product(hw.menu.array_dims, repeat=3):
            if math.prod(array) > max_units:
                continue
            cfg = make_config(hw, dtype, array, tuple(tile))
            if all(v <= cap[k] for k, v in cfg.resources().items()):
                out.append(cfg)
    return out


def port_bandwidth(hw: VersalAIEHardware) -> float:
    """Bytes/s of one PLIO stream: width_bits/8 * PL clock."""
    return hw.plio.width_bits / 8 * hw.plio.clock


def gemm_cost(hw: VersalAIEHardware, dtype: str, gemm: Gemm, cfg: AIEConfig, batch: int,
              memory: MemoryPlan | None = None) -> Cost:
    """Time and energy of ``gemm`` (per input) on accelerator ``cfg``, its DDR traffic given by ``memory``.

    - steps       = ceil(M/Mt) * ceil(K/Kt) * ceil(N/Nt) * count       [array steps; ceilings = padding waste]
    - compute_s   = steps * tm*tk*tn / (macs_per_cycle * kernel_efficiency * array_efficiency) / f_aie
                    [kernel_efficiency: the configuration's engine tile's, :func:`tile_efficiency`]
    - lhs, rhs    = steps * Mt*Kt * bytes, steps * Kt*Nt * bytes        [both operands streamed each step]
    - out         = ceil(M/Mt) * ceil(N/Nt) * count * Mt*Nt * bytes      [written once after the K loop]
    - in_s        = max(lhs / (lhs_ports * bw), rhs / (rhs_ports * bw)), out_s = out / (ports_out * bw)
    - ddr_s, exposed_s = :func:`ddr_seconds` of ``memory``              [DDR streams overlapped / not overlapped]
    - time_s      = max(compute_s, in_s, out_s, ddr_s) + exposed_s + launch_overhead   [double buffered]
    - energy_j    = padded MACs * e_mac + (lhs+rhs+out) * e_plio + DDR bytes per input * e_ddr
    ``memory`` defaults to :func:`memory_plan` of a layer in the middle of a model (activations on chip
    when they fit). The DDR bytes are a property of the layer, not of ``cfg``: see :func:`memory_plan`.
    """
    a, b, c = cfg.array
    tm, tk, tn = cfg.engine_tile
    mt, kt, nt = cfg.tile
    nbytes = DTYPE_BYTES[dtype]
    memory = memory or memory_plan(hw, dtype, gemm, batch)
    m_steps, k_steps, n_steps = math.ceil(gemm.m / mt), math.ceil(gemm.k / kt), math.ceil(gemm.n / nt)
    steps = m_steps * k_steps * n_steps * gemm.count
    rate = hw.aie.macs_per_cycle[dtype] * cfg.kernel_efficiency * hw.aie.array_efficiency
    compute_s = steps * tm * tk * tn / rate / hw.aie.clock
    bw = port_bandwidth(hw)
    p = hw.plio.engines_per_port
    lhs = steps * mt * kt * nbytes
    rhs = steps * kt * nt * nbytes
    out = m_steps * n_steps * gemm.count * mt * nt * nbytes
    in_s = max(lhs / (math.ceil(a * b / p) * bw), rhs / (math.ceil(b * c / p) * bw))
    out_s = out / (cfg.ports_out * bw)
    transfer_s = max(in_s, out_s)
    ddr_s, exposed_s = ddr_seconds(hw, memory)
    padded_macs = steps * mt * kt * nt
    energy = (padded_macs * hw.energy.mac[dtype] + (lhs + rhs + out) * hw.energy.plio_byte
              + memory.ddr_bytes * hw.energy.ddr_byte)
    time_s = max(compute_s, transfer_s, ddr_s) + exposed_s + hw.launch_overhead
    return Cost(time_s, energy, compute_s, transfer_s, padded_macs, ddr_s + exposed_s,
                (compute_s, transfer_s, ddr_s, exposed_s, hw.launch_overhead))


def elementwise_cost(hw: VersalAIEHardware, dtype: str, op: Elementwise) -> Cost:
    """Bandwidth-bound pass in PL: time_s = elements moved * bytes / elementwise_bandwidth; energy per byte."""
    moved = op.elements_moved * DTYPE_BYTES[dtype]
    return Cost(moved / hw.pl.elementwise_bandwidth, moved * hw.energy.elementwise_byte, 0.0, 0.0, 0)


#: output blocks are multiples of this many rows / columns [elements] (one fp32 engine tile)
BLOCK_STEP = 32
#: depth [elements] of the K panels of A and B streamed past a resident output block
K_PANEL = 128


@dataclass(frozen=True)
class MemoryPlan:
    """Where one layer's operands live and the DDR traffic that follows, per input (see :func:`memory_plan`).

    ``lhs`` is the ``[m,k]`` operand (the input activations), ``rhs`` the ``[k,n]`` one (weights, or an
    activation such as attention's keys), ``out`` the result. A *pass* is the work that shares one fetch
    of the weights: the ``batch`` inputs of a batch for a weight GEMM, one input otherwise.
    """

    lhs_from_ddr: bool
    rhs_from_ddr: bool
    out_to_ddr: bool
    block: tuple[int, int]  # output block (rows, columns) resident in the PL buffer; the whole pass when it fits
    lhs_reads: int  # times the lhs crosses DDR per pass (once per column block)
    rhs_reads: int  # times the rhs crosses DDR per pass (once per row block)
    ddr_bytes: float  # bytes per input to and from DDR
    exposed_bytes: float  # of those, the last output block: stored after the last compute, not overlapped [bytes]
    streams: int  # DDR streams running at once while the layer computes (lhs, rhs, out)


def activation_budget(hw: VersalAIEHardware) -> float:
    """Bytes an activation tensor (per input) may take and stay in the PL buffer: half of it [bytes].

    The other half holds the blocks of the layer running (weights or operand panels).
    """
    return hw.pl.buffer / 2


def _block_sizes(dim: int) -> list[int]:
    """Block sizes tried along a dimension of ``dim`` elements: 32 * {1, 3} * 2^i below it, and ``dim`` itself."""
    sizes = {dim}
    for base in (BLOCK_STEP, 3 * BLOCK_STEP):
        size = base
        while size < dim:
            sizes.add(size)
            size *= 2
    return sorted(sizes)


def _output_stationary(hw: VersalAIEHardware, nbytes: int, rows: int, k: int, n: int,
                       lhs: float, rhs: float, out: float) -> tuple[float, tuple[int, int], int, int]:
    """The output blocking with the least DDR traffic when the pass does not fit the PL buffer.

    An output block ``Mb x Nb`` stays in the buffer while K panels of depth ``kp = min(K, K_PANEL)`` of
    the lhs and rhs stream past it; blocks and panels are double buffered:
    ``(2*Mb*Nb + 2*kp*(Mb + Nb)) * bytes <= PL buffer``. The lhs (``lhs`` bytes per pass in DDR) is
    re-read once per column block, the rhs once per row block, the result written once:
    ``traffic = lhs * ceil(N/Nb) + rhs * ceil(rows/Mb) + out`` [bytes per pass]. Ties go to the larger block.
    Returns (traffic, block, lhs reads, rhs reads).
    """
    kp = min(k, K_PANEL)
    row_sizes, col_sizes = _block_sizes(rows), _block_sizes(n)
    blocks = [(mb, nb) for mb in row_sizes for nb in col_sizes
              if (2 * mb * nb + 2 * kp * (mb + nb)) * nbytes <= hw.pl.buffer]
    if not blocks:  # a buffer too small even for the smallest block: price that block anyway
        blocks = [(row_sizes[0], col_sizes[0])]

    def key(block: tuple[int, int]) -> tuple[float, int]:
        mb, nb = block
        return lhs * math.ceil(n / nb) + rhs * math.ceil(rows / mb) + out, -mb * nb

    mb, nb = min(blocks, key=key)
    return key((mb, nb))[0], (mb, nb), math.ceil(n / nb), math.ceil(rows / mb)


def memory_plan(hw: VersalAIEHardware, dtype: str, gemm: Gemm, batch: int, first: bool = False,
                last: bool = False) -> MemoryPlan:
    """Decide where ``gemm``'s operands live and count its DDR bytes per input (independent of the engine array).

    Placement (per input, ``budget`` = :func:`activation_budget`):
    - lhs from DDR  : the model's first layer, or input activations [``input_elements`` * bytes] > budget
      (a convolution's feature map counts at its real size, not im2col-expanded)
    - rhs from DDR  : a weight (fetched once per pass), or an activation operand > budget
    - out to DDR    : the model's last layer, or output activations [m*n*count * bytes] > budget
    Per pass (``share`` = batch inputs for a weight GEMM, else 1; ``rows`` = m * share):
    - fits          : (lhs + rhs + out) * bytes <= PL buffer  ->  each DDR operand crosses once
                      (traffic = DDR operands' bytes; exposed = the last of the ``count`` results, stored after
                      its compute; the others stream out while the next ones compute)
    - else          : the output-stationary blocking of least traffic (:func:`_output_stationary`);
                      exposed = the last output block Mb*Nb*bytes if the result goes to DDR
    Per input: ddr_bytes = traffic / share; exposed_bytes = exposed / share.
    Streams at once: the lhs and rhs if from DDR, and the result if it goes out block by block.
    """
    nbytes = DTYPE_BYTES[dtype]
    share = batch if gemm.weight else 1
    budget = activation_budget(hw)
    lhs_size = gemm.input_elements * nbytes * share
    rhs_size = gemm.k * gemm.n * gemm.count * nbytes
    out_size = gemm.m * gemm.n * gemm.count * nbytes * share
    lhs_ddr = first or lhs_size / share > budget
    rhs_ddr = gemm.weight or rhs_size > budget
    out_ddr = last or out_size / share > budget
    lhs, rhs, out = lhs_size * lhs_ddr, rhs_size * rhs_ddr, out_size * out_ddr
    rows = gemm.m * share
    if lhs_size + rhs_size + out_size <= hw.pl.buffer:
        traffic, block, lhs_reads, rhs_reads = lhs + rhs + out, (rows, gemm.n), 1, 1
        exposed = out / gemm.count  # the last of the count GEMMs' results; the others stream out meanwhile
        out_stream = out_ddr and gemm.count > 1
    else:
        traffic, block, lhs_reads, rhs_reads = _output_stationary(
            hw, nbytes, rows, gemm.k, gemm.n, lhs / gemm.count, rhs / gemm.count, out / gemm.count)
        traffic *= gemm.count
        exposed = min(out, block[0] * block[1] * nbytes) if out_ddr else 0.0
        out_stream = out_ddr and traffic > 0 and exposed < out
    streams = int(lhs > 0) + int(rhs > 0) + int(out_stream)
    return MemoryPlan(bool(lhs_ddr), bool(rhs_ddr), bool(out_ddr), block, lhs_reads, rhs_reads,
                      traffic / share, exposed / share, streams)


def ddr_bandwidth(hw: VersalAIEHardware, streams: int) -> float:
    """Total DDR bandwidth [bytes/s] of ``streams`` streams running at once.

    ``total(n) = n * stream_share[n-1] * bandwidth * efficiency`` for n up to the length L of
    ``stream_share``; more streams share the total of L (the channel is saturated).
    """
    n = min(max(streams, 1), len(hw.ddr.stream_share))
    return n * hw.ddr.stream_share[n - 1] * hw.ddr.bandwidth * hw.ddr.efficiency


def ddr_seconds(hw: VersalAIEHardware, memory: MemoryPlan) -> tuple[float, float]:
    """(overlapped, exposed) DDR time of a layer running alone, per input [s].

    - overlapped = (ddr_bytes - exposed_bytes) / total bandwidth of its ``streams``   [overlaps compute]
    - exposed    = exposed_bytes / bandwidth of one stream                         [after the last compute]
    """
    streamed = memory.ddr_bytes - memory.exposed_bytes
    overlapped = streamed / ddr_bandwidth(hw, memory.streams) if streamed > 0 else 0.0
    return overlapped, memory.exposed_bytes / ddr_bandwidth(hw, 1)


def channel_bandwidth(hw: VersalAIEHardware) -> float:
    """The DDR channel's total bandwidth when every accelerator streams at once [bytes/s]: the period's DDR term
    is the DDR bytes per input of all layers over this (a pipeline's accelerators all run concurrently)."""
    return ddr_bandwidth(hw, len(hw.ddr.stream_share))


def peak_macs_per_s(hw: VersalAIEHardware, dtype: str) -> float:
    """Peak MAC rate of one engine [MAC/s]."""
    return hw.aie.macs_per_cycle[dtype] * hw.aie.clock
