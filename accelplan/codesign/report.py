"""What a co-design run writes: the trials and the front as CSV, the front as a figure, the importances, a report."""

from __future__ import annotations

import csv
import io
from typing import Any

from ..solvers.storages import journal_path, redacted
from .results import TrialRow, front
from .spec import Codesign

FIELDS = ("number", "state", "status")


def _csv(codesign: Codesign, rows: list[TrialRow], with_plan: bool = False) -> str:
    metrics = list(dict.fromkeys([g.metric for g in codesign.goals] + [m for r in rows for m in r.metrics]))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    head = ["trial", "state", "status", *[p.name for p in codesign.parameters], *metrics, "bound", "violation",
            "solve_s", "cached", "message"]
    w.writerow(head + (["hardware", "plan"] if with_plan else []))
    for r in rows:
        cells = [r.number, r.state, r.status, *[r.params.get(p.name, "") for p in codesign.parameters],
                 *[_g(r.metrics.get(m)) for m in metrics], _g(r.bound), _g(r.violation), f"{r.solve_s:.3f}",
                 str(r.cached).lower(), r.message]
        w.writerow(cells + ([hardware_file(r.number), plan_file(r.number)] if with_plan else []))
    return out.getvalue()


def _g(value: float | None) -> str:
    return "" if value is None else f"{value:.10g}"


def trials_csv(codesign: Codesign, rows: list[TrialRow]) -> str:
    return _csv(codesign, rows)


def front_csv(codesign: Codesign, rows: list[TrialRow]) -> str:
    return _csv(codesign, front(codesign, rows), with_plan=True)


def importances_csv(found: dict[str, dict[str, float]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["objective", "parameter", "importance"])
    for metric, values in found.items():
        for name, v in values.items():
            w.writerow([metric, name, f"{v:.6g}"])
    return out.getvalue()


def hardware_file(number: int) -> str:
    return f"front/{number:04d}/hardware.yaml"


def plan_file(number: int) -> str:
    return f"front/{number:04d}/plan.yaml"


def front_png(codesign: Codesign, rows: list[TrialRow]) -> bytes:
    """The first two objectives: every feasible trial, the pruned ones at their bound, the front as a staircase."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    goals = codesign.goals
    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=120)
    x_goal = goals[1] if len(goals) > 1 else None
    y_goal = goals[0]

    def x(r: TrialRow) -> float:
        return r.metrics[x_goal.metric] if x_goal is not None else r.number

    ok = [r for r in rows if r.feasible and y_goal.metric in r.metrics and (x_goal is None or x_goal.metric in r.metrics)]
    ax.scatter([x(r) for r in ok], [r.metrics[y_goal.metric] for r in ok], color="tab:blue", alpha=0.35, s=18,
               label=f"{len(ok)} feasible trials")
    pruned = [r for r in rows if r.state == "pruned"]
    if pruned:
        ax.scatter([], [], color="white", label=f"{len(pruned)} pruned (bound lost)")
    steps = front(codesign, rows)
    if steps and x_goal is not None:
        pts = sorted(((x(r), r.metrics[y_goal.metric]) for r in steps))
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post" if x_goal.maximize != y_goal.maximize
                else "pre", color="tab:red")
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:red", marker="D", s=30,
                   label=f"Pareto front ({len(steps)})")
    ax.set_xlabel(f"{x_goal.metric} ({x_goal.direction})" if x_goal is not None else "trial")
    ax.set_ylabel(f"{y_goal.metric} ({y_goal.direction})")
    ax.set_title(f"Co-design {codesign.name}"[:90], fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def dashboard_command(storage: str | None) -> str:
    """The optuna-dashboard command that opens the study's storage."""
    if storage is None:
        return ""
    path = journal_path(storage)
    return f"optuna-dashboard {path}" if path is not None else f"optuna-dashboard '{redacted(storage)}'"


def markdown(codesign: Codesign, rows: list[TrialRow], found: dict[str, dict[str, float]], run: Any) -> str:
    """The report: how the run went, the front (each point's files), importances, how to browse the study."""
    f = front(codesign, rows)
    states = {s: sum(1 for r in rows if r.state == s) for s in ("complete", "pruned", "fail")}
    lines = [f"# Co-design: {codesign.name}", "",
             f"Base study: {codesign.study.model.name} on {codesign.study.hardware.name}, {codesign.study.execution}, "
             f"each candidate's plan solved by `{codesign.strategy}` within {codesign.time_limit_s:g} s "
             f"(objective {codesign.study.spec.objective}).",
             f"Objectives: {', '.join(f'{g.metric} ({g.direction})' for g in codesign.goals)}"
             + (f"; limits: {', '.join(f'{m} in [{lo}, {hi}]' for m, (lo, hi) in codesign.limits.items())}"
                if codesign.limits else "") + ".",
             f"Sampler: {type(run.study.sampler).__name__}; trials: {states['complete']} complete, "
             f"{states['pruned']} pruned, {states['fail']} failed (this run: {run.new} new, {run.solved} solved, "
             f"{run.cached} from the cache, {run.pruned} pruned, {run.wall_s:.1f} s on {run.workers} "
             f"worker{'s' if run.workers != 1 else ''}).", "",
             "## Pareto front", ""]
    metrics = [g.metric for g in codesign.goals]
    head = ["trial", *[p.name for p in codesign.parameters], *metrics, "status", "bound", "files"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in f:
        cells = [str(r.number), *[str(r.params.get(p.name, "")) for p in codesign.parameters],
                 *[f"{r.metrics[m]:.6g}" for m in metrics], r.status, _g(r.bound) or "—",
                 f"`{hardware_file(r.number)}`, `{plan_file(r.number)}`"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    if not f:
        lines.append("(no feasible candidate yet)")
    lines += ["", "![front](front.png)", "", "## Parameter importances (Optuna: fANOVA, or PED-ANOVA without scikit-learn; feasible trials)", ""]
    if found:
        for metric, values in found.items():
            lines.append(f"- {metric}: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
    else:
        lines.append("(too few feasible trials, or no parameter varied)")
    command = dashboard_command(run.storage)
    if command:
        lines += ["", "## Browse the study", "", "```", command, "```",
                  "(`pip install 'accelplan[dashboard]'`; the same command works while a run is going on.)"]
    return "\n".join(lines) + "\n"
