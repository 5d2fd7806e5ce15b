"""Pydantic models of the three spec kinds: the single source of truth for their YAML.

``accelplan schema model|hardware|study`` prints the JSON Schema generated from these classes.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PositiveFloat, PositiveInt, Tag

from ..objective import OBJECTIVES

Dtype = Literal["int8", "int16", "fp16", "bf16", "fp32"]
DTYPE_BYTES: dict[str, int] = {"int8": 1, "int16": 2, "fp16": 2, "bf16": 2, "fp32": 4}

Objective = Literal[tuple(OBJECTIVES)]  # type: ignore[valid-type]
#: a strategy's name: which names exist is the strategy registry's to say (:mod:`accelplan.solvers.registry`), so it is
#: checked where the registry is known (:func:`accelplan.specs.study.check_strategy`, the sweep spec) and listed in the
#: JSON Schema that ``accelplan schema study`` prints
Strategy = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    """Base: unknown keys are errors. Counts and dimensions are strict ints (a bool, "16" or 16.0 is refused);
    other values are validated in pydantic's lax mode (a list where a tuple is expected is read as the tuple, an
    int where a float is expected as the float)."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


# ----------------------------------------------------------------------------------------- limits
MAX_DIM = 2**31 - 1  # a tensor dimension: what build flows' 32-bit integers hold
MAX_REPEAT = 100_000  # copies of one repeat block
MAX_OPERATORS = 100_000  # operators of a model once its repeat blocks are expanded
MAX_BATCH = 2**20
MAX_ACCELERATORS = 1024
MAX_SEED = 2**32 - 1  # what CP-SAT and Optuna take

#: a positive count or tensor dimension: an int (not a bool, not "16", not 16.0) below 2^31
Dim = Annotated[int, Field(strict=True, gt=0, le=MAX_DIM)]
Count = Dim
#: a positive finite number (an int is taken as the float)
Finite = Annotated[float, Field(gt=0, allow_inf_nan=False)]


# ----------------------------------------------------------------------------------------- model
class _Operator(Strict):
    name: str = Field(min_length=1, description="unique operator name")
    inputs: list[str] | None = Field(None, description="producer operators; default: the previous operator")


class GemmOp(_Operator):
    """A GEMM ``[M,K] x [K,N]``, repeated ``heads`` times independently (batched matmul)."""

    kind: Literal["linear", "matmul"]
    m: Dim = Field(description="rows of the output (tokens, pixels)")
    k: Dim = Field(description="reduction dimension")
    n: Dim = Field(description="columns of the output (features)")
    heads: Dim = Field(1, description="independent GEMMs of this shape (batched matmul)")
    weight: bool | None = Field(None, description="the KxN operand is a stored weight; default: true for linear, false for matmul")


class AttentionOp(_Operator):
    """Attention parts per head: ``attention_qk`` is Q·Kᵀ (seq×head_dim×kv_seq), ``attention_pv`` is P·V."""

    kind: Literal["attention_qk", "attention_pv"]
    heads: Dim
    seq: Dim = Field(description="query length")
    head_dim: Dim
    kv_seq: Dim | None = Field(None, description="key/value length; default: seq. Given, the keys and values are a "
                                                 "KV cache read by the queries (decode), placed and streamed per "
                                                 "sequence; a study's workload.context replaces it")


class Conv2dOp(_Operator):
    """A 2-D convolution, lowered to GEMM (im2col): M = out pixels, K = in/groups·kh·kw, N = out/groups."""

    kind: Literal["conv2d"]
    in_channels: Dim
    out_channels: Dim
    height: Dim = Field(description="input height (pixels)")
    width: Dim = Field(description="input width (pixels)")
    kernel: Dim | tuple[Dim, Dim]
    stride: Dim | tuple[Dim, Dim] = 1
    padding: Annotated[int, Field(ge=0)] | tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] = 0
    dilation: Dim | tuple[Dim, Dim] = 1
    groups: Dim = 1


#: element-wise kinds: bandwidth-bound passes priced by the elements they move; ``add`` and ``mul`` read two
#: inputs, the others one (``pool``, ``reduce`` and ``resize`` read ``input_elements``, not ``elements``);
#: ``unary`` is any other one-input pass (what ``accelplan import --lump`` writes for an operator it does not know)
ELEMENTWISE_KINDS = ("softmax", "layernorm", "gelu", "relu", "add", "mul", "pool", "clip", "sigmoid", "hardsigmoid",
                     "hardswish", "tanh", "exp", "erf", "sqrt", "pow", "lrn", "batchnorm", "reduce", "resize", "gather",
                     "unary")


class ElementwiseOp(_Operator):
    """A cheap, bandwidth-bound operator over ``elements`` output values (``ELEMENTWISE_KINDS``)."""

    kind: Literal[ELEMENTWISE_KINDS]  # type: ignore[valid-type]
    elements: Dim = Field(description="output elements")
    input_elements: Dim | None = Field(None, description="input elements read per input tensor; default: elements")


