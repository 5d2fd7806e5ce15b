"""Chiplet packages (family mcm): cost model, segment model, the exact dp against enumeration, specs and commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from accelplan.api import make_study
from accelplan.cli import main
from accelplan.dominance import pareto_min_counted
from accelplan.errors import SolveError, SpecError
from accelplan.execution.segments import price
from accelplan.families import build_problem
from accelplan.families.mcm import costs as mcm
from accelplan.plan import evaluate, metrics, plan_groups
from accelplan.solvers import solve
from accelplan.solvers.exhaustive import segment_plans
from accelplan.specs.lowering import Gemm
from accelplan.specs.study import load_hardware

from conftest import mcm_exhaustive, random_mcm_problem, ROOT, sweep, variant

# 30 random instances per objective. Seed 11 is left out: it draws the same shape as seed 0 (five layers, five
# cluster sizes on a 2x3 mesh, segmented-pipeline), the largest of the sweep, whose enumeration costs seconds per
# objective; seed 0 keeps that shape checked and seed 30 keeps the count.
SEEDS = [s for s in range(31) if s != 11]


def _value(problem, groups) -> float:
    return metrics(problem, groups).objective_value(problem.objective)


@pytest.mark.parametrize("objective", ["throughput", "latency", "energy"])
@pytest.mark.parametrize("seed", sweep(SEEDS, 3, heavy=(0,)))
def test_dp_matches_exhaustive(seed: int, objective: str) -> None:
    """On 30 random packages x models x execution models dp (and, for time objectives, milp) finds the enumerated optimum."""
    problem = random_mcm_problem(seed, objective)
    ref = mcm_exhaustive(seed, objective)  # enumeration, shared with the Optuna and spill tests on these instances
    dp = solve(problem, "dp", time_limit_s=60)
    assert ref.solver.status == "optimal" and dp.solver.status == "optimal", (seed, dp.solver)
    assert dp.solver.gap == 0.0
    assert math.isclose(dp.objective_value(), ref.objective_value(), rel_tol=1e-9), (seed, problem.execution)
    # the dp's own arithmetic agrees with the evaluator's, and the plan re-evaluates to its metrics
    assert math.isclose(dp.solver.model_objective, dp.objective_value(), rel_tol=1e-9)
    again = evaluate(problem, plan_groups(problem, dp))
    assert again.throughput == dp.throughput and again.energy_mj == dp.energy_mj
    if objective != "energy":  # the segment MILP (HiGHS) agrees too
        milp = solve(problem, "milp", time_limit_s=60)
        assert milp.solver.status == "optimal", (seed, milp.solver)
        assert math.isclose(milp.objective_value(), ref.objective_value(), rel_tol=1e-6), (seed, problem.execution)
        assert math.isclose(milp.solver.model_objective, milp.objective_value(), rel_tol=1e-6)


# seed 32 is the package with five cluster sizes on six chiplets (2928 plans); seed 0, its like with five layers
# (24079 plans, 20-45 s of metrics), exercised nothing more
@pytest.mark.parametrize("seed", sweep((1, 2, 3, 4, 32), 5))
def test_dp_plan_ranks_first_among_every_plan(seed: int) -> None:
    """Enumerate every plan of small instances: none beats the dp's plan (it ranks first, not in a top fraction)."""
    problem = random_mcm_problem(seed, "throughput", layers=(4, 5), execution="merged-pipeline")
    dp = solve(problem, "dp")
    values = [_value(problem, g) for g in segment_plans(problem) if not metrics(problem, g).violations]
    assert len(values) > 20
    better = sum(v > dp.throughput * (1 + 1e-9) for v in values)
    assert better == 0, f"seed {seed}: {better} of {len(values)} plans beat the dp"
    assert max(values) == pytest.approx(dp.throughput, rel=1e-12)


