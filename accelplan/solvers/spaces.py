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
from scipy.optimize import linprog  # here, not in a trial: its import takes a second (a trial takes milliseconds)

from ..execution import Form, Metrics
from ..execution.devices import RESOURCES as DEVICE_RESOURCES
from ..execution.devices import DeviceGroup, block_options
from ..execution.devices import loads as device_loads
from ..execution.pipeline import PipelineGroup
from ..execution.segments import SegmentGroup, cluster_tables, segment_rules, segment_use
from ..plan import Groups
from ..problem import Problem
from .contiguous import best_candidate, best_contiguous


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


# --- plan spaces: every sampled point is a plan within the budgets (issue 27, item 3) ---------------------------

def _ranked(problem: Problem, configs: list[int]) -> list[int]:
    """``configs`` from the smallest to the largest: by the largest share of a budget they take, then the sum."""
    share = problem.usage / np.where(problem.capacity > 0, problem.capacity, 1.0)
    return sorted(configs, key=lambda c: (float(share[c].max()), float(share[c].sum()), c))


def _useful(problem: Problem) -> list[int]:
    """The configurations that are the best of their size on some layer: on the front of (largest budget share,
    the layer's time) or (largest budget share, the layer's energy) of some layer (each distinct layer once). A
    configuration off every front is no faster and no leaner on any layer than a smaller one."""
    share = (problem.usage / np.where(problem.capacity > 0, problem.capacity, 1.0)).max(axis=1)
    keep: set[int] = set()
    for table in (problem.time_s, problem.energy_j):
        for row in np.unique(table, axis=0):
            best = np.inf
            for c in np.lexsort((row, share)):
                if row[c] < best:
                    keep.add(int(c))
                    best = row[c]
    return sorted(keep)


