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
from dataclasses import dataclass, replace

import numpy as np

from ..dominance import Timeout, pareto_min, pareto_min_counted
from ..errors import SolveError
from ..plan import Outcome, evaluate
from ..problem import Problem
from ..execution.segments import ClusterTables, cluster_costs, cluster_tables, objective_terms, placement_energy, segment_rules

#: labels kept per cut point by the first (heuristic) pass that gives the exact pass its bound
BEAM = 24


@dataclass
class _Labels:
    """Labels registered at one cut point (arrays of equal length) and their first global id."""

    pos: int
    base: int
    V: np.ndarray
    U: np.ndarray
    M: np.ndarray
    K: np.ndarray
    parent: np.ndarray
    cfg: np.ndarray  # -1: the seed of a fresh segment
    start: np.ndarray
    P: np.ndarray  # chiplet-seconds of the open segment's clusters (bound only, not a state)


def covers(problem: Problem) -> str | None:
    """Why the segment dp cannot solve ``problem`` exactly, or None."""
    if problem.objective == "energy" and (problem.latency_max_s is not None or problem.throughput_min is not None):
        return ("dp on mcm minimises energy without latency or throughput bounds (they would need a second label "
                "per segment); drop the bound or use exhaustive on small models")
    return None


def _rest_bound(problem: Problem, allowed: list[int], w: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds for layers ``q..L-1``: ``rest[q]`` on their separable cost and fill (fastest time, weights
    from DRAM once) and ``work[q]`` on their chiplet-seconds per input (least ``chiplets x time``).

    A segment's slowest cluster ``M_s`` is at least its clusters' chiplet-seconds over the package's
    chiplets, so ``(b - 1) * sum_s M_s >= (b - 1) * (chiplet-seconds of the open segment + work[q]) / N``.
    """
    t = problem.segments
    per_layer = w * (problem.time_s[:, allowed].min(axis=1) + t.weight_bytes / t.dram_bandwidth)
    if problem.objective == "energy":
        least_hops = float(np.min(t.dram_hops[:, allowed]))
        per_layer = (per_layer + problem.batch * problem.energy_j[:, allowed].min(axis=1)
                     + t.weight_bytes * (t.dram_access_j + t.nop_byte_hop_j * least_hops))
    work = (problem.time_s[:, allowed] * problem.usage[allowed, 0][None, :]).min(axis=1)
    suffix = lambda a: np.append(np.cumsum(a[::-1])[::-1], 0.0)  # noqa: E731
    return suffix(per_layer), suffix(work)


def _search(problem: Problem, tables: ClusterTables, upper: float, deadline: float, beam: int | None):
    """One label pass; returns (best value, groups or None, lower bound on the optimum)."""
    n_l, b = problem.n_layers, problem.batch
    chiplets = problem.segments.chiplets
    terms = objective_terms(problem)
    w = terms.weight
    max_len, allowed, max_clusters = segment_rules(problem)
    track_k = max_clusters < chiplets
    units = problem.usage[:, 0].astype(int)
    rest, work = _rest_bound(problem, allowed, w)
    rest = rest + terms.end
    fill = w * (b - 1)

    def lower(V, M, P, q):
        return V + fill * np.maximum(M, (P + work[q]) / chiplets) + rest[q]

    tol = 1 + 1e-9
    pending: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(n_l + 1)]
    registered: list[_Labels] = []
    next_id = 0
    best_close, best_from = np.full(n_l + 1, np.inf), np.full(n_l + 1, -1)

    def register(pos: int, V, U, M, K, parent, cfg, start, P) -> _Labels:
        nonlocal next_id
        labels = _Labels(pos, next_id, V, U, M, K, parent, cfg, start, P)
        next_id += len(V)
        registered.append(labels)
        return labels

    def bound_at(p: int, chunks) -> float:
        """Every plan passes a label at some cut point >= p that is pending, or was pruned above ``upper``
        (a beam drops labels without proof: then only the bound at the chain's start holds)."""
        if beam is not None:
            return float(lower(np.array([terms.start[0]]), np.array([0.0]), np.array([0.0]), 0)[0])
        lbs = [float(lower(c[0], c[2], c[7], q).min())
               for q, cs in [(p, chunks)] + [(q, pending[q]) for q in range(p + 1, n_l + 1)] for c in cs if len(c[0])]
        return min([upper] + lbs)

    for p in range(n_l + 1):
        if time.perf_counter() > deadline:
            raise Timeout(bound_at(p, pending[p]))
        chunks = pending[p]
        pending[p] = []
        if p > 0:
            if not chunks:
                continue
            V, U, M, K, parent, cfg, start, P = (np.concatenate([c[i] for c in chunks]) for i in range(8))
            lb = lower(V, M, P, p)
            keep = lb <= upper * tol
            V, U, M, K, parent, cfg, start, P, lb = (a[keep] for a in (V, U, M, K, parent, cfg, start, P, lb))
            if not len(V):
                continue
            # B beats A when it has paid no more (V), would close no dearer (V + fill * M) and holds no more chiplets:
            # whatever the rest of A's segment adds, max(M, F) costs B at most the difference in V
            try:
                if track_k and problem.objective == "energy":
                    front = pareto_min(np.column_stack([V, V + fill * M, U, -U, K]), deadline=deadline)
                elif track_k:
                    front = pareto_min(np.column_stack([V, V + fill * M, U, K]), deadline=deadline)
                else:
                    # on energy, where a cluster sits (after U chiplets) prices its weights' hops: U is a state
                    front = pareto_min_counted(V, V + fill * M, U, nested=problem.objective != "energy")
            except Timeout:
                raise Timeout(bound_at(p, chunks)) from None
            if beam is not None and len(front) > beam:
                front = front[np.argsort(lb[front], kind="stable")[:beam]]
            labels = register(p, *(a[front] for a in (V, U, M, K, parent, cfg, start, P)))
            close = labels.V + w * (b - 1) * labels.M
            i = int(np.argmin(close))
            best_close[p], best_from[p] = close[i], labels.base + i
            if p == n_l:
                break
        else:
            labels = None
        # a fresh segment starts at p after the cheapest closing there (or at the chain's start)
        seed_v = terms.start[p] + (0.0 if p == 0 else best_close[p])
        seed = register(p, np.array([seed_v]), np.array([0]), np.array([0.0]), np.array([0]),
                        np.array([-1 if p == 0 else best_from[p]]), np.array([-1]), np.array([p]), np.array([0.0]))
        sources = [seed] if labels is None else [seed, labels]
        V = np.concatenate([s.V for s in sources])
        U = np.concatenate([s.U for s in sources])
        M = np.concatenate([s.M for s in sources])
        K = np.concatenate([s.K for s in sources])
        P = np.concatenate([s.P for s in sources])
        ids = np.concatenate([s.base + np.arange(len(s.V)) for s in sources])
        ends = np.arange(p + 1, min(n_l, p + max_len) + 1)
        out = []
        for c in allowed:
            ok = (U + units[c] <= chiplets) & (K + 1 <= max_clusters)
            if not ok.any():
                continue
            t_c, x_c, _, _, moved = cluster_costs(problem, tables, c, p, ends)
            nv = V[ok][:, None] + (x_c + w * t_c)[None, :]
            if problem.objective == "energy":  # the weights' hops from DRAM depend on where the cluster sits: at U
                nv = nv + placement_energy(problem, c, U[ok], moved)
            nm = np.maximum(M[ok][:, None], t_c[None, :])
            npw = P[ok][:, None] + units[c] * t_c[None, :]
            keep = lower(nv, nm, npw, ends[None, :]) <= upper * tol
            li, ej = np.nonzero(keep)
            if not len(li):
                continue
            out.append((ends[ej], nv[li, ej], U[ok][li] + units[c], nm[li, ej], K[ok][li] + 1, ids[ok][li],
                        np.full(len(li), c), np.full(len(li), p), npw[li, ej]))
        if not out:
            continue
        end, nv, nu, nm, nk, par, cf, st, npw = (np.concatenate([o[i] for o in out]) for i in range(9))
        order = np.argsort(end, kind="stable")
        end = end[order]
        cuts = np.searchsorted(end, np.arange(p + 1, n_l + 2))
        arrays = [a[order] for a in (nv, nu, nm, nk, par, cf, st, npw)]
        for q in range(p + 1, n_l + 1):
            lo, hi = cuts[q - p - 1], cuts[q - p]
            if hi > lo:
                pending[q].append(tuple(a[lo:hi] for a in arrays))
    if not np.isfinite(best_close[n_l]):
        return None, None, upper
    value = float(best_close[n_l] + terms.end)
    return value, _walk_back(registered, int(best_from[n_l])), value


def _walk_back(registered: list[_Labels], label_id: int):
    """Clusters (configuration, layers, segment) of the plan ending in label ``label_id``."""
    bases = np.array([r.base for r in registered])
    segments: list[list[tuple[int, tuple[int, ...]]]] = [[]]
    while label_id >= 0:
        r = registered[int(np.searchsorted(bases, label_id, side="right")) - 1]
        i = label_id - r.base
        if r.cfg[i] == -1:  # the seed of the segment: the previous one ended here
            segments.append([])
        else:
            segments[-1].append((int(r.cfg[i]), tuple(range(int(r.start[i]), r.pos))))
        label_id = int(r.parent[i])
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
