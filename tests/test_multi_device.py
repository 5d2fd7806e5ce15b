"""The multi-device family: the devices model by hand, and exhaustive plans that react to links,
on-chip memory and the utilisation cap as a designer expects."""

from __future__ import annotations

import itertools
import math

import pytest
import yaml

from accelplan import api
from accelplan.errors import SpecError
from accelplan.families import build_problem
from accelplan.plan import evaluate, plan_groups
from accelplan.solvers import STRATEGIES, solve

from conftest import sweep

SYSTEM = {
    "name": "md-test", "family": "multi-device",
    "devices": [{"count": 3, "device": {
        "name": "small-fpga", "lut": 200000, "ff": 400000, "dsp": 600, "bram": "1 MB", "uram": "0 B",
        "memory": {"kind": "ddr4", "capacity": "4 GB", "bandwidth": "10 GB/s", "energy_per_bit": "15 pJ"},
        "clock": "200 MHz", "utilisation_cap": 0.75, "static_power": "10 W",
        "energy": {"mac": {"int8": "1 pJ"}, "onchip_byte": "1 pJ"}}}],
    "link": {"kind": "qsfp28", "bandwidth": "100 Gb/s", "latency": "1 us", "energy_per_bit": "10 pJ"},
    "lane": {"int8": {"dsp": 0.5, "lut": 40, "ff": 60}},
    "block": {"lut": 2000, "ff": 3000},
    "parallelism": {"per_dimension": [1, 4, 16], "max_lanes": 1024},
}
MODEL = """name: chain
dtype: int8
batch: {batch}
operators:
  - {{name: a, kind: linear, m: 16, k: 256, n: 256}}
  - {{name: b, kind: linear, m: 16, k: 256, n: 1024}}
  - {{name: c, kind: linear, m: 16, k: 1024, n: 256}}
"""


def _study(tmp_path, batch: int = 4, **changes):
    system = yaml.safe_load(yaml.safe_dump(SYSTEM))
    for path, value in changes.items():
        node = system
        *keys, last = path.split(".")
        for key in keys:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    hw, model = tmp_path / "hw.yaml", tmp_path / "model.yaml"
    hw.write_text(yaml.safe_dump(system))
    model.write_text(MODEL.format(batch=batch))
    return api.make_study(model=str(model), hardware=str(hw))


def test_a_plan_priced_by_hand(tmp_path):
    """Two devices: layers a, b on the first (on chip, streamed), c on the second; every term of the model by hand."""
    problem = build_problem(_study(tmp_path))
    cfg = {c.label: i for i, c in enumerate(problem.configs)}
    groups = ((0, (0, 1), (cfg["m4k16n4"], cfg["m1k16n16/streamed"])), (1, (2,), (cfg["m16k4n4"],)))
    plan = solve_groups(problem, groups)
    clock, b = 200e6, 4
    t_a = 4 * 16 * 64 / clock                    # ceil(16/4) ceil(256/16) ceil(256/4) cycles
    t_b = 16 * 16 * 64 / clock                   # ceil(16/1) ceil(256/16) ceil(1024/16)
    t_c = 1 * 256 * 64 / clock                   # ceil(16/16) ceil(1024/4) ceil(256/4)
    mem = 256 * 1024 / b / 10e9                  # b's weights once per batch from 10 GB/s
    link = 16 * 1024 / 12.5e9                    # b's output (16 x 1024 int8) over 100 Gb/s
    period = max(t_a, t_b, mem, t_c, link)
    assert plan.feasible, plan.violations
    assert plan.period_ms == pytest.approx(period * 1e3)
    assert plan.latency_ms == pytest.approx((t_a + t_b + t_c + 1e-6 + link + (b - 1) * period) * 1e3)
    macs = 16 * 256 * 256 + 16 * 256 * 1024 + 16 * 1024 * 256
    energy = (macs * 1e-12 + (256 * 256 + 1024 * 256) * 1e-12 + 256 * 1024 / b * 8 * 15e-12
              + 16 * 1024 * 8 * 10e-12 + 2 * 10 * period)
    assert plan.energy_mj == pytest.approx(energy * 1e3)
    assert plan.feasible and [a.placements for a in plan.accelerators] == [("on-chip", "streamed"), ("on-chip",)]
    assert plan.accelerators[0].units == math.ceil(4 * 16 * 4 * 0.5) + math.ceil(16 * 16 * 0.5)  # DSP
    assert t_b == t_c == period and plan.bottleneck == "block b on device 0"  # a tie: the first slowest is named


def solve_groups(problem, groups):
    from accelplan.plan import evaluate
    return evaluate(problem, groups)


def _best(tmp_path, objective="throughput", **changes):
    study = _study(tmp_path, **changes)
    problem = build_problem(study, objective=objective)
    plan = solve(problem, "exhaustive", time_limit_s=120)
    assert plan.solver.status == "optimal", plan.solver.message
    return plan


