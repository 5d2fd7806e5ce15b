"""`accelplan simulate`: the event replay against hand-computed times, the built-in studies, the trace, bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from accelplan import api
from accelplan.cli import main
from accelplan.execution import ExecutionModel, Form, segments
from accelplan.execution.pipeline import DISPATCH_NAMES, scheduled_latency_s
from accelplan.families import build_problem
from accelplan.families.mcm.costs import Mapping
from accelplan.objective import objective
from accelplan.outputs import json_text
from accelplan.plan import evaluate, metrics, plan_groups
from accelplan.plan_file import RunFacts, plan_data, write_plan
from accelplan.problem import DeviceTables, Layer, Problem, SegmentTables
from accelplan.reports.simulate import simulation_json, simulation_markdown, simulation_table
from accelplan.simulate import TOLERANCE, replay, simulate
from accelplan.simulate.source import COMMAND_LINE
from accelplan.specs.lowering import Gemm

STUDIES = Path(__file__).resolve().parent.parent / "specs" / "studies"
MS = 1e-3


@dataclass(frozen=True)
class Config:
    label: str
    units: int = 1


def toy_problem(times_ms: list[list[float]], batch: int, ddr_ms: list[float] | None = None) -> Problem:
    """A pipeline problem by hand: ``times_ms[l][c]`` per layer and configuration; ``ddr_ms[l]`` the layer's DDR time."""
    time_s = np.array(times_ms) * MS
    n_l, n_c = time_s.shape
    ddr = ddr_ms or [0.0] * n_l
    return Problem(
        name="toy", model="toy", hardware="toy", family="toy", dtype="int8",
        execution=ExecutionModel("free", Form.PIPELINE, "any layers per accelerator", contiguous=False),
        objective=objective("throughput"), batch=batch, max_accelerators=n_c, latency_max_s=None, throughput_min=None,
        layers=tuple(Layer(f"l{l}", (f"l{l}",), Gemm(1, 1, 1), ddr[l]) for l in range(n_l)),
        configs=tuple(Config(f"c{c}") for c in range(n_c)), time_s=time_s, energy_j=np.zeros_like(time_s),
        resources=("units",), usage=np.ones((n_c, 1)), capacity=np.array([float(n_c)]),
        ddr_period_s=sum(ddr) * MS, static_power_w=0.0, peak_macs_per_unit_s=1.0)


def op_times(rep) -> dict[tuple[int, int], tuple[float, float]]:
    """(input, layer) -> (start, end) in ms of the operators of a replay."""
    s = rep.schedule
    return {(j.input, j.layer): (round(s.start_s[k] / MS, 9), round(s.end_s[k] / MS, 9))
            for k, j in enumerate(rep.layout.jobs) if j.kind == "op"}


def test_two_accelerators_re_entrant_by_hand() -> None:
    """A runs layers 0 and 2 (1 ms, 2 ms), B layer 1 (1 ms); two inputs, the oldest first on each accelerator.

    By hand: A (0,0) 0-1, A (1,0) 1-2, B (0,1) 1-2, A (0,2) 2-4 (input 0 returns first), B (1,1) 2-3,
    A (1,2) 4-6: the batch takes 6 ms where the closed form (stages 3 + 1 ms, + (2 - 1) x 3 ms) says 7. The plan's
    scheduled latency runs that schedule on the operator times, so it is the 6 ms the replay compares with.
    """
    problem = toy_problem([[1, 9], [9, 1], [2, 9]], batch=2)
    groups = ((0, (0, 2)), (1, (1,)))
    assert op_times(replay(problem, groups, 2)) == {
        (0, 0): (0, 1), (1, 0): (1, 2), (0, 1): (1, 2), (0, 2): (2, 4), (1, 1): (2, 3), (1, 2): (4, 6)}
    analytical = metrics(problem, groups)
    assert analytical.latency_s == pytest.approx(7 * MS)
    assert scheduled_latency_s(problem, groups, analytical.busy_s, analytical.period_s) == pytest.approx(6 * MS)
    sim = simulate(problem, groups, analytical, ["A", "B"])
    assert sim.latency.simulated == pytest.approx(6.0) and sim.latency.analytical == pytest.approx(6.0)
    assert sim.latency.agrees
    assert sim.throughput.simulated == pytest.approx(1 / (3 * MS), rel=1e-9)  # A: 3 ms per input, never idle
    assert [b.simulated for b in sim.busy] == pytest.approx([1.0, 1 / 3], rel=1e-9)


