"""Exact dynamic programming over segment and cluster cut points on a chiplet package (``family: mcm``).

A plan is a walk along the layer chain: at every cut point either a cluster ends (the next one
starts in the same segment) or a segment ends too. The objective (:mod:`accelplan.execution.segments`) is
separable except for each segment's ``w * (b - 1) * max_c T_c``, so a label at cut point ``p``
of an open segment needs only

- ``V``: everything already paid (closed segments, and the open segment's ``X_c + w * T_c``),
- ``U``: chiplets the open segment's clusters hold,
- ``M``: its slowest cluster so far (and, when a cluster limit binds, ``K``: its cluster count).

Label B beats label A at the same cut point when ``V_B <= V_A``, ``V_B + w(b-1)M_B <= V_A + w(b-1)M_A``
(it would close no dearer) and ``U_B <= U_A``: whatever the rest of A's segment adds, B can add too
and pay at most the same (on energy ``U`` must be equal, since where a cluster sits after ``U``
chiplets prices its weights' hops from DRAM). Beaten labels are dropped - with ``U`` few integers
this is a staircase sweep per ``U`` (:func:`accelplan.dominance.pareto_min_counted`). When
the open segment closes at ``p`` it costs ``V + w * (b - 1) * M``, and the cheapest closing at
``p`` seeds one fresh segment there, so segment cut points are the outer DP
``best[j] = min_i best[i] + segment(i, j)`` with every segment priced by one shared label pass.
Labels whose lower bound exceeds a known plan are dropped: ``V + w (b-1) max(M, (P + work) / N)``
plus, per remaining layer, its fastest time and its weights' DRAM cost, where ``P`` is the open
segment's chiplet-seconds and ``work`` the remaining layers' least chiplet-seconds (a segment's
slowest cluster is at least its chiplet-seconds over the N chiplets). The known plan comes from the same pass
with a beam (the ``beam`` cheapest labels per cut point). Exact: what is dropped is dominated or
provably worse; the status is ``optimal`` when the pass finishes.

The execution models restrict the walk: ``layer-sequential`` = one cluster of all chiplets per
segment, ``segmented-pipeline`` = one layer per cluster, ``merged-pipeline`` = free clusters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..dominance import Timeout, pareto_min, pareto_min_counted
from ..plan import Outcome, evaluate
from ..problem import Problem
from ..execution.segments import (ClusterTables, MCMGroups, cluster_costs, cluster_tables, objective_terms,
                                  placement_energy, segment_rules, streamed_energy,
                                  streamed_time)

#: labels kept per cut point by the first (heuristic) pass that gives the exact pass its bound
BEAM = 24

#: relative slack of the bound tests, so that a label priced like the known plan is not dropped by rounding
_TOL = 1 + 1e-9


@dataclass(slots=True)
class _Labels:
    """Labels of open segments, one entry per label in every array (the module docstring's letters in brackets)."""

    paid: np.ndarray  # V: closed segments, and the open segment's X_c + w * T_c
    used: np.ndarray  # U: chiplets the open segment's clusters hold
    slowest: np.ndarray  # M: the open segment's slowest cluster (T_c, s per input)
    clusters: np.ndarray  # K: the open segment's cluster count
    parent: np.ndarray  # id of the label this one extends; a seed's: the cheapest closing there (-1 at layer 0)
    config: np.ndarray  # configuration of the cluster ending here; -1: the seed of a fresh segment
    start: np.ndarray  # first layer of that cluster (a seed's: its own cut point)
    chiplet_s: np.ndarray  # P: the open segment's chiplet-seconds (bound only, not a state)

    def __len__(self) -> int:
        return len(self.paid)

    def take(self, index) -> _Labels:
        """The labels at ``index`` (a mask, indices or a slice)."""
        return _Labels(self.paid[index], self.used[index], self.slowest[index], self.clusters[index],
                       self.parent[index], self.config[index], self.start[index], self.chiplet_s[index])

    @staticmethod
    def concat(parts: list[_Labels]) -> _Labels:
        return _Labels(*(np.concatenate([getattr(part, name) for part in parts]) for name in _Labels.__slots__))


@dataclass(slots=True)
class _Registered:
    """Labels kept at cut point ``pos``; their ids are ``base, base + 1, ...`` (unique over a pass)."""

    pos: int
    base: int
    labels: _Labels

    def ids(self) -> np.ndarray:
        return self.base + np.arange(len(self.labels))


def _rest_bound(problem: Problem, allowed: list[int], w: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds for layers ``q..L-1``: ``rest[q]`` on their separable cost and fill (fastest time, weights
    from DRAM once or streamed overlapped with the compute) and ``work[q]`` on their chiplet-seconds per input (least ``chiplets x time``).

    A segment's slowest cluster ``M_s`` is at least its clusters' chiplet-seconds over the package's
    chiplets, so ``(b - 1) * sum_s M_s >= (b - 1) * (chiplet-seconds of the open segment + work[q]) / N``.
    """
    t = problem.segments
    streamed = streamed_time(problem)
    held = problem.time_s + (t.weight_bytes / t.dram_bandwidth)[:, None]  # weights loaded once, or streamed (overlapped)
    per_layer = w * np.minimum(held, streamed)[:, allowed].min(axis=1)
    if problem.objective == "energy":
        least_hops = float(np.min(t.dram_hops[:, allowed]))
        per_layer = (per_layer + problem.batch * np.minimum(problem.energy_j, streamed_energy(problem))[:, allowed].min(axis=1)
                     + t.weight_bytes * (t.dram_access_j + t.nop_byte_hop_j * least_hops))
    work = (np.minimum(problem.time_s, streamed)[:, allowed] * problem.usage[allowed, 0][None, :]).min(axis=1)
    suffix = lambda a: np.append(np.cumsum(a[::-1])[::-1], 0.0)  # noqa: E731
    return suffix(per_layer), suffix(work)


class _Pass:
    """One label pass along the cut points: labels pending at a cut point are pruned, registered, closed
    (their segment ends there) and extended by one more cluster to the later cut points they reach.

    ``upper``: the value of a known plan (labels whose bound exceeds it are dropped); ``beam``: keep only the
    ``beam`` labels of least bound per cut point (a heuristic pass), or None (the exact pass).
    """

    def __init__(self, problem: Problem, tables: ClusterTables, upper: float, deadline: float, beam: int | None):
        self.problem, self.tables, self.upper, self.deadline, self.beam = problem, tables, upper, deadline, beam
        self.n_l = problem.n_layers
        self.chiplets = problem.segments.chiplets
        self.terms = objective_terms(problem)
        self.w = self.terms.weight
        self.fill = self.w * (problem.batch - 1)
        self.max_len, self.allowed, self.max_clusters = segment_rules(problem)
        self.track_k = self.max_clusters < self.chiplets
        self.units = problem.usage[:, 0].astype(int)
        rest, self.work = _rest_bound(problem, self.allowed, self.w)
        self.rest = rest + self.terms.end
        self.pending: list[list[_Labels]] = [[] for _ in range(self.n_l + 1)]  # per cut point, chunks of labels
        self.registered: list[_Registered] = []
        self.next_id = 0
        self.best_close = np.full(self.n_l + 1, np.inf)  # per cut point: the cheapest segment closing there
        self.best_from = np.full(self.n_l + 1, -1)  # and the id of its label

    def run(self) -> tuple[float | None, MCMGroups | None, float]:
        """(best value, its groups, lower bound on the optimum), or (None, None, upper) when no plan beats ``upper``."""
        for p in range(self.n_l + 1):
            if time.perf_counter() > self.deadline:
                raise Timeout(self.bound_at(p, self.pending[p]))
            chunks, self.pending[p] = self.pending[p], []
            labels = None
            if p > 0:
                labels = self.survivors(p, chunks)
                if labels is None:
                    continue
                self.close(p, labels)
                if p == self.n_l:
                    break
            self.extend(p, [self.seed(p)] if labels is None else [self.seed(p), labels])
        if not np.isfinite(self.best_close[self.n_l]):
            return None, None, self.upper
        value = float(self.best_close[self.n_l] + self.terms.end)
        return value, _walk_back(self.registered, int(self.best_from[self.n_l])), value

    def lower(self, paid, slowest, chiplet_s, q):
        """Lower bound on every plan through a label at cut point ``q`` (see the module docstring)."""
        return paid + self.fill * np.maximum(slowest, (chiplet_s + self.work[q]) / self.chiplets) + self.rest[q]

    def bound_at(self, p: int, chunks: list[_Labels]) -> float:
        """Every plan passes a label at some cut point >= p that is pending, or was pruned above ``upper``
        (a beam drops labels without proof: then only the bound at the chain's start holds)."""
        if self.beam is not None:
            return float(self.lower(np.array([self.terms.start[0]]), np.array([0.0]), np.array([0.0]), 0)[0])
        waiting = [(p, chunks)] + [(q, self.pending[q]) for q in range(p + 1, self.n_l + 1)]
        lbs = [float(self.lower(c.paid, c.slowest, c.chiplet_s, q).min()) for q, cs in waiting for c in cs if len(c)]
        return min([self.upper] + lbs)

    def register(self, pos: int, labels: _Labels) -> _Registered:
        kept = _Registered(pos, self.next_id, labels)
        self.next_id += len(labels)
        self.registered.append(kept)
        return kept

    def survivors(self, p: int, chunks: list[_Labels]) -> _Registered | None:
        """The labels pending at ``p`` that neither the bound nor a better label drops (on a beam pass: the
        ``beam`` of least bound among them), registered; None if there are none."""
        if not chunks:
            return None
        labels = _Labels.concat(chunks)
        lb = self.lower(labels.paid, labels.slowest, labels.chiplet_s, p)
        keep = lb <= self.upper * _TOL
        labels, lb = labels.take(keep), lb[keep]
        if not len(labels):
            return None
        try:
            front = self.undominated(labels)
        except Timeout:
            raise Timeout(self.bound_at(p, chunks)) from None
        if self.beam is not None and len(front) > self.beam:
            front = front[np.argsort(lb[front], kind="stable")[:self.beam]]
        return self.register(p, labels.take(front))

    def undominated(self, labels: _Labels) -> np.ndarray:
        """Indices of the labels no other one beats.

        B beats A when it has paid no more (V), would close no dearer (V + fill * M) and holds no more chiplets:
        whatever the rest of A's segment adds, max(M, F) costs B at most the difference in V.
        """
        paid, closing, used = labels.paid, labels.paid + self.fill * labels.slowest, labels.used
        if self.track_k and self.problem.objective == "energy":
            return pareto_min(np.column_stack([paid, closing, used, -used, labels.clusters]), deadline=self.deadline)
        if self.track_k:
            return pareto_min(np.column_stack([paid, closing, used, labels.clusters]), deadline=self.deadline)
        # on energy, where a cluster sits (after U chiplets) prices its weights' hops: U is a state
        return pareto_min_counted(paid, closing, used, nested=self.problem.objective != "energy")

    def close(self, p: int, kept: _Registered) -> None:
        """Close the open segments at ``p`` (``V + w * (b - 1) * M``) and note the cheapest."""
        cost = kept.labels.paid + self.fill * kept.labels.slowest
        i = int(np.argmin(cost))
        self.best_close[p], self.best_from[p] = cost[i], kept.base + i

    def seed(self, p: int) -> _Registered:
        """The fresh segment starting at ``p`` after the cheapest closing there (or at the chain's start)."""
        first = p == 0
        paid = self.terms.start[p] + (0.0 if first else self.best_close[p])
        return self.register(p, _Labels(np.array([paid]), np.array([0]), np.array([0.0]), np.array([0]),
                                        np.array([-1 if first else self.best_from[p]]), np.array([-1]),
                                        np.array([p]), np.array([0.0])))

    def extend(self, p: int, sources: list[_Registered]) -> None:
        """Add a cluster from ``p`` to every label of ``sources``; queue the results at the cut points they reach."""
        labels = _Labels.concat([s.labels for s in sources])
        ids = np.concatenate([s.ids() for s in sources])
        ends = np.arange(p + 1, min(self.n_l, p + self.max_len) + 1)
        grown = [self.add_cluster(p, c, labels, ids, ends) for c in self.allowed]
        grown = [g for g in grown if g is not None]
        if grown:
            self.queue(p, np.concatenate([end for end, _ in grown]), _Labels.concat([g for _, g in grown]))

    def add_cluster(self, p: int, c: int, labels: _Labels, ids: np.ndarray,
                    ends: np.ndarray) -> tuple[np.ndarray, _Labels] | None:
        """The labels (and their cut points) made by a cluster of configuration ``c`` over layers ``p..end-1`` for
        every ``end`` in ``ends``, after each label that has room for it, that the bound keeps; None if none."""
        units = self.units[c]
        ok = (labels.used + units <= self.chiplets) & (labels.clusters + 1 <= self.max_clusters)
        if not ok.any():
            return None
        used, clusters, parent = labels.used[ok], labels.clusters[ok], ids[ok]
        t_c, x_c, _, _, moved = cluster_costs(self.problem, self.tables, c, p, ends)
        paid = labels.paid[ok][:, None] + (x_c + self.w * t_c)[None, :]
        if self.problem.objective == "energy":  # the weights' hops from DRAM depend on where the cluster sits: at U
            paid = paid + placement_energy(self.problem, c, used, moved)
        slowest = np.maximum(labels.slowest[ok][:, None], t_c[None, :])
        chiplet_s = labels.chiplet_s[ok][:, None] + units * t_c[None, :]
        li, ej = np.nonzero(self.lower(paid, slowest, chiplet_s, ends[None, :]) <= self.upper * _TOL)
        if not len(li):
            return None
        return ends[ej], _Labels(paid[li, ej], used[li] + units, slowest[li, ej], clusters[li] + 1, parent[li],
                                 np.full(len(li), c), np.full(len(li), p), chiplet_s[li, ej])

    def queue(self, p: int, end: np.ndarray, labels: _Labels) -> None:
        """Queue ``labels`` (made at ``p``) as one chunk per cut point ``end`` they reach, in their order."""
        order = np.argsort(end, kind="stable")
        labels = labels.take(order)
        cuts = np.searchsorted(end[order], np.arange(p + 1, self.n_l + 2))
        for q in range(p + 1, self.n_l + 1):
            lo, hi = cuts[q - p - 1], cuts[q - p]
            if hi > lo:
                self.pending[q].append(labels.take(slice(lo, hi)))


def _search(problem: Problem, tables: ClusterTables, upper: float, deadline: float, beam: int | None):
    """One label pass; returns (best value, groups or None, lower bound on the optimum)."""
    return _Pass(problem, tables, upper, deadline, beam).run()


def _walk_back(registered: list[_Registered], label_id: int) -> MCMGroups:
    """Clusters (configuration, layers, segment) of the plan ending in label ``label_id``."""
    bases = np.array([r.base for r in registered])
    segments: list[list[tuple[int, tuple[int, ...]]]] = [[]]
    while label_id >= 0:
        r = registered[int(np.searchsorted(bases, label_id, side="right")) - 1]
        i, labels = label_id - r.base, r.labels
        if labels.config[i] == -1:  # the seed of the segment: the previous one ended here
            segments.append([])
        else:
            segments[-1].append((int(labels.config[i]), tuple(range(int(labels.start[i]), r.pos))))
        label_id = int(labels.parent[i])
    segments = [s for s in segments if s][::-1]
    return tuple((c, ls, s) for s, clusters in enumerate(segments) for c, ls in reversed(clusters))


def solve_segments(problem: Problem, time_limit_s: float, seed: int, options: dict, beam: int = BEAM) -> Outcome:
    """Optimal plan of segments and clusters (``seed`` unused); see the module docstring."""
    deadline = time.perf_counter() + time_limit_s
    tables = cluster_tables(problem)
    known, known_groups = np.inf, None
    try:
        value, groups, _ = _search(problem, tables, np.inf, deadline, beam)
        if value is not None:
            known, known_groups = value, groups
        value, groups, bound = _search(problem, tables, known, deadline, None)
        if value is not None and value <= known:
            known, known_groups = value, groups
        finished = True
    except Timeout as stop:
        bound, finished = stop.args[0], False
    user_bound = problem.objective.from_batch(problem.batch, bound)
    status = "optimal" if finished else "time_limit"
    if known_groups is None:
        return Outcome(None, "infeasible" if finished else "time_limit", None if finished else user_bound,
                       note="no plan fits the package" if finished else "")
    if not evaluate(problem, known_groups).feasible:
        # only the latency or throughput bound can fail: the fastest plan misses it, so none meets it
        return Outcome(None, "infeasible" if finished else "time_limit", user_bound,
                       note="the fastest plan misses the bound")
    return Outcome(known_groups, status, user_bound, note="dp over segment and cluster cut points",
                   model_objective=problem.objective.from_batch(problem.batch, known))
