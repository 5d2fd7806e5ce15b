"""Spec loading: built-ins load, bad input gets a clear error (file, line, field, what is allowed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelplan.cli import main
from accelplan.specs.library import builtin_names
from accelplan.specs.lowering import Gemm, lower
from accelplan.specs.study import load_hardware, load_model, load_study

GOOD_MODEL = """\
name: tiny
dtype: int8
operators:
  - {name: fc1, kind: linear, m: 64, k: 128, n: 256}
  - {name: act, kind: relu, elements: 16384}
  - {name: fc2, kind: linear, m: 64, k: 256, n: 128}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _validate(path: Path, capsys) -> tuple[int, str]:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    return code, err


def test_builtins_load() -> None:
    assert {"bert-base", "deit-tiny", "vit-base", "gpt2-small", "resnet50", "resnet152", "gpt3-xl",
            "llama-7b-prefill"} <= set(builtin_names("models"))
    for name in builtin_names("models"):
        load_model(Path(__file__).parent.parent / "specs" / "models" / f"{name}.yaml")
    hw = load_hardware(Path(__file__).parent.parent / "specs" / "hardware" / "vck190.yaml")
    assert hw.aie.units == 400 and hw.aie.clock == 1e9 and hw.aie.local_memory == 32 * 1024
    assert hw.ddr.bandwidth == 14e9 and hw.plio.clock == 230e6
    study = load_study(Path(__file__).parent.parent / "specs" / "studies" / "bert-base_vck190.yaml")
    assert study.batch == 16 and study.spec.execution == "hybrid"


def test_repeat_blocks_expand_with_real_shapes() -> None:
    bert = load_model(Path(__file__).parent.parent / "specs" / "models" / "bert-base.yaml")
    names = [op.name for op in bert.ops]
    assert "layer0.q" in names and "layer11.fc2" in names and len(names) == 1 + 12 * 14 + 1
    gemms = [lower(op.op) for op in bert.ops if isinstance(lower(op.op), Gemm)]
    # BERT-base: 85M weights in the encoder GEMMs, 11.2 GMAC per sequence of 128
    assert sum(g.weight_elements for g in gemms) == 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 768 * 768
    qk = next(op for op in bert.ops if op.name == "layer3.qk")
    assert qk.inputs == ("layer3.q", "layer3.k")


def test_resnet50_conv_lowering() -> None:
    resnet = load_model(Path(__file__).parent.parent / "specs" / "models" / "resnet50.yaml")
    gemms = [lower(op.op) for op in resnet.ops if isinstance(lower(op.op), Gemm)]
    assert len(gemms) == 54  # 49 convs in bottlenecks + stem + 4 shortcuts = 53, + fc
    assert abs(sum(g.macs for g in gemms) / 1e9 - 4.09) < 0.01  # the usual 4.1 GMAC
    stem = lower(resnet.ops[0].op)
    assert (stem.m, stem.k, stem.n) == (112 * 112, 3 * 7 * 7, 64)


def test_good_spec_validates(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, "tiny.yaml", GOOD_MODEL)
    assert main(["validate", str(path)]) == 0
    assert "valid model spec" in capsys.readouterr().out