def test_scheduled_latency_is_the_replay_on_operator_times() -> None:
    """On random plans without DDR traffic the scheduled latency equals the event replay's batch (another
    implementation of the same rule); when no input returns to an accelerator there is none, and the closed form
    equals the replay exactly."""
    rng = np.random.default_rng(7)
    seen = {True: 0, False: 0}
    for _ in range(120):
        n_l, n_c = int(rng.integers(2, 8)), int(rng.integers(1, 4))
        problem = toy_problem(rng.integers(1, 6, size=(n_l, n_c)).tolist(), batch=int(rng.integers(1, 6)))
        owner = rng.integers(0, n_c, size=n_l)
        groups = tuple((a, tuple(int(l) for l in np.flatnonzero(owner == a))) for a in range(n_c) if (owner == a).any())
        priced = metrics(problem, groups)
        scheduled = scheduled_latency_s(problem, groups, priced.busy_s, priced.period_s)
        chain = [a for l in range(n_l) for a, (_, ls) in enumerate(groups) if l in ls]
        runs = [a for k, a in enumerate(chain) if k == 0 or chain[k - 1] != a]
        returns = len(runs) > len(set(runs))
        seen[returns] += 1
        assert (scheduled is None) == (not returns)
        latency = priced.latency_s if scheduled is None else scheduled
        assert latency == pytest.approx(replay(problem, groups, problem.batch).schedule.makespan_s, rel=1e-12)
    assert min(seen.values()) >= 20  # both kinds of plan were drawn


def test_ddr_bound_pipeline_runs_at_the_ddr_period() -> None:
    """One accelerator, 1 ms per input but 2 ms of DDR per input: the DDR paces the stream, as the period says."""
    problem = toy_problem([[0.5], [0.5]], batch=4, ddr_ms=[1.0, 1.0])
    groups = ((0, (0, 1)),)
    # first input: both weight slices prefetched from t = 0 (0-1, 1-2 ms on the DDR), so layer 0 runs 0-1, layer 1 1-2
    assert op_times(replay(problem, groups, 1)) == {(0, 0): (0, 1), (0, 1): (1, 2)}
    analytical = metrics(problem, groups)
    sim = simulate(problem, groups, analytical, ["A"])
    assert analytical.period_s == pytest.approx(2 * MS)
    assert sim.throughput.simulated == pytest.approx(500.0, rel=1e-9)
    assert sim.busy[0].simulated == pytest.approx(1.0, rel=1e-9)  # held while waiting for its weights


def test_two_segments_by_hand() -> None:
    """Two segments of one whole-package cluster, one layer each (1 ms); reconfiguration 0.5 ms, weights 0.25 ms, each
    input's DRAM crossing 0.1 ms; two inputs.

    By hand, segment 0: reconfigure 0-0.5; DRAM: weights 0.5-0.75, input 0 in 0.75-0.85, input 1 in 0.85-0.95; layer 0
    of input 0 0.85-1.85, of input 1 1.85-2.85. Segment 1 the same from 2.85: layer 1 of input 0 3.7-4.7, of input 1
    4.7-5.7; outputs written 4.7-4.8 and 5.7-5.8 (the closed form adds every fixed cost one after another: 6.1 ms).
    """
    problem = segment_problem(fits=True)
    groups = ((0, (0,), 0), (0, (1,), 1))
    rep = replay(problem, groups, 2)
    s = rep.schedule
    times = {(j.kind, j.label): (round(s.start_s[k] / MS, 9), round(s.end_s[k] / MS, 9))
             for k, j in enumerate(rep.layout.jobs) if j.kind != "op"}
    assert times == {
        ("reconfiguration", "segment 0"): (0, 0.5), ("weights", "cluster 0 weights"): (0.5, 0.75),
        ("dram", "input 0 in, segment 0"): (0.75, 0.85), ("dram", "input 1 in, segment 0"): (0.85, 0.95),
        ("reconfiguration", "segment 1"): (2.85, 3.35), ("weights", "cluster 1 weights"): (3.35, 3.6),
        ("dram", "input 0 in, segment 1"): (3.6, 3.7), ("dram", "input 1 in, segment 1"): (3.7, 3.8),
        ("dram", "input 0 out"): (4.7, 4.8), ("dram", "input 1 out"): (5.7, 5.8)}
    assert op_times(rep) == {(0, 0): (0.85, 1.85), (1, 0): (1.85, 2.85), (0, 1): (3.7, 4.7), (1, 1): (4.7, 5.7)}
    sim = simulate(problem, groups, metrics(problem, groups), ["cluster 0", "cluster 1"])
    assert sim.latency.simulated == pytest.approx(5.8) and sim.throughput.simulated == pytest.approx(2 / (5.8 * MS))


