"""Shared helpers: random small instances built through the real schema, and the built-in studies."""

from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import pytest

from accelplan.families import build_problem
from accelplan.families.mcm.spec import MCMHardware
from accelplan.families.versal_aie.spec import VersalAIEHardware
from accelplan.plan import Plan
from accelplan.problem import Problem
from accelplan.specs.network import flatten
from accelplan.specs.schema import ModelSpec, StudySpec
from accelplan.specs.study import Study

ROOT = Path(__file__).resolve().parent.parent


def random_hardware(rng: random.Random) -> VersalAIEHardware:
    """A small Versal-like device whose budgets bind often."""
    units = rng.choice([8, 12, 16, 24])
    return VersalAIEHardware.model_validate({
        "name": "random-aie", "family": "versal-aie",
        "aie": {"units": units, "grid": [4, 8], "clock": "1 GHz", "macs_per_cycle": {"int8": 128},
                "kernel_efficiency": {"int8": rng.choice([0.7, 0.8, 0.9])}, "local_memory": "32 KiB"},
        "plio": {"width_bits": 128, "clock": f"{rng.choice([150, 230, 300])} MHz", "ports_in": rng.randint(3, 9),
                 "ports_out": rng.randint(2, 5), "engines_per_port": rng.choice([1, 2, 4])},
        "pl": {"buffer": f"{rng.choice([48, 96, 400])} KiB", "elementwise_bandwidth": "20 GB/s"},
        "ddr": {"bandwidth": f"{rng.choice([2, 14, 50])} GB/s"},
        "energy": {"mac": {"int8": "0.4 pJ"}, "plio_byte": "2 pJ", "ddr_byte": "100 pJ", "elementwise_byte": "5 pJ",
                   "static_power": f"{rng.choice([0, 1, 8])} W"},
        "launch_overhead": f"{rng.choice([0, 1, 5])} us",
        "menu": {"array_dims": [1, 2, 4], "engine_tiles": {"int8": rng.choice([[[32, 32, 32]], [[32, 32, 32], [64, 64, 64]]])},
                 "max_units_per_accelerator": rng.choice([4, 8])},
    })


def random_model(rng: random.Random, layers: int) -> ModelSpec:
    """A chain of ``layers`` GEMM-like operators with random shapes and element-wise epilogues."""
    ops: list[dict] = []
    dims = [16, 32, 48, 64, 96, 128, 200, 256, 384, 512]
    for i in range(layers):
        kind = rng.choice(["linear", "linear", "matmul", "attention_qk", "conv2d"])
        if kind in ("linear", "matmul"):
            ops.append({"name": f"g{i}", "kind": kind, "m": rng.choice(dims), "k": rng.choice(dims), "n": rng.choice(dims),
                        "heads": rng.choice([1, 1, 2, 4])})
        elif kind == "attention_qk":
            ops.append({"name": f"g{i}", "kind": kind, "heads": rng.choice([1, 2, 4]), "seq": rng.choice(dims),
                        "head_dim": rng.choice([32, 64])})
        else:
            ops.append({"name": f"g{i}", "kind": "conv2d", "in_channels": rng.choice([3, 16, 32, 64]),
                        "out_channels": rng.choice([16, 32, 64]), "height": rng.choice([8, 14, 28]),
                        "width": rng.choice([8, 14, 28]), "kernel": rng.choice([1, 3]), "padding": 1})
        if rng.random() < 0.5:
            ops.append({"name": f"e{i}", "kind": rng.choice(["relu", "gelu", "softmax", "layernorm", "add"]),
                        "elements": rng.choice([1024, 8192, 65536])})
    return ModelSpec.model_validate({"name": "random", "dtype": "int8", "batch": rng.randint(1, 8), "operators": ops})


def random_problem(seed: int, objective: str, layers: tuple[int, int] = (2, 5)) -> Problem:
    """A random small problem: 2-5 layers, at most 3 accelerators, random execution model and bounds."""
    rng = random.Random(seed)
    model = random_model(rng, rng.randint(*layers))
    hw = random_hardware(rng)
    spec = StudySpec(model="random", hardware="random-aie", execution=rng.choice(["sequential", "spatial", "hybrid", "hybrid"]),
                     objective=objective, constraints={"max_accelerators": rng.randint(1, 3)})
    problem = _built(Study(spec, flatten(model), hw))
    if rng.random() < 0.4:  # a latency bound between the fastest and slowest single-accelerator latency
        single = problem.time_s.sum(axis=0)
        lo, hi = float(single.min()), float(single.max())
        bound = (lo + rng.random() * (hi - lo)) * problem.batch
        problem = _remember(problem.with_latency_bound(bound), _STUDY_OF[id(problem)][0])
    return problem


