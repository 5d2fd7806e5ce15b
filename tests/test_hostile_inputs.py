"""Hostile inputs (issue 28, issue 25 item 14): each cause the fuzzing found (benchmarks/fuzz.py) answered with exit 2
and a message naming the file, row or field, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelplan import cli


def _run(argv: list[str], capsys) -> tuple[int, str]:
    status = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


# ------------------------------------------------------------------------------------------------ show and names
@pytest.mark.parametrize("name", ["abcdefghijklmnopqrstuvwxyz0123", "x" * 300, "é" * 200, "a\x01b", "..", "/",
                                  "models/bert-base", ""])
def test_show_of_an_unknown_name_is_a_clear_error(capsys, name):
    status, err = _run(["show", name], capsys)
    assert status == 2
    assert "name: no built-in spec named" in err and "built-in: a100" in err, err


def test_a_study_naming_a_file_whose_name_is_too_long_is_a_clear_error(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(f"model: {'x' * 300}.yaml\nhardware: vck190\n")
    status, err = _run(["validate", study], capsys)
    assert status == 2 and f"{study}:1: model: file" in err and "not found" in err, err
    study.write_text(f"model: {'x' * 300}\nhardware: vck190\n")
    status, err = _run(["validate", study], capsys)
    assert status == 2 and f"{study}:1: model: no built-in model named" in err, err


# ------------------------------------------------------------------------------------------------ calibrate
HEADER = "name,m,k,n,count,dtype,batch,array,engine_tile,measured_ms,source\n"
GOOD = "a,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,1.9,CHARM\n"


def _calibrate(tmp_path: Path, capsys, text: str | bytes | None = None, file: Path | None = None,
               fit: str = "ddr.efficiency") -> tuple[int, str]:
    if file is None:
        file = tmp_path / "m.csv"
        file.write_bytes(text if isinstance(text, bytes) else text.encode())
    return _run(["calibrate", file, "--hardware", "vck190", "-o", tmp_path / "hw.yaml", "--fit", fit], capsys)


@pytest.mark.parametrize("row, where, message", [
    ("a,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,1e-300,x", "measured_ms", "expected a time between 1e-06 ms"),
    ("a,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,inf,x", "measured_ms", "expected a time between"),
    ("a,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,nan,x", "measured_ms", "expected a time between"),
    ("a,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,1e300,x", "measured_ms", "expected a time between"),
    ("a," + "1" + "0" * 39 + ",1024,1024,1,fp32,1,6x4x16,32x32x32,1.9,x", "m", "at most 2,147,483,647"),
    ("a,1024,1024,1024,1,fp32,99999999,6x4x16,32x32x32,1.9,x", "batch", "at most 1,048,576"),
    ("a,²,1024,1024,1,fp32,1,6x4x16,32x32x32,1.9,x", "m", "expected a positive integer"),
    ("a,1024,1024,1024,1,fp32,1,6x4x99999999999,32x32x32,1.9,x", "array", "three positive integers"),
    ("a,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,1.9," + "s" * 5000, "source", "5,000 characters; a value has at most"),
    ("a,1024,1024,1024,1,fp32,1,6x4x16,32x32x32,1.9," + "s" * 200_000, "row", "cannot read the row as CSV"),
])
def test_a_bad_measurement_value_is_refused_naming_row_and_column(tmp_path, capsys, row, where, message):
    status, err = _calibrate(tmp_path, capsys, HEADER + GOOD + row + "\n")
    assert status == 2
    assert f"m.csv:3: {where}: " in err and message in err, err


def test_a_measurement_file_over_the_limits_is_refused_without_reading_it_all(tmp_path, capsys):
    from accelplan.calibrate import MAX_BYTES, MAX_ROWS

    status, err = _calibrate(tmp_path, capsys, file=Path("/dev/zero"))
    assert status == 2 and f"/dev/zero: larger than {MAX_BYTES // 2**20} MiB" in err, err
    status, err = _calibrate(tmp_path, capsys, HEADER + GOOD * (MAX_ROWS + 1))
    assert status == 2 and f"m.csv:{MAX_ROWS + 2}: row: more than {MAX_ROWS} measurement rows" in err, err
    status, err = _calibrate(tmp_path, capsys, HEADER + "a" * (MAX_BYTES + 10))
    assert status == 2 and "larger than" in err, err
    status, err = _calibrate(tmp_path, capsys, HEADER.encode() + b"a,\xff\n")
    assert status == 2 and "m.csv:2: not UTF-8 text" in err, err
    status, err = _calibrate(tmp_path, capsys, HEADER + "a,1\x00\n")
    assert status == 2 and "m.csv:2: a NUL character" in err, err
    status, err = _calibrate(tmp_path, capsys, file=tmp_path)
    assert status == 2 and "cannot read the measurements: Is a directory" in err, err


def test_a_fit_whose_errors_are_not_finite_is_refused_before_the_solver(monkeypatch):
    from accelplan import calibrate as cal
    from accelplan.errors import AccelplanError
    from accelplan.families.versal_aie import calibration
    from accelplan.specs.study import load_hardware

    hw = load_hardware(Path(__file__).resolve().parent.parent / "specs" / "hardware" / "vck190.yaml")
    row = cal.Measurement(7, "a", 1024, 1024, 1024, 1, "fp32", 1, 1e-3, "x", {"array": "6x4x16",
                                                                               "engine_tile": "32x32x32"})
    monkeypatch.setattr(calibration, "predict_s", lambda hw, r: float("inf"))
    with pytest.raises(AccelplanError, match=r"the fit is degenerate: .*line 7"):
        cal.calibrate(hw, [row], calibration, ["ddr.efficiency"])
