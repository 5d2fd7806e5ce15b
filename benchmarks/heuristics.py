"""The heuristic (``lns``) against the proven optimum, and against every strategy where exact search does not finish.

    python benchmarks/heuristics.py [--time-limit 60] [--models bert-base,...] [--executions hybrid,spatial]
                                    [--hard vit-base-tile-menu@12,resnet152-tile-menu@12]
                                    [--others colgen,milp,cpsat,optuna-tpe]
                                    [--optuna optuna-tpe,optuna-nsga2] [--no-contiguous-lns]
                                    [--no-studies] [--out benchmarks/results/heuristics.json]

Cases: every built-in study (specs/studies/*.yaml, as written); every built-in model that tabulates on
vck190 under hybrid and spatial execution (batch 16, at most 6 accelerators, throughput). For each, the
exact strategy ``auto`` picks runs under the time limit (the reference: its proven optimum, or its
incumbent and bound when it stops early), then ``lns`` under the same limit: its objective, its start
value (the first point of its anytime curve), its gap to the reference optimum, its wall time; and, on
pipeline cases, ``lns`` warm-started from the contiguous heuristic's plan instead of an exact strategy's
(what the neighbourhood moves alone reach). Every strategy of ``--optuna`` (default ``optuna-tpe``) runs on each
case too: a table gives each strategy's objective as a percentage of the proven optimum at the time limit, and
the CPU share each run got (its CPU seconds, children included, over its wall seconds: the machine is shared).

Hard cases (``--hard``; where exact search does not finish in 60 s): ViT-Base and ResNet-152 with engine
tiles as decisions (benchmarks/exact.py's tile menu) on up to 12 accelerators, hybrid on vck190 (labels:
a built-in model, ``stack-N`` for N BERT-base encoder blocks (benchmarks/strategies.py's ``STACK``),
``-tile-menu`` for the tile menu, ``@N`` for at most N accelerators, else 6); every strategy of ``--others``
runs too, and the table says whether lns beats (or ties) the best of their incumbents. Prints markdown
tables and writes every row as JSON. Wall-clock times are of this machine at this moment (shared): compare
rows of one run with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from accelplan import api
from accelplan.errors import AccelplanError, SolveError
from accelplan.execution import Form
from accelplan.families import build_problem
from accelplan.outputs import write_atomic
from accelplan.plan import Plan
from accelplan.problem import Problem
from accelplan.solvers import solve
from accelplan.solvers.contiguous import best_contiguous
from accelplan.solvers.registry import auto, strategy
from accelplan.specs.library import builtin_names

from exact import _tile_menu_hardware
from strategies import STACK

ROOT = Path(__file__).resolve().parent.parent
TIE = 1e-9  # relative: values closer than this are equal


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


CPU: dict[int, float] = {}  # id(plan) -> the CPU share its run got (CPU seconds of this process and its children / wall)


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _run(problem: Problem, name: str, limit: float, **options) -> tuple[Plan | None, float, str]:
    """(plan, wall seconds, why it did not run); the run's CPU share in :data:`CPU`."""
    why = strategy(name).reason(problem)
    if why:
        return None, 0.0, why
    t0, c0 = time.perf_counter(), _cpu_s()
    try:
        plan = solve(problem, name, time_limit_s=limit, **options)
    except SolveError as exc:
        return None, 0.0, str(exc)
    wall = time.perf_counter() - t0
    CPU[id(plan)] = (_cpu_s() - c0) / wall if wall > 0 else 0.0
    return plan, wall, ""


def _percent_of_optimum(problem: Problem, value: float | None, optimum: float | None) -> float | None:
    """The objective as a percentage of the optimum (100: at it; below 100: worse, whichever the direction)."""
    if value is None or optimum is None:
        return None
    return 100.0 * (1.0 - problem.objective.gap(value, optimum))