def test_weights_that_do_not_fit_stream_for_every_input() -> None:
    """The same two segments, but the second cluster's weights overflow its SRAM: no load once per segment, each of
    its operators takes the streaming time the analytical cluster time counts (``e`` per input) on top of its own."""
    problem = segment_problem(fits=False)
    groups = ((0, (0,), 0), (0, (1,), 1))
    e = segments.price(problem, groups).busy_s[1] / MS - 1.0
    assert e > 0
    rep = replay(problem, groups, 2)
    assert "cluster 1 weights" not in {j.label for j in rep.layout.jobs}
    # segment 1 from 2.85: reconfigure to 3.35, inputs in 3.35-3.45 and 3.45-3.55, then the cluster back to back
    assert op_times(rep) == pytest.approx({(0, 0): (0.85, 1.85), (1, 0): (1.85, 2.85), (0, 1): (3.45, 4.45 + e),
                                           (1, 1): (4.45 + e, 5.45 + 2 * e)})


def segment_problem(fits: bool) -> Problem:
    """Two layers of 1 ms on a 4-chiplet package, one cluster configuration; weights 250 B (0.25 ms at 1 MB/s),
    crossings 100 B (0.1 ms), reconfiguration 0.5 ms, batch 2; layer 1's weights overflow the SRAM unless ``fits``."""
    # each layer's mapping: 1 ms of compute; streamed, its 0.25 ms of weights in one tile (overlapped: max + min / 1)
    one = Mapping(1, 1, (1, 1, 1), 1.0 * MS, 0.0, 250.0, 0.0, streamed_time_s=1.25 * MS)
    tables = SegmentTables(
        chiplets=4, mappings=((one,), (one,)), sram_weight_bytes=np.array([[0.0], [0.0 if fits else 2.0]]),
        sram_buffer_bytes=np.zeros((2, 1)), sram_bytes=1.0, weight_bytes=np.array([250, 250]),
        boundary_bytes=np.array([100.0, 100.0, 100.0]), dram_bandwidth=1e6, dram_byte_j=0.0,
        reconfiguration_s=0.5 * MS, dram_access_j=0.0, nop_byte_hop_j=0.0, dram_hops=np.zeros((5, 1)))
    return replace(toy_problem([[1.0], [1.0]], batch=2), configs=(Config("4 chiplets", 4),), tables=tables,
                   execution=ExecutionModel("chain", Form.SEGMENTS, "segments of clusters"))