def _crossing(plan) -> int:
    """The most bytes per input any link of the plan carries (the output of the last layer before a cut)."""
    return max((m * n * count for a in plan.accelerators[:-1] for m, _, n, count in a.gemms[-1:]), default=0)


def test_a_slower_link_moves_the_optimal_cut(tmp_path):
    fast = _best(tmp_path)
    slow = _best(tmp_path, **{"link.bandwidth": "1 Gb/s"})
    assert len(fast.accelerators) > 1 and _crossing(fast) == 16 * 1024  # cut after b: its 16 KB output crosses
    assert [a.layers for a in slow.accelerators] != [a.layers for a in fast.accelerators]
    assert _crossing(slow) < _crossing(fast)  # the slow link only carries a smaller activation
    assert slow.throughput <= fast.throughput


def test_weights_that_do_not_fit_on_chip_stream_or_spread(tmp_path):
    roomy = _best(tmp_path)
    tight = _best(tmp_path, **{"devices.0.device.bram": "200 KB"})  # 0.75 x 200 KB holds one small layer's weights
    placed = [p for a in tight.accelerators for p in a.placements]
    assert "streamed" in placed or len(tight.accelerators) > len(roomy.accelerators)
    assert tight.throughput <= roomy.throughput


def test_the_utilisation_cap_binds(tmp_path):
    capped = _best(tmp_path, **{"devices.0.device.utilisation_cap": 0.1})
    free = _best(tmp_path, **{"devices.0.device.utilisation_cap": 1.0})
    assert all(b.used <= b.available * (1 + 1e-9) for b in capped.budgets)
    assert max(b.used / b.available for b in capped.budgets if "DSP" in b.name) > 0.5  # the cap is what limits it
    assert capped.throughput < free.throughput


#: a small chain for brute force: 3 layers, up to 3 devices of 100 DSPs (the blocks compete for them), 16 blocks
BRUTE = {"parallelism.per_dimension": [1, 4], "devices.0.device.dsp": 100}
FIGURE = {"throughput": "throughput", "latency": "latency_ms", "energy": "energy_mj"}
#: each objective's figure from the execution model's Metrics, in the plan's units (lower is better)
SCORE = {"throughput": lambda m: -m.throughput, "latency": lambda m: m.latency_s * 1e3,
         "energy": lambda m: m.energy_j * 1e3}


def _chains(n_layers: int, most: int):
    """Every cut of layers 0..n-1 into 1..most non-empty runs of consecutive layers, in order."""
    for devices in range(1, min(n_layers, most) + 1):
        for cuts in itertools.combinations(range(1, n_layers), devices - 1):
            ends = (0, *cuts, n_layers)
            yield [tuple(range(ends[i], ends[i + 1])) for i in range(devices)]


@pytest.fixture(scope="module")
def brute_force(tmp_path_factory):
    """The optimum of each objective over every device-chain plan of the BRUTE system: every cut, every block
    configuration per layer (no pruning), each priced by the execution model's metrics (what accelplan.plan.evaluate
    reports). Groups are (device position, layer indices, configuration index per layer)."""
    from accelplan.execution.devices import metrics

    problem = build_problem(_study(tmp_path_factory.mktemp("brute"), **BRUTE))
    best: dict[str, tuple[float, tuple]] = {}  # objective -> (score, groups)
    priced = feasible = 0
    for chain in _chains(problem.n_layers, problem.accelerator_slots):
        for blocks in itertools.product(range(len(problem.configs)), repeat=problem.n_layers):
            it = iter(blocks)
            groups = tuple((d, layers, tuple(next(it) for _ in layers)) for d, layers in enumerate(chain))
            met = metrics(problem, groups)
            priced += 1
            if met.violations:
                continue
            feasible += 1
            for objective, score in SCORE.items():
                if objective not in best or score(met) < best[objective][0]:
                    best[objective] = (score(met), groups)
    assert priced == 4 * len(problem.configs) ** 3 and 0 < feasible < priced  # 4 chains of 3 layers; the DSPs bind
    return {objective: (abs(score), groups) for objective, (score, groups) in best.items()}


@pytest.mark.parametrize("objective", ["throughput", "latency", "energy"])
def test_every_objective_is_solved_exactly_by_enumeration(tmp_path, objective, brute_force):
    """exhaustive's optimum of each objective is the best of every plan enumerated independently in the test."""
    value, groups = brute_force[objective]
    problem = build_problem(_study(tmp_path, **BRUTE), objective=objective)
    assert getattr(evaluate(problem, groups), FIGURE[objective]) == pytest.approx(value, rel=1e-9)  # same units
    plan = solve(problem, "exhaustive", time_limit_s=120)
    assert plan.solver.status == "optimal" and plan.feasible, plan.solver.message
    assert getattr(plan, FIGURE[objective]) == pytest.approx(value, rel=1e-9), groups
    assert plan.objective_value() == pytest.approx(value, rel=1e-9)


