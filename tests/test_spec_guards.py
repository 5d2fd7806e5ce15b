"""Specs that would hang, exhaust memory or crash deep in a cost model are refused up front, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelplan.cli import main

ROOT = Path(__file__).parent.parent
VCK190 = (ROOT / "specs" / "hardware" / "vck190.yaml").read_text()
TINY = "name: tiny\noperators:\n  - {name: fc, kind: linear, m: 4, k: 8, n: 8}\n"


def _bomb(levels: int) -> str:
    lines = ["name: bomb", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


CASES = {
    "billion laughs": (_bomb(9), "aliases expand the document to more than 1,000,000 values"),
    "recursive alias": ("a: &x\n  b: *x\n", "recursive alias"),
    "duplicate key": ("name: a\nname: b\noperators: []\n", "key 'name' appears twice in one mapping (first at line 1)"),
    "deep nesting": ("a: " + "[" * 100 + "]" * 100 + "\n", "nests deeper than 64 levels"),
    "huge repeat": ("name: big\noperators:\n  - repeat: 1000\n    operators:\n      - repeat: 1000\n        operators:\n"
                    "          - {name: fc, kind: linear, m: 1, k: 1, n: 1}\n", "expand to 1,000,000 operators"),
    "dimension beyond 32 bits": ("name: x\noperators:\n  - {name: fc, kind: linear, m: 4294967296, k: 1, n: 1}\n",
                                 "less than or equal to 2147483647"),
    "kind as a list": ("name: x\noperators:\n  - {name: fc, kind: [linear], m: 4, k: 1, n: 1}\n",
                       "each operator needs 'kind'"),
    "zero clock": (VCK190.replace("clock: 1 GHz ", "clock: 0 GHz "), "a frequency must be above zero"),
    "underflowing bandwidth": (VCK190.replace("bandwidth: 14 GB/s", "bandwidth: 1e-320 B/s"), "out of range"),
    "infinite overhead": (VCK190.replace("launch_overhead: 1 us", "launch_overhead: 1e400 s"), "out of range"),
    "seed beyond 32 bits": ("model: bert-base\nhardware: vck190\nseed: 4294967296\n", "less than or equal to 4294967295"),
    "numeric string as a count": ("model: bert-base\nhardware: vck190\nconstraints: {batch: '16'}\n",
                                  "Input should be a valid integer"),
    "bool as a dimension": ("name: x\noperators:\n  - {name: fc, kind: linear, m: true, k: 1, n: 1}\n",
                            "Input should be a valid integer"),
    "huge mesh": ((ROOT / "specs" / "hardware" / "simba-36.yaml").read_text().replace("mesh: [6, 6]", "mesh: [100, 100]"),
                  "less than or equal to 64"),
    "infinite latency bound": ("model: bert-base\nhardware: vck190\nconstraints: {latency_max_ms: .inf}\n",
                               "finite number"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_any_work(case: str, tmp_path: Path, capsys) -> None:
    text, reason = CASES[case]
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert reason in err and "spec.yaml" in err and "Traceback" not in err


def test_hardware_without_the_models_mac_energy_is_refused_by_validate_and_solve(tmp_path: Path, capsys) -> None:
    hw = VCK190.replace("mac: {int8: 0.4 pJ, int16: 1.2 pJ, fp32: 4 pJ}", "mac: {int16: 1.2 pJ, fp32: 4 pJ}")
    (tmp_path / "hw.yaml").write_text(hw.replace("name: vck190", "name: no-int8-energy"))
    (tmp_path / "tiny.yaml").write_text(TINY)
    study = tmp_path / "study.yaml"
    study.write_text("model: tiny.yaml\nhardware: hw.yaml\n")
    for argv in (["validate", str(study)], ["solve", str(study), "-o", str(tmp_path / "out"), "--quiet"]):
        assert main(argv) == 2
        assert "has no engine tiles, MAC rate or MAC energy for (supported: fp32, int16)" in capsys.readouterr().err
