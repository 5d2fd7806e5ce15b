"""The plan beside the same model on the study's reference hardware (e.g. a GPU roofline): the comparison
users of many-device systems make first. Both plans are read as they are; nothing is recomputed.

A served language model (a study with a workload) is compared like for like: the reference is planned at the same
workload and sequences in flight, and the rows read tokens/s, TPOT, TTFT and energy per token, each with the
ratio and, in words, which side is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import families
from ..families import ReportTable
from ..plan import Plan


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _per_joule(plan: Plan) -> float | None:
    return 1e3 / plan.energy_mj if plan.energy_mj else None


@dataclass(frozen=True)
class Figure:
    """One figure both plans carry: its row label, how to read it off a plan, its format, whether more is better,
    and how a sentence names it (``{r}``: the ratio, ``{ref}``: the reference's name)."""

    label: str
    get: Callable[[Plan], float | None]
    spec: str
    higher_is_better: bool
    sentence: str
    key: str


def _serving(name: str) -> Callable[[Plan], float | None]:
    return lambda p: getattr(p.serving, name) if p.serving is not None else None


#: the figures of any plan
_METRICS = (Figure("throughput (inferences/s)", lambda p: p.throughput, ".2f", True,
                   "{plan} gives {r} the throughput of {ref}", "throughput"),
            Figure("latency of a batch (ms)", lambda p: p.latency_ms, ".4f", False,
                   "latency of a batch {r} {ref}'s", "latency"),
            Figure("energy (mJ per inference)", lambda p: p.energy_mj, ".4f", False,
                   "energy per inference {r} {ref}'s", "energy"),
            Figure("inferences per joule", _per_joule, ".3f", True, "inferences per joule {r} {ref}'s",
                   "inferences_per_joule"))

#: the figures of a served language model (both plans with ``serving``)
_SERVED = (Figure("tokens/s", _serving("tokens_per_s"), ".2f", True,
                  "{plan} gives {r} the tokens/s of {ref}", "tokens_per_s"),
           Figure("TPOT (ms)", _serving("tpot_ms"), ".4f", False, "time per output token {r} {ref}'s", "tpot"),
           Figure("TTFT (ms)", _serving("ttft_ms"), ".4f", False, "time to first token {r} {ref}'s", "ttft"),
           Figure("J/token", _serving("joules_per_token"), ".4f", False, "energy per token {r} {ref}'s",
                  "joules_per_token"))


def figures(plan: Plan, reference: Plan) -> tuple[Figure, ...]:
    """The figures compared: a served model's when both plans serve one, else the general ones."""
    return _SERVED if plan.serving is not None and reference.serving is not None else _METRICS


def _cell(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def verdict(figure: Figure, ratio: float | None) -> str:
    """Which side the ratio (plan / reference) favours, in words: better, worse or the same (within 0.5 %)."""
    if ratio is None:
        return "not comparable"
    if abs(ratio - 1) <= 0.005:
        return "the same"
    return "better" if (ratio > 1) == figure.higher_is_better else "worse"


def _times(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.3g}x"


def _versus(figure: Figure, plan: Plan, reference: Plan) -> tuple[float | None, str]:
    ratio = _ratio(figure.get(plan), figure.get(reference))
    return ratio, verdict(figure, ratio)


def reference_table(plan: Plan, reference: Plan) -> ReportTable:
    """Each figure on the plan's hardware and on the reference's, their ratio (plan / reference) and which side
    it favours."""
    rows = []
    for f in figures(plan, reference):
        ratio, word = _versus(f, plan, reference)
        rows.append((f.label, _cell(f.get(plan), f.spec), _cell(f.get(reference), f.spec),
                     _cell(ratio, ".3f") + "×", word if ratio is not None else "—"))
    return ReportTable(f"Against {reference.hardware} ({reference.execution} reference)",
                       ("", plan.hardware, reference.hardware, "ratio", f"{plan.hardware} is"), tuple(rows))


def reference_sentences(plan: Plan, reference: Plan) -> list[str]:
    """Each figure's comparison in words, e.g. "u250-x32 gives 0.13x the tokens/s of a100 (worse)"."""
    out = []
    for f in figures(plan, reference):
        ratio, word = _versus(f, plan, reference)
        if ratio is not None:
            out.append(f"{f.sentence.format(plan=plan.hardware, r=_times(ratio), ref=reference.hardware)} ({word})")
    return out


def _units(plan: Plan) -> str:
    """" on 8 GPUs" (the plan's units in its family's words), when more than one."""
    units = sum(a.units for a in plan.accelerators)
    return f" on {units} {families.get(plan.family).words.units}" if units > 1 else ""


def reference_markdown(plan: Plan, reference: Plan) -> str:
    """The comparison as a report section."""
    table = reference_table(plan, reference)
    out = [f"## {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(row) + " |" for row in table.rows]
    serving = reference.serving
    what = (f"at the same workload ({serving.sequences} sequences in flight, prompt {serving.prompt}, context "
            f"{serving.context})" if serving is not None else f"at batch {reference.batch}")
    out += ["", f"The same model {what} planned on {reference.hardware}{_units(reference)} "
                f"({reference.execution} model; {reference.solver.strategy}, {reference.solver.status}); ratios are "
                f"{plan.hardware} / "
                f"{reference.hardware}: " + "; ".join(reference_sentences(plan, reference)) + ".", ""]
    return "\n".join(out)


def reference_json(plan: Plan, reference: Plan) -> dict[str, Any]:
    """The reference's metrics and the plan's ratios to them (with which side each favours), for ``--json``."""
    out = {"hardware": reference.hardware, "execution": reference.execution, "status": reference.solver.status,
           "throughput": reference.throughput, "latency_ms": reference.latency_ms, "energy_mj": reference.energy_mj,
           "throughput_ratio": _ratio(plan.throughput, reference.throughput),
           "energy_ratio": _ratio(plan.energy_mj, reference.energy_mj),
           "units": sum(a.units for a in reference.accelerators),
           "units_word": families.get(reference.family).words.units}
    if reference.serving is not None:
        s = reference.serving
        out |= {"tokens_per_s": s.tokens_per_s, "tpot_ms": s.tpot_ms, "ttft_ms": s.ttft_ms,
                "joules_per_token": s.joules_per_token}
    out["versus"] = {f.key: {"ratio": r, "plan_is": w} for f in figures(plan, reference)
                     for r, w in [_versus(f, plan, reference)]}
    return out


def reference_line(plan: Plan, reference: Plan) -> str:
    """One terminal line: the reference's figures and the plan against each, in words."""
    if plan.serving is not None and reference.serving is not None:
        s = reference.serving
        figures_ = (f"{_cell(s.tokens_per_s, '.2f')} tokens/s, TPOT {_cell(s.tpot_ms, '.3f')} ms, "
                    f"TTFT {_cell(s.ttft_ms, '.3f')} ms, {_cell(s.joules_per_token, '.4f')} J/token")
    else:
        figures_ = f"{_cell(reference.throughput, '.2f')} inf/s, {_cell(reference.energy_mj, '.4f')} mJ/inf"
    return (f"vs {reference.hardware} ({reference.execution}{_units(reference)}): {figures_} -> "
            + "; ".join(reference_sentences(plan, reference)))