def _optuna_rows(label: str, problem: Problem, names: list[str], limit: float, optimum: float | None,
                 exact_row: dict) -> list[dict]:
    """Each Optuna strategy (and the exact reference, lns) on one case: % of the proven optimum at the limit."""
    rows = [{"case": label, "strategy": exact_row["exact"], "objective": exact_row["exact_objective"],
             "percent_of_optimum": _percent_of_optimum(problem, exact_row["exact_objective"], optimum),
             "solve_s": exact_row["exact_s"], "cpu_share": exact_row.get("exact_cpu_share"), "note": ""},
            {"case": label, "strategy": "lns", "objective": exact_row["lns_objective"],
             "percent_of_optimum": _percent_of_optimum(problem, exact_row["lns_objective"], optimum),
             "solve_s": exact_row["lns_s"], "cpu_share": exact_row.get("lns_cpu_share"), "note": exact_row["note"]
             if exact_row["lns_objective"] is None else ""}]
    for name in names:
        plan, wall, why = _run(problem, name, limit)
        value = plan.solver.objective if plan is not None and plan.feasible else None
        rows.append({"case": label, "strategy": name, "objective": value,
                     "percent_of_optimum": _percent_of_optimum(problem, value, optimum), "solve_s": wall,
                     "cpu_share": CPU.get(id(plan)) if plan is not None else None,
                     "trials": plan.solver.evaluations if plan is not None else None,
                     "note": why or (plan.solver.message if plan is not None else "")})
    return rows


def _gap(problem: Problem, value: float | None, optimum: float | None) -> float | None:
    if value is None or optimum is None:
        return None
    return problem.objective.gap(value, optimum)


def _versus_optimum(label: str, problem: Problem, limit: float, contiguous_lns: bool = True) -> dict:
    """The exact reference and lns on one problem, as a row."""
    exact_name = auto(problem)
    exact, exact_s, _ = _run(problem, exact_name, limit)
    lns, lns_s, why = _run(problem, "lns", limit)
    s = exact.solver if exact is not None else None
    proven = s is not None and s.status == "optimal"
    row = {"case": label, "execution": problem.execution.name, "layers": problem.n_layers,
           "configs": problem.n_configs, "exact": exact_name, "exact_status": s.status if s else None,
           "exact_objective": s.objective if s else None, "exact_bound": s.bound if s else None,
           "exact_s": exact_s, "exact_cpu_share": CPU.get(id(exact)), "lns_status": None, "lns_objective": None,
           "lns_start": None, "lns_s": lns_s, "lns_cpu_share": CPU.get(id(lns)), "gap_to_optimum": None, "note": why}
    if lns is not None and lns.feasible:
        curve = lns.solver.progress
        row |= {"lns_status": lns.solver.status, "lns_objective": lns.solver.objective,
                "lns_start": curve[0].objective if curve else None,
                "gap_to_optimum": _gap(problem, lns.solver.objective, s.objective if proven else None),
                "note": lns.solver.message}
    elif lns is not None:
        row["note"] = lns.solver.message or "no plan"
    row |= _from_contiguous(problem, limit if contiguous_lns else 0.0, s.objective if proven else None)
    return row


def _from_contiguous(problem: Problem, limit: float, optimum: float | None) -> dict:
    """lns warm-started from the contiguous heuristic (no exact start): what its moves alone reach."""
    if not limit or strategy("lns").reason(problem) or problem.execution.form is not Form.PIPELINE:
        return {"contiguous_start": None, "from_contiguous": None, "from_contiguous_gap": None,
                "from_contiguous_s": None}
    heuristic = best_contiguous(problem)
    if heuristic is None:
        return {"contiguous_start": None, "from_contiguous": None, "from_contiguous_gap": None,
                "from_contiguous_s": None}
    t0 = time.perf_counter()
    plan = solve(problem, "lns", time_limit_s=limit, incumbent=heuristic.groups)
    value = plan.solver.objective
    return {"contiguous_start": heuristic.plan.objective_value(), "from_contiguous": value,
            "from_contiguous_gap": _gap(problem, value, optimum), "from_contiguous_s": time.perf_counter() - t0}