BAD_CASES = {
    # name: (file text, expected line, fragments that must appear)
    "unknown key": (GOOD_MODEL.replace("m: 64, k: 128", "m: 64, kk: 3, k: 128"), 4,
                    ["operators[0].kk", "unknown field", "allowed fields here", "heads"]),
    "wrong type": (GOOD_MODEL.replace("n: 256", "n: lots"), 4, ["operators[0].n", "valid integer", "'lots'"]),
    "non-positive dim": (GOOD_MODEL.replace("m: 64, k: 256", "m: 0, k: 256"), 6, ["operators[2].m", "greater than 0"]),
    "unknown kind": (GOOD_MODEL.replace("kind: relu", "kind: swish"), 5, ["operators[1]", "one of: linear"]),
    "missing field": (GOOD_MODEL.replace(", n: 128}", "}"), 6, ["operators[2].n", "required field is missing"]),
    "duplicate name": (GOOD_MODEL.replace("name: fc2", "name: fc1"), 6, ["operators[2].name", "duplicate operator name 'fc1'"]),
    "dangling input": (GOOD_MODEL.replace("name: act, kind: relu", "name: act, inputs: [nope], kind: relu"), 5,
                       ["operators[1].inputs[0]", "'nope' is not an earlier operator"]),
    "bad dtype": (GOOD_MODEL.replace("dtype: int8", "dtype: int4"), 2, ["dtype", "'int8'", "'fp32'"]),
    "yaml syntax": (GOOD_MODEL.replace("n: 256}", "n: 256"), None, ["invalid YAML"]),
    "conv groups": ("name: c\noperators:\n  - {name: c, kind: conv2d, in_channels: 6, out_channels: 8, height: 8, width: 8,"
                    " kernel: 3, groups: 4}\n", 3, ["operators[0]", "groups=4 must divide"]),
    "conv too small": ("name: c\noperators:\n  - {name: c, kind: conv2d, in_channels: 4, out_channels: 8, height: 2, width: 2,"
                       " kernel: 5}\n", 3, ["kernel larger than the padded input"]),
    "top-level list": ("- name: x\n", 1, ["expected a mapping"]),
    "unknown spec kind": ("name: x\nfoo: 1\n", 1, ["cannot tell the spec kind"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_model_specs(case: str, tmp_path: Path, capsys) -> None:
    text, line, fragments = BAD_CASES[case]
    path = _write(tmp_path, "bad.yaml", text)
    code, err = _validate(path, capsys)
    assert code == 2
    assert "Traceback" not in err
    assert str(path) in err
    if line is not None:
        assert f"{path}:{line}:" in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def _hardware_text() -> str:
    return (Path(__file__).parent.parent / "specs" / "hardware" / "vck190.yaml").read_text()


@pytest.mark.parametrize("old,new,fragments", [
    ("clock: 1 GHz", "clock: 1 GB", ["aie.clock", "unit 'GB' is not a frequency unit", "GHz"]),
    ("clock: 1 GHz", "clock: 1", ["aie.clock", "needs a unit"]),
    ("bandwidth: 14 GB/s", "bandwidth: fast", ["ddr.bandwidth", "cannot read 'fast' as a bandwidth"]),
    ("family: versal-aie", "family: tpu", ["family", "unknown hardware family 'tpu'", "versal-aie, mcm"]),
    ("ports_in: 100", "ports_in: -3", ["plio.ports_in", "greater than 0"]),
    ("grid: [8, 50]", "grid: [2, 2]", ["aie.grid", "holds fewer than 400 units"]),
    ("static_power: 8 W", "static_power: 8 W\n  leakage: 1 W", ["energy.leakage", "unknown field", "static_power"]),
])
def test_bad_hardware_specs(old: str, new: str, fragments: list[str], tmp_path: Path, capsys) -> None:
    text = _hardware_text()
    assert old in text
    path = _write(tmp_path, "hw.yaml", text.replace(old, new, 1))
    code, err = _validate(path, capsys)
    assert code == 2 and "Traceback" not in err
    lineno = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if new.splitlines()[-1].strip() in l)
    assert f"{path}:{lineno}:" in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("text,line,fragments", [
    ("model: bert-base\nhardware: vck999\n", 2, ["hardware", "no built-in hardware named 'vck999'", "vck190"]),
    ("model: nope.yaml\nhardware: vck190\n", 1, ["model", "not found"]),
    ("model: bert-base\nhardware: vck190\nexecution: parallel\n", 3, ["execution", "'parallel' does not apply", "valid: sequential, spatial, replicated, hybrid"]),
    ("model: bert-base\nhardware: vck190\nconstraints:\n  latency_max_ms: -1\n", 4, ["constraints.latency_max_ms", "greater than 0"]),
    ("model: bert-base\nhardware: vck190\nconstraints:\n  latency: 5\n", 4, ["constraints.latency", "latency_max_ms"]),
    ("", None, ["file is empty"]),
])
def test_bad_study_specs(text: str, line: int | None, fragments: list[str], tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, "study.yaml", text)
    code, err = _validate(path, capsys) if text else (main(["solve", str(path), "-o", str(tmp_path / "o")]),
                                                       capsys.readouterr().err)
    assert code == 2 and "Traceback" not in err
    if line is not None:
        assert f"{path}:{line}:" in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_model_dtype_unsupported_by_hardware(tmp_path: Path, capsys) -> None:
    model = _write(tmp_path, "m.yaml", GOOD_MODEL.replace("dtype: int8", "dtype: bf16"))
    study = _write(tmp_path, "s.yaml", f"model: {model.name}\nhardware: vck190\n")
    code, err = _validate(study, capsys)
    assert code == 2 and f"{study}:1:" in err and "dtype 'bf16'" in err and "int8" in err


def test_errors_exit_nonzero_without_traceback_in_a_real_process(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", GOOD_MODEL.replace("n: 256", "n: 2.5"))
    proc = subprocess.run([sys.executable, "-m", "accelplan.cli", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and f"{path}:4:" in proc.stderr and "operators[0].n" in proc.stderr


def test_schema_command_prints_json_schema(capsys) -> None:
    for kind in ("model", "study"):
        assert main(["schema", kind]) == 0
        schema = json.loads(capsys.readouterr().out)
        assert schema["type"] == "object" and "properties" in schema
    assert main(["schema", "hardware"]) == 0
    hardware = json.loads(capsys.readouterr().out)  # one schema per family, chosen by `family`
    assert set(hardware["discriminator"]["mapping"]) == {"versal-aie", "mcm", "multi-device", "gpu"}
    assert {d["properties"]["family"]["const"] for d in hardware["$defs"].values() if "family" in d.get("properties", {})} \
        == {"versal-aie", "mcm", "multi-device", "gpu"}
    assert main(["schema", "study"]) == 0
    study = json.loads(capsys.readouterr().out)
    enum = next(a["enum"] for a in study["properties"]["execution"]["anyOf"] if "enum" in a)
    assert set(enum) == {"sequential", "spatial", "replicated", "hybrid", "layer-sequential", "segmented-pipeline", "merged-pipeline",
                         "device-pipeline", "roofline"}


@pytest.mark.parametrize("name,gemms,gmacs,weights_m", [
    ("resnet152", 156, 11.51, 60.04),        # 155 convolutions + fc; torchvision: 11.51 GMAC, 60.2 M incl. BN
    ("gpt3-xl", 145, 2886.3, 1310.9),        # 24 x (qkv, qk, pv, proj, fc1, fc2) + LM head; 1.3 B parameters
    ("llama-7b-prefill", 289, 14362.5, 6607.1),  # + 131 M embedding = 6.74 B parameters
])
def test_large_builtin_models(name: str, gemms: int, gmacs: float, weights_m: float) -> None:
    from accelplan.specs.library import builtin_path
    net = load_model(builtin_path("models", name))
    lowered = [g for g in (lower(op.op) for op in net.ops) if isinstance(g, Gemm)]
    assert len(lowered) == gemms
    assert sum(g.macs for g in lowered) / 1e9 == pytest.approx(gmacs, rel=1e-3)
    assert sum(g.weight_elements for g in lowered) / 1e6 == pytest.approx(weights_m, rel=1e-3)