def random_mcm_hardware(rng: random.Random) -> MCMHardware:
    """A small chiplet package (2-6 chiplets) whose SRAM, NoP and DRAM terms all matter now and then."""
    mesh = rng.choice([[1, 2], [2, 2], [1, 3], [2, 3]])
    menu = rng.choice([None, [1, 2], [1, 3], [2]])
    menu = [g for g in menu if g <= mesh[0] * mesh[1]] if menu else None
    return MCMHardware.model_validate({
        "name": "random-mcm", "family": "mcm", "mesh": mesh,
        "chiplet": {"macs_per_cycle": {"int8": 64}, "tiles": {"int8": rng.choice([[[1, 8, 8]], [[1, 8, 8], [8, 8, 1], [4, 4, 4]]])},
                    "efficiency": rng.choice([0.8, 1.0]), "sram": f"{rng.choice([16, 64, 256, 1024])} KiB", "clock": "1 GHz",
                    "elementwise_per_cycle": 16},
        "nop": {"link_bandwidth": f"{rng.choice([2, 10, 50])} GB/s", "hop_latency": f"{rng.choice([0, 20, 200])} ns",
                "energy_per_bit": "1.3 pJ"},
        "dram": {"controllers": [{"at": [0, 0], "bandwidth": f"{rng.choice([1, 8, 32])} GB/s"}], "energy_per_bit": "7 pJ"},
        "energy": {"mac": {"int8": "0.2 pJ"}, "sram_byte": "0.5 pJ", "static_power": f"{rng.choice([0, 0.5, 2])} W"},
        "layer_overhead": f"{rng.choice([0, 1])} us", "reconfiguration": f"{rng.choice([0, 2, 20])} us",
        "menu": {"cluster_chiplets": menu},
    })


def random_mcm_problem(seed: int, objective: str, layers: tuple[int, int] = (2, 5), execution: str | None = None) -> Problem:
    """A random small chiplet-package problem under a random (or the given) execution model."""
    rng = random.Random(seed)
    model = random_model(rng, rng.randint(*layers))
    hw = random_mcm_hardware(rng)
    execution = execution or rng.choice(["layer-sequential", "segmented-pipeline", "merged-pipeline", "merged-pipeline"])
    spec = StudySpec(model="random", hardware="random-mcm", execution=execution, objective=objective,
                     constraints={"batch": rng.choice([1, 2, 8, 32])})
    return _built(Study(spec, flatten(model), hw))


@functools.lru_cache(maxsize=None)
def mcm_exhaustive(seed: int, objective: str) -> Plan:
    """The enumerated optimum of ``random_mcm_problem(seed, objective)`` (default layers and execution), solved once
    per session: test_mcm and test_mcm_memory check dp, milp and the Optuna searches on the same instances, and
    enumeration is the expensive part (seconds on the largest). A Plan is frozen, so sharing it is safe."""
    from accelplan.solvers import solve
    return solve(random_mcm_problem(seed, objective), "exhaustive", time_limit_s=120)


_STUDY_OF: dict[int, tuple[Study, Problem]] = {}  # id(problem) -> the study it was built from (and the problem, kept alive)


def _remember(problem: Problem, study: Study) -> Problem:
    _STUDY_OF[id(problem)] = (study, problem)
    return problem


def _built(study: Study, **kw) -> Problem:
    return _remember(build_problem(study, **kw), study)


def variant(problem: Problem, execution: str | None = None, objective: str | None = None, batch: int | None = None,
            latency_max_s: float | None | str = "same") -> Problem:
    """The random problem's study tabulated again under another execution model, objective or batch
    (a Problem is never modified); ``latency_max_s``: another bound, or None for none."""
    study = _STUDY_OF[id(problem)][0]
    if batch is not None:
        from accelplan.specs.study import with_overrides
        study = with_overrides(study, batch=batch)
    out = _built(study, execution=execution or problem.execution.name, objective=objective or problem.objective.name)
    bound = problem.latency_max_s if latency_max_s == "same" else latency_max_s
    return _remember(out.with_latency_bound(bound), study)


