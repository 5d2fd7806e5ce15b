"""GPU specs are refused, with the field named, unless every number is finite, above zero and within a physical
range (issue 28: a MAC rate of 0 divided by zero, 1e-300 reached a None in the HTML report, NaN hung simulate)."""

from __future__ import annotations

import math

import pytest
import yaml

from accelplan import api
from accelplan.cli import main
from accelplan.families import build_problem
from accelplan.solvers import solve
from tests.conftest import ROOT

A100 = yaml.safe_load((ROOT / "specs" / "hardware" / "a100.yaml").read_text())


def _write(tmp_path, data) -> str:
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("field, value", [
    ("macs_per_s", {"int8": 0}), ("macs_per_s", {"int8": 1e-300}), ("macs_per_s", {"int8": math.nan}),
    ("macs_per_s", {"int8": math.inf}), ("macs_per_s", {"int8": -1.0}), ("macs_per_s", {"int8": 1e30}),
    ("macs_per_s", {}), ("compute_efficiency", math.nan), ("compute_efficiency", 0.0), ("compute_efficiency", 1.5),
    ("memory_efficiency", 1e-300), ("memory_bandwidth", "0 GB/s"), ("memory_bandwidth", "1e-300 GB/s"),
    ("memory_bandwidth", "nan GB/s"), ("memory_bandwidth", "1e30 GB/s"), ("memory_capacity", "0 GB"),
    ("board_power", "0 W"), ("board_power", "1e9 W"), ("launch_overhead", "1e6 s"), ("count", 0),
    ("count", 10**9), ("count", 2.5), ("link_bandwidth", "0 GB/s"), ("link_latency", "5000 s"),
])
def test_a_number_out_of_range_is_refused_naming_its_field(tmp_path, capsys, field, value):
    path = _write(tmp_path, A100 | {field: value})
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err


def test_a_spec_without_memory_capacity_is_refused(tmp_path, capsys):
    path = _write(tmp_path, {k: v for k, v in A100.items() if k != "memory_capacity"})
    assert main(["validate", path]) == 2
    assert "memory_capacity" in capsys.readouterr().err


def test_a_node_needs_its_link(tmp_path, capsys):
    path = _write(tmp_path, A100 | {"name": "node", "count": 4})
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "link_bandwidth" in err and "4 GPUs" in err and f"{path}:" in err


@pytest.mark.parametrize("rate", [1e6, 1e18])
def test_the_extremes_of_the_range_solve_and_report(tmp_path, rate):
    """At either end of the MAC-rate range every figure is finite and the reports write (no None, no infinity)."""
    path = _write(tmp_path, A100 | {"name": "edge", "macs_per_s": {"int8": rate}})
    out = tmp_path / "out"
    assert main(["solve", "--model", "deit-tiny", "--hardware", path, "--batch", "2", "-o", str(out), "--quiet"]) == 0
    plan = solve(build_problem(api.make_study(model="deit-tiny", hardware=path, batch=2)), "dp", time_limit_s=10)
    assert all(math.isfinite(v) and v > 0 for v in (plan.throughput, plan.latency_ms, plan.energy_mj))
    assert "None" not in (out / "solve" / "report.html").read_text()


def test_the_built_in_gpus_are_valid(capsys):
    for name in ("a100", "dgx-a100"):
        assert main(["validate", str(ROOT / "specs" / "hardware" / f"{name}.yaml")]) == 0
