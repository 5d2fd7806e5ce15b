"""``report.md``: the plan explained for a person."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..outputs import write_atomic
from ..plan import Plan
from ..problem import Problem
from .tables import accelerator_table, operator_list


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
            f"| {'clusters' if plan.family == 'mcm' else 'accelerators'} | {len(plan.accelerators)} |"]
    out += [f"| segments | {plan.segments} |", ""] if plan.family == "mcm" else [""]
    out += ["## Solver", "", "| strategy | status | objective | best bound | gap | wall time |", "|---|---|---|---|---|---|",
            f"| {s.strategy} | {s.status} | {_num(s.objective, '.6g')} | {_num(s.bound, '.6g')} | "
            f"{_num(None if s.gap is None else 100 * s.gap, '.4f')} % | {s.solve_time_s:.2f} s |", ""]
    if s.message:
        out += [f"{s.message}", ""]
    if plan.violations:
        out += ["## Violations", ""] + [f"- {v}" for v in plan.violations] + [""]
    if problem is not None and problem.family == "mcm":
        n = problem.segments.chiplets
        out += ["## Package", "", "| segment | clusters | chiplets used | of |", "|---|---|---|---|"]
        for s_ in range(plan.segments):
            accs = [a for a in plan.accelerators if a.segment == s_]
            out.append(f"| {s_} | {len(accs)} | {sum(a.units for a in accs)} | {n} |")
        out += ["", f"SRAM per chiplet {problem.segments.sram_bytes / 1024:.0f} KiB; a cluster whose weights do not "
                    "fit streams them from DRAM for every input.", ""]
    elif problem is not None:
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
        header, rows = accelerator_table(plan)
        kind = "Cluster" if plan.family == "mcm" else "Accelerator"
        out += [f"## {kind}s", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
        out.append("")
        for a in plan.accelerators:
            where = f", segment {a.segment}" if plan.family == "mcm" else ""
            out += [f"### {kind} {a.index} ({a.config}{where})", "", ", ".join(f"`{op}`" for op in operator_list(a)), ""]
    out += [section for section in sections]
    if plan.family == "mcm":
        out += ["## Model", "",
                "Per segment: Σ cluster times + (batch − 1) × slowest cluster + weights loaded from DRAM + "
                "reconfiguration + activations crossing DRAM at its start; batch latency = Σ segments (+ the output "
                "written); throughput = batch / latency; energy = Σ layer energy + DRAM traffic + static power × "
                "latency, per inference (see accelplan.execution.segments).", ""]
    else:
        out += ["## Model", "",
                "Per input: stage time = sum of its layers' times on its accelerator; period = max(slowest stage, "
                "DDR time of the weights per input); throughput = 1/period; latency = sum of stage times + "
                "(batch − 1) × period; energy = Σ layer energy + static power × period.", ""]
    return "\n".join(out)


def write_report(plan: Plan, path: Path, problem: Problem | None = None, sections: Sequence[str] = ()) -> Path:
    """Write ``report.md`` atomically (``sections``: extra markdown, e.g. a comparison or Pareto fronts)."""
    return write_atomic(path, report_markdown(plan, problem, sections))
