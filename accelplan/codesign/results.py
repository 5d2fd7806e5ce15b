"""A co-design study's trials as rows, its Pareto front of hardware candidates and Optuna's parameter importances."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from ..dominance import pareto_min
from .spec import METRICS, Codesign


@dataclass(frozen=True)
class TrialRow:
    """One trial: its parameters (as sampled: labels for choices), state, metrics and the facts of its solve."""

    number: int
    state: str  # complete | pruned | fail | running
    params: dict[str, Any]
    metrics: dict[str, float]
    status: str
    bound: float | None
    violation: float
    message: str
    solve_s: float
    cached: bool
    key: str | None

    @property
    def feasible(self) -> bool:
        return self.state == "complete" and self.violation <= 1e-12

    def value(self, metric: str) -> float | None:
        return self.metrics.get(metric)


def rows(study: optuna.Study) -> list[TrialRow]:
    """Every finished or failed trial of the study, by number."""
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.WAITING,):
            continue
        a = t.user_attrs
        out.append(TrialRow(t.number, t.state.name.lower(), dict(t.params),
                            {k[2:]: float(v) for k, v in a.items() if k.startswith("m:") and v is not None},
                            a.get("status", t.state.name.lower()), a.get("bound"), float(a.get("violation", 1.0)),
                            a.get("message", ""), float(a.get("solve_s", 0.0)), bool(a.get("cached", False)),
                            a.get("key")))
    return out


def signed(codesign: Codesign, row: TrialRow) -> list[float]:
    """The row's objectives, each to be minimised (a maximised one negated)."""
    return [-row.metrics[g.metric] if g.maximize else row.metrics[g.metric] for g in codesign.goals]


def front(codesign: Codesign, all_rows: list[TrialRow]) -> list[TrialRow]:
    """The feasible rows no other feasible row beats or ties on every objective (the first of equal ones), by the first
    objective then the second."""
    candidates = [r for r in all_rows if r.feasible and all(g.metric in r.metrics for g in codesign.goals)]
    if not candidates:
        return []
    keep = pareto_min(np.array([signed(codesign, r) for r in candidates], dtype=float))
    return sorted((candidates[i] for i in keep), key=lambda r: signed(codesign, r))


def best(codesign: Codesign, all_rows: list[TrialRow]) -> TrialRow | None:
    """The feasible row best on the first objective, ties broken by the next ones (lexicographic)."""
    found = front(codesign, all_rows)
    return found[0] if found else None


def importances(codesign: Codesign, study: optuna.Study) -> dict[str, dict[str, float]]:
    """Per objective, Optuna's parameter importances (fANOVA, or PED-ANOVA without scikit-learn) over the complete feasible trials; empty when too few
    trials or parameters vary."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("violation", 1.0) <= 1e-12]
    out: dict[str, dict[str, float]] = {}
    if len(trials) < 3:
        return out
    names = [p.name for p in codesign.parameters if len({_key(t.params.get(p.name)) for t in trials}) > 1]
    if not names:
        return out
    trials = [t for t in trials if all(n in t.params for n in names)]
    for i, g in enumerate(codesign.goals):
        view = optuna.create_study(direction=g.direction)  # one objective at a time: the evaluator reads its direction
        view.add_trials([optuna.trial.create_trial(params={n: t.params[n] for n in names},
                                                   distributions={n: t.distributions[n] for n in names},
                                                   value=t.values[i]) for t in trials])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                found = optuna.importance.get_param_importances(view, params=names, evaluator=_evaluator())
            except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial had the same value
                continue
        out[g.metric] = {k: float(v) for k, v in found.items()}
    return out


def _evaluator() -> Any:
    """fANOVA (Optuna's default) where scikit-learn is installed, else PED-ANOVA (numpy only)."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return optuna.importance.PedAnovaImportanceEvaluator()
    return optuna.importance.FanovaImportanceEvaluator(seed=0)


def _key(value: Any) -> Any:
    return repr(value)


def metric_unit(metric: str) -> str:
    return METRICS[metric][1]