class PlanPipelineSpace(PipelineSpace):
    """A pipeline plan as ``n`` (accelerators), ``size{a}`` (accelerator ``a``'s configuration: an index into the
    useful configurations, :func:`_useful`, ranked from the smallest to the largest budget share, :func:`_ranked`) and, on contiguous
    execution models, ``cut{a}`` (fractions of the chain's cumulative work where accelerator ``a`` starts). The
    decoder repairs the configurations to the budgets (the accelerator with the largest use of the most
    overdrawn budget takes the next smaller configuration; with none smaller, the accelerator is dropped), then
    gives the layers to the accelerators: consecutive runs at the cut points, or, in any order, the longest layer
    first to the accelerator that would finish it first, then moves off the busiest accelerator while they shorten
    the period. So every point is within the budgets; the latency bound and throughput_min stay constraints.
    A warm trial (``user_attrs["warm"]``) evaluates the plan it encodes as given."""

    def _tables(self) -> tuple[list[int], np.ndarray, np.ndarray]:
        if not hasattr(self, "_cache"):
            p = self.problem
            ranked = _ranked(p, _useful(p))
            work = p.time_s.min(axis=1)
            cum = np.concatenate([[0.0], np.cumsum(work)]) / max(float(work.sum()), 1e-30)
            object.__setattr__(self, "_cache", (ranked, cum, p.usage / np.where(p.capacity > 0, p.capacity, 1.0)))
        return self._cache

    def suggest(self, trial: optuna.Trial) -> Groups:
        p = self.problem
        ranked, _, _ = self._tables()
        slots = p.accelerator_slots
        n = trial.suggest_int("n", 1, slots) if slots > 1 else 1
        sizes = [trial.suggest_int(f"size{a}", 0, len(ranked) - 1) for a in range(slots)]
        cuts = [trial.suggest_float(f"cut{a}", 0.0, 1.0) for a in range(1, slots)] \
            if p.execution.contiguous and slots > 1 else []
        warm = trial.user_attrs.get("warm") if hasattr(trial, "user_attrs") else None
        if warm:
            return tuple(PipelineGroup(int(c), tuple(int(l) for l in ls)) for c, ls in warm)
        return self.decode(n, sizes[:n], sorted(cuts[:n - 1]))

    def decode(self, n: int, sizes: list[int], cuts: list[float]) -> Groups:
        """The plan of ``n`` accelerators of those sizes (indices into the ranking), repaired to the budgets."""
        p = self.problem
        ranked, cum, share = self._tables()
        sizes = self._repair(list(sizes), share, ranked)
        configs = [ranked[s] for s in sizes]
        if p.execution.contiguous:
            cut_layers = [int(np.searchsorted(cum, f, side="left")) for f in cuts[:max(len(configs) - 1, 0)]]
            bounds = [0, *[min(max(c, 0), p.n_layers) for c in cut_layers], p.n_layers]
            bounds = [0, *sorted(bounds[1:-1]), p.n_layers]
            groups = [(configs[a], tuple(range(bounds[a], bounds[a + 1]))) for a in range(len(configs))]
            if p.objective != "energy":  # the budgets left: each time to the busiest accelerator, while it gets faster
                configs = [c for c, ls in groups if ls]
                runs = [np.asarray(ls, dtype=int) for _, ls in groups if ls]
                for _ in range(2 * len(configs)):
                    load = [float(p.time_s[ls, c].sum()) for c, ls in zip(configs, runs)]
                    b = int(np.argmax(load))
                    faster = self._faster(configs, b, runs[b], load[b])
                    if faster is None:
                        break
                    configs[b] = faster
                groups = [(c, tuple(int(l) for l in ls)) for c, ls in zip(configs, runs)]
        else:
            groups = self._assign(configs)
        return tuple(sorted((PipelineGroup(c, ls) for c, ls in groups if ls), key=lambda g: g.layers[0]))

    def _repair(self, sizes: list[int], share: np.ndarray, ranked: list[int]) -> list[int]:
        while sizes:
            use = sum(share[ranked[s]] for s in sizes)
            r = int(np.argmax(use))
            if use[r] <= 1.0 + 1e-12:
                return sizes
            order = sorted(range(len(sizes)), key=lambda a: -share[ranked[sizes[a]], r])
            for a in order:
                now = share[ranked[sizes[a]], r]
                smaller = [s for s in range(sizes[a] - 1, -1, -1) if share[ranked[s], r] < now]
                if smaller:
                    sizes[a] = smaller[0]
                    break
            else:
                sizes.pop(order[0])
        return sizes

    def _assign(self, configs: list[int]) -> list[tuple[int, tuple[int, ...]]]:
        """Layers in any order: the assignment LP's (least period, layers split among accelerators), each layer to
        the accelerator with its largest share, then moves off the busiest accelerator while one shortens the
        period."""
        p = self.problem
        n = len(configs)
        t = p.time_s[:, configs]  # (L, n)
        owner = self._lp_owner(t) if n > 1 else np.zeros(p.n_layers, dtype=int)
        owner = self._moves(t, owner)
        if p.objective != "energy":  # the budgets left: each time to the busiest accelerator, while it gets faster
            for _ in range(2 * n):
                load = np.array([t[owner == a, a].sum() for a in range(n)])
                b = int(np.argmax(load))
                faster = self._faster(configs, b, np.flatnonzero(owner == b), float(load[b]))
                if faster is None:
                    break
                configs[b] = faster
                t[:, b] = p.time_s[:, faster]
                owner = self._moves(t, owner)
        return [(c, tuple(int(l) for l in np.flatnonzero(owner == a))) for a, c in enumerate(configs)]

    def _faster(self, configs: list[int], b: int, layers: np.ndarray, busy: float) -> int | None:
        """The useful configuration that runs ``layers`` fastest within what the other accelerators leave of the
        budgets, when it beats ``busy`` (accelerator ``b``'s time on them now); else None."""
        ranked, _, share = self._tables()
        left = 1.0 - sum((share[c] for i, c in enumerate(configs) if i != b), np.zeros(share.shape[1]))
        useful = np.asarray(ranked)
        fit = useful[(share[useful] <= left[None, :] + 1e-12).all(axis=1)]
        if not len(fit) or not len(layers):
            return None
        times = self.problem.time_s[layers][:, fit].sum(axis=0)
        j = int(np.argmin(times))
        return int(fit[j]) if times[j] < busy * (1 - 1e-9) else None

    def _moves(self, t: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """Moves of one layer off the busiest accelerator while one shortens the period."""
        n = t.shape[1]
        load = np.array([t[owner == a, a].sum() for a in range(n)])
        for _ in range(4 * t.shape[0]):
            b = int(np.argmax(load))
            mine = np.flatnonzero(owner == b)
            # the move of one of b's layers to another accelerator that leaves the pair's larger load least
            after = np.maximum(load[b] - t[mine, b][:, None], load[None, :] + t[mine])  # (layers of b, n)
            after[:, b] = np.inf
            if not np.isfinite(after).any():
                break
            i, a = np.unravel_index(int(np.argmin(after)), after.shape)
            if after[i, a] >= load[b] * (1 - 1e-12):
                break
            l = mine[i]
            owner[l] = a
            load[b] -= t[l, b]
            load[a] += t[l, a]
        return owner

    @staticmethod
    def _lp_owner(t: np.ndarray) -> np.ndarray:
        """Each layer's accelerator: its largest share in the LP min T s.t. sum_a x[l, a] = 1,
        sum_l t[l, a] x[l, a] <= T (x >= 0); the longest-first greedy when the LP fails."""
        n_l, n = t.shape
        scale = float(t.max()) or 1.0
        ts = t / scale
        c = np.zeros(n_l * n + 1)
        c[-1] = 1.0
        a_eq = np.zeros((n_l, n_l * n + 1))
        for l in range(n_l):
            a_eq[l, l * n:(l + 1) * n] = 1.0
        a_ub = np.zeros((n, n_l * n + 1))
        for a in range(n):
            a_ub[a, a:n_l * n:n] = ts[:, a]
        a_ub[:, -1] = -1.0
        res = linprog(c, A_ub=a_ub, b_ub=np.zeros(n), A_eq=a_eq, b_eq=np.ones(n_l), bounds=(0, None), method="highs")
        if res.status == 0:
            return np.argmax(res.x[:-1].reshape(n_l, n), axis=1)
        load = np.zeros(n)
        owner = np.empty(n_l, dtype=int)
        for l in np.argsort(-t.min(axis=1), kind="stable"):
            owner[l] = a = int(np.argmin(load + t[l]))
            load[a] += t[l, a]
        return owner

    def params(self, groups: Groups) -> dict[str, Any]:
        p = self.problem
        ranked, cum, _ = self._tables()
        slots = p.accelerator_slots
        groups = sorted(groups, key=lambda g: g[1][0])
        index = {c: i for i, c in enumerate(ranked)}
        out: dict[str, Any] = {"n": len(groups)} if slots > 1 else {}
        sizes = [index[c] if c in index else self._nearest(c) for c, _ in groups]
        out |= {f"size{a}": (sizes[a] if a < len(sizes) else sizes[0]) for a in range(slots)}
        if p.execution.contiguous and slots > 1:
            starts = [g[1][0] for g in groups[1:]]
            # the middle of the cut's step in cumulative work, so the cut decodes to the same layer
            fr = [float((cum[s - 1] + cum[s]) / 2) if s > 0 else 0.0 for s in starts]
            fr += [1.0] * (slots - 1 - len(fr))
            out |= {f"cut{a + 1}": f for a, f in enumerate(fr)}
        return out


    def _nearest(self, config: int) -> int:
        """The ranking index of a configuration off the useful list: the largest useful one that takes no larger a
        share of any budget (else the smallest)."""
        ranked, _, share = self._tables()
        within = [i for i, c in enumerate(ranked) if (share[c] <= share[config] + 1e-12).all()]
        return within[-1] if within else 0


class PlanSegmentSpace(SegmentSpace):
    """A segment plan as ``segments`` (how many), ``seg{i}`` (fractions of the chain's cumulative work where
    segment ``i`` starts) and ``k{i}`` (clusters of segment ``i``). The decoder cuts each segment into ``k``
    clusters and sizes them: every cluster starts on the smallest allowed configuration, the slowest cluster
    takes the next larger one while the package's chiplets allow, and the cluster cuts are rebalanced to the
    sizes (a few rounds). Every point keeps to the chiplets and the cluster limit.
    A warm trial (``user_attrs["warm"]``) evaluates the plan it encodes as given."""

    MAX_SEGMENTS = 24

    def _tables(self) -> tuple[list[int], np.ndarray, np.ndarray, int, int]:
        if not hasattr(self, "_cache"):
            p = self.problem
            max_len, allowed, max_clusters = segment_rules(p)
            allowed = sorted(allowed, key=lambda c: (p.configs[c].units, c))
            work = p.time_s[:, allowed].min(axis=1)
            cum = np.concatenate([[0.0], np.cumsum(work)]) / max(float(work.sum()), 1e-30)
            prefix = np.vstack([np.zeros(p.time_s.shape[1]), np.cumsum(p.time_s, axis=0)])
            object.__setattr__(self, "_cache", (allowed, cum, prefix, max_len, max_clusters))
        return self._cache

    def _most_segments(self) -> int:
        return min(self.problem.n_layers, self.MAX_SEGMENTS)

    def _most_clusters(self) -> int:
        p = self.problem
        allowed, _, _, max_len, max_clusters = self._tables()
        smallest = p.configs[allowed[0]].units
        return max(1, min(max_clusters, p.segments.chiplets // max(smallest, 1), 8))

    def suggest(self, trial: optuna.Trial) -> Groups:
        most = self._most_segments()
        s = trial.suggest_int("segments", 1, most) if most > 1 else 1
        fr = [trial.suggest_float(f"seg{i}", 0.0, 1.0) for i in range(1, most)]
        ks = [trial.suggest_int(f"k{i}", 1, self._most_clusters()) for i in range(most)]
        warm = trial.user_attrs.get("warm") if hasattr(trial, "user_attrs") else None
        if warm:
            return tuple(SegmentGroup(int(c), tuple(int(l) for l in ls), int(sg)) for c, ls, sg in warm)
        return self.decode(sorted(fr[:s - 1]), ks[:s])

    def decode(self, fractions: list[float], ks: list[int]) -> Groups:
        p = self.problem
        allowed, cum, _, max_len, _ = self._tables()
        n = p.n_layers
        starts = sorted({min(max(int(np.searchsorted(cum, f, side="left")), 1), n - 1) for f in fractions} - {0}) \
            if n > 1 else []
        bounds = [0, *starts, n]
        groups: list[SegmentGroup] = []
        seg = 0
        for i in range(len(bounds) - 1):
            lo, hi = bounds[i], bounds[i + 1]
            k = ks[min(i, len(ks) - 1)]
            for chunk in self._chunks(lo, hi, k, max_len):
                clusters = self._clusters(chunk[0], chunk[1], chunk[2])
                groups += [SegmentGroup(c, ls, seg) for c, ls in clusters]
                seg += 1
        return tuple(groups)

    def _chunks(self, lo: int, hi: int, k: int, max_len: int) -> list[tuple[int, int, int]]:
        """The run lo..hi as segments of at most ``k`` clusters each (one layer per cluster when ``max_len`` is 1)."""
        if max_len >= hi - lo:
            return [(lo, hi, max(1, min(k, hi - lo)))]
        return [(a, min(a + k, hi), min(a + k, hi) - a) for a in range(lo, hi, k)]

    def _costs(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """A cluster of layers ``start..end-1`` on each allowed configuration: its time per input ``T_c`` (the
        layers' times when the weights fit the chiplets, else their streamed times) and its once-per-batch weight
        load ``O_c``, in seconds (the segment model's prices, :func:`~accelplan.execution.segments.cluster_costs`)."""
        memo = self._memo()
        key = (start, end)
        if key not in memo:
            p = self.problem
            allowed = self._tables()[0]
            t, ct = p.segments, self._cluster_tables()
            sel = np.asarray(allowed)
            buffer = t.sram_buffer_bytes[start:end][:, sel].max(axis=0)
            fits = ct.sram_weight[end, sel] - ct.sram_weight[start, sel] + buffer <= t.sram_bytes * (1 + 1e-12)
            time_c = np.where(fits, ct.time[end, sel] - ct.time[start, sel], ct.streamed[end, sel] - ct.streamed[start, sel])
            once = np.where(fits, (ct.weight[end] - ct.weight[start]) / t.dram_bandwidth, 0.0)
            memo[key] = (time_c, once)
        return memo[key]

    def _memo(self) -> dict:
        if not hasattr(self, "_memo_d"):
            object.__setattr__(self, "_memo_d", {})
        return self._memo_d

    def _cluster_tables(self):  # noqa: ANN202 - segments.ClusterTables
        if not hasattr(self, "_ct"):
            object.__setattr__(self, "_ct", cluster_tables(self.problem))
        return self._ct

    def _clusters(self, lo: int, hi: int, k: int) -> list[tuple[int, tuple[int, ...]]]:
        p = self.problem
        allowed, cum, prefix, max_len, _ = self._tables()
        units = np.array([p.configs[c].units for c in allowed])
        chips = p.segments.chiplets
        k = max(1, min(k, hi - lo, chips // max(int(units[0]), 1)))
        if max_len < hi - lo:  # one layer per cluster
            cuts = list(range(lo, hi + 1))
        else:  # equal cumulative work first
            w = cum[lo:hi + 1]
            cuts = [lo] + [lo + int(np.clip(np.searchsorted(w, w[0] + j * (w[-1] - w[0]) / k), j, hi - lo - (k - j)))
                           for j in range(1, k)] + [hi]
            cuts = sorted(set(cuts)) if len(set(cuts)) == k + 1 else [lo + j * (hi - lo) // k for j in range(k)] + [hi]
        memo = self._memo()
        key = ("clusters", lo, hi, k)
        if key in memo:
            return memo[key]
        size, value = self._sizes(cuts, units, chips)
        if max_len >= hi - lo and k > 1:  # each cut moved to its best place, the others kept (two rounds)
            for _ in range(2):
                moved = False
                for j in range(1, k):
                    for at in range(cuts[j - 1] + 1, cuts[j + 1]):
                        if at != cuts[j]:
                            trial = cuts[:j] + [at] + cuts[j + 1:]
                            s2, v2 = self._sizes(trial, units, chips, spend=False)
                            if v2 < value * (1 - 1e-12):
                                cuts, size, value, moved = trial, s2, v2, True
                if not moved:
                    break
            size, value = self._sizes(cuts, units, chips)
        memo[key] = out = [(allowed[size[j]], tuple(range(cuts[j], cuts[j + 1]))) for j in range(len(size))]
        return out

    def _sizes(self, cuts: list[int], units: np.ndarray, chips: int, spend: bool = True) -> tuple[list[int], float]:
        """Each cluster's configuration (index into the allowed ones) for the least segment time
        ``sum T + (b - 1) max T + sum O`` within the package: for each pace ``M`` (a cluster time), each cluster
        takes the fewest chiplets that meet it; the chiplets left then go, one step at a time, where they save
        the most."""
        k = len(cuts) - 1
        b = self.problem.batch
        costs = [self._costs(cuts[j], cuts[j + 1]) for j in range(k)]
        tj = np.array([c[0] for c in costs])  # (k, C)
        oj = np.array([c[1] for c in costs])
        paces = np.unique(tj)
        ok = tj[None, :, :] <= paces[:, None, None] * (1 + 1e-12)  # (paces, k, C); configurations by units, ascending
        first = ok.argmax(axis=2)  # the fewest chiplets that meet each pace
        valid = ok.any(axis=2).all(axis=1) & (units[first].sum(axis=1) <= chips)
        if not valid.any():
            return [0] * k, float(tj[:, 0].sum() + (b - 1) * tj[:, 0].max() + oj[:, 0].sum())
        rows = np.arange(k)
        t_pick = tj[rows[None, :], first]
        values = t_pick.sum(axis=1) + (b - 1) * t_pick.max(axis=1) + oj[rows[None, :], first].sum(axis=1)
        values = np.where(valid, values, np.inf)
        i = int(np.argmin(values))
        best_value, best = float(values[i]), [int(x) for x in first[i]]
        if not spend:
            return best, best_value
        while True:  # spend the chiplets left
            used = sum(int(units[i]) for i in best)
            step = None
            for j in range(k):
                for i in range(len(units)):
                    if units[i] > units[best[j]] and used - units[best[j]] + units[i] <= chips:
                        trial = list(best)
                        trial[j] = i
                        v = float(tj[range(k), trial].sum() + (b - 1) * tj[range(k), trial].max()
                                  + oj[range(k), trial].sum())
                        if v < best_value * (1 - 1e-12) and (step is None or v < step[0]):
                            step = (v, trial)
            if step is None:
                return best, best_value
            best_value, best = step

    def params(self, groups: Groups) -> dict[str, Any]:
        most = self._most_segments()
        _, cum, _, _, _ = self._tables()
        groups = sorted(groups, key=lambda g: g[1][0])
        segs: dict[int, list] = {}
        for g in groups:
            segs.setdefault(g[2], []).append(g)
        order = sorted(segs)
        starts = [segs[s][0][1][0] for s in order][1:]
        out: dict[str, Any] = {"segments": min(len(order), most)} if most > 1 else {}
        fr = [float((cum[x - 1] + cum[x]) / 2) for x in starts][:most - 1]
        fr += [1.0] * (most - 1 - len(fr))
        out |= {f"seg{i + 1}": f for i, f in enumerate(fr)}
        ks = [min(len(segs[s]), self._most_clusters()) for s in order][:most]
        ks += [1] * (most - len(ks))
        return out | {f"k{i}": k for i, k in enumerate(ks)}

    def warm(self) -> Groups:
        """The best plan the decoder makes of an even split into ``S`` segments of ``k`` clusters each (every ``S``
        and ``k`` <= 2), or the base space's warm plan (every layer on the whole package) when that is better: a
        quick heuristic, no exact strategy."""
        most = self._most_segments()
        plans = [super().warm()]
        for s in range(1, most + 1):
            for k in range(1, min(2, self._most_clusters()) + 1):
                plans.append(self.decode([i / s for i in range(1, s)], [k] * s))
        best = best_candidate(self.problem, plans)
        return best.groups if best is not None else plans[0]


#: the plan spaces the searches use: every sampled point within the budgets (the spaces above, :data:`SPACES`,
#: map every plan one to one, for round trips)
PLAN_SPACES: dict[Form, type[SearchSpace]] = {
    Form.PIPELINE: PlanPipelineSpace,
    Form.SEGMENTS: PlanSegmentSpace,
    Form.DEVICES: DeviceSpace,
}


def plan_space(problem: Problem) -> SearchSpace:
    """The plan space of ``problem``'s plan form (what ``optuna-tpe`` and ``optuna-nsga2`` sample)."""
    return PLAN_SPACES[problem.execution.form](problem)
