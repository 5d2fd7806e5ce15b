"""Cost model of a streaming layer block on one device, formula by formula (SI units: s, bytes, J).

A layer is a GEMM of M x K x N, repeated ``count`` times (heads). Its block on a device has
parallelism ``pm``, ``pk``, ``pn`` along M, K and N (powers of two from the menu), i.e.
``lanes = pm * pk * pn`` multiply-accumulate lanes, and its weights (the K x N operand of a
weight GEMM) either on chip or streamed from the device's DDR/HBM:

- cycles per input  = count * ceil(M / pm) * ceil(K / pk) * ceil(N / pn)      (ceilings: padding waste kept)
- time per input    = cycles / clock                                          [s]
- DSP, LUT, FF      = lanes * lane cost of the dtype + the block's fixed LUT/FF (no DSP)
- weight bytes W    = K * N * count * bytes per element (0 for activation x activation GEMMs)
- on chip:  W bytes of the device's BRAM + URAM (under its utilisation cap); each input reads W once
- streamed: W / batch bytes per input from DDR/HBM (a weight tile is read once per batch and
  applied to every input of the batch); the device's streamed bytes share its memory bandwidth
- energy per input  = MACs * e_mac(dtype) + on chip: W * e_onchip_byte; streamed: (W / batch) * 8 * e_mem_bit
A device's resources are the sums over its blocks and must stay within each resource times the cap.
Element-wise operators fused after a GEMM run inside its block's stream at line rate (no time of their own).

A served language model (a study's workload, S sequences in flight, one token of each per step) adds each
attention layer's KV cache as a stored operand: ``S * cache bytes`` of the layer (keys or values at the
context, every head) kept on chip or in DDR/HBM like weights, and read once per token (each token reads its
own sequence's cache: ``cache bytes`` per token, not amortised over the batch).

Tensor parallelism: a run of layers split ``k`` ways over ``k`` adjacent devices of one kind gives each
device every layer's GEMM with ``count / k`` heads (when ``k`` divides them) or ``ceil(N / k)`` columns,
and 1/k of its weights and KV cache; after each layer the devices all-gather its output over the chain's
links (a ring: each device sends ``(k - 1) / k`` of the output, ``k - 1`` hops).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from ...specs.lowering import Gemm
from ...specs.schema import DTYPE_BYTES
from .spec import DeviceSpec, MultiDeviceHardware


@dataclass(frozen=True)
class StreamConfig:
    """A block's parallelism along M, K, N and where its weights live."""

    pm: int
    pk: int
    pn: int
    onchip: bool

    @property
    def lanes(self) -> int:
        return self.pm * self.pk * self.pn

    @property
    def label(self) -> str:
        return f"m{self.pm}k{self.pk}n{self.pn}{'' if self.onchip else '/streamed'}"

    @property
    def units(self) -> int:
        return self.lanes


def menu(hw: MultiDeviceHardware) -> list[StreamConfig]:
    """Every (pm, pk, pn) of the menu within ``max_lanes``, each with weights on chip and streamed."""
    dims = sorted(set(hw.parallelism.per_dimension))
    return [StreamConfig(pm, pk, pn, onchip) for onchip in (True, False) for pm, pk, pn in itertools.product(dims, repeat=3)
            if pm * pk * pn <= hw.parallelism.max_lanes]


def cycles(gemm: Gemm, cfg: StreamConfig) -> int:
    """Cycles per input of the block (see the module docstring)."""
    return gemm.count * math.ceil(gemm.m / cfg.pm) * math.ceil(gemm.k / cfg.pk) * math.ceil(gemm.n / cfg.pn)


def weight_bytes(gemm: Gemm, dtype: str) -> int:
    """Bytes of the stored K x N operand (0 when both operands are activations)."""
    return gemm.k * gemm.n * gemm.count * DTYPE_BYTES[dtype] if gemm.weight else 0


def fabric(hw: MultiDeviceHardware, dtype: str, cfg: StreamConfig) -> tuple[float, float, float]:
    """(DSP, LUT, FF) of one block."""
    lane = hw.lane[dtype]
    return (math.ceil(cfg.lanes * lane.dsp), cfg.lanes * lane.lut + hw.block.lut, cfg.lanes * lane.ff + hw.block.ff)


def energy_j(device: DeviceSpec, dtype: str, gemm: Gemm, cfg: StreamConfig, batch: int) -> float:
    """Energy per input of the block (see the module docstring)."""
    w = weight_bytes(gemm, dtype)
    traffic = w * device.energy.onchip_byte if cfg.onchip else (w / batch) * 8 * device.memory.energy_per_bit
    return gemm.macs * device.energy.mac[dtype] + traffic


def split(gemm: Gemm, ways: int) -> Gemm:
    """One device's share of ``gemm`` split ``ways`` ways: its heads when ``ways`` divides them, else its columns."""
    if ways == 1:
        return gemm
    if gemm.count % ways == 0:
        return replace(gemm, count=gemm.count // ways)
    return replace(gemm, n=math.ceil(gemm.n / ways))


def gather_bytes(gemm: Gemm, dtype: str, ways: int) -> float:
    """Bytes per input one device sends to all-gather the output of ``gemm`` split ``ways`` ways (ring)."""
    return activation_bytes(gemm, dtype) * (ways - 1) / ways


def cache_bytes(gemm: Gemm, dtype: str) -> int:
    """Bytes of one sequence's KV cache the layer reads (0 when it reads none)."""
    return gemm.cache_elements * DTYPE_BYTES[dtype]


def capacity(device: DeviceSpec) -> tuple[float, float, float, float]:
    """(DSP, LUT, FF, on-chip bytes) a design may use on ``device`` (each resource times the utilisation cap)."""
    cap = device.utilisation_cap
    return device.dsp * cap, device.lut * cap, device.ff * cap, (device.bram + device.uram) * cap


def activation_bytes(gemm: Gemm, dtype: str) -> int:
    """Bytes of a layer's output per input (what crosses a link when the chain is cut after it)."""
    return gemm.m * gemm.n * gemm.count * DTYPE_BYTES[dtype]


def input_bytes(gemm: Gemm, dtype: str) -> int:
    """Bytes of a layer's M x K input per input."""
    return gemm.m * gemm.k * gemm.count * DTYPE_BYTES[dtype]