def test_which_strategies_cover_the_family(tmp_path):
    problem = build_problem(_study(tmp_path))
    assert STRATEGIES["exhaustive"].reason(problem) is None
    assert "does not model device-pipeline execution" in STRATEGIES["cpsat"].reason(problem)


def test_spec_errors_name_the_field(tmp_path):
    with pytest.raises(SpecError, match=r"parallelism\.per_dimension\[1\].*not a power of two"):
        _study(tmp_path, **{"parallelism.per_dimension": [1, 3]})
    with pytest.raises(SpecError, match="unknown hardware family 'multi-devices'; valid: versal-aie, mcm, multi-device, gpu"):
        _study(tmp_path, family="multi-devices")


def _random_system(tmp_path, seed: int):
    import random
    rng = random.Random(seed)
    system = yaml.safe_load(yaml.safe_dump(SYSTEM))
    dev = system["devices"][0]["device"]
    dev["dsp"] = rng.choice([12, 40, 120, 600])  # small: blocks compete for a device's DSPs
    dev["bram"] = rng.choice(["100 KB", "400 KB", "2 MB"])
    dev["memory"]["bandwidth"] = rng.choice(["1 GB/s", "10 GB/s"])
    dev["clock"] = rng.choice(["150 MHz", "300 MHz"])
    system["devices"][0]["count"] = rng.randint(1, 3)
    if rng.random() < 0.5:  # a second kind of device, later in the chain
        other = yaml.safe_load(yaml.safe_dump(dev))
        other.update(name="other-fpga", dsp=rng.choice([24, 300]), clock="250 MHz")
        system["devices"].append({"count": rng.randint(1, 2), "device": other})
    system["link"]["bandwidth"] = rng.choice(["1 Gb/s", "10 Gb/s", "100 Gb/s"])
    system["parallelism"]["per_dimension"] = rng.choice([[1, 4], [1, 8]])
    layers = "\n".join(f"  - {{name: l{i}, kind: linear, m: {rng.choice([4, 16])}, k: {rng.choice([64, 256, 512])}, "
                       f"n: {rng.choice([64, 256, 512])}}}" for i in range(rng.randint(2, 3)))
    hw, model = tmp_path / f"hw{seed}.yaml", tmp_path / f"m{seed}.yaml"
    hw.write_text(yaml.safe_dump(system))
    model.write_text(f"name: m{seed}\ndtype: int8\nbatch: {rng.choice([1, 4])}\noperators:\n{layers}\n")
    return api.make_study(model=str(model), hardware=str(hw))


def test_dp_equals_enumeration_on_random_systems(tmp_path):
    """Random chains (1-5 devices of one or two kinds, links, memories, budgets) and 2-3 layers: dp's throughput is
    the enumerated optimum; over the seeds the optima use several devices and streamed weights."""
    devices, streamed = set(), 0
    for seed in range(16):
        problem = build_problem(_random_system(tmp_path, seed))
        ref = solve(problem, "exhaustive", time_limit_s=120)
        dp = solve(problem, "dp", time_limit_s=60)
        assert ref.solver.status == "optimal" and dp.solver.status == ("optimal" if ref.feasible else "infeasible"), seed
        if ref.feasible:
            assert dp.feasible and dp.throughput == pytest.approx(ref.throughput, rel=1e-6), seed
            assert dp.solver.bound >= dp.throughput * (1 - 1e-9)
            devices.add(len(dp.accelerators))
            streamed += any(p == "streamed" for a in dp.accelerators for p in a.placements)
    assert max(devices) >= 2 and streamed >= 1, (devices, streamed)


@pytest.mark.slow
def test_off_chip_memory_spreads_weights_and_an_oversized_layer_is_refused(tmp_path):
    small = {"devices.0.device.bram": "100 KB", "devices.0.device.memory.capacity": "300 KB"}
    plan = _best(tmp_path, **small)  # 576 KB of weights; a device holds 75 KB on chip + 300 KB off chip
    assert len(plan.accelerators) >= 2
    for strategy in ("dp", "exhaustive"):
        again = solve(build_problem(_study(tmp_path, **small)), strategy, time_limit_s=60)
        assert again.throughput == pytest.approx(plan.throughput) and len(again.accelerators) >= 2
    with pytest.raises(SpecError, match="layer 'b' holds 0.2621 MB of weights, and the hardware splits no layer.*more than any device holds .*tensor_parallel"):
        build_problem(_study(tmp_path, **{"devices.0.device.bram": "100 KB", "devices.0.device.memory.capacity": "100 KB"}))