OPERATOR_KINDS = ("linear", "matmul", "attention_qk", "attention_pv", "conv2d", *ELEMENTWISE_KINDS)


def _item_tag(value: object) -> str | None:
    if isinstance(value, dict):
        if "repeat" in value:
            return "repeat"
        kind = value.get("kind")
        if not isinstance(kind, str):
            return None  # missing or not a name: the discriminator's error lists the kinds
        return {"linear": "gemm", "matmul": "gemm", "attention_qk": "attention", "attention_pv": "attention",
                "conv2d": "conv2d"}.get(kind, "elementwise" if kind in OPERATOR_KINDS else None)
    if isinstance(value, RepeatBlock):
        return "repeat"
    return {GemmOp: "gemm", AttentionOp: "attention", Conv2dOp: "conv2d", ElementwiseOp: "elementwise"}.get(type(value))


class RepeatBlock(Strict):
    """``repeat: N`` copies of ``operators``, named ``{name}{i}.{operator}`` for i = start..start+N-1."""

    repeat: Annotated[int, Field(strict=True, gt=0, le=MAX_REPEAT)]
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
    batch: Annotated[int, Field(strict=True, gt=0, le=MAX_BATCH)] = Field(1, description="default batch (inputs per pipeline fill)")
    operators: list[OperatorItem] = Field(min_length=1)


# ----------------------------------------------------------------------------------------- study
class Constraints(Strict):
    latency_max_ms: Finite | None = Field(None, description="upper bound on batch latency (ms)")
    throughput_min: Finite | None = Field(None, description="lower bound on throughput (inferences/s)")
    batch: Annotated[int, Field(strict=True, gt=0, le=MAX_BATCH)] | None = Field(None, description="inputs per batch; default: the model's batch")
    max_accelerators: Annotated[int, Field(strict=True, gt=0, le=MAX_ACCELERATORS)] | None = Field(
        None, description="most accelerators the plan may use, as the hardware's family counts them (e.g. clusters "
                          "per segment); default: the family's")


MAX_TOKENS = 2**24  # prompt, generated tokens or context positions of one sequence


class WorkloadSpec(Strict):
    """How a language model is served: each request's prompt and generated tokens, the positions its KV cache holds,
    and how many sequences are in flight at once. Only for models whose attention reads a KV cache (an
    ``attention_qk``/``attention_pv`` operator with ``kv_seq`` given)."""

    prompt: Annotated[int, Field(strict=True, gt=0, le=MAX_TOKENS)] = Field(
        description="tokens of each request's prompt (the prefill phase)")
    generate: Annotated[int, Field(strict=True, gt=0, le=MAX_TOKENS)] = Field(
        description="tokens each request generates (the decode phase, one token per step)")
    context: Annotated[int, Field(strict=True, gt=0, le=MAX_TOKENS)] | None = Field(
        None, description="positions the KV cache holds per sequence (at least prompt + generate); "
                          "default: prompt + generate")
    sequences: Annotated[int, Field(strict=True, gt=0, le=MAX_BATCH)] = Field(
        1, description="sequences in flight: decoded together, one token each per step (the batch)")

    @property
    def positions(self) -> int:
        """Positions of the KV cache per sequence."""
        return self.context or self.prompt + self.generate


class StudySpec(Strict):
    """What to plan: a model on a hardware, under an execution model, objective and constraints."""

    name: str | None = None
    model: str = Field(min_length=1, description="built-in model name or path relative to this file")
    hardware: str = Field(min_length=1, description="built-in hardware name or path relative to this file")
    execution: str | None = Field(None, min_length=1, description="an execution model of the hardware's family; "
                                                                 "default: the family's")
    objective: Objective = "throughput"
    constraints: Constraints = Constraints()
    workload: WorkloadSpec | None = Field(None, description="a language model's serving workload (prompt, generated "
                                                            "tokens, context, sequences in flight); results then "
                                                            "read TTFT, TPOT, tokens/s and J/token")
    strategy: Strategy | None = Field(None, description="a strategy; default: the hardware family's")
    time_limit_s: Annotated[float, Field(gt=0, le=7 * 86400, allow_inf_nan=False)] = Field(
        60.0, description="wall-clock limit of the solver (s)")
    seed: int = Field(0, ge=0, le=MAX_SEED, strict=True, description="random seed of the solver or search (repeatable runs)")
    model_dims: dict[str, Dim] = Field(default_factory=dict,
                                               description="values of symbolic dimensions when the model is an .onnx file")
    reference: Annotated[str, Field(min_length=1)] | Literal[False] | None = Field(
        None, description="a hardware to compare with (built-in name or path relative to this file, e.g. a100): the "
                          "same model at the same batch planned on it, shown beside the plan in the report and in "
                          "compare-execution; false for none; default: the hardware family's reference")


SPEC_KINDS = ("model", "hardware", "study")
