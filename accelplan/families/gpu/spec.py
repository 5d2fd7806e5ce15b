"""The hardware spec of a GPU, or a node of GPUs joined by links (``family: gpu``), as a roofline.

Every number is finite, above zero and within a physical range (issue 28): a MAC rate of 0 would divide by zero,
one of 1e-300 would price a layer at 1e300 s and a NaN would never compare, so the schema refuses them with the
field named.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ...specs.schema import Dtype, Strict
from ...specs.units import Bandwidth, Power, Size, Time

#: physical ranges (SI units): a MAC rate from 1 MMAC/s to 1 EMAC/s, a bandwidth from 1 MB/s to 1 PB/s, memory from
#: 1 MB to 1 PB, a board from 1 W to 100 kW, a kernel launch or link step of at most 1 s, at most 1,024 GPUs per node
MAC_RATE = (1e6, 1e18)
BANDWIDTH = (1e6, 1e15)
MEMORY = (1e6, 1e15)
POWER = (1.0, 1e5)
STEP_MAX_S = 1.0
MAX_GPUS = 1024

MacRate = Annotated[float, Field(ge=MAC_RATE[0], le=MAC_RATE[1], allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0.01, le=1, allow_inf_nan=False)]


class GPUHardware(Strict):
    """A GPU (or ``count`` GPUs joined by links) described by its roofline: peak MAC rates per dtype, memory
    capacity and bandwidth, board power, kernel launch; for a node, the link each GPU has to the others."""

    name: str = Field(min_length=1)
    family: Literal["gpu"]
    description: str = ""
    macs_per_s: dict[Dtype, MacRate] = Field(
        min_length=1, description="peak multiply-accumulates per second of one GPU, per dtype (dense); between "
                                  f"{MAC_RATE[0]:g} and {MAC_RATE[1]:g}")
    compute_efficiency: Fraction = Field(0.7, description="fraction of peak a large GEMM sustains (0.01 to 1)")
    memory_bandwidth: Annotated[Bandwidth, Field(ge=BANDWIDTH[0], le=BANDWIDTH[1])] = Field(
        description="peak bandwidth of one GPU's memory (1 MB/s to 1 PB/s)")
    memory_efficiency: Fraction = Field(0.8, description="fraction of peak bandwidth a stream sustains (0.01 to 1)")
    memory_capacity: Annotated[Size, Field(ge=MEMORY[0], le=MEMORY[1])] = Field(
        description="memory of one GPU: holds its share of the weights and of the KV caches (1 MB to 1 PB)")
    board_power: Annotated[Power, Field(ge=POWER[0], le=POWER[1])] = Field(
        description="power of one GPU's board while running, charged for the whole time (1 W to 100 kW)")
    launch_overhead: Annotated[Time, Field(le=STEP_MAX_S)] = Field(
        description="per layer (kernel launch), per batch (at most 1 s)")
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_GPUS)] = Field(
        1, description="GPUs of the node; a model too large for one is split over 2, 4, 8 ... of them (tensor "
                       "parallelism)")
    link_bandwidth: Annotated[Bandwidth, Field(ge=BANDWIDTH[0], le=BANDWIDTH[1])] | None = Field(
        None, description="bandwidth each GPU sends to the others at (one direction; e.g. NVLink); needed when "
                          "count > 1")
    link_latency: Annotated[Time, Field(le=STEP_MAX_S)] = Field(
        0.0, description="latency of one step of a ring all-reduce (a hop between GPUs, at most 1 s)")
    link_kind: Literal["nvlink", "pcie", "network"] = "nvlink"