@pytest.mark.parametrize("seed", range(15))
def test_execution_models_nest(seed: int) -> None:
    """merged-pipeline includes both other models' plans, so it is never worse than either."""
    rates = {}
    for execution in ("layer-sequential", "segmented-pipeline", "merged-pipeline"):
        rates[execution] = solve(random_mcm_problem(seed, "throughput", execution=execution), "dp").throughput
    assert rates["merged-pipeline"] >= max(rates["layer-sequential"], rates["segmented-pipeline"]) * (1 - 1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_plans_obey_execution_rules(seed: int) -> None:
    for execution in ("layer-sequential", "segmented-pipeline"):
        problem = random_mcm_problem(seed, "throughput", execution=execution)
        plan = solve(problem, "dp")
        per_segment = {}
        for acc in plan.accelerators:
            per_segment.setdefault(acc.segment, []).append(acc)
        if execution == "layer-sequential":
            assert all(len(a) == 1 and a[0].units == problem.segments.chiplets for a in per_segment.values())
        else:
            assert all(len(a.layers) == 1 for a in plan.accelerators)
        assert all(sum(a.units for a in accs) <= problem.segments.chiplets for accs in per_segment.values())
        assert plan.segments == len(per_segment)


def test_structure_violations() -> None:
    problem = random_mcm_problem(3, "throughput", layers=(4, 4), execution="merged-pipeline")
    n = problem.segments.chiplets
    full = next(c for c, cfg in enumerate(problem.configs) if cfg.units == n)
    assert not metrics(problem, ((full, (0, 1, 2, 3), 0),)).violations
    assert any("consecutive" in v for v in metrics(problem, ((full, (0, 2), 0), (full, (1, 3), 1))).violations)
    assert any("chiplets" in v for v in metrics(problem, ((full, (0, 1), 0), (full, (2, 3), 0))).violations)
    assert any("segments" in v for v in metrics(problem, ((full, (0, 1), 1), (full, (2, 3), 0))).violations)
    seg = variant(problem, execution="segmented-pipeline")
    assert any("one layer per cluster" in v for v in metrics(seg, ((full, (0, 1, 2, 3), 0),)).violations)


def test_segment_formula_by_hand() -> None:
    """Two segments, two clusters in the first: the batch time is the documented sum, term by term."""
    problem = random_mcm_problem(5, "throughput", layers=(4, 4), execution="merged-pipeline")
    t, b = problem.segments, problem.batch
    ones = [c for c, cfg in enumerate(problem.configs) if cfg.units == 1]
    c1 = ones[0] if ones else 0
    groups = ((c1, (0,), 0), (c1, (1, 2), 0), (c1, (3,), 1))
    m = price(problem, groups) if problem.configs[c1].units * 2 <= t.chiplets else None
    if m is None:
        pytest.skip("package too small for two clusters")

    def cluster(ls):
        w_chip = sum(t.sram_weight_bytes[l, c1] for l in ls) + max(t.sram_buffer_bytes[l, c1] for l in ls)
        weights = sum(t.weight_bytes[l] for l in ls)
        fits = w_chip <= t.sram_bytes
        # held: the layer times, weights loaded once; streamed (at the cluster's DRAM share): each layer's
        # overlapped time, the slower of compute and streaming plus one tile's fetch
        busy = sum(problem.time_s[l, c1] if fits else t.mappings[l][c1].streaming_time_s for l in ls)
        return busy, (weights / t.dram_bandwidth if fits else 0)

    (a, oa), (bb, ob), (c, oc) = cluster([0]), cluster([1, 2]), cluster([3])
    io = b * (t.boundary_bytes[0] + t.boundary_bytes[3] + t.boundary_bytes[4]) / t.dram_bandwidth
    expect = (a + bb + (b - 1) * max(a, bb)) + (c + (b - 1) * c) + oa + ob + oc + 2 * t.reconfiguration_s + io
    assert m.batch_time_s == pytest.approx(expect, rel=1e-12)
    assert m.segments == 2 and m.busy_s == pytest.approx((a, bb, c))
    plan = evaluate(problem, groups)
    assert plan.throughput == pytest.approx(b / expect) and plan.latency_ms == pytest.approx(expect * 1e3)


def test_layer_cost_by_hand() -> None:
    """A 64x128x256 GEMM on 4 chiplets (2x2): every partition and tile priced by the documented formulas."""
    hw = load_hardware(ROOT / "specs" / "hardware" / "simba-36.yaml")
    cfg = mcm.cluster_shape(hw, 4)
    assert (cfg.rows, cfg.cols) == (2, 2)
    gemm = Gemm(64, 128, 256)
    found = {(m.weight_groups, m.input_groups, m.tile): m for m in mcm.mappings(hw, "int8", gemm, cfg, [])}
    assert set(found) == {(gm, 4 // gm, tuple(t)) for gm in (1, 2, 4) for t in hw.chiplet.tiles["int8"]}
    m = found[(1, 4, (1, 32, 32))]  # input-shared: each chiplet 64 of the 256 output channels
    compute = 64 * math.ceil(128 / 32) * math.ceil(64 / 32) / (0.9 * 1e9)
    nop = max(max(64 * 128, 64 * 256) / (50e9 * 2), max(64 * 128, 64 * 64) / 50e9) + 20e-9 * 3
    assert m.time_s == pytest.approx(max(compute, nop) + 0.5e-6)
    assert m.weight_bytes_per_chiplet == 128 * 64 and m.partition == "input-shared"
    ws = found[(4, 1, (1, 32, 32))]  # weight-shared: every chiplet holds all weights
    assert ws.weight_bytes_per_chiplet == 128 * 256 and ws.partition == "weight-shared"
    best = mcm.best_mapping(list(found.values()), "throughput", 0.0)
    assert best.time_s == min(m.time_s for m in found.values())


@pytest.mark.parametrize("seed", range(40))
def test_weights_stream_when_sram_is_short(seed: int) -> None:
    """A cluster whose weights overflow its SRAM streams them per input instead of once per batch, overlapped with
    the compute: per layer at least the slower of the two, never their sum (plus at most one tile's exposed fetch)."""
    problem = random_mcm_problem(seed, "throughput", execution="layer-sequential")
    t = problem.segments
    groups = ((0, tuple(range(problem.n_layers)), 0),)
    m = price(problem, groups)
    need = t.sram_weight_bytes[:, 0].sum() + t.sram_buffer_bytes[:, 0].max()
    assert m.fits[0] == (need <= t.sram_bytes)
    maps = [row[0] for row in t.mappings]
    busy = problem.time_s[:, 0].sum() if m.fits[0] else sum(x.streaming_time_s for x in maps)
    assert m.busy_s[0] == pytest.approx(busy)
    for l, x in enumerate(maps):  # the whole package: the full DRAM bandwidth
        alt = x.as_streamed()  # the mapping used when streaming (the fastest streamed)
        assert alt.streamed_time_s >= max(problem.time_s[l, 0], (t.weight_bytes[l] + alt.spill_bytes) / t.dram_bandwidth) * (1 - 1e-12)
        assert alt.streamed_time_s <= problem.time_s[l, 0] + (t.weight_bytes[l] + x.spill_bytes) / t.dram_bandwidth + 1e-15


def test_weights_fit_in_sram_on_some_random_packages_only() -> None:
    """Over the 40 random packages above, some clusters' weights fit their SRAM and some do not (both paths run)."""
    fits = [price(p, ((0, tuple(range(p.n_layers)), 0),)).fits[0]
            for p in (random_mcm_problem(s, "throughput", execution="layer-sequential") for s in range(40))]
    assert any(fits) and not all(fits)


def test_simba_resnet50_near_published() -> None:
    """Simba ran ResNet-50 at batch 1 at 1988 images/s on 36 chiplets; our model of simba-36 lands within 1.5x."""
    study = make_study(model="resnet50", hardware="simba-36", execution="layer-sequential", batch=1)
    plan = solve(build_problem(study), "dp")
    assert 1988 / 1.5 < plan.throughput < 1988 * 1.5


def test_builtin_packages_load() -> None:
    for name, n in (("simba-36", 36), ("mcm-16", 16), ("mcm-64", 64)):
        hw = load_hardware(ROOT / "specs" / "hardware" / f"{name}.yaml")
        assert hw.mesh[0] * hw.mesh[1] == n and hw.chiplet.macs_per_cycle["int8"] == 1024
        assert max(c.units for c in mcm.menu(hw)) == n


def test_spec_errors(tmp_path) -> None:
    data = yaml.safe_load((ROOT / "specs" / "hardware" / "simba-36.yaml").read_text())
    data["dram"]["controllers"][1]["at"] = [0, 9]
    data["chiplet"]["tiles"]["int8"][0] = [2, 32, 32]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError) as err:
        load_hardware(bad)
    text = str(err.value)
    assert "outside the 6x6 mesh" in text and "dram.controllers[1].at" in text
    assert "2048 MACs per cycle" in text and "chiplet.tiles.int8[0]" in text
    data["family"] = "tpu"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="unknown hardware family 'tpu'; valid: versal-aie, mcm"):
        load_hardware(bad)
    with pytest.raises(SpecError, match="execution 'hybrid' does not apply to hardware 'simba-36'.*merged-pipeline"):
        make_study(model="resnet50", hardware="simba-36", execution="hybrid")
    with pytest.raises(SpecError, match="valid: sequential, spatial, replicated, hybrid"):
        make_study(model="resnet50", hardware="vck190", execution="merged-pipeline")
    assert make_study(model="resnet50", hardware="simba-36").execution == "merged-pipeline"


def test_other_strategies_refuse_mcm() -> None:
    problem = random_mcm_problem(1, "throughput")
    with pytest.raises(SolveError, match=r"cpsat does not model .* execution .*; strategies that cover this problem: dp, milp.*\(exact"):
        solve(problem, "cpsat")
    energy = random_mcm_problem(1, "energy")
    with pytest.raises(SolveError, match="milp on segments covers the throughput and latency objectives"):
        solve(energy, "milp")
    with pytest.raises(SolveError, match="without a latency or throughput bound"):
        solve(energy.with_latency_bound(1.0), "dp")
    big = build_problem(make_study(model="resnet152", hardware="simba-36", batch=16))
    with pytest.raises(SolveError, match="candidate clusters exceed"):
        solve(big, "milp")


@pytest.mark.parametrize("seed", sweep(range(20), 5))
def test_latency_bound_on_mcm(seed: int) -> None:
    """The fastest plan meets a bound or no plan does: dp says infeasible exactly when enumeration finds nothing."""
    problem = random_mcm_problem(seed, "throughput", layers=(2, 4))
    best = solve(problem, "dp")
    for factor in (0.999, 1.001):
        bounded = problem.with_latency_bound(best.latency_ms / 1e3 * factor)
        ref, dp, milp = solve(bounded, "exhaustive"), solve(bounded, "dp"), solve(bounded, "milp")
        assert dp.feasible == ref.feasible == milp.feasible == (factor > 1), seed
        assert dp.solver.status == milp.solver.status == ("optimal" if factor > 1 else "infeasible")


@pytest.mark.slow
def test_compare_execution_command(tmp_path, capsys) -> None:
    # a three-layer CNN: the command's rows, files and table as with resnet50 (planned on mcm-16 in test_mcm_plan_outputs
    # and the HTML report test), without drawing 4 x 50 layers of report figures twice
    small = tmp_path / "small-cnn.yaml"
    small.write_text("name: small-cnn\noperators:\n"
                     "  - {name: c1, kind: conv2d, in_channels: 3, out_channels: 32, height: 32, width: 32, kernel: 3, padding: 1}\n"
                     "  - {name: c2, kind: conv2d, in_channels: 32, out_channels: 64, height: 32, width: 32, kernel: 3, padding: 1}\n"
                     "  - {name: fc, kind: linear, m: 1, k: 65536, n: 10}\n")
    out = tmp_path / "compare-execution"  # each command writes <-o>/<command>/
    code = main(["compare-execution", "--model", str(small), "--hardware", "mcm-16", "--batch", "8", "--json", "-o", str(tmp_path)])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["execution"] for r in rows] == ["layer-sequential", "segmented-pipeline", "replicated", "merged-pipeline"]
    for r in rows:
        assert {"execution", "status", "throughput", "latency_ms", "energy_mj", "solve_time_s", "segments", "clusters", "throughput_ratio"} <= set(r)
        assert r["status"] == "optimal" and r["throughput"] > 0
    merged = rows[3]  # its plans include every layer-sequential and segmented-pipeline plan
    assert merged["throughput"] >= max(rows[0]["throughput"], rows[1]["throughput"]) * (1 - 1e-12)
    assert merged["baseline"] == "segmented-pipeline" and merged["throughput_ratio"] == pytest.approx(merged["throughput"] / rows[1]["throughput"])
    assert (out / "compare-execution.md").is_file() and (out / "merged-pipeline" / "plan.yaml").is_file()
    code = main(["compare-execution", "--model", str(small), "--hardware", "mcm-16", "--batch", "8", "-o", str(tmp_path)])
    text = capsys.readouterr().out
    assert code == 0 and "merged/segmented" in text and "layer-sequential" in text


