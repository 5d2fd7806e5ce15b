"""Pydantic models of the three spec kinds: the single source of truth for their YAML.

``accelplan schema model|hardware|study`` prints the JSON Schema generated from these classes.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PositiveFloat, PositiveInt, Tag

from .units import Bandwidth, Energy, Frequency, Power, Size, Time

Dtype = Literal["int8", "int16", "bf16", "fp32"]
DTYPE_BYTES: dict[str, int] = {"int8": 1, "int16": 2, "bf16": 2, "fp32": 4}

ExecutionModel = Literal["sequential", "spatial", "hybrid", "layer-sequential", "segmented-pipeline", "merged-pipeline"]
#: execution models each hardware family supports (the first is the default)
FAMILY_EXECUTIONS: dict[str, tuple[str, ...]] = {
    "versal-aie": ("hybrid", "spatial", "sequential"),
    "mcm": ("merged-pipeline", "segmented-pipeline", "layer-sequential"),
}
Objective = Literal["throughput", "latency", "energy"]
Strategy = Literal["milp", "cpsat", "dp", "exhaustive", "optuna-tpe", "optuna-nsga2"]


class Strict(BaseModel):
    """Base: unknown keys are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


# ----------------------------------------------------------------------------------------- model
class _Operator(Strict):
    name: str = Field(min_length=1, description="unique operator name")
    inputs: list[str] | None = Field(None, description="producer operators; default: the previous operator")


class GemmOp(_Operator):
    """A GEMM ``[M,K] x [K,N]``, repeated ``heads`` times independently (batched matmul)."""

    kind: Literal["linear", "matmul"]
    m: PositiveInt = Field(description="rows of the output (tokens, pixels)")
    k: PositiveInt = Field(description="reduction dimension")
    n: PositiveInt = Field(description="columns of the output (features)")
    heads: PositiveInt = Field(1, description="independent GEMMs of this shape (batched matmul)")
    weight: bool | None = Field(None, description="the KxN operand is a stored weight; default: true for linear, false for matmul")


class AttentionOp(_Operator):
    """Attention parts per head: ``attention_qk`` is Q·Kᵀ (seq×head_dim×kv_seq), ``attention_pv`` is P·V."""

    kind: Literal["attention_qk", "attention_pv"]
    heads: PositiveInt
    seq: PositiveInt = Field(description="query length")
    head_dim: PositiveInt
    kv_seq: PositiveInt | None = Field(None, description="key/value length; default: seq")


class Conv2dOp(_Operator):
    """A 2-D convolution, lowered to GEMM (im2col): M = out pixels, K = in/groups·kh·kw, N = out/groups."""

    kind: Literal["conv2d"]
    in_channels: PositiveInt
    out_channels: PositiveInt
    height: PositiveInt = Field(description="input height (pixels)")
    width: PositiveInt = Field(description="input width (pixels)")
    kernel: PositiveInt | tuple[PositiveInt, PositiveInt]
    stride: PositiveInt | tuple[PositiveInt, PositiveInt] = 1
    padding: Annotated[int, Field(ge=0)] | tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] = 0
    dilation: PositiveInt | tuple[PositiveInt, PositiveInt] = 1
    groups: PositiveInt = 1


class ElementwiseOp(_Operator):
    """A cheap, bandwidth-bound operator over ``elements`` output values."""

    kind: Literal["softmax", "layernorm", "gelu", "relu", "add", "mul", "pool"]
    elements: PositiveInt = Field(description="output elements")
    input_elements: PositiveInt | None = Field(None, description="input elements read per input tensor; default: elements")


OPERATOR_KINDS = ("linear", "matmul", "attention_qk", "attention_pv", "conv2d",
                  "softmax", "layernorm", "gelu", "relu", "add", "mul", "pool")


def _item_tag(value: object) -> str | None:
    if isinstance(value, dict):
        if "repeat" in value:
            return "repeat"
        kind = value.get("kind")
        return {"linear": "gemm", "matmul": "gemm", "attention_qk": "attention", "attention_pv": "attention",
                "conv2d": "conv2d"}.get(kind, "elementwise" if kind in OPERATOR_KINDS else None)
    if isinstance(value, RepeatBlock):
        return "repeat"
    return {GemmOp: "gemm", AttentionOp: "attention", Conv2dOp: "conv2d", ElementwiseOp: "elementwise"}.get(type(value))