def _print_optimum_row(row: dict) -> None:
    pct = lambda gap: _fmt(None if gap is None else 100 * gap, '.4f')  # noqa: E731
    print(f"| {row['case']} | {row['execution']} | {row['exact']} {row['exact_status']} | "
          f"{_fmt(row['exact_objective'], '.4f')} | {_fmt(row['exact_s'], '.1f')} | {_fmt(row['lns_start'], '.4f')} | "
          f"{_fmt(row['lns_objective'], '.4f')} | {pct(row['gap_to_optimum'])} | {_fmt(row['lns_s'], '.1f')} | "
          f"{_fmt(row['contiguous_start'], '.4f')} | {_fmt(row['from_contiguous'], '.4f')} | "
          f"{pct(row['from_contiguous_gap'])} | {_fmt(row['from_contiguous_s'], '.1f')} | "
          f"{row['note'] if row['lns_objective'] is None else ''} |", flush=True)


def _hard(label: str, problem: Problem, others: list[str], limit: float) -> list[dict]:
    """lns and every other strategy on a case exact search does not finish; the verdict in the lns row."""
    rows = []
    for name in ["lns", *others]:
        plan, wall, why = _run(problem, name, limit)
        s = plan.solver if plan is not None else None
        rows.append({"case": label, "execution": problem.execution.name, "strategy": name,
                     "status": s.status if s else None, "objective": s.objective if s else None,
                     "bound": s.bound if s else None, "start": s.progress[0].objective if s and s.progress else None,
                     "solve_s": wall, "note": why})
    lns = rows[0]
    best_other = [r["objective"] for r in rows[1:] if r["objective"] is not None]
    if lns["objective"] is not None and best_other:
        top = max(best_other) if problem.objective.maximise else min(best_other)
        better = problem.objective.better(lns["objective"], top)
        tie = abs(lns["objective"] - top) <= TIE * abs(top)
        lns["verdict"] = "beats" if better and not tie else "ties" if tie else "behind"
        lns["best_other"] = top
        lns["gap_to_best_other"] = problem.objective.gap(lns["objective"], top) if not better else 0.0
    return rows


def _problem(model: str, execution: str, hardware: str = "vck190", accelerators: int = 6) -> Problem:
    return build_problem(api.make_study(model=model, hardware=hardware, execution=execution, batch=16,
                                        max_accelerators=accelerators))