def test_mcm_plan_outputs(tmp_path) -> None:
    """solve writes plan, reports and JSON for an mcm plan; the Versal targets refuse it with a clear error."""
    out = tmp_path / "o" / "solve"  # each command writes <-o>/<command>/
    assert main(["solve", "--model", "resnet50", "--hardware", "mcm-16", "--strategy", "dp", "--batch", "4", "-o", str(out.parent), "--quiet"]) == 0
    plan = yaml.safe_load((out / "plan.yaml").read_text())
    assert plan["family"] == "mcm" and plan["accelerators"][0]["partitions"]
    assert "segment" in (out / "report.md").read_text()
    assert main(["emit", str(out / "plan.yaml"), "--target", "json", "-o", str(tmp_path / "j")]) == 0
    assert main(["emit", str(out / "plan.yaml"), "--target", "vitis", "-o", str(tmp_path / "v")]) == 2
    assert not (tmp_path / "v").exists() or not any((tmp_path / "v").iterdir())


@pytest.mark.parametrize("seed", range(10))
def test_energy_and_throughput_optima_trade(seed: int) -> None:
    """On one problem's tables the energy optimum spends no more energy than the throughput optimum and is no faster."""
    problem = random_mcm_problem(seed, "energy", execution="merged-pipeline")
    frugal = solve(problem, "dp")
    fast = solve(variant(problem, objective="throughput"), "dp")
    fast_energy = evaluate(problem, plan_groups(problem, fast)).energy_mj
    assert frugal.energy_mj <= fast_energy * (1 + 1e-9)
    assert frugal.throughput <= fast.throughput * (1 + 1e-9)


