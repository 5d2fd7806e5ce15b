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


@dataclass(frozen=True)
class Cost:
    """Cost of one operator on one accelerator configuration, per input (sample)."""

    time_s: float
    energy_j: float
    compute_s: float = 0.0
    transfer_s: float = 0.0
    padded_macs: int = 0


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
    )


def engine_tile_fits(hw: VersalAIEHardware, dtype: str, tile: tuple[int, int, int]) -> bool:
    """Engine local memory [bytes] >= 2*(tm*tk + tk*tn)*bytes (double-buffered inputs) + tm*tn*4 (accumulators)."""
    tm, tk, tn = tile
    need = 2 * (tm * tk + tk * tn) * DTYPE_BYTES[dtype] + tm * tn * ACCUMULATOR_BYTES
    return need <= hw.aie.local_memory


def engine_tiles(hw: VersalAIEHardware, dtype: str) -> list[tuple[int, int, int]]:
    """Per-engine tile candidates: the listed ``engine_tiles`` plus every (m, k, n) of ``engine_tile_dims``,
    kept when they fit the engine's local memory (see :func:`engine_tile_fits`), without repeats."""
    dims = hw.menu.engine_tile_dims.get(dtype, [])
    tiles = [tuple(t) for t in hw.menu.engine_tiles.get(dtype, [])] + list(itertools.product(dims, repeat=3))
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


def gemm_cost(hw: VersalAIEHardware, dtype: str, gemm: Gemm, cfg: AIEConfig, batch: int) -> Cost:
    """Time and energy of ``gemm`` (per input) on accelerator ``cfg``.

    - steps       = ceil(M/Mt) * ceil(K/Kt) * ceil(N/Nt) * count       [array steps; ceilings = padding waste]
    - compute_s   = steps * tm*tk*tn / (macs_per_cycle * efficiency) / f_aie
    - lhs, rhs    = steps * Mt*Kt * bytes, steps * Kt*Nt * bytes        [both operands streamed each step]
    - out         = ceil(M/Mt) * ceil(N/Nt) * count * Mt*Nt * bytes      [written once after the K loop]
    - in_s        = max(lhs / (lhs_ports * bw), rhs / (rhs_ports * bw)), out_s = out / (ports_out * bw)
    - time_s      = max(compute_s, in_s, out_s) + launch_overhead        [double buffered]
    - energy_j    = padded MACs * e_mac + (lhs+rhs+out) * e_plio + weight bytes / batch * e_ddr
    Weights come from DDR once per batch (their DDR time is a shared budget, see :func:`ddr_bytes`).
    """
    a, b, c = cfg.array
    tm, tk, tn = cfg.engine_tile
    mt, kt, nt = cfg.tile
    nbytes = DTYPE_BYTES[dtype]
    m_steps, k_steps, n_steps = math.ceil(gemm.m / mt), math.ceil(gemm.k / kt), math.ceil(gemm.n / nt)
    steps = m_steps * k_steps * n_steps * gemm.count
    cycles_per_step = tm * tk * tn / (hw.aie.macs_per_cycle[dtype] * hw.aie.kernel_efficiency.get(dtype, 1.0))
    compute_s = steps * cycles_per_step / hw.aie.clock
    bw = port_bandwidth(hw)
    p = hw.plio.engines_per_port
    lhs = steps * mt * kt * nbytes
    rhs = steps * kt * nt * nbytes
    out = m_steps * n_steps * gemm.count * mt * nt * nbytes
    in_s = max(lhs / (math.ceil(a * b / p) * bw), rhs / (math.ceil(b * c / p) * bw))
    out_s = out / (cfg.ports_out * bw)
    transfer_s = max(in_s, out_s)
    padded_macs = steps * mt * kt * nt
    energy = (padded_macs * hw.energy.mac[dtype] + (lhs + rhs + out) * hw.energy.plio_byte
              + ddr_bytes(gemm, dtype, batch) * hw.energy.ddr_byte)
    return Cost(max(compute_s, transfer_s) + hw.launch_overhead, energy, compute_s, transfer_s, padded_macs)


def elementwise_cost(hw: VersalAIEHardware, dtype: str, op: Elementwise) -> Cost:
    """Bandwidth-bound pass in PL: time_s = elements moved * bytes / elementwise_bandwidth; energy per byte."""
    moved = op.elements_moved * DTYPE_BYTES[dtype]
    return Cost(moved / hw.pl.elementwise_bandwidth, moved * hw.energy.elementwise_byte, 0.0, 0.0, 0)


def ddr_bytes(gemm: Gemm, dtype: str, batch: int) -> float:
    """DDR bytes per input: the weights, fetched once per batch and shared by its ``batch`` inputs."""
    return gemm.weight_elements * DTYPE_BYTES[dtype] / batch


def peak_macs_per_s(hw: VersalAIEHardware, dtype: str) -> float:
    """Peak MAC rate of one engine [MAC/s]."""
    return hw.aie.macs_per_cycle[dtype] * hw.aie.clock
