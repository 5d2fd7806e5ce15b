"""Help texts and messages read from the registries and schemas, so they cannot drift (issue 25, item 8)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from accelplan.cli import SCHEMA_KINDS, main


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return re.sub(r"\s+", " ", capsys.readouterr().out)


def _option_help(text: str, flag: str) -> str:
    """The help of one option: from its flag to the next option."""
    return re.split(r" --?[a-z]", text.split(f" {flag} ", 2)[-1], maxsplit=1)[0]


@pytest.mark.parametrize("command", ["pareto", "compare-execution", "solve", "compare"])
def test_execution_has_one_default(capsys, command: str) -> None:
    text = _option_help(_help(capsys, command), "EXECUTION")
    assert text.count("(default:") == 1, text


def test_solve_help_names_every_execution_model_of_every_family(capsys) -> None:
    from accelplan.families import every

    text = _help(capsys, "solve").replace("- ", "-")
    names = [m.name for family in every() for m in family.executions]
    assert "device-pipeline" in names and all(name in text for name in names)


def test_import_name_defaults_to_the_files_name(capsys, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    assert "(default: the ONNX file's name without .onnx)" in _option_help(_help(capsys, "import"), "NAME")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "main_graph",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor("w", TensorProto.FLOAT, [8, 4], [0.0] * 32)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "mine.onnx")
    assert main(["import", str(tmp_path / "mine.onnx"), "-o", str(tmp_path / "mine.yaml")]) == 0
    assert yaml.safe_load((tmp_path / "mine.yaml").read_text())["name"] == "mine"


def test_sweep_json_help_says_what_it_prints(capsys) -> None:
    text = _option_help(_help(capsys, "sweep"), "--json")
    assert "one strict JSON array" in text and "one strict JSON object per point" not in text


def test_a_misspelt_flag_gets_the_subcommands_usage_and_a_suggestion(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["solve", "specs/studies/bert-base_vck190.yaml", "--tme-limit", "5"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "usage: accelplan solve" in err and "did you mean --time-limit?" in err


@pytest.mark.parametrize("argv, suggestion", [
    (["solve", "--strategy", "milpp"], "did you mean milp?"),
    (["slove"], "did you mean solve?"),
    (["emit", "plan.yaml", "--target", "vitsi"], "did you mean vitis?"),
])
def test_a_misspelt_choice_gets_a_suggestion(capsys, argv: list[str], suggestion: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and suggestion in capsys.readouterr().err


def test_misspelt_strategy_and_execution_names_get_a_suggestion(capsys, tmp_path: Path) -> None:
    assert main(["compare", "--model", "deit-tiny", "--hardware", "vck190", "--strategies", "dp,milpp",
                 "-o", str(tmp_path)]) == 2
    assert "unknown strategy 'milpp'; did you mean milp?" in capsys.readouterr().err
    assert main(["solve", "--model", "deit-tiny", "--hardware", "vck190", "--execution", "hybird",
                 "-o", str(tmp_path)]) == 2
    assert "did you mean hybrid?" in capsys.readouterr().err


@pytest.mark.parametrize("value, dimension, unit", [
    (1000, "frequency", "MHz"), (1.25, "frequency", "GHz"), (25, "bandwidth", "GB/s"), (75, "power", "W"),
    (0.5, "energy", "pJ")])
def test_a_bare_number_suggests_a_sensible_unit(value, dimension, unit) -> None:
    from accelplan.specs.units import parse_quantity

    with pytest.raises(ValueError, match=f"write e.g. '{value} {re.escape(unit)}'"):
        parse_quantity(value, dimension)


def test_a_bare_clock_in_a_hardware_file_suggests_mhz(capsys, tmp_path: Path, root: Path) -> None:
    spec = yaml.safe_load((root / "specs" / "hardware" / "vck190.yaml").read_text())
    spec["aie"]["clock"] = 1000
    path = tmp_path / "vck.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "clock" in err and "'1000 MHz'" in err and "1000 GHz" not in err


def test_schema_plan_describes_plan_files(capsys, tmp_path: Path, study_file: Path) -> None:
    import jsonschema

    assert "plan" in SCHEMA_KINDS
    assert main(["schema", "plan"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert main(["solve", str(study_file), "--strategy", "dp", "--execution", "spatial", "-o", str(tmp_path),
                 "--quiet"]) == 0
    plan = yaml.safe_load((tmp_path / "solve" / "plan.yaml").read_text())
    jsonschema.validate(plan, schema)
    for field, value in (("batch", "sixteen"), ("feasible", None)):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**plan, field: value} if value is not None else
                                {k: v for k, v in plan.items() if k != field}, schema)


def test_a_default_every_family_shares_is_said_once(capsys) -> None:
    from accelplan.families import every

    text = _option_help(_help(capsys, "solve"), "{auto,dp,colgen,milp,cpsat,exhaustive,optuna-tpe,optuna-nsga2,lns}")
    defaults = {f.default_strategy for f in every()}
    if len(defaults) == 1:
        assert f"{defaults.pop()} for every family" in text and "versal-aie:" not in text, text
    else:
        assert all(f"{f.name}: {f.default_strategy}" in text for f in every())
