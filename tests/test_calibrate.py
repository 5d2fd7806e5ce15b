"""accelplan calibrate: fitting the versal-aie constants to measured rows, refusals, bad rows, the written spec."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from accelplan import api
from accelplan.calibrate import Measurement, with_value
from accelplan.cli import main
from accelplan.families.versal_aie import calibration as model
from accelplan.specs.study import load_hardware

HEADER = "name,m,k,n,count,dtype,batch,array,engine_tile,measured_ms,source\n"
SIZES = (512, 1024, 2048, 3072, 4096)


@pytest.fixture(scope="module")
def hw(root: Path):
    return load_hardware(root / "specs" / "hardware" / "vck190.yaml")


def _row(n: int, ms: float, name: str | None = None) -> str:
    return f"{name or f'sq{n}'},{n},{n},{n},1,fp32,1,6x4x16,32x32x32,{ms:.9g},test\n"


def _synthetic(hw, tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """Rows 'measured' on a known spec (ddr.efficiency 0.5, launch 200 us): a fit must find those values."""
    truth = {"ddr.efficiency": 0.5, "launch_overhead": 200e-6}
    known = hw
    for path, value in truth.items():
        known = with_value(known, path, value)
    text = HEADER
    for n in SIZES:
        row = Measurement(0, f"sq{n}", n, n, n, 1, "fp32", 1, 1.0, "test", {"array": "6x4x16", "engine_tile": "32x32x32"})
        text += _row(n, model.predict_s(known, row) * 1e3)
    path = tmp_path / "synthetic.csv"
    path.write_text(text)
    return path, truth


def test_fit_recovers_known_constants(hw, tmp_path: Path) -> None:
    csv, truth = _synthetic(hw, tmp_path)
    result, written = api.calibrate(csv, "vck190", tmp_path / "fit.yaml", list(truth))
    for path, value in truth.items():
        assert result.after[path] == pytest.approx(value, rel=1e-3)
    assert all(abs(r.error_after) < 1e-3 < abs(r.error_before) for r in result.rows)
    assert written.is_file()


def test_calibrate_then_solve_with_the_written_spec(root: Path, tmp_path: Path, capsys) -> None:
    """The shipped CHARM rows: errors before and after printed; the spec written solves; 4096^3 within 25 %."""
    out = tmp_path / "vck190-calibrated.yaml"
    code = main(["calibrate", str(root / "specs" / "measurements" / "vck190.csv"), "--hardware", "vck190",
                 "--fit", "ddr.efficiency,launch_overhead", "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "charm-fp32-4096" in text and "ddr.efficiency: 0.4 ->" in text and f"wrote {out}" in text
    fitted = load_hardware(out)
    assert fitted.name == "vck190-calibrated" and 0.01 < fitted.ddr.efficiency < 1
    assert fitted.aie.array_efficiency == 1.0  # not fitted: kept
    model_file = tmp_path / "gemm4096.yaml"
    model_file.write_text("name: gemm4096\ndtype: fp32\nbatch: 1\noperators:\n"
                          "  - {name: mm, kind: linear, m: 4096, k: 4096, n: 4096}\n")
    study = api.make_study(model=str(model_file), hardware=str(out), execution="sequential", objective="latency")
    plan = api.plan_study(study, "dp", 30).plan
    measured_ms = 2 * 4096 ** 3 / 2718.42e9 * 1e3  # CHARM: 2718.42 GFLOP/s
    assert plan.feasible and abs(plan.latency_ms / measured_ms - 1) < 0.25
    uncalibrated = api.plan_study(api.make_study(model=str(model_file), hardware="vck190", execution="sequential",
                                                 objective="latency"), "dp", 30).plan
    assert abs(uncalibrated.latency_ms / measured_ms - 1) < 0.25  # the shipped vck190 (ddr.efficiency fitted)
    raw = tmp_path / "raw-profile.yaml"  # CHARM's DDR profile as measured, without the fitted efficiency
    raw.write_text((root / "specs" / "hardware" / "vck190.yaml").read_text().replace("efficiency: 0.4 ", "efficiency: 1.0 "))
    assert load_hardware(raw).ddr.efficiency == 1.0
    optimistic = api.plan_study(api.make_study(model=str(model_file), hardware=str(raw), execution="sequential",
                                               objective="latency"), "dp", 30).plan
    assert optimistic.latency_ms < 0.6 * measured_ms  # the profile alone is far too optimistic


@pytest.mark.slow
def test_rows_that_cannot_determine_a_constant_are_refused(root: Path, tmp_path: Path, capsys) -> None:
    """The CHARM square GEMMs are DDR-bound: aie.array_efficiency moves no row, so fitting it by name is refused."""
    out = tmp_path / "never.yaml"
    code = main(["calibrate", str(root / "specs" / "measurements" / "vck190.csv"), "--hardware", "vck190",
                 "--fit", "aie.array_efficiency,ddr.efficiency,launch_overhead", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "cannot determine aie.array_efficiency: no row's predicted time" in err and "rank-deficient" in err


@pytest.mark.slow
def test_without_fit_what_the_rows_cannot_determine_is_left_as_it_is(root: Path, tmp_path: Path, capsys) -> None:
    """The README's command (no --fit): the two constants the rows determine are fitted, aie.array_efficiency is left
    at the spec's value and named; times print with their unit."""
    out = tmp_path / "vck190-calibrated.yaml"
    code = main(["calibrate", str(root / "specs" / "measurements" / "vck190.csv"), "--hardware", "vck190",
                 "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "left as they are (the rows cannot determine them; --fit names what to fit): aie.array_efficiency" in text
    assert re.search(r"launch_overhead: [0-9.e+-]+ us -> [0-9.e+-]+ us", text) and "ddr.efficiency: 0.4 -> " in text


def test_fewer_rows_than_constants_are_refused(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "one.csv"
    csv.write_text(HEADER + _row(1024, 1.9))
    code = main(["calibrate", str(csv), "--hardware", "vck190", "--fit", "ddr.efficiency,launch_overhead",
                 "-o", str(tmp_path / "x.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "1 rows for 2 constants cannot determine ddr.efficiency, launch_overhead" in err


def test_bad_rows_are_named_by_line(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(HEADER + _row(1024, 1.9) + "sq,abc,1024,1024,1,fp32,1,6x4x16,32x32x32,2.0,test\n"
                   + "sq,1024,1024,1024,1,fp32,1,6x4,32x32x32,2.0,test\n"
                   + "sq,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,,test\n"
                   + "sq,1024,1024,1024,1,fp64,1,6x4x16,32x32x32,2.0,test\n"
                   + "sq,1024,1024,1024,1,fp32,1,20x20x20,32x32x32,2.0,test\n")
    code = main(["calibrate", str(csv), "--hardware", "vck190", "-o", str(tmp_path / "x.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{csv}:3: m: expected a positive integer, got 'abc'" in err
    assert f"{csv}:4: array: expected three positive integers" in err
    assert f"{csv}:5: measured_ms: missing value" in err
    assert f"{csv}:6: dtype: 'fp64'" in err
    assert f"{csv}:7: array: 20x20x20 needs more than the 400 engines" in err
    assert f"{csv}:2:" not in err


def test_missing_columns_and_unknown_constants_are_refused(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "cols.csv"
    csv.write_text("name,m,k,n,dtype,measured_ms,source\nsq,1,1,1,fp32,1.0,test\n")
    assert main(["calibrate", str(csv), "--hardware", "vck190", "-o", str(tmp_path / "x.yaml")]) == 2
    assert "the header lacks array, engine_tile" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text(HEADER + _row(1024, 1.9) + _row(4096, 50.0))
    assert main(["calibrate", str(good), "--hardware", "vck190", "--fit", "aie.clock", "-o", str(tmp_path / "x.yaml")]) == 2
    assert "cannot fit aie.clock" in capsys.readouterr().err


@pytest.mark.slow
def test_a_calibrated_spec_round_trips_through_solve_and_simulate(root: Path, tmp_path: Path, capsys) -> None:
    """calibrate -> solve (a study naming the written spec) -> simulate: the replay reads the calibrated tables."""
    spec = tmp_path / "vck190-calibrated.yaml"
    assert main(["calibrate", str(root / "specs" / "measurements" / "vck190.csv"), "--hardware", "vck190",
                 "--fit", "ddr.efficiency", "-o", str(spec)]) == 0
    study = tmp_path / "study.yaml"
    study.write_text(f"model: deit-tiny\nhardware: {spec.name}\nexecution: spatial\nstrategy: dp\n"
                     "constraints: {batch: 4}\ntime_limit_s: 30\n")
    capsys.readouterr()
    assert main(["solve", str(study), "-o", str(tmp_path), "--json"]) == 0
    solved = json.loads(capsys.readouterr().out)
    assert solved["hardware"] == "vck190-calibrated" and solved["status"] == "optimal"
    assert main(["simulate", str(tmp_path / "solve" / "plan.yaml"), "-o", str(tmp_path), "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["hardware"] == "vck190-calibrated" and not sim["stale"]
    for figure in ("latency_ms", "throughput"):  # a spatial chain: the replay reproduces the closed form
        assert sim[figure]["analytical"] == pytest.approx(solved[figure], rel=1e-9)
        assert sim[figure]["agrees"] and sim[figure]["simulated"] == pytest.approx(solved[figure], rel=1e-6)