def _hard_problem(label: str, folder: Path) -> Problem:
    """A hard case by its label (module docstring): ``MODEL[-tile-menu][@N]``; hybrid on vck190."""
    name, _, most = label.partition("@")
    accelerators = int(most) if most else 6
    hardware = "vck190"
    if name.endswith("-tile-menu"):
        name, hardware = name.removesuffix("-tile-menu"), str(_tile_menu_hardware(folder, "vck190"))
    if name.startswith("stack-"):
        path = folder / f"{name}.yaml"
        path.write_text(STACK.format(n=int(name.split("-")[1])))
        name = str(path)
    return _problem(name, "hybrid", hardware, accelerators)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--models", default=",".join(builtin_names("models")))
    ap.add_argument("--executions", default="hybrid,spatial")
    ap.add_argument("--hard", default="vit-base-tile-menu@12,resnet152-tile-menu@12")
    ap.add_argument("--others", default="colgen,milp,cpsat,optuna-tpe")
    ap.add_argument("--studies", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--optuna", default="optuna-tpe",
                    help="Optuna strategies run on every case with a proven optimum (comma-separated; '' for none)")
    ap.add_argument("--no-contiguous-lns", dest="contiguous_lns", action="store_false",
                    help="skip lns warm-started from the contiguous heuristic")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "heuristics.json")
    args = ap.parse_args()
    limit = args.time_limit
    folder = Path(tempfile.mkdtemp(prefix="accelplan-heuristics-"))

    optimum_rows: list[dict] = []
    percent_rows: list[dict] = []
    print(f"lns against the proven optimum ({limit:g} s each)\n")
    print("| case | execution | exact | optimum | exact s | lns start | lns | gap % | lns s | contiguous | "
          "lns from it | gap % | s | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    cases: list[tuple[str, callable]] = []
    if args.studies:
        for path in sorted((ROOT / "specs" / "studies").glob("*.yaml")):
            cases.append((path.stem, lambda path=path: build_problem(api.make_study(path))))
    for model in filter(None, args.models.split(",")):
        for execution in filter(None, args.executions.split(",")):
            cases.append((model, lambda model=model, execution=execution: _problem(model, execution)))
    for label, make in cases:
        try:
            problem = make()
        except AccelplanError as exc:  # a model vck190 cannot run
            print(f"| {label} | - | skipped: {exc} | | | | | | | | | | | |")
            continue
        row = _versus_optimum(label, problem, limit, args.contiguous_lns)
        optimum_rows.append(row)
        _print_optimum_row(row)
        proven = row["exact_objective"] if row["exact_status"] == "optimal" else None
        if names := [n for n in args.optuna.split(",") if n]:
            percent_rows += _optuna_rows(label, problem, names, limit, proven, row)

    if percent_rows:
        print(f"\n% of the proven optimum at {limit:g} s (CPU share: CPU seconds of the run / wall seconds; "
              f"{os.cpu_count()} cores, shared)\n")
        print("| case | strategy | objective | % of optimum | s | CPU share | note |")
        print("|---|---|---|---|---|---|---|")
        for r in percent_rows:
            print(f"| {r['case']} | {r['strategy']} | {_fmt(r['objective'], '.6g')} | "
                  f"{_fmt(r['percent_of_optimum'], '.2f')} | {_fmt(r['solve_s'], '.1f')} | {_fmt(r['cpu_share'], '.2f')} | "
                  f"{(r['note'] or '')[:80] if r['objective'] is None or r['strategy'].startswith('optuna') else ''} |",
                  flush=True)

    hard_rows: list[dict] = []
    if args.hard:
        print(f"\nwhere exact search does not finish (hybrid, vck190, batch 16, {limit:g} s each)\n")
        print("| case | strategy | status | objective | bound | start | s | lns verdict |")
        print("|---|---|---|---|---|---|---|---|")
    for label in filter(None, args.hard.split(",")):
        rows = _hard(label, _hard_problem(label, folder), [n for n in args.others.split(",") if n], limit)
        hard_rows += rows
        for r in rows:
            verdict = r.get("verdict", "")
            if verdict:
                verdict += f" (best other {r['best_other']:.6g}, gap {100 * r['gap_to_best_other']:.4f} %)"
            print(f"| {label} | {r['strategy']} | {r['status'] or r['note']} | {_fmt(r['objective'], '.6g')} | "
                  f"{_fmt(r['bound'], '.6g')} | {_fmt(r['start'], '.6g')} | {r['solve_s']:.1f} | {verdict} |", flush=True)

    within = [r for r in optimum_rows if r["gap_to_optimum"] is not None]
    if within:
        worst = max(within, key=lambda r: r["gap_to_optimum"])
        print(f"\nlns within 1 % of the proven optimum: {sum(r['gap_to_optimum'] <= 0.01 for r in within)} of "
              f"{len(within)} cases with a proven optimum; worst {100 * worst['gap_to_optimum']:.4f} % "
              f"({worst['case']} {worst['execution']})")
    seeded = [r for r in optimum_rows if r.get("from_contiguous_gap") is not None]
    if seeded:
        print(f"lns from the contiguous heuristic within 1 %: {sum(r['from_contiguous_gap'] <= 0.01 for r in seeded)} "
              f"of {len(seeded)}; at the optimum: {sum(r['from_contiguous_gap'] <= TIE for r in seeded)}")
    meta = {"machine": platform.platform(), "python": platform.python_version(), "time_limit_s": limit}
    write_atomic(args.out, json.dumps({"meta": meta, "versus_optimum": optimum_rows, "percent_of_optimum": percent_rows,
                                       "hard": hard_rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
