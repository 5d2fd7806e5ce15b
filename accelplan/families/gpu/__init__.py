"""A GPU, or a node of GPUs, as a roofline reference (``family: gpu``): the comparison users of many-device systems
make first.

One execution model, ``roofline``: the GPUs run the layers one after another, each for the batch at once, every
layer split over the k GPUs of the configuration (tensor parallelism; k = 1 on a single GPU). Per input (the batch's
time divided by the batch), a layer takes ``max(MACs / k / sustained MAC rate, (weights / k / batch + activations)
/ sustained bandwidth) + launch overhead / batch`` plus its all-reduce on the links when k > 1
(:mod:`~accelplan.families.gpu.costs`); period = the sum over layers; throughput = 1 / period; latency = batch x
period; energy = k x board power x period. A pipeline-form problem with one accelerator whose configurations are
the degrees k (:mod:`~accelplan.families.gpu.tabulate`), so every pipeline strategy solves it and picks k by the
objective.

A study with a workload is a served language model: an input is one generated token of one of the S sequences in
flight (TPOT = the latency, tokens/s = S / TPOT), the KV caches are read at the workload's context, the weights and
caches must fit in the k GPUs' memory, and the prompt priced through the same GPUs gives the TTFT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import SpecIssue
from ...execution import ExecutionModel, Form
from ...specs.loader import line_of
from .. import Family, ReportTable, Words
from .costs import layer_time_s
from .spec import GPUHardware
from .tabulate import TensorParallel, WholeGPU

__all__ = ["FAMILY", "GPU", "GPUHardware", "TensorParallel", "WholeGPU", "layer_time_s"]


@dataclass(frozen=True)
class GPU(Family):
    """The gpu family."""

    def dtypes(self, hw: Any) -> tuple[str, ...]:
        return tuple(hw.macs_per_s)

    def check(self, hw: Any, lines: dict) -> list[SpecIssue]:
        """A node of several GPUs needs the link its collectives run on."""
        if hw.count > 1 and hw.link_bandwidth is None:
            return [SpecIssue(f"a node of {hw.count} GPUs needs link_bandwidth (e.g. '300 GB/s' for NVLink3) to price "
                              "the all-reduce of tensor parallelism", "link_bandwidth", line_of(("count",), lines))]
        return []

    def tabulate(self, study, execution, objective, prune=True):
        from .tabulate import tabulate
        return tabulate(study, execution, objective)

    def accelerator_table(self, plan) -> ReportTable:
        rows = tuple((a.index, a.config, a.units, len(a.layers), f"{a.busy_ms:.4f}", f"{a.mac_efficiency:.1%}")
                     for a in plan.accelerators)
        return ReportTable("GPU", ("#", "configuration", "GPUs", "layers", "busy ms", "MAC efficiency"), rows)


FAMILY = GPU(
    name="gpu", spec=GPUHardware, baseline_execution="roofline",
    executions=(ExecutionModel("roofline", Form.PIPELINE, "the GPUs run the layers in turn, each for the batch, "
                               "every layer split over them", single=True),),
    words=Words("GPU", "GPUs", "GPUs"),
    model_note=("Per input: a layer takes max(MACs / k / sustained MAC rate, (weights / k / batch + activations) / "
                "sustained bandwidth) + launch overhead / batch, plus a ring all-reduce on the links per attention and "
                "MLP block when split over k > 1 GPUs; period = Σ layers; throughput = 1 / period; latency = batch × "
                "period; energy = k × board power × period. With a workload an input is a generated token: the batch "
                "is the sequences in flight, each reading its KV cache at the context, which must fit with the "
                "weights in the k GPUs' memory (accelplan.families.gpu)."),
    resource_words=(("gpus", "GPUs"),),
    description="a GPU or a node of GPUs (tensor parallel) as a roofline reference (e.g. NVIDIA A100, DGX A100)")