class RepeatBlock(Strict):
    """``repeat: N`` copies of ``operators``, named ``{name}{i}.{operator}`` for i = start..start+N-1."""

    repeat: PositiveInt
    name: str = Field("block", min_length=1, description="prefix of the copies' names")
    start: Annotated[int, Field(ge=0)] = Field(0, description="index of the first copy")
    operators: list["OperatorItem"] = Field(min_length=1)


OperatorItem = Annotated[
    Union[
        Annotated[GemmOp, Tag("gemm")],
        Annotated[AttentionOp, Tag("attention")],
        Annotated[Conv2dOp, Tag("conv2d")],
        Annotated[ElementwiseOp, Tag("elementwise")],
        Annotated[RepeatBlock, Tag("repeat")],
    ],
    Discriminator(_item_tag, custom_error_type="unknown_kind",
                  custom_error_message=f"each operator needs 'kind' (one of: {', '.join(OPERATOR_KINDS)}) or 'repeat'"),
]
RepeatBlock.model_rebuild()

Operator = GemmOp | AttentionOp | Conv2dOp | ElementwiseOp


class ModelSpec(Strict):
    """A network as operators in topological order."""

    name: str = Field(min_length=1)
    description: str = ""
    dtype: Dtype = "int8"
    batch: PositiveInt = Field(1, description="default batch (inputs per pipeline fill)")
    operators: list[OperatorItem] = Field(min_length=1)


# -------------------------------------------------------------------------------------- hardware
class AIEArraySpec(Strict):
    units: PositiveInt = Field(description="AI Engine tiles in the array")
    grid: tuple[PositiveInt, PositiveInt] = Field(description="rows, columns")
    clock: Frequency
    macs_per_cycle: dict[Dtype, PositiveInt] = Field(description="MACs per cycle per engine, per dtype")
    kernel_efficiency: dict[Dtype, Annotated[float, Field(gt=0, le=1)]] = Field(
        description="fraction of peak a per-engine GEMM kernel reaches (CHARM: int8 0.79, fp32 0.93)")
    local_memory: Size = Field(description="data memory per engine")


class PLIOSpec(Strict):
    width_bits: PositiveInt = Field(description="bits per PLIO stream per PL cycle")
    clock: Frequency = Field(description="PL clock driving the PLIO streams")
    ports_in: PositiveInt = Field(description="PL->AIE streams available")
    ports_out: PositiveInt = Field(description="AIE->PL streams available")
    engines_per_port: PositiveInt = Field(4, description="engines fed by one stream (packet switching / broadcast)")


class PLSpec(Strict):
    buffer: Size = Field(description="on-chip PL buffer (BRAM + URAM) for double-buffered tiles")
    elementwise_bandwidth: Bandwidth = Field(description="throughput of PL element-wise units")


class DDRSpec(Strict):
    bandwidth: Bandwidth = Field(description="effective off-chip bandwidth shared by all accelerators")


class VersalEnergySpec(Strict):
    mac: dict[Dtype, Energy] = Field(description="energy per MAC per dtype")
    plio_byte: Energy = Field(description="energy per byte moved over PLIO")
    ddr_byte: Energy = Field(description="energy per byte moved to/from DDR")
    elementwise_byte: Energy = Field(description="energy per byte touched by PL element-wise units")
    static_power: Power = Field(description="static power of the device, charged per period")


class VersalMenuSpec(Strict):
    """Which accelerator configurations are candidates: A x B x C engine arrays and per-engine tiles."""

    array_dims: list[PositiveInt] = Field(description="allowed engine counts along M (A), K (B) and N (C)", min_length=1)
    engine_tiles: dict[Dtype, list[tuple[PositiveInt, PositiveInt, PositiveInt]]] = Field(
        description="per-engine tile (m, k, n) candidates per dtype")
    engine_tile_dims: dict[Dtype, list[PositiveInt]] = Field(
        default_factory=dict,
        description="tile sizes to search along M, K and N per dtype: every (m, k, n) combination that fits the "
                    "engine local memory joins the menu (dominated configurations are pruned per model)")
    max_units_per_accelerator: PositiveInt | None = None


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


# ------------------------------------------------------------------------------------ mcm package
class ChipletSpec(Strict):
    """One chiplet: a MAC array with its per-cycle tile shapes, a global buffer (SRAM) and its clock."""

    macs_per_cycle: dict[Dtype, PositiveInt] = Field(description="MACs per cycle per chiplet, per dtype")
    tiles: dict[Dtype, list[tuple[PositiveInt, PositiveInt, PositiveInt]]] = Field(
        description="per-cycle tile shapes (m, k, n) the chiplet's MAC array can be configured to, per dtype; "
                    "m*k*n must equal macs_per_cycle (Simba: 16 PEs x 8 lanes x 8-wide vector MACs)")
    efficiency: Annotated[float, Field(gt=0, le=1)] = Field(1.0, description="fraction of peak a full tile sustains")
    sram: Size = Field(description="global buffer per chiplet (weights of its layers + activation buffers)")
    clock: Frequency
    elementwise_per_cycle: PositiveInt = Field(
        128, description="elements per cycle of the chiplet's post-processing (element-wise) units")