@pytest.mark.slow
def test_llm_decode_on_the_built_in_chains_is_memory_bound():
    """LLaMA-7B decode (one token, 6.6 GB of int8 weights): the optimum streams weights and is paced by a device's
    memory; more devices with HBM give far more tokens/s than four cards behind PCIe."""
    plans = {}
    for hardware in ("u250-x4-pcie", "u55c-x128"):
        problem = build_problem(api.make_study(model="llama-7b-decode", hardware=hardware, batch=1))
        plans[hardware] = plan = solve(problem, "dp", time_limit_s=60)
        assert plan.solver.status == "optimal" and plan.feasible
        assert "off-chip memory" in plan.bottleneck
        assert any(p == "streamed" for a in plan.accelerators for p in a.placements)
    assert plans["u55c-x128"].throughput > 5 * plans["u250-x4-pcie"].throughput
    assert len(plans["u250-x4-pcie"].accelerators) <= 4


def test_tables_match_the_cost_functions(tmp_path):
    """The vectorised tables are the documented per-block formulas of accelplan.families.multi_device.costs."""
    from accelplan.families.multi_device import costs
    study = _study(tmp_path)
    problem = build_problem(study)
    device = study.hardware.devices[0].device
    for l, layer in enumerate(problem.layers):
        for c, cfg in enumerate(problem.configs):
            assert problem.devices.time_s[0, l, c] == pytest.approx(costs.cycles(layer.gemm, cfg) / device.clock)
            assert problem.devices.energy_j[0, l, c] == pytest.approx(
                costs.energy_j(device, "int8", layer.gemm, cfg, problem.batch))


@pytest.mark.parametrize("strategy", ["optuna-tpe", "optuna-nsga2"])
@pytest.mark.parametrize("seed", (1, 6, 10))
def test_optuna_on_device_chains_never_beats_the_optimum(seed: int, tmp_path, strategy):
    """Optuna searches cuts and per-layer blocks; every plan it returns is feasible and no better than the optimum."""
    problem = build_problem(_random_system(tmp_path, seed))
    best = solve(problem, "exhaustive", time_limit_s=60)
    found = solve(problem, strategy, time_limit_s=30, trials=60, seed=seed)
    assert found.solver.status == "feasible" and found.feasible
    assert found.throughput <= best.throughput * (1 + 1e-9)


def test_the_gpu_roofline_reference_by_hand():
    """The A100 reference: each layer at max(compute, memory) of its roofline plus a launch; board power x time."""
    study = api.make_study(model="llama-7b-decode", hardware="a100", batch=1)
    problem = build_problem(study)
    plan = solve(problem, "dp", time_limit_s=30)
    total = 0.0
    for layer in problem.layers:
        g = layer.gemm
        weights = g.k * g.n * g.count if g.weight else 0
        acts = (g.m * g.k + g.m * g.n) * g.count + (0 if g.weight else g.k * g.n * g.count)
        total += max(g.macs / (312e12 * 0.7), (weights + acts) / (2039e9 * 0.8)) + 5e-6
    assert plan.solver.status == "optimal" and plan.period_ms == pytest.approx(total * 1e3)
    assert plan.energy_mj == pytest.approx(400 * total * 1e3)
    assert 150 < plan.throughput < 200  # memory-bound: 6.6 GB of weights per token at 1.6 TB/s, plus launches


@pytest.mark.parametrize("objective", ["throughput", "latency", "energy"])
@pytest.mark.parametrize("seed", sweep(range(16), 4))
def test_milp_equals_enumeration_on_random_systems(seed: int, tmp_path, objective):
    """The device-chain MILP, an independent formulation, reaches the enumerated optimum for every objective."""
    problem = build_problem(_random_system(tmp_path, seed), objective=objective)
    ref = solve(problem, "exhaustive", time_limit_s=120)
    milp = solve(problem, "milp", time_limit_s=60)
    assert milp.solver.status == ("optimal" if ref.feasible else "infeasible"), (seed, milp.solver.message)
    if ref.feasible:
        assert milp.objective_value() == pytest.approx(ref.objective_value(), rel=1e-6), seed
        assert milp.solver.model_objective == pytest.approx(milp.objective_value(), rel=1e-5), seed


def test_a_device_plan_gives_back_its_groups(tmp_path):
    """plan_groups inverts evaluate on device chains too: the same devices, layers and block per layer."""
    problem = build_problem(_study(tmp_path, **{"devices.0.device.bram": "100 KB"}))
    plan = solve(problem, "dp", time_limit_s=30)
    groups = plan_groups(problem, plan)
    again = evaluate(problem, groups)
    assert [a.layer_tiles for a in again.accelerators] == [a.layer_tiles for a in plan.accelerators]
    assert [a.placements for a in again.accelerators] == [a.placements for a in plan.accelerators]
    assert again.throughput == pytest.approx(plan.throughput) and again.energy_mj == pytest.approx(plan.energy_mj)