def test_counted_pareto_filter_matches_definition() -> None:
    """The dp's label filter keeps exactly the rows no other row beats or ties (counts nested, or a state)."""
    rng = np.random.default_rng(0)
    for size in (1, 7, 150, 400):
        x = rng.integers(0, 6, size).astype(float)
        y = rng.integers(0, 6, size).astype(float)
        u = rng.integers(0, 4, size)
        for nested in (True, False):
            kept = pareto_min_counted(x, y, u, nested=nested)
            assert len(set(kept.tolist())) == len(kept)
            rows = {(x[i], y[i], u[i]) for i in kept}
            for i in range(size):
                beats = [(x[j], y[j], u[j]) for j in range(size)
                         if x[j] <= x[i] and y[j] <= y[i] and (u[j] <= u[i] if nested else u[j] == u[i])]
                front_member = not any(b != (x[i], y[i], u[i]) for b in beats)
                assert ((x[i], y[i], u[i]) in rows) == front_member
            assert len(kept) == len(rows)  # one row per distinct front point


def test_dram_hops_follow_the_snake_placement(tmp_path) -> None:
    """On a 2x3 mesh with one controller at (0, 0), clusters sit along the snake (0,0) (0,1) (0,2) (1,2) (1,1) (1,0)."""
    data = yaml.safe_load((ROOT / "specs" / "hardware" / "simba-36.yaml").read_text())
    data["mesh"] = [2, 3]
    data["dram"]["controllers"] = [{"at": [0, 0], "bandwidth": "32 GB/s"}]
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(data))
    hw = load_hardware(path)
    assert mcm.snake_order(hw) == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]
    configs = [mcm.cluster_shape(hw, g) for g in (1, 2, 6)]
    hops = mcm.dram_hops(hw, configs)
    assert list(hops[:6, 0]) == [0, 1, 2, 3, 2, 1]
    assert hops[0, 1] == 0.5 and hops[2, 1] == 2.5 and hops[4, 1] == 1.5 and np.isinf(hops[5, 1])
    assert hops[0, 2] == pytest.approx(9 / 6) and np.isinf(hops[1, 2])


