"""Optuna search spaces, one per plan form: how trial parameters map to a plan's groups and back.

A space samples a plan (:meth:`suggest`), gives the parameters of a known plan (:meth:`params`, for warm
starts), the trial's constraint values (:meth:`constraints`, <= 0 when met) and the first plan of a new
search (:meth:`warm`). :data:`SPACES` declares the space of each form Optuna searches; the strategies
``optuna-tpe`` and ``optuna-nsga2`` cover exactly those forms (:mod:`accelplan.solvers.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from ..execution import Form, Metrics
from ..execution.devices import RESOURCES as DEVICE_RESOURCES
from ..execution.devices import DeviceGroup, block_options
from ..execution.devices import loads as device_loads
from ..execution.pipeline import PipelineGroup
from ..execution.segments import SegmentGroup, segment_rules, segment_use
from ..plan import Groups
from ..problem import Problem
from .contiguous import best_contiguous


def bound_values(problem: Problem, met: Metrics) -> dict[str, float]:
    """The latency bound and throughput_min as constraint values (<= 0 when met)."""
    values = {}
    if problem.latency_max_s is not None:
        values["latency_max"] = met.latency_s / problem.latency_max_s - 1.0
    if problem.throughput_min is not None:
        values["throughput_min"] = problem.throughput_min * met.period_s - 1.0
    return values


@dataclass(frozen=True)
class SearchSpace:
    """The space of one problem's plans as Optuna parameters (subclasses: one per plan form)."""

    problem: Problem

    def suggest(self, trial: optuna.Trial) -> Groups:
        """Sample a plan's groups from ``trial``."""
        raise NotImplementedError

    def params(self, groups: Groups) -> dict[str, Any]:
        """The parameters that :meth:`suggest` turns into ``groups`` (groups sorted by first layer)."""
        raise NotImplementedError

    def budget_values(self, groups: Groups) -> dict[str, float]:
        """Each budget's use over its capacity, less 1."""
        raise NotImplementedError

    def warm(self) -> Groups | None:
        """The first trial of a new search."""
        raise NotImplementedError

    def constraints(self, groups: Groups, met: Metrics) -> dict[str, float]:
        """Optuna constraint values (<= 0 when met), by name: each budget, the latency bound, throughput_min
        (``met``: the groups' metrics, priced once per trial by the caller)."""
        return self.budget_values(groups) | bound_values(self.problem, met)


class PipelineSpace(SearchSpace):
    """``cfg{a}``: the configuration of accelerator slot ``a``; layers in any order: ``slot{l}``, the slot that runs
    layer ``l``; contiguous groups: ``cut{a}``, sorted cut points of the chain; one slot: it runs every layer."""

    def suggest(self, trial: optuna.Trial) -> Groups:
        p = self.problem
        slots = p.accelerator_slots
        cfg = [trial.suggest_categorical(f"cfg{a}", list(range(p.n_configs))) for a in range(slots)]
        if slots == 1:
            groups = [(cfg[0], tuple(range(p.n_layers)))]
        elif not p.execution.contiguous:
            owner = [trial.suggest_categorical(f"slot{l}", list(range(slots))) for l in range(p.n_layers)]
            groups = [(cfg[a], tuple(l for l in range(p.n_layers) if owner[l] == a)) for a in range(slots)]
        else:
            cuts = sorted(trial.suggest_int(f"cut{a}", 0, p.n_layers) for a in range(1, slots))
            bounds = [0, *cuts, p.n_layers]
            groups = [(cfg[a], tuple(range(bounds[a], bounds[a + 1]))) for a in range(slots)]
        return tuple(PipelineGroup(c, ls) for c, ls in groups if ls)

    def params(self, groups: Groups) -> dict[str, Any]:
        p = self.problem
        slots = p.accelerator_slots
        out: dict[str, Any] = {f"cfg{a}": (groups[a][0] if a < len(groups) else groups[0][0]) for a in range(slots)}
        if slots == 1:
            return out
        if not p.execution.contiguous:
            return out | {f"slot{l}": a for a, (_, ls) in enumerate(groups) for l in ls}
        ends = [ls[-1] + 1 for _, ls in groups[:-1]]
        ends += [p.n_layers] * (slots - 1 - len(ends))
        return out | {f"cut{a + 1}": e for a, e in enumerate(ends)}

    def budget_values(self, groups: Groups) -> dict[str, float]:
        p = self.problem
        use = sum((p.usage[c] for c, _ in groups), np.zeros(len(p.resources)))
        return {name: float(u / cap - 1.0) for name, u, cap in zip(p.resources, use, p.capacity)}

    def warm(self) -> Groups | None:
        """The contiguous heuristic's plan."""
        found = best_contiguous(self.problem)
        return found.groups if found is not None else None


