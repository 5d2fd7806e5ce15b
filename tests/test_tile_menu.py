"""Engine tiles as decisions: the generated menu respects local memory, and pruning it keeps the optimum."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

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
