"""Engine tiles as decisions: the generated menu respects local memory, and pruning it keeps the optimum."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import numpy as np
import pytest

from accelplan.families import build_problem
from accelplan.families.versal_aie import costs as versal_aie
from accelplan.families.versal_aie.spec import VersalMenuSpec
from accelplan.plan import plan_groups
from accelplan.solvers import solve
from accelplan.specs.network import flatten
from accelplan.specs.schema import StudySpec
from accelplan.specs.study import Study

from conftest import random_hardware, random_model, sweep


def _study(seed: int, execution: str, objective: str) -> Study:
    rng = random.Random(seed)
    hw = random_hardware(rng)
    menu = VersalMenuSpec(array_dims=[1, 2, 4], engine_tiles={"int8": [[32, 32, 32]]},
                          engine_tile_dims={"int8": [16, 32, 64, 128]}, max_units_per_accelerator=8)
    hw = hw.model_copy(update={"menu": menu})
    spec = StudySpec(model="random", hardware="random-aie", execution=execution, objective=objective,
                     constraints={"max_accelerators": 2})
    return Study(spec, flatten(random_model(rng, rng.randint(2, 4))), hw)


def test_generated_tiles_fit_local_memory() -> None:
    hw = _study(0, "spatial", "throughput").hardware
    tiles = versal_aie.engine_tiles(hw, "int8")
    dims = [16, 32, 64, 128]
    fitting = [t for t in itertools.product(dims, repeat=3) if versal_aie.engine_tile_fits(hw, "int8", t)]
    assert set(tiles) == set(fitting) | {(32, 32, 32)} and len(tiles) == len(set(tiles))
    assert (128, 128, 128) not in tiles  # 2*(2*16 KiB) + 64 KiB of accumulators > 32 KiB
    for t in tiles:
        tm, tk, tn = t
        assert 2 * (tm * tk + tk * tn) + 4 * tm * tn <= hw.aie.local_memory
    configs = versal_aie.menu(hw, "int8")
    assert len(configs) == len({(c.array, c.engine_tile) for c in configs})
    assert all(math.prod(c.array) <= 8 for c in configs)


@pytest.mark.parametrize("seed", sweep(range(8), 1))
@pytest.mark.parametrize("execution,objective", [("sequential", "latency"), ("spatial", "throughput"),
                                                  ("spatial", "energy")])
def test_pruning_the_tile_menu_keeps_the_optimum(seed: int, execution: str, objective: str) -> None:
    study = _study(seed, execution, objective)
    full = build_problem(study, prune=False)
    pruned = build_problem(study)
    assert pruned.n_configs < full.n_configs  # the formulation stays small
    a, b = solve(full, "dp", time_limit_s=60), solve(pruned, "dp", time_limit_s=60)
    assert a.solver.status == b.solver.status == "optimal"
    assert b.objective_value() == pytest.approx(a.objective_value(), rel=1e-9)


def test_tiles_are_decided_with_the_arrays() -> None:
    """With several tiles on the menu, the optimum may pick any of them; the plan records the one chosen."""
    study = _study(3, "spatial", "throughput")
    problem = build_problem(study)
    assert len({c.engine_tile for c in problem.configs}) > 1
    plan = solve(problem, "dp")
    # each accelerator records the tile and array of the configuration it was given
    for a, (c, _) in zip(plan.accelerators, plan_groups(problem, plan), strict=True):
        assert (a.engine_tile, a.array) == (problem.configs[c].engine_tile, problem.configs[c].array), a.config
    # the optimum here picks a generated tile, not only the one listed on the menu
    assert {a.engine_tile for a in plan.accelerators} - {(32, 32, 32)}
    full = build_problem(study, prune=False)  # a menu restricted to the one listed tile cannot do better
    keep = [i for i, c in enumerate(full.configs) if c.engine_tile == (32, 32, 32)]
    restricted = replace(full, configs=tuple(full.configs[i] for i in keep), time_s=full.time_s[:, keep],
                         energy_j=full.energy_j[:, keep], usage=full.usage[keep])
    assert keep and solve(restricted, "dp").objective_value() <= plan.objective_value() * (1 + 1e-9)


def test_old_and_new_menu_syntax_load() -> None:
    """A plain [m, k, n] still loads and takes aie.kernel_efficiency; {tile, efficiency} carries its own."""
    hw = random_hardware(random.Random(0))
    menu = VersalMenuSpec.model_validate({"array_dims": [1, 2], "engine_tiles": {"int8": [
        [32, 32, 32], {"tile": [64, 64, 64], "efficiency": 0.5, "source": "a test"}, {"tile": [32, 64, 32]},
        {"tile": [32, 32, 32], "efficiency": 0.1}]}})  # a tile listed twice: the first entry wins
    hw = hw.model_copy(update={"menu": menu})
    default = hw.aie.kernel_efficiency["int8"]
    assert versal_aie.engine_tiles(hw, "int8") == [(32, 32, 32), (64, 64, 64), (32, 64, 32)]
    assert versal_aie.tile_efficiency(hw, "int8", (32, 32, 32)) == default
    assert versal_aie.tile_efficiency(hw, "int8", (64, 64, 64)) == 0.5
    assert versal_aie.tile_efficiency(hw, "int8", (32, 64, 32)) == default
    assert {c.engine_tile: c.kernel_efficiency for c in versal_aie.menu(hw, "int8")}[(64, 64, 64)] == 0.5
    with pytest.raises(ValueError):
        VersalMenuSpec.model_validate({"array_dims": [1], "engine_tiles": {"int8": [{"tile": [32, 32, 32],
                                                                                        "efficiency": 1.5}]}})


def test_a_dominated_configuration_is_pruned() -> None:
    """Slower on no layer and using no more of a resource a plan can run out of: the other one goes."""
    from accelplan.families.versal_aie.tabulate import binding_resources, prune_configs
    time_s = np.array([[1.0, 2.0, 1.0, 3.0], [1.0, 2.0, 2.0, 1.0]])  # (layers, configs)
    energy = np.array([[1.0, 1.0, 5.0, 1.0], [1.0, 1.0, 5.0, 1.0]])
    # resources: engines (can bind), buffer (6 accelerators of at most 3 never fill 100: cannot; the 8 engines
    # hold at most 8 * 3/4 = 6 of it, so a buffer of 5 can bind)
    usage = np.array([[4.0, 1.0], [4.0, 3.0], [4.0, 3.0], [2.0, 1.0]])
    capacity = np.array([8.0, 100.0])
    assert binding_resources(usage, capacity, slots=6).tolist() == [True, False]
    assert binding_resources(usage, np.array([8.0, 5.0]), slots=6).tolist() == [True, True]
    # configs (time per layer; engines, buffer): 0 (1, 1; 4, 1), 1 (2, 2; 4, 3), 2 (1, 2; 4, 3), 3 (3, 1; 2, 1).
    # 0 beats 1 and 2 (no slower, no more of anything); 3 is slower on layer 0 but takes fewer engines: kept
    assert prune_configs(time_s, energy, usage, capacity, 6, energy=False).tolist() == [0, 3]
    # when the buffer can bind, 0 (less buffer than 1 and 2) still beats them
    assert prune_configs(time_s, energy, usage, np.array([8.0, 5.0]), 6, energy=False).tolist() == [0, 3]
    # of two tied configurations the one of least energy stays
    tied = prune_configs(time_s[:, [0, 0]], np.array([[2.0, 1.0], [2.0, 1.0]]), usage[[0, 0]], capacity, 6, energy=False)
    assert tied.tolist() == [1]
    # energy objective: a configuration using less energy on some layer is kept (2: slower, but less energy)
    energy2 = np.array([[1.0, 1.0, 0.5, 1.0], [1.0, 1.0, 5.0, 1.0]])
    assert prune_configs(time_s, energy2, usage, capacity, 6, energy=True).tolist() == [0, 2, 3]


def _menu_study(seed: int, execution: str, objective: str, accelerators: int = 2) -> Study:
    """A random model on a random device whose menu has several tiles, each its own efficiency, and a PL buffer
    that binds on some seeds."""
    rng = random.Random(seed)
    hw = random_hardware(rng)
    tiles = [{"tile": t, "efficiency": rng.choice([0.5, 0.6, 0.8, 0.9])}
             for t in ([32, 32, 32], [64, 64, 64], [32, 64, 32], [64, 32, 32])]
    menu = VersalMenuSpec.model_validate({"array_dims": [1, 2, 4], "engine_tiles": {"int8": tiles},
                                          "max_units_per_accelerator": 8})
    hw = hw.model_copy(update={"menu": menu})
    if seed % 2:
        hw = hw.model_copy(update={"pl": hw.pl.model_copy(update={"buffer": 256 * 1024})})
    spec = StudySpec(model="random", hardware="random-aie", execution=execution, objective=objective,
                     constraints={"max_accelerators": accelerators})
    return Study(spec, flatten(random_model(rng, rng.randint(2, 4))), hw)


@pytest.mark.slow
@pytest.mark.parametrize("seed", sweep(range(6), 2))
@pytest.mark.parametrize("execution,objective,strategies", [
    ("hybrid", "throughput", ("colgen", "milp", "cpsat")), ("spatial", "throughput", ("dp", "milp")),
    ("hybrid", "latency", ("milp", "cpsat")), ("sequential", "latency", ("dp",)),
    ("spatial", "energy", ("dp",))])
def test_exact_strategies_agree_with_exhaustive_with_and_without_pruning(seed, execution, objective,
                                                                         strategies) -> None:
    """Pruning keeps the optimum: every exact strategy on the pruned menu equals exhaustive search of the full one."""
    study = _menu_study(seed, execution, objective)
    full, pruned = build_problem(study, prune=False), build_problem(study)
    assert pruned.n_configs <= full.n_configs
    truth = solve(full, "exhaustive", time_limit_s=120)
    assert truth.solver.status == "optimal"
    for name in strategies:
        plans = [solve(problem, name, time_limit_s=60) for problem in (pruned, full)]
        # hybrid latency: milp and cpsat may stop at "feasible" (the plan's latency is not the closed form they
        # bound); pruning must not change what they find either way
        assert plans[0].solver.status == plans[1].solver.status, name
        for plan in plans:
            assert plan.solver.status == "optimal" or (execution, objective) == ("hybrid", "latency"), name
            if plan.solver.status == "optimal":
                assert plan.objective_value() == pytest.approx(truth.objective_value(), rel=1e-6), name