class NoPSpec(Strict):
    """The network-on-package: a 2-D mesh of links between neighbouring chiplets."""

    link_bandwidth: Bandwidth = Field(description="bandwidth of one link, per direction")
    hop_latency: Time = Field(description="latency per router hop")
    energy_per_bit: Energy = Field(description="energy per bit per hop (Gemini: 0.3-2.4 pJ/bit by package technology)")


class DRAMControllerSpec(Strict):
    at: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] = Field(description="mesh position (row, column) it attaches to")
    bandwidth: Bandwidth


class DRAMSpec(Strict):
    controllers: list[DRAMControllerSpec] = Field(min_length=1)
    energy_per_bit: Energy = Field(description="DRAM access energy per bit (HBM 5.5 to GDDR6X 10.5 pJ/bit)")


class MCMEnergySpec(Strict):
    mac: dict[Dtype, Energy] = Field(description="energy per MAC per dtype (PE-local buffers included)")
    sram_byte: Energy = Field(description="energy per byte read or written in a chiplet's global buffer")
    static_power: Power = Field(description="static power of the package, charged for the batch time")


class MCMMenuSpec(Strict):
    """Cluster sizes a plan may give a group of consecutive layers."""

    cluster_chiplets: list[PositiveInt] | None = Field(
        None, description="allowed chiplet counts per cluster; default: the sizes of every rectangle that fits the mesh")


class MCMHardware(Strict):
    """A package of chiplets on a 2-D mesh network-on-package, with DRAM controllers on the mesh (e.g. Simba)."""

    name: str = Field(min_length=1)
    family: Literal["mcm"]
    description: str = ""
    mesh: tuple[PositiveInt, PositiveInt] = Field(description="chiplet rows, columns")
    chiplet: ChipletSpec
    nop: NoPSpec
    dram: DRAMSpec
    energy: MCMEnergySpec
    layer_overhead: Time = Field(description="fixed synchronisation cost per layer on a cluster")
    reconfiguration: Time = Field(description="fixed cost of switching the package to the next segment")
    menu: MCMMenuSpec = MCMMenuSpec()


HardwareSpec = Annotated[Union[VersalAIEHardware, MCMHardware], Field(discriminator="family")]
HARDWARE_FAMILIES: dict[str, type[BaseModel]] = {"versal-aie": VersalAIEHardware, "mcm": MCMHardware}


# ----------------------------------------------------------------------------------------- study
class Constraints(Strict):
    latency_max_ms: PositiveFloat | None = Field(None, description="upper bound on batch latency (ms)")
    throughput_min: PositiveFloat | None = Field(None, description="lower bound on throughput (inferences/s)")
    batch: PositiveInt | None = Field(None, description="inputs per batch; default: the model's batch")
    max_accelerators: PositiveInt | None = Field(
        None, description="most accelerators carved out of the device (versal-aie, default 6); "
                          "on mcm, most clusters per segment (default: no limit but the chiplets)")


class StudySpec(Strict):
    """What to plan: a model on a hardware, under an execution model, objective and constraints."""

    name: str | None = None
    model: str = Field(min_length=1, description="built-in model name or path relative to this file")
    hardware: str = Field(min_length=1, description="built-in hardware name or path relative to this file")
    execution: ExecutionModel | None = Field(
        None, description="versal-aie: hybrid (default), spatial, sequential; "
                          "mcm: merged-pipeline (default), segmented-pipeline, layer-sequential")
    objective: Objective = "throughput"
    constraints: Constraints = Constraints()
    strategy: Strategy | None = Field(None, description="default: milp on versal-aie, dp on mcm")
    time_limit_s: PositiveFloat = Field(60.0, description="wall-clock limit of the solver (s)")
    seed: int = Field(0, ge=0, description="random seed of the solver or search (repeatable runs)")
    model_dims: dict[str, PositiveInt] = Field(default_factory=dict,
                                               description="values of symbolic dimensions when the model is an .onnx file")


SCHEMAS: dict[str, object] = {"model": ModelSpec, "hardware": HardwareSpec, "study": StudySpec}