def test_two_devices_by_hand() -> None:
    """Device 0 runs layer 0 (1 ms, weights on chip), device 1 layer 1 (1 ms, 1.5 ms of streamed weights per input);
    the link moves 0.5 ms per input and adds 0.2 ms of latency; two inputs.

    By hand: layer 0 at 0-1 and 1-2; link 1-1.5 and 2-2.5; device 1's memory streams input 0's weights 0-1.5 (a
    double buffer: fetched ahead), input 1's from 1.7 (when layer 1 starts input 0) to 3.2; layer 1 of input 0 at
    1.7-2.7, of input 1 at 2.7-3.7. The closed form: 2 + 0.7 + (2 - 1) x 1.5 = 4.2 ms; in the steady state the memory
    paces the chain at 1.5 ms per input, as the period says.
    """
    tables = DeviceTables(
        kinds=("fpga",), parts=("",), chain=(0, 0), splits=(1,), block_s=np.full((1, 1, 2, 2), 1.0) * MS,
        block_j=np.zeros((1, 1, 2, 2)), fabric=np.zeros((2, 3)), capacity=np.ones((1, 4)),
        stored_bytes=np.array([[0, 3000]]), kv_bytes=np.zeros(2), gather_bytes=np.zeros((1, 2)),
        onchip=np.array([True, False]), memory_bandwidth=np.array([1e6]), memory_capacity=np.array([1e9]),
        clock_hz=np.array([1e9]), static_power_w=np.zeros(1), boundary_bytes=np.array([0.0, 500.0, 0.0]),
        link_bandwidth=1e6, link_latency_s=0.2 * MS, link_j_per_byte=0.0)
    base = toy_problem([[1.0, 1.0], [1.0, 1.0]], batch=2)
    problem = replace(base, execution=ExecutionModel("chain", Form.DEVICES, "a run of layers per device"),
                      tables=tables)
    groups = ((0, (0,), (0,)), (1, (1,), (1,)))
    rep = replay(problem, groups, 2)
    assert op_times(rep) == {(0, 0): (0, 1), (1, 0): (1, 2), (0, 1): (1.7, 2.7), (1, 1): (2.7, 3.7)}
    s = rep.schedule
    transfers = sorted((j.kind, j.input, round(s.start_s[k] / MS, 9), round(s.end_s[k] / MS, 9))
                       for k, j in enumerate(rep.layout.jobs) if j.kind != "op")
    assert transfers == [("link", 0, 1, 1.5), ("link", 1, 2, 2.5), ("memory", 0, 0, 1.5), ("memory", 1, 1.7, 3.2)]
    analytical = metrics(problem, groups)
    assert analytical.latency_s == pytest.approx(4.2 * MS) and analytical.period_s == pytest.approx(1.5 * MS)
    sim = simulate(problem, groups, analytical, ["device 0", "device 1"])
    assert sim.latency.simulated == pytest.approx(3.7)
    assert sim.throughput.simulated == pytest.approx(1 / (1.5 * MS), rel=1e-9)
    assert [b.simulated for b in sim.busy] == pytest.approx([1 / 1.5, 1.0], rel=1e-9)


def check_schedule(rep) -> None:
    """The replay is a schedule: dependencies kept, one job at a time per resource, the latency its last end."""
    s, jobs = rep.schedule, rep.layout.jobs
    for k, job in enumerate(jobs):
        for pred, lag in job.after:
            assert s.start_s[k] >= s.end_s[pred] + lag - 1e-12
        assert s.end_s[k] >= s.start_s[k] + job.duration_s - 1e-12
    by_resource: dict[int, list[tuple[float, float]]] = {}
    for k, job in enumerate(jobs):
        by_resource.setdefault(job.resource, []).append((s.start_s[k], s.end_s[k]))
    for spans in by_resource.values():
        spans.sort()
        assert all(b[0] >= a[1] - 1e-12 for a, b in zip(spans, spans[1:]))


def random_plan(rng: np.random.Generator, contiguous: bool) -> tuple[Problem, tuple]:
    """A random pipeline problem (1-4 accelerators, 5-9 layers, batch 1-5, DDR in half the non-contiguous ones) and a
    plan of it."""
    n_a, n_l = int(rng.integers(1, 5)), int(rng.integers(5, 10))
    owner = (np.sort(rng.integers(0, n_a, n_l)) if contiguous else rng.integers(0, n_a, n_l))
    owner = np.unique(owner, return_inverse=True)[1]  # accelerators 0..k-1, each with a layer
    ddr = None if contiguous else list(rng.uniform(0, 0.5, n_l) * (rng.random() < 0.5))
    problem = toy_problem(rng.uniform(0.1, 2.0, (n_l, owner.max() + 1)).tolist(), int(rng.integers(1, 6)), ddr)
    return problem, tuple((a, tuple(int(l) for l in np.flatnonzero(owner == a))) for a in range(owner.max() + 1))