@pytest.mark.slow
def test_compare_execution_on_versal_picks_a_strategy_per_model(capsys, tmp_path, study_file) -> None:
    """On versal-aie auto runs dp on sequential and spatial and colgen on hybrid; a forced dp reports hybrid unsupported."""
    base = ["compare-execution", str(study_file), "--time-limit", "20", "--json", "-o", str(tmp_path / "out")]
    assert main(base + ["--quiet"]) == 0
    rows = {r["execution"]: r for r in json.loads(capsys.readouterr().out)}
    assert [rows[e]["strategy"] for e in ("sequential", "spatial", "hybrid")] == ["dp", "dp", "colgen"]
    assert all(rows[e]["status"] == "optimal" for e in rows)
    assert rows["hybrid"]["throughput"] >= rows["spatial"]["throughput"] * (1 - 1e-6) >= rows["sequential"]["throughput"] * (1 - 1e-6)
    assert main(base + ["--strategy", "dp", "--quiet"]) == 0
    rows = {r["execution"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["hybrid"]["status"] == "unsupported" and "colgen, milp, cpsat" in rows["hybrid"]["message"]


@pytest.mark.parametrize("strategy", ["optuna-tpe", "optuna-nsga2"])
@pytest.mark.parametrize("seed", sweep(range(8), 2, heavy=(0,)))
def test_optuna_on_mcm_never_beats_the_optimum(seed: int, strategy: str) -> None:
    """Heuristic searches over cut points and cluster sizes: feasible plans, metrics as the evaluator's, never above the optimum."""
    problem = random_mcm_problem(seed, "throughput")
    best = mcm_exhaustive(seed, "throughput")  # enumerated once per seed for both searches (and test_dp_matches_exhaustive)
    plan = solve(problem, strategy, time_limit_s=30, seed=seed, trials=40)
    assert plan.feasible and plan.solver.status == "feasible" and plan.solver.evaluations == 40
    assert plan.throughput <= best.throughput * (1 + 1e-9)
    again = evaluate(problem, plan_groups(problem, plan))
    assert again.throughput == plan.throughput and again.energy_mj == plan.energy_mj


@pytest.mark.parametrize("seed", range(6))
def test_optuna_search_space_round_trips_every_plan(seed: int) -> None:
    """Every plan of a small package is reachable: the parameters of a plan decode to the same plan."""
    import optuna
    from accelplan.solvers.spaces import search_space
    problem = random_mcm_problem(seed, "throughput", layers=(3, 4))
    space = search_space(problem)
    plans = list(segment_plans(problem))[:200]
    assert len(plans) >= 4
    for groups in plans:
        params = space.params(groups)
        trial = optuna.trial.FixedTrial(params)
        assert space.suggest(trial) == tuple(sorted(groups, key=lambda g: g[1][0]))


@pytest.mark.slow
def test_dp_time_limit_keeps_a_valid_bound() -> None:
    """Stopped early, dp reports time_limit with an upper bound on throughput that the optimum respects."""
    problem = build_problem(make_study(model="resnet50", hardware="simba-36", batch=16))
    best = solve(problem, "dp", time_limit_s=120)
    assert best.solver.status == "optimal"
    stopped = 0
    # a zero limit stops every machine, so at least one run checks its bound; the others may finish
    for limit in (0.0, 0.001, 0.05, 0.2, 0.5 * best.solver.solve_time_s):
        plan = solve(problem, "dp", time_limit_s=limit)
        if plan.solver.status == "optimal":
            assert plan.throughput == pytest.approx(best.throughput, rel=1e-9)
            continue  # a fast machine finished anyway
        stopped += 1
        assert plan.solver.status == "time_limit" and plan.solver.bound >= best.throughput * (1 - 1e-9)
        if plan.feasible:
            assert plan.throughput <= best.throughput * (1 + 1e-9)
    assert stopped > 0
