"""The GPU roofline: a layer's time per input on k GPUs (tensor parallel), its collective on the links, and the
memory a served model takes.

Per input (the batch's time divided by the batch), on k GPUs each holding 1/k of every layer's weights (column or
row split; attention split by heads), a layer takes::

    max(MACs / k / (peak MAC rate x compute efficiency),
        (weights / k / batch + activations read and written per GPU) / (bandwidth x memory efficiency))
    + launch overhead / batch
    + its collective on the links (k > 1): ring all-reduce 2(k-1)/k x output bytes / link bandwidth
      + 2(k-1) x link latency / batch (an all-gather: half of both)

A KV-cache operand (attention of a decode step) is read per input, like an activation: with S sequences in
flight a step reads the weights once and each sequence's cache once. Where the collectives go: after every layer
whose fused epilogue holds a residual ``add`` (Megatron-LM: one all-reduce per attention block and per MLP
block, the layers before it column-split), an all-gather after a last layer that has none (a vocabulary-split LM
head); a model with no residual add all-reduces after every weighted layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ...specs.lowering import Gemm
from ...specs.schema import DTYPE_BYTES

if TYPE_CHECKING:
    from ...problem import LayerGroup
    from .spec import GPUHardware

ALL_REDUCE, ALL_GATHER = 2, 1  # ring steps per (k - 1): a reduce-scatter and an all-gather, or the all-gather alone


def degrees(hw: "GPUHardware") -> tuple[int, ...]:
    """Tensor-parallel degrees the hardware offers: 1, 2, 4, ... up to its GPU count."""
    out, k = [], 1
    while k <= hw.count:
        out.append(k)
        k *= 2
    return tuple(out)


def collectives(kinds: dict[str, str], groups: Sequence["LayerGroup"]) -> tuple[int, ...]:
    """Per layer, the collective its output takes under tensor parallelism: :data:`ALL_REDUCE`, :data:`ALL_GATHER`
    or 0 (``kinds``: operator name -> kind; see the module docstring)."""
    residual = [g.gemm.weight and any(kinds.get(op) == "add" for op in g.ops[g.ops.index(g.name) + 1:])
                for g in groups]
    if not any(residual):
        residual = [g.gemm.weight for g in groups]
    out = [ALL_REDUCE if r else 0 for r in residual]
    if out and not out[-1] and groups[-1].gemm.weight:
        out[-1] = ALL_GATHER
    return tuple(out)


def collective_s(hw: "GPUHardware", k: int, kind: int, nbytes: float, batch: int) -> float:
    """A ring collective of ``nbytes`` per input over ``k`` GPUs, per input [s] (0 on one GPU)."""
    if k == 1 or not kind:
        return 0.0
    steps = kind * (k - 1)
    bandwidth = hw.link_bandwidth or float("inf")
    return steps / k * nbytes / bandwidth + steps * hw.link_latency / batch


#: the terms of a layer's time (:func:`layer_terms_s`): the first OVERLAPPED at once, the rest add
TERMS = ("compute", "memory", "launch", "links")
OVERLAPPED = 2


def layer_time_s(hw: "GPUHardware", dtype: str, gemm: Gemm, batch: int, k: int = 1, collective: int = 0) -> float:
    """The layer's time per input on ``k`` GPUs at ``batch`` inputs per step [s] (see the module docstring)."""
    compute, memory, launch, links = layer_terms_s(hw, dtype, gemm, batch, k, collective)
    return max(compute, memory) + launch + links


def layer_terms_s(hw: "GPUHardware", dtype: str, gemm: Gemm, batch: int, k: int = 1,
                  collective: int = 0) -> tuple[float, float, float, float]:
    """The :data:`TERMS` of the layer's time per input [s]: ``max(compute, memory) + launch + links``."""
    nbytes = DTYPE_BYTES[dtype]
    m, kk, n, count = gemm.m, gemm.k, gemm.n, gemm.count
    if gemm.weight:  # the input read whole by each GPU, the output and the weights split
        weights = kk * n * count * nbytes / k
        activations = (m * kk * count + m * n * count / k) * nbytes
    else:  # attention: heads split, each GPU reads its heads' operands (a KV cache among them)
        weights = 0.0
        activations = (m * kk + m * n + kk * n) * count * nbytes / k
    compute = gemm.macs / k / (hw.macs_per_s[dtype] * hw.compute_efficiency)
    memory = (weights / batch + activations) / (hw.memory_bandwidth * hw.memory_efficiency)
    return compute, memory, hw.launch_overhead / batch, collective_s(hw, k, collective, m * n * count * nbytes, batch)


def served_bytes(gemms: Sequence[Gemm], dtype: str) -> tuple[float, float]:
    """(weights of the whole model, KV cache of one sequence at the GEMMs' context) in bytes."""
    nbytes = DTYPE_BYTES[dtype]
    return (float(sum(g.weight_elements for g in gemms) * nbytes),
            float(sum(g.cache_elements for g in gemms) * nbytes))
