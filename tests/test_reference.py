"""The reference hardware (a GPU roofline) beside a plan: in the solve report, its JSON and compare-execution."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from accelplan import api
from accelplan.cli import main
from accelplan.families import build_problem
from accelplan.solvers import solve

LLAMA = "specs/studies/llama-7b-decode_u250-x32.yaml"


@pytest.fixture(scope="module")
def a100_decode():
    """LLaMA-7B served on the A100 roofline at the built-in study's workload (16 sequences in flight, 512-token
    prompts, KV caches of 2048 positions), solved on its own: the reference is planned like for like."""
    workload = api.make_study(Path(LLAMA)).spec.workload.model_dump()
    return solve(build_problem(api.make_study(model="llama-7b-decode", hardware="a100", workload=workload)), "dp",
                 time_limit_s=30)


@pytest.mark.slow
def test_solve_reports_the_family_reference(tmp_path, capsys, a100_decode):
    """A multi-device study is compared with the A100 unless it says otherwise; the figures are the A100's own plan."""
    assert main(["solve", LLAMA, "-o", str(tmp_path), "--json", "--time-limit", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = out["reference"]
    assert ref["hardware"] == "a100" and ref["execution"] == "roofline"
    served = a100_decode.serving
    assert served.sequences == 16 and served.context == 2048 and served.prompt == 512
    assert ref["throughput"] == pytest.approx(a100_decode.throughput) == pytest.approx(ref["tokens_per_s"])
    assert ref["tokens_per_s"] == pytest.approx(served.tokens_per_s) and ref["ttft_ms"] == pytest.approx(served.ttft_ms)
    assert ref["energy_mj"] == pytest.approx(a100_decode.energy_mj)
    assert ref["throughput_ratio"] == pytest.approx(out["throughput"] / a100_decode.throughput)
    assert ref["energy_ratio"] == pytest.approx(out["energy_mj"] / a100_decode.energy_mj)
    versus = ref["versus"]["tokens_per_s"]
    assert versus["ratio"] == pytest.approx(out["throughput"] / served.tokens_per_s)
    assert versus["plan_is"] == ("better" if versus["ratio"] > 1.005 else "worse" if versus["ratio"] < 0.995 else "the same")
    report = (tmp_path / "solve" / "report.md").read_text()
    section = report[report.index("## Against a100"):]
    assert f"| tokens/s | {out['throughput']:.2f} | {served.tokens_per_s:.2f} |" in section
    assert f"u250-x32 gives {versus['ratio']:.3g}x the tokens/s of a100 ({versus['plan_is']})" in section
    assert "16 sequences in flight, prompt 512, context 2048" in section
    assert "Against a100" in (tmp_path / "solve" / "report.html").read_text()


@pytest.mark.slow
def test_reference_none_and_a_named_reference(tmp_path, capsys):
    """``--reference none`` drops it; a versal study has none by default and takes one when named."""
    assert main(["solve", LLAMA, "--reference", "none", "-o", str(tmp_path / "a"), "--json", "--time-limit", "30"]) == 0
    assert "reference" not in json.loads(capsys.readouterr().out)
    assert "## Against" not in (tmp_path / "a" / "solve" / "report.md").read_text()
    argv = ["solve", "--model", "deit-tiny", "--hardware", "vck190", "--execution", "spatial", "--strategy", "dp",
            "--batch", "4", "--time-limit", "20", "--json"]
    assert main([*argv, "-o", str(tmp_path / "b")]) == 0
    assert "reference" not in json.loads(capsys.readouterr().out)
    assert main([*argv, "--reference", "a100", "-o", str(tmp_path / "c")]) == 0
    ref = json.loads(capsys.readouterr().out)["reference"]
    alone = solve(build_problem(api.make_study(model="deit-tiny", hardware="a100", batch=4)), "dp", time_limit_s=20)
    assert ref["hardware"] == "a100" and ref["throughput"] == pytest.approx(alone.throughput)


def test_a_bad_reference_is_refused_with_its_line(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text("model: deit-tiny\nhardware: vck190\nreference: no-such-gpu\n")
    assert main(["solve", str(study), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{study}:3: reference: no built-in hardware named 'no-such-gpu'" in err and "a100" in err
    study.write_text("model: deit-tiny\nhardware: vck190\nreference: 7\n")
    assert main(["validate", str(study)]) == 2


@pytest.mark.slow
def test_compare_execution_lists_the_reference_last(tmp_path, capsys, a100_decode):
    assert main(["compare-execution", LLAMA, "-o", str(tmp_path), "--time-limit", "30"]) == 0
    folder = tmp_path / "compare-execution"
    rows = list(csv.DictReader((folder / "compare-execution.csv").open()))
    assert [r["reference"] for r in rows] == ["", "a100"]
    assert float(rows[-1]["throughput"]) == pytest.approx(a100_decode.throughput)
    assert float(rows[-1]["throughput_ratio"]) == pytest.approx(a100_decode.throughput / float(rows[0]["throughput"]))
    assert (folder / "reference-a100" / "report.md").is_file() and not (folder / "reference-a100" / "plan.yaml").exists()
    ratio = float(rows[0]["throughput"]) / a100_decode.throughput
    assert f"device-pipeline against a100 (roofline): throughput {ratio:.3f}×" in (folder / "compare-execution.md").read_text()