class SegmentSpace(SearchSpace):
    """``cut{l}`` before each layer ``l > 0`` (0: same cluster, 1: a new cluster, 2: a new segment; the execution
    model narrows the choices) and ``cfg@{l}``, the size of the cluster that starts at layer ``l`` (define-by-run)."""

    def _cut_choices(self) -> list[int]:
        ex = self.problem.execution
        return [0, 2] if ex.single else [1, 2] if ex.one_layer else [0, 1, 2]

    def suggest(self, trial: optuna.Trial) -> Groups:
        p = self.problem
        _, allowed, _ = segment_rules(p)
        groups, start, segment = [], 0, 0
        for l in range(1, p.n_layers + 1):
            cut = 2 if l == p.n_layers else trial.suggest_categorical(f"cut{l}", self._cut_choices())
            if cut:
                groups.append(SegmentGroup(trial.suggest_categorical(f"cfg@{start}", allowed), tuple(range(start, l)),
                                           segment))
                start, segment = l, segment + (cut == 2)
        return tuple(groups)

    def params(self, groups: Groups) -> dict[str, Any]:
        firsts = {ls[0]: (c, s) for c, ls, s in groups}  # cluster starts: configuration, segment
        out: dict[str, Any] = {f"cfg@{l}": c for l, (c, _) in firsts.items()}
        prev = 0
        for l in range(1, self.problem.n_layers):
            segment = firsts[l][1] if l in firsts else None
            out[f"cut{l}"] = 0 if segment is None else (2 if segment != prev else 1)
            prev = prev if segment is None else segment
        return out

    def budget_values(self, groups: Groups) -> dict[str, float]:
        """The package's chiplets and the cluster limit bound each segment."""
        use = segment_use(self.problem, groups).values()
        return {"chiplets": max(u for u, _ in use) / self.problem.segments.chiplets - 1.0,
                "clusters": max(k for _, k in use) / segment_rules(self.problem)[2] - 1.0}

    def warm(self) -> Groups:
        """Every layer on the whole package: one segment, or one per layer when each cluster runs one layer."""
        p = self.problem
        full = max(segment_rules(p)[1], key=lambda c: p.configs[c].units)
        if p.execution.one_layer:
            return tuple(SegmentGroup(full, (l,), l) for l in range(p.n_layers))
        return (SegmentGroup(full, tuple(range(p.n_layers)), 0),)


class DeviceSpace(SearchSpace):
    """``par{l}``: the block configuration of layer ``l``; ``cut{l}``: 1 when layer ``l`` starts the next device
    (asked only while a device is left)."""

    def _block_options(self) -> list[list[int]]:
        if not hasattr(self, "_options"):
            object.__setattr__(self, "_options", [block_options(self.problem, l) for l in range(self.problem.n_layers)])
        return self._options

    def suggest(self, trial: optuna.Trial) -> Groups:
        p, options = self.problem, self._block_options()
        devices = p.accelerator_slots
        configs = [trial.suggest_categorical(f"par{l}", options[l]) for l in range(p.n_layers)]
        groups, start = [], 0
        for l in range(1, p.n_layers + 1):
            cut = l == p.n_layers or (len(groups) < devices - 1 and trial.suggest_categorical(f"cut{l}", [0, 1]) == 1)
            if cut:
                groups.append(DeviceGroup(len(groups), tuple(range(start, l)), tuple(configs[start:l])))
                start = l
        return tuple(groups)

    def params(self, groups: Groups) -> dict[str, Any]:
        starts = {g.layers[0] for g in groups}
        out = {f"par{l}": c for g in groups for l, c in zip(g.layers, g.configs)}
        return out | {f"cut{l}": int(l in starts) for l in range(1, self.problem.n_layers)}

    def budget_values(self, groups: Groups) -> dict[str, float]:
        """Each device's budgets and off-chip memory, the fullest device's."""
        t, loads = self.problem.devices, device_loads(self.problem, groups)
        values = {name: max(load.use[r] / t.capacity[load.kind, r] for load in loads) - 1.0
                  for r, name in enumerate(DEVICE_RESOURCES)}
        values["off-chip bytes"] = max(load.offchip_bytes / t.memory_capacity[load.kind] for load in loads) - 1.0
        return values

    def warm(self) -> Groups:
        """The layers spread evenly over the devices (at most one per layer), fewest lanes, weights streamed."""
        p = self.problem
        devices = min(p.accelerator_slots, p.n_layers)
        bounds = [round(i * p.n_layers / devices) for i in range(devices + 1)]
        t = p.devices

        def frugal(l: int) -> int:
            options = block_options(p, l)
            streamed = [c for c in options if not t.onchip[c]] or options
            return min(streamed, key=lambda c: p.configs[c].lanes)
        return tuple(DeviceGroup(d, tuple(range(bounds[d], bounds[d + 1])),
                                 tuple(frugal(l) for l in range(bounds[d], bounds[d + 1]))) for d in range(devices))


#: the search space of each plan form Optuna searches
SPACES: dict[Form, type[SearchSpace]] = {
    Form.PIPELINE: PipelineSpace,
    Form.SEGMENTS: SegmentSpace,
    Form.DEVICES: DeviceSpace,
}


def search_space(problem: Problem) -> SearchSpace:
    """The search space of ``problem``'s plan form."""
    return SPACES[problem.execution.form](problem)
