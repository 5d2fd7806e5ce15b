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
