"""``report.md``: the plan explained for a person."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..outputs import write_atomic
from ..plan import Plan
from ..problem import Problem


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def report_markdown(plan: Plan, problem: Problem | None = None, sections: Sequence[str] = ()) -> str:
    """Markdown report: summary, solver facts, accelerators, each accelerator's operators, then ``sections``."""
    s = plan.solver
    out = [f"# Deployment plan: {plan.model} on {plan.hardware}", ""]
    out += ["| | |", "|---|---|",
            f"| execution model | {plan.execution} |", f"| objective | {plan.objective} |", f"| batch | {plan.batch} |",
            f"| throughput | {_num(plan.throughput, '.2f')} inferences/s |",
            f"| latency (batch) | {_num(plan.latency_ms, '.4f')} ms |",
            f"| energy | {_num(plan.energy_mj, '.4f')} mJ per inference |",
            f"| pipeline period | {_num(plan.period_ms, '.4f')} ms |",
            f"| accelerators | {len(plan.accelerators)} |", ""]
    out += ["## Solver", "", "| strategy | status | objective | best bound | gap | wall time |", "|---|---|---|---|---|---|",
            f"| {s.strategy} | {s.status} | {_num(s.objective, '.6g')} | {_num(s.bound, '.6g')} | "
            f"{_num(None if s.gap is None else 100 * s.gap, '.4f')} % | {s.solve_time_s:.2f} s |", ""]
    if s.message:
        out += [f"{s.message}", ""]
    if plan.violations:
        out += ["## Violations", ""] + [f"- {v}" for v in plan.violations] + [""]
    if problem is not None:
        used = {r: 0.0 for r in problem.resources}
        for a in plan.accelerators:
            used["units"] += a.units
            used["ports_in"] += a.ports_in
            used["ports_out"] += a.ports_out
            used["buffer_bytes"] += a.buffer_bytes
        out += ["## Shared budgets", "", "| resource | used | available |", "|---|---|---|"]
        for r, cap in zip(problem.resources, problem.capacity):
            if r == "buffer_bytes":
                out.append(f"| PL buffer (KiB) | {used[r] / 1024:.0f} | {cap / 1024:.0f} |")
            else:
                out.append(f"| {r} | {used[r]:g} | {cap:g} |")
        out += [f"| DDR time per input | {problem.ddr_period_s * 1e3:.4f} ms | period {_num(plan.period_ms, '.4f')} ms |", ""]
    if plan.accelerators:
        out += ["## Accelerators", "",
                "| # | engines A×B×C @ tile | units | PLIO in/out | PL buffer KiB | layers | busy ms | utilisation | MAC efficiency |",
                "|---|---|---|---|---|---|---|---|---|"]
        for a in plan.accelerators:
            out.append(f"| {a.index} | {a.config} | {a.units} | {a.ports_in}/{a.ports_out} | {a.buffer_bytes / 1024:.0f} | "
                       f"{len(a.layers)} | {a.busy_ms:.4f} | {a.utilization:.1%} | {a.mac_efficiency:.1%} |")
        out.append("")
        for a in plan.accelerators:
            out += [f"### Accelerator {a.index} ({a.config})", "", ", ".join(f"`{op}`" for op in a.ops), ""]
    out += [section for section in sections]
    out += ["## Model", "",
            "Per input: stage time = sum of its layers' times on its accelerator; period = max(slowest stage, "
            "DDR time of the weights per input); throughput = 1/period; latency = sum of stage times + "
            "(batch − 1) × period; energy = Σ layer energy + static power × period.", ""]
    return "\n".join(out)


def write_report(plan: Plan, path: Path, problem: Problem | None = None, sections: Sequence[str] = ()) -> Path:
    """Write ``report.md`` atomically (``sections``: extra markdown, e.g. a comparison or Pareto fronts)."""
    return write_atomic(path, report_markdown(plan, problem, sections))