def test_contiguous_chains_are_flow_shops() -> None:
    """Consecutive layers per accelerator and no DDR: a flow shop of identical inputs, whose makespan is the closed
    form exactly (sum of stage times + (batch - 1) x the slowest stage)."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        problem, groups = random_plan(rng, contiguous=True)
        rep = replay(problem, groups, problem.batch)
        check_schedule(rep)
        assert rep.schedule.makespan_s == pytest.approx(metrics(problem, groups).latency_s, rel=1e-12)


def test_random_plans_are_schedules_above_the_bound() -> None:
    """Any assignment (re-entrant, DDR or not): the replay keeps every dependency, one job per resource at a time, and
    no batch ends before one input alone or the busiest resource's work."""
    rng = np.random.default_rng(11)
    for _ in range(40):
        problem, groups = random_plan(rng, contiguous=False)
        analytical = metrics(problem, groups)
        sim = simulate(problem, groups, analytical, [f"a{a}" for a in range(len(groups))])
        check_schedule(sim.batch)
        assert sim.latency.simulated >= sim.latency_bound_ms * (1 - 1e-12)
        assert sim.latency_bound_ms >= max(analytical.busy_s) * problem.batch * 1e3 * (1 - 1e-12)


def judged(data: dict) -> None:
    """Each figure agrees within the tolerance, or the output says to believe the simulation and why; no accelerator
    is busy more than all the time."""
    assert data["busy"] and all(0 < b["simulated"] <= 1 + 1e-9 for b in data["busy"])
    for key in ("latency_ms", "throughput"):
        fig = data[key]
        assert fig["agrees"] == (abs(fig["relative_difference"]) <= TOLERANCE)
        if not fig["agrees"]:
            assert fig["believe"] == "simulation" and len(fig["why"]) > 40