SMALL_STUDY = """\
model: ../models/tiny.yaml
hardware: vck190
execution: hybrid
objective: throughput
constraints: {batch: 4, max_accelerators: 3, latency_max_ms: 5}
time_limit_s: 30
"""

TINY_MODEL = """\
name: tiny
operators:
  - {name: fc1, kind: linear, m: 128, k: 256, n: 1024}
  - {name: act, kind: gelu, elements: 131072}
  - {name: fc2, kind: linear, m: 128, k: 1024, n: 256}
  - {name: qk, kind: attention_qk, heads: 4, seq: 128, head_dim: 64}
  - {name: sm, kind: softmax, elements: 65536}
  - {name: pv, kind: attention_pv, heads: 4, seq: 128, head_dim: 64}
"""


@pytest.fixture()
def study_file(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "studies").mkdir()
    (tmp_path / "models" / "tiny.yaml").write_text(TINY_MODEL)
    path = tmp_path / "studies" / "tiny.yaml"
    path.write_text(SMALL_STUDY)
    return path


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def require_tool(*names: str) -> str:
    """The path of the first of ``names`` on PATH; else skip with the reason, or fail when
    ``ACCELPLAN_REQUIRE_TOOLS=1`` (as .ci/run sets it after installing the tools from Debian packages)."""
    import os
    import shutil
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    reason = f"{' or '.join(names)} not found on PATH (.ci/run installs it from Debian packages)"
    if os.environ.get("ACCELPLAN_REQUIRE_TOOLS") == "1":
        pytest.fail(f"ACCELPLAN_REQUIRE_TOOLS=1 but {reason}")
    pytest.skip(reason)


def sweep(values, quick: int, heavy=()) -> list:
    """A random-instance sweep's parameters for ``@pytest.mark.parametrize``: the first ``quick`` of ``values`` not in
    ``heavy`` run in the quick loop (``pytest -m "not slow"``); the rest, and ``heavy`` (instances measured to take
    seconds), are marked slow. Test ids are unchanged; a tuple value is several arguments."""
    out, kept = [], 0
    for v in values:
        args = v if isinstance(v, tuple) else (v,)
        if v not in heavy and kept < quick:
            kept += 1
            out.append(pytest.param(*args))
        else:
            out.append(pytest.param(*args, marks=pytest.mark.slow))
    return out


def agrees_with_exhaustive(problem, plan, reference) -> None:
    """An exact strategy's plan against the enumeration of every plan priced on its schedule. Where the closed form
    the formulations price is every plan's schedule, the status and optimum are the enumeration's. Where a batch of
    re-entrant plans meets a latency bound or objective, the strategy is certified on the schedule
    (accelplan.solvers.scheduled): its plan meets every bound as scheduled, is no better than the enumeration's
    optimum (nothing is), its bound is on the optimum's far side, and when it says optimal it is."""
    from accelplan.plan import evaluate, plan_groups
    from accelplan.solvers.scheduled import needs_certifying

    assert reference.solver.status in ("optimal", "infeasible")
    weak = needs_certifying(problem)
    if not weak:
        assert plan.solver.status == reference.solver.status, (plan.solver, reference.solver)
    if reference.solver.status != "optimal":
        assert not plan.feasible and plan.solver.status in ("infeasible", "time_limit"), plan.solver
        return
    assert plan.feasible and not plan.violations, plan.solver
    value, best = plan.objective_value(), reference.objective_value()
    if weak and plan.solver.status != "optimal":  # no better than the optimum, and a bound on its far side
        assert not problem.objective.better(value, best * (1 + (1e-6 if problem.objective.maximise else -1e-6)))
        assert not problem.objective.better(best, plan.solver.bound), (value, best, plan.solver)
    else:
        assert math.isclose(value, best, rel_tol=1e-6, abs_tol=1e-12), (value, best, plan.solver)
        assert math.isclose(plan.solver.model_objective, value, rel_tol=1e-6, abs_tol=1e-12)  # the strategy's own objective agrees with the evaluator
    # and the plan re-priced from scratch gives the same metrics
    again = evaluate(problem, plan_groups(problem, plan))
    assert math.isclose(again.objective_value(), value, rel_tol=1e-6, abs_tol=1e-12)
