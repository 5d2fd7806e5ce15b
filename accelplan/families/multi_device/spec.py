"""The hardware spec of a system of devices joined by links (``family: multi-device``), e.g. Alveo FPGAs in a rack."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ...specs.schema import Count, Dtype, Strict
from ...specs.units import Bandwidth, Energy, Frequency, Power, Size, Time


class OffChipMemorySpec(Strict):
    """The device's off-chip memory (DDR or HBM): weights that do not fit on chip stream from it."""

    kind: Literal["ddr4", "hbm2", "hbm2e"]
    capacity: Size
    bandwidth: Bandwidth = Field(description="effective bandwidth of all channels together")
    energy_per_bit: Energy = Field(description="access energy per bit read")


class DeviceEnergySpec(Strict):
    mac: dict[Dtype, Energy] = Field(description="dynamic energy per multiply-accumulate, per dtype")
    onchip_byte: Energy = Field(description="energy per byte read from on-chip memory (BRAM/URAM)")


class DeviceSpec(Strict):
    """One device of the catalogue: fabric resources, on-chip and off-chip memory, clock, power."""

    name: str = Field(min_length=1)
    part: str = Field("", description="FPGA part number for the build flow (e.g. xcu250-figd2104-2L-e)")
    lut: Count
    ff: Count
    dsp: Count
    bram: Size = Field(description="block RAM, bytes")
    uram: Size = Field(0, description="UltraRAM, bytes")
    memory: OffChipMemorySpec
    clock: Frequency = Field(description="clock the streaming design closes at")
    utilisation_cap: Annotated[float, Field(gt=0, le=1)] = Field(
        0.75, description="fraction of each resource a design may use (routing congestion beyond)")
    static_power: Power = Field(description="power of a configured device at idle, charged while it is in use")
    energy: DeviceEnergySpec


MAX_DEVICES = 1024  # devices of one chain, every kind together (each is a stage the solvers place)
MAX_LANE_COST = 1e6  # DSP, LUT or FF of one MAC lane
MAX_BLOCK_COST = 10**8  # LUT or FF of one layer block
MAX_LANES = 2**20  # MAC lanes of one block


class DeviceGroupSpec(Strict):
    device: DeviceSpec
    count: Annotated[int, Field(strict=True, gt=0, le=MAX_DEVICES)] = Field(
        description=f"devices of this kind, next in the chain (at most {MAX_DEVICES} in the chain)")


class LinkSpec(Strict):
    """The link between neighbouring devices of the chain."""

    kind: Literal["qsfp28", "pcie"] = Field(description="qsfp28: direct (Aurora/UDP); pcie: through the host")
    bandwidth: Bandwidth
    latency: Time = Field(description="per hop")
    energy_per_bit: Energy


class LaneCostSpec(Strict):
    """Fabric cost of one multiply-accumulate lane of a streaming datapath."""

    dsp: Annotated[float, Field(ge=0, le=MAX_LANE_COST, allow_inf_nan=False)]
    lut: Annotated[float, Field(ge=0, le=MAX_LANE_COST, allow_inf_nan=False)]
    ff: Annotated[float, Field(ge=0, le=MAX_LANE_COST, allow_inf_nan=False)]


class BlockCostSpec(Strict):
    """Fixed fabric cost of one layer block (control, stream FIFOs, address generation)."""

    lut: Annotated[int, Field(strict=True, ge=0, le=MAX_BLOCK_COST)]
    ff: Annotated[int, Field(strict=True, ge=0, le=MAX_BLOCK_COST)]


class ParallelismMenuSpec(Strict):
    """Parallelism a layer block may take along each GEMM dimension (powers of two)."""

    per_dimension: list[Annotated[int, Field(strict=True, gt=0, le=MAX_LANES)]] = Field(
        min_length=1, max_length=64, description="allowed parallelism along M, K and N")
    max_lanes: Annotated[int, Field(strict=True, gt=0, le=MAX_LANES)] = Field(
        description=f"most MAC lanes in one block (at most {MAX_LANES:,})")


class MultiDeviceHardware(Strict):
    """A chain of devices joined by links; every layer is its own streaming block on its device."""

    name: str = Field(min_length=1)
    family: Literal["multi-device"]
    description: str = ""
    devices: list[DeviceGroupSpec] = Field(min_length=1, max_length=MAX_DEVICES,
                                           description="device kinds in chain order, each with a count")
    link: LinkSpec
    lane: dict[Dtype, LaneCostSpec] = Field(description="fabric cost of one MAC lane, per dtype")
    block: BlockCostSpec
    parallelism: ParallelismMenuSpec
    tensor_parallel: list[Annotated[int, Field(strict=True, gt=0, le=MAX_DEVICES)]] = Field(
        [1], min_length=1, max_length=64, description="ways a run of layers may be split across that many adjacent devices of one kind "
                                       "(each device holds 1/k of every layer's weights, heads and KV cache and the "
                                       "layer outputs are all-gathered over the chain's links); [1]: no splitting")

    @model_validator(mode="after")
    def _chain_length(self) -> "MultiDeviceHardware":
        total = sum(g.count for g in self.devices)
        if total > MAX_DEVICES:
            raise ValueError(f"the chain has {total:,} devices; at most {MAX_DEVICES:,} (devices[].count together)")
        return self
