"""plan.yaml files written by earlier versions still load and simulate.

The fixtures under ``tests/data/old_plans/`` were written by ``accelplan solve`` (time limit 20 s) before the
execution/plan refactor, one per plan shape:

- ``versal_pipeline.yaml``: ``specs/studies/bert-base_vck190.yaml`` (versal-aie, one pipeline of AIE accelerators)
- ``mcm_segments.yaml``: ``specs/studies/resnet152_simba-36.yaml`` (mcm, clusters in several temporal segments)
- ``multi_device.yaml``: ``specs/studies/llama-7b-decode_u250-x32.yaml`` (multi-device, a chain of FPGAs)

Do not regenerate them: their point is that they are old.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from accelplan.plan_file import plan_to_yaml, read_plan

OLD_PLANS = Path(__file__).resolve().parent / "data" / "old_plans"
#: fixture -> (family, execution, accelerators, segments) as written, a guard against a fixture edited by mistake
FIXTURES = {
    "versal_pipeline.yaml": ("versal-aie", "hybrid", 6, 1),
    "mcm_segments.yaml": ("mcm", "merged-pipeline", 13, 6),
    "multi_device.yaml": ("multi-device", "device-pipeline", 28, 1),
}
FIGURES = ("throughput", "latency_ms", "energy_mj", "period_ms")


def _raw(name: str) -> dict:
    return yaml.safe_load((OLD_PLANS / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_old_plan_file_loads_with_what_it_says(name):
    raw = _raw(name)
    family, execution, count, segments = FIXTURES[name]
    assert (raw["family"], raw["execution"], len(raw["accelerators"]), raw["segments"]) == (family, execution, count, segments)

    plan = read_plan(OLD_PLANS / name)
    assert plan.family == raw["family"]
    assert plan.execution == raw["execution"]
    assert (plan.model, plan.hardware, plan.objective, plan.batch) == (raw["model"], raw["hardware"], raw["objective"],
                                                                       raw["batch"])
    assert plan.segments == raw["segments"]
    assert plan.feasible is raw["feasible"]
    assert len(plan.accelerators) == len(raw["accelerators"])
    segmented = raw["segments"] > 1
    if segmented:
        assert len({a.get("segment", 0) for a in raw["accelerators"]}) == raw["segments"]
    for acc, entry in zip(plan.accelerators, raw["accelerators"]):
        assert acc.index == entry["index"]
        assert acc.config == entry["config"]
        assert list(acc.layers) == entry["layers"]
        assert list(acc.ops) == entry["ops"]
        assert len(acc.gemms) == len(entry["gemms"])
        if segmented:  # an mcm record carries its temporal segment (written only when not 0)
            assert acc.segment == entry.get("segment", 0)
        assert acc.busy_ms == pytest.approx(entry["busy_ms"], rel=1e-12)
    scheduled = raw.get("scheduled_latency_ms")  # files of then: a re-entrant plan's schedule beside the closed form
    for key in FIGURES:
        want = scheduled if key == "latency_ms" and scheduled is not None else raw[key]
        assert getattr(plan, key) == pytest.approx(want, rel=1e-12), key
    assert plan.closed_form_latency_ms == (None if scheduled is None else pytest.approx(raw["latency_ms"], rel=1e-12))
    assert plan.solver.strategy == raw["solver"]["strategy"]
    assert plan.solver.objective == pytest.approx(raw["solver"]["objective"], rel=1e-12)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_old_plan_file_round_trips_through_the_current_writer(name, tmp_path):
    plan = read_plan(OLD_PLANS / name)
    again = tmp_path / "plan.yaml"
    again.write_text(plan_to_yaml(plan), encoding="utf-8")
    assert read_plan(again) == plan


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.slow
def test_old_plan_file_simulates(name, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "accelplan.cli", "simulate", str(OLD_PLANS / name),
                           "-o", str(tmp_path), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "simulate").is_dir() and any((tmp_path / "simulate").iterdir())
