"""The hardware spec of an AMD Versal AI Engine device (``family: versal-aie``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ...specs.schema import Count, Dtype, Strict
from ...specs.units import Bandwidth, Energy, Frequency, Power, Size, Time

MAX_UNITS = 1_000_000  # AI Engine tiles of one device
MAX_PORTS = 4096  # PLIO streams one way (what a plan file holds per accelerator)
MAX_RATE = 2**20  # MACs per cycle of one engine
Units = Annotated[int, Field(strict=True, gt=0, le=MAX_UNITS)]
Ports = Annotated[int, Field(strict=True, gt=0, le=MAX_PORTS)]
Efficiency = Annotated[float, Field(gt=0, le=1)]
Triple = tuple[Count, Count, Count]


class AIEArraySpec(Strict):
    units: Units = Field(description=f"AI Engine tiles in the array (at most {MAX_UNITS:,})")
    grid: tuple[Units, Units] = Field(description="rows, columns")
    clock: Frequency
    macs_per_cycle: dict[Dtype, Annotated[int, Field(strict=True, gt=0, le=MAX_RATE)]] = Field(
        description="MACs per cycle per engine, per dtype")
    kernel_efficiency: dict[Dtype, Efficiency] = Field(
        default_factory=dict,
        description="fraction of peak a per-engine GEMM kernel reaches, per dtype (CHARM: int8 0.79, fp32 0.93): "
                    "the efficiency of an engine tile that does not give its own (1.0 for a dtype not listed)")
    local_memory: Size = Field(description="data memory per engine")
    array_efficiency: Annotated[float, Field(gt=0, le=1)] = Field(
        1.0, description="fraction of the per-engine kernel rate a whole accelerator sustains (PLIO at the PL "
                         "clock, tile loads, synchronisation); multiplies kernel_efficiency")


class PLIOSpec(Strict):
    width_bits: Annotated[int, Field(strict=True, gt=0, le=4096)] = Field(description="bits per PLIO stream per PL cycle")
    clock: Frequency = Field(description="PL clock driving the PLIO streams")
    ports_in: Ports = Field(description=f"PL->AIE streams available (at most {MAX_PORTS})")
    ports_out: Ports = Field(description=f"AIE->PL streams available (at most {MAX_PORTS})")
    engines_per_port: Units = Field(4, description="engines fed by one stream (packet switching / broadcast)")


class PLSpec(Strict):
    buffer: Size = Field(description="on-chip PL buffer (BRAM + URAM) for double-buffered tiles")
    elementwise_bandwidth: Bandwidth = Field(description="throughput of PL element-wise units")


class DDRSpec(Strict):
    bandwidth: Bandwidth = Field(description="bandwidth of one DDR stream running alone")
    stream_share: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [1.0], min_length=1, max_length=16,
        description="per-stream bandwidth, as a fraction of `bandwidth`, when 1, 2, 3, ... streams run at once "
                    "(more streams than entries share the last entry's total: the channel is saturated)")
    efficiency: Annotated[float, Field(gt=0, le=1)] = Field(
        1.0, description="fraction of the stream bandwidths a design reaches (fitted by `accelplan calibrate`)")


class VersalEnergySpec(Strict):
    mac: dict[Dtype, Energy] = Field(description="energy per MAC per dtype")
    plio_byte: Energy = Field(description="energy per byte moved over PLIO")
    ddr_byte: Energy = Field(description="energy per byte moved to/from DDR")
    elementwise_byte: Energy = Field(description="energy per byte touched by PL element-wise units")
    static_power: Power = Field(description="static power of the device, charged per period")


class EngineTile(Strict):
    """One per-engine GEMM kernel: its tile (m, k, n) and the fraction of peak it reaches."""

    tile: Triple = Field(description="per-engine tile (m, k, n)")
    efficiency: Efficiency | None = Field(
        None, description="fraction of the engine's peak MAC rate this kernel reaches (default: aie.kernel_efficiency "
                          "of the dtype)")
    source: str = Field("", max_length=1000, description="where the kernel and its figure come from")


class VersalMenuSpec(Strict):
    """Which accelerator configurations are candidates: A x B x C engine arrays and per-engine tiles."""

    array_dims: list[Count] = Field(description="allowed engine counts along M (A), K (B) and N (C)", min_length=1,
                                    max_length=64)
    engine_tiles: dict[Dtype, Annotated[list[Triple | EngineTile], Field(max_length=1024)]] = Field(
        description="per-engine tile candidates per dtype: [m, k, n] (kernel efficiency from aie.kernel_efficiency) "
                    "or {tile: [m, k, n], efficiency: e} (its own kernel efficiency)")
    engine_tile_dims: dict[Dtype, Annotated[list[Count], Field(max_length=16)]] = Field(
        default_factory=dict,
        description="tile sizes to search along M, K and N per dtype: every (m, k, n) combination that fits the "
                    "engine local memory joins the menu (dominated configurations are pruned per model)")
    max_units_per_accelerator: Units | None = None


class VersalAIEHardware(Strict):
    """An AMD Versal AI Engine device (e.g. VC1902 on VCK190)."""

    name: str = Field(min_length=1)
    family: Literal["versal-aie"]
    description: str = ""
    aie: AIEArraySpec
    plio: PLIOSpec
    pl: PLSpec
    ddr: DDRSpec
    energy: VersalEnergySpec
    launch_overhead: Time = Field(description="fixed cost per operator launch on an accelerator")
    menu: VersalMenuSpec