def simulate_cli(plan: Path, out: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["simulate", str(plan), "-o", str(out), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def solved(study, folder: Path, time_limit_s: float = 30) -> Path:
    """Solve ``study`` and write its plan.yaml as ``accelplan solve`` does (without the reports: they take seconds)."""
    result = api.plan_study(study, time_limit_s=time_limit_s)
    assert result.plan.feasible
    return write_plan(result.plan, folder / "plan.yaml", RunFacts.of(result.study))


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """The BERT-base hybrid study solved (colgen, ~2 s) and simulated: (plan file, simulate folder, result)."""
    out = tmp_path_factory.mktemp("bert")
    plan_file = solved(api.make_study(STUDIES / "bert-base_vck190.yaml"), out)
    result = api.simulate(plan_file)
    api.write_simulation(result, out / "simulate")
    return plan_file, out / "simulate", result


def test_bert_hybrid_latency_checked_by_the_simulation(bert) -> None:
    """The re-entrant BERT-base plan: its analytical latency is its scheduled one, and the replay (which streams the
    weights from the shared DDR as well) agrees with it and with its throughput within the tolerance."""
    plan_file, folder, result = bert
    data = json.loads((folder / "simulate.json").read_text())
    assert data == json.loads(json_text(simulation_json(result)))
    judged(data)
    check_schedule(result.simulation.batch)
    problem, groups = result.source.problem, result.source.groups
    one_input = sum(float(problem.time_s[l, c]) for c, ls in groups for l in ls)
    busiest = max(result.analytical.busy_s)
    assert data["reentrant"] > 0  # (66 hand-offs per input, 61 returns, when written)
    for figure in (data["latency_ms"]["simulated"], data["latency_ms"]["analytical"]):
        assert figure * MS >= max(one_input, problem.batch * busiest) - 1e-12  # no schedule beats these
    assert data["latency_ms"]["analytical"] == pytest.approx(result.source.plan.latency_ms, rel=1e-12)
    assert data["latency_closed_form_ms"] == pytest.approx(result.source.plan.closed_form_latency_ms, rel=1e-12)
    assert data["latency_ms"]["agrees"] and data["throughput"]["agrees"]
    text = (folder / "simulate.md").read_text()
    assert "| latency (ms, one batch) |" in text and f"Tolerance: {100 * TOLERANCE:g} %" in text
    assert "its analytical latency is its scheduled one" in text


@pytest.mark.slow
def test_solve_gives_a_re_entrant_plans_scheduled_latency(tmp_path: Path) -> None:
    """A re-entrant plan's latency is its schedule's, in its plan file, report, summary and JSON, with the closed form
    beside it and the dispatch rule; a contiguous plan has no closed form apart (its closed form is its schedule's)."""
    from accelplan.reports.summary import summary_json, summary_table

    result = api.plan_study(api.make_study(STUDIES / "bert-base_vck190.yaml"))
    plan = result.plan  # (colgen's plan of the same throughput may differ from the fixture's: ties on the period)
    again = metrics(result.problem, plan_groups(result.problem, plan))
    assert plan.latency_ms == pytest.approx(again.latency_s * 1e3, rel=1e-12)
    assert plan.closed_form_latency_ms is not None and plan.closed_form_latency_ms != plan.latency_ms
    assert plan.dispatch in DISPATCH_NAMES
    runs = sum(len(a.schedule) for a in plan.accelerators)
    assert runs == plan.batch * sum(len(a.layers) for a in plan.accelerators)  # every (input, layer) once
    assert max(r[3] for a in plan.accelerators for r in a.schedule) == pytest.approx(
        plan.latency_ms - (plan.batch - 1) * (plan.period_ms - max(a.busy_ms for a in plan.accelerators)), rel=1e-9)
    api.write_outputs(result, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Latency of a batch, as scheduled" in report and f"| {plan.closed_form_latency_ms:.4f} |" in report
    assert "as scheduled" in (tmp_path / "report.html").read_text()
    written = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    assert (written["latency_ms"], written["closed_form_latency_ms"], written["dispatch"]) == (
        plan.latency_ms, plan.closed_form_latency_ms, plan.dispatch)
    assert summary_json(plan)["closed_form_latency_ms"] == plan.closed_form_latency_ms
    assert f"the closed form, {plan.closed_form_latency_ms:.4f} ms" in summary_table(plan)
    spatial = api.plan_study(api.make_study(STUDIES / "bert-base_vck190.yaml", execution="spatial", strategy="dp"))
    assert spatial.plan.feasible and spatial.plan.closed_form_latency_ms is None
    assert summary_json(spatial.plan)["closed_form_latency_ms"] is None
    assert "closed_form_latency_ms" not in plan_data(spatial.plan)


@pytest.mark.slow
def test_a_latency_bound_is_held_as_scheduled(bert) -> None:
    """Under a latency bound between the plan's closed form and its schedule, the exact strategy returns a plan that
    meets the bound as it runs (it used to return the plan, whose batch took longer than the bound)."""
    _, _, simulated = bert
    plan = simulated.source.plan
    low, high = sorted((plan.latency_ms, plan.closed_form_latency_ms))
    bound_ms = (low + high) / 2
    bounded = api.plan_study(api.make_study(STUDIES / "bert-base_vck190.yaml", latency_max_ms=bound_ms)).plan
    assert bounded.feasible and bounded.latency_ms <= bound_ms * (1 + 1e-9), bounded.solver
    assert bounded.solver.status in ("optimal", "feasible") and bounded.solver.bound >= bounded.throughput


def test_a_latency_optimum_is_the_schedules() -> None:
    """For the latency objective on re-entrant plans the exact strategies price the schedule: a random 5-layer hybrid
    problem whose closed-form optimum is re-entrant gets a plan no worse on its schedule, and no better than the
    enumeration of every plan on its schedule."""
    from conftest import random_problem
    from accelplan.solvers import solve

    problem = random_problem(80, "latency")
    best = solve(problem, "exhaustive")
    for strategy in ("milp", "cpsat"):
        plan = solve(problem, strategy)
        assert plan.feasible and plan.latency_ms >= best.latency_ms * (1 - 1e-9)
        assert plan.solver.bound <= best.latency_ms * (1 + 1e-9)


def test_a_plan_priced_differently_now_is_flagged(bert) -> None:
    """A plan whose file figures are not its groups priced now (the cost model moved since) is said to be."""
    _, _, result = bert
    assert not result.stale and "differ from its plan priced now" not in simulation_markdown(result)
    plan = result.source.plan
    moved = replace(result, source=replace(result.source, plan=replace(plan, latency_ms=plan.latency_ms * 0.5)))
    assert moved.stale and "differ from its plan priced now" in simulation_markdown(moved)
    assert simulation_json(moved)["stale"] is True
    assert "note: the plan file's figures differ" in simulation_table(moved)
    assert "note:" not in simulation_table(result) and f"tolerance {100 * TOLERANCE:g} %" in simulation_table(result)


def test_a_latency_bound_the_simulation_misses_is_said(bert) -> None:
    _, _, result = bert
    simulated_s = result.simulation.latency.simulated * MS
    for factor, missed in ((0.99, True), (1.01, False)):
        problem = result.source.problem.with_latency_bound(simulated_s * factor)
        bounded = replace(result, source=replace(result.source, problem=problem))
        assert bool(bounded.constraint_notes) == missed
        assert ("Constraint missed in the simulation" in simulation_markdown(bounded)) == missed
        assert (simulation_json(bounded)["constraints_missed"] != []) == missed


def test_trace_is_trace_event_format(bert) -> None:
    plan_file, folder, _ = bert
    trace = json.loads((folder / "trace.json").read_text())
    events = trace["traceEvents"]
    named = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    complete = [e for e in events if e["ph"] == "X"]
    assert complete and {e["ph"] for e in events} == {"M", "X"}
    for e in complete:
        assert {"name", "cat", "ph", "ts", "dur", "pid", "tid"} <= set(e)
        assert isinstance(e["ts"], (int, float)) and e["dur"] >= 0 and (e["pid"], e["tid"]) in named
    plan = yaml.safe_load(plan_file.read_text())
    n_layers = sum(len(a["layers"]) for a in plan["accelerators"])
    ops = [(e["args"]["input"], e["args"]["layer"]) for e in complete if e["cat"] == "op"]
    assert len(ops) == len(set(ops)) == plan["batch"] * n_layers
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert "DDR" in names and sum(n.startswith("accelerator ") for n in names) == len(plan["accelerators"])
    assert max(e["ts"] + e["dur"] for e in complete) == pytest.approx(
        json.loads((folder / "simulate.json").read_text())["latency_ms"]["simulated"] * 1e3)


@pytest.mark.slow
def test_device_chain_study(tmp_path, capsys) -> None:
    """LLaMA-7B decode on 32 U250 (dp, under a second): blocks, device memories and links replayed."""
    plan_file = solved(api.make_study(STUDIES / "llama-7b-decode_u250-x32.yaml"), tmp_path)
    data = simulate_cli(plan_file, tmp_path, capsys)
    judged(data)
    assert len(data["busy"]) == len(yaml.safe_load(plan_file.read_text())["accelerators"])
    assert (tmp_path / "simulate" / "trace.json").is_file() and (tmp_path / "simulate" / "simulate.md").is_file()


@pytest.mark.slow
def test_segment_study(tmp_path) -> None:
    """ResNet-152 on simba-36: a plan of three segments of two clusters of (at most) half the package each, priced by
    the family and written as solve writes it, replayed (dp's optimum takes 10-20 s: too long for the suite)."""
    study = api.make_study(STUDIES / "resnet152_simba-36.yaml")
    problem = build_problem(study)
    half = max((c for c, cfg in enumerate(problem.configs) if cfg.units <= problem.segments.chiplets // 2),
               key=lambda c: problem.configs[c].units)
    cuts = np.linspace(0, problem.n_layers, 7).astype(int)
    groups = tuple((half, tuple(range(cuts[k], cuts[k + 1])), k // 2) for k in range(6))
    plan = evaluate(problem, groups)
    assert plan.feasible and plan.segments == 3
    write_plan(plan, tmp_path / "plan.yaml", RunFacts.of(study, "dp"))
    result = api.simulate(tmp_path / "plan.yaml")
    data = simulation_json(result)
    judged(data)
    assert data["latency_ms"]["analytical"] == pytest.approx(plan.latency_ms)
    check_schedule(result.simulation.batch)
    assert result.simulation.throughput.simulated == pytest.approx(problem.batch / (data["latency_ms"]["simulated"] * MS))


def test_command_line_study_is_rebuilt_from_the_plan(tmp_path, capsys) -> None:
    """A plan solved from --model/--hardware records no study file: model, hardware and constraints come from the plan."""
    study = api.make_study(model="deit-tiny", hardware="vck190", execution="spatial", strategy="dp", batch=4)
    plan_file = solved(study, tmp_path)
    assert yaml.safe_load(plan_file.read_text())["run"]["study"] == COMMAND_LINE
    data = simulate_cli(plan_file, tmp_path, capsys)
    judged(data)
    assert data["batch"] == 4 and data["reentrant"] == 0  # spatial: consecutive layers, no re-entry
    plan = yaml.safe_load(plan_file.read_text())
    ddr_ms = next((b["used"] for b in plan["budgets"] if b["name"].startswith("DDR time")), 0.0)
    if data["stretched_ms"] < 1e-6 and ddr_ms < max(a["busy_ms"] for a in plan["accelerators"]):
        # a flow shop of identical inputs, no memory waits: sum of stages + (batch - 1) x slowest, exactly
        assert abs(data["latency_ms"]["relative_difference"]) < 1e-9
        assert abs(data["throughput"]["relative_difference"]) < 1e-6


def test_bad_plan_files_exit_2_with_the_reason(bert, tmp_path, capsys) -> None:
    plan_file, _, _ = bert
    capsys.readouterr()
    assert main(["simulate", str(STUDIES / "bert-base_vck190.yaml"), "-o", str(tmp_path)]) == 2
    assert "not an accelplan plan" in capsys.readouterr().err
    data = yaml.safe_load(plan_file.read_text())
    data["run"]["study"] = "studies/missing.yaml"
    (tmp_path / "missing.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["simulate", str(tmp_path / "missing.yaml"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "run.study" in err and "'studies/missing.yaml' not found" in err and "Traceback" not in err
    del data["run"]
    (tmp_path / "norun.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["simulate", str(tmp_path / "norun.yaml"), "-o", str(tmp_path)]) == 2
    assert "does not name the study" in capsys.readouterr().err
    assert not (tmp_path / "simulate").exists()


@pytest.mark.parametrize("change, message", [
    (lambda d: d["accelerators"][0].update(config="9x9x9@1x1x1"), "not in vck190's menu"),
    (lambda d: d["accelerators"][0]["layers"].pop() and d["accelerators"][0]["gemms"].pop(), "exactly one accelerator"),
    (lambda d: d["run"]["constraints"].update(batch="many"), "run.constraints"),
])
def test_plan_that_does_not_fit_its_study_exits_2(bert, tmp_path, capsys, change, message) -> None:
    data = yaml.safe_load(bert[0].read_text())
    data["run"]["study"] = str(STUDIES / "bert-base_vck190.yaml")
    change(data)
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "plan.yaml"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(tmp_path / "plan.yaml") in err and "Traceback" not in err


def test_a_plan_of_a_model_file_given_on_the_command_line_simulates_from_anywhere(tmp_path, monkeypatch) -> None:
    """The run block keeps a command-line model file by its absolute path (a built-in by its name), so the plan is
    rebuilt and replayed from another folder, as it was solved (a model named unlike any built-in)."""
    mine = tmp_path / "work" / "mine"
    mine.mkdir(parents=True)
    text = (Path(__file__).parent.parent / "specs" / "models" / "deit-tiny.yaml").read_text()
    (mine / "tiny.yaml").write_text(text.replace("name: deit-tiny", "name: my-tiny", 1))
    monkeypatch.chdir(tmp_path / "work")
    assert main(["solve", "--model", "mine/tiny.yaml", "--hardware", "vck190", "--strategy", "dp", "--execution",
                 "spatial", "--time-limit", "10", "-o", "out", "--quiet"]) == 0
    run = yaml.safe_load((tmp_path / "work" / "out" / "solve" / "plan.yaml").read_text())["run"]
    assert run["study"] == COMMAND_LINE and run["model"] == str(mine / "tiny.yaml") and run["hardware"] == "vck190"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["simulate", str(tmp_path / "work" / "out" / "solve" / "plan.yaml"), "-o", "sim", "--quiet"]) == 0
    assert json.loads((elsewhere / "sim" / "simulate" / "simulate.json").read_text())["model"] == "my-tiny"
