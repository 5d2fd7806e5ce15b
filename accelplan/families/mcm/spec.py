"""The hardware spec of a chiplet package (``family: mcm``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ...specs.schema import Count, Dtype, Strict
from ...specs.units import Bandwidth, Energy, Frequency, Power, Size, Time

MAX_RATE = 2**24  # MACs or elements per cycle of one chiplet


class ChipletSpec(Strict):
    """One chiplet: a MAC array with its per-cycle tile shapes, a global buffer (SRAM) and its clock."""

    macs_per_cycle: dict[Dtype, Annotated[int, Field(strict=True, gt=0, le=MAX_RATE)]] = Field(
        description="MACs per cycle per chiplet, per dtype")
    tiles: dict[Dtype, Annotated[list[tuple[Count, Count, Count]], Field(max_length=1024)]] = Field(
        description="per-cycle tile shapes (m, k, n) the chiplet's MAC array can be configured to, per dtype; "
                    "m*k*n must equal macs_per_cycle (Simba: 16 PEs x 8 lanes x 8-wide vector MACs)")
    efficiency: Annotated[float, Field(gt=0, le=1)] = Field(1.0, description="fraction of peak a full tile sustains")
    sram: Annotated[Size, Field(gt=0)] = Field(description="global buffer per chiplet (weights of its layers + "
                                                           "activation buffers); more than 0 B")
    weight_buffer: Annotated[Size, Field(gt=0)] | None = Field(
        None, description="the part of sram next to the MACs that weights streamed from DRAM are double-buffered in "
                          "(Simba: 16 PEs x 32 KB weight buffers): tiles of half of it stream while the other half "
                          "feeds the array; default: the global buffer left after the activations")
    clock: Frequency
    elementwise_per_cycle: Annotated[int, Field(strict=True, gt=0, le=MAX_RATE)] = Field(
        128, description="elements per cycle of the chiplet's post-processing (element-wise) units")


class NoPSpec(Strict):
    """The network-on-package: a 2-D mesh of links between neighbouring chiplets."""

    link_bandwidth: Bandwidth = Field(description="bandwidth of one link, per direction")
    hop_latency: Time = Field(description="latency per router hop")
    energy_per_bit: Energy = Field(description="energy per bit per hop (Gemini: 0.3-2.4 pJ/bit by package technology)")


class DRAMControllerSpec(Strict):
    at: tuple[Annotated[int, Field(strict=True, ge=0, le=64)], Annotated[int, Field(strict=True, ge=0, le=64)]] = Field(description="mesh position (row, column) it attaches to")
    bandwidth: Bandwidth


class DRAMSpec(Strict):
    controllers: list[DRAMControllerSpec] = Field(min_length=1, max_length=4096)
    energy_per_bit: Energy = Field(description="DRAM access energy per bit (HBM 5.5 to GDDR6X 10.5 pJ/bit)")


class MCMEnergySpec(Strict):
    mac: dict[Dtype, Energy] = Field(description="energy per MAC per dtype (PE-local buffers included)")
    sram_byte: Energy = Field(description="energy per byte read or written in a chiplet's global buffer")
    static_power: Power = Field(description="static power of the package, charged for the batch time")


class MCMMenuSpec(Strict):
    """Cluster sizes a plan may give a group of consecutive layers."""

    cluster_chiplets: Annotated[list[Annotated[int, Field(strict=True, gt=0, le=4096)]], Field(max_length=4096)] | None = Field(
        None, description="allowed chiplet counts per cluster; default: the sizes of every rectangle that fits the mesh")


class MCMHardware(Strict):
    """A package of chiplets on a 2-D mesh network-on-package, with DRAM controllers on the mesh (e.g. Simba)."""

    name: str = Field(min_length=1)
    family: Literal["mcm"]
    description: str = ""
    mesh: tuple[Annotated[int, Field(strict=True, gt=0, le=64)], Annotated[int, Field(strict=True, gt=0, le=64)]] = Field(
        description="chiplet rows, columns (each at most 64)")
    chiplet: ChipletSpec
    nop: NoPSpec
    dram: DRAMSpec
    energy: MCMEnergySpec
    layer_overhead: Time = Field(description="fixed synchronisation cost per layer on a cluster")
    reconfiguration: Time = Field(description="fixed cost of switching the package to the next segment")
    menu: MCMMenuSpec = MCMMenuSpec()
