"""Emitted configs are accepted by the tools that read them: g++ (C++17), Verilator, v++ config syntax, JSON Schema."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from accelplan import api
from accelplan.cli import main
from accelplan.emitters import emit
from accelplan.families import plan_form
from accelplan.plan import Plan
from accelplan.plan_file import read_plan, write_plan
from accelplan.solvers import solve

from conftest import random_problem, require_tool


def _tool(name: str) -> str:
    return require_tool(name)


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> list[Plan]:
    """Plans of different shapes, each read back from plan.yaml as an emitter would."""
    out = []
    bert = api.plan_study(api.make_study(model="bert-base", hardware="vck190", execution="spatial", batch=16), strategy="dp")
    found = [bert.plan]
    for seed in (1, 4, 9):
        found.append(solve(random_problem(seed, "throughput"), "exhaustive"))
    folder = tmp_path_factory.mktemp("plans")
    for i, plan in enumerate(found):
        assert plan.accelerators
        out.append(read_plan(write_plan(plan, folder / f"plan{i}.yaml")))
    return out


def parse_connectivity(text: str) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """(kernel -> instance names, [(source, destination)]) from a v++ config; asserts the syntax."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "[connectivity]"
    kernels, streams = {}, []
    for ln in lines[1:]:
        key, _, value = ln.partition("=")
        if key == "nk":
            kernel, count, names = value.split(":")
            assert re.fullmatch(r"[A-Za-z_]\w*", kernel)
            kernels[kernel] = names.split(".")
            assert int(count) == len(kernels[kernel]) == len(set(kernels[kernel]))
        elif key == "stream_connect":
            src, dst = value.split(":")
            assert re.fullmatch(r"\w+\.\w+", src) and re.fullmatch(r"\w+\.\w+", dst), ln
            streams.append((src, dst))
        else:
            raise AssertionError(f"unexpected line {ln!r}")
    return kernels, streams


def test_vitis_header_compiles_and_holds_the_plan(plans, tmp_path: Path) -> None:
    gxx = _tool("g++")
    for i, plan in enumerate(plans):
        out = tmp_path / f"p{i}"
        emit(plan, "vitis", out)
        checks = [f"static_assert(accelplan::kNumAccelerators == {len(plan.accelerators)});"]
        for acc in plan.accelerators:
            ns = f"accelplan::acc{acc.index}"
            checks += [f"static_assert({ns}::kUnits == {acc.units});",
                       f"static_assert({ns}::kTileM == {acc.array[0] * acc.engine_tile[0]});",
                       f"static_assert({ns}::kPortsLhs + {ns}::kPortsRhs == {acc.ports_in});",
                       f"static_assert({ns}::kPortsOut == {acc.ports_out});",
                       f"static_assert({ns}::kNumGemms == {len(acc.layers)});",
                       f"static_assert({ns}::kGemms[0].k == {acc.gemms[0][1]});",
                       f"static_assert({ns}::kBufferBytes == {acc.buffer_bytes}u);"]
        (out / "check.cpp").write_text('#include "accelplan_plan.hpp"\n' + "\n".join(checks) + "\nint main() { return 0; }\n")
        run = subprocess.run([gxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", str(out / "check.cpp")],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr

        kernels, streams = parse_connectivity((out / "connectivity.cfg").read_text())
        inputs = [d for s, d in streams if s.split(".")[0] in kernels.get("mm2s", [])]
        outputs = [s for s, d in streams if d.split(".")[0] in kernels.get("s2mm", [])]
        assert len(streams) == len(inputs) + len(outputs)
        assert len(inputs) == sum(a.ports_in for a in plan.accelerators) == len(kernels["mm2s"])
        assert len(outputs) == sum(a.ports_out for a in plan.accelerators) == len(kernels["s2mm"])
        aie_ports = [p for p in inputs + outputs]
        assert all(p.startswith("ai_engine_0.acc") for p in aie_ports) and len(set(aie_ports)) == len(aie_ports)
        header = (out / "accelplan_plan.hpp").read_text()
        assert all(f'"{p.split(".")[1]}"' in header for p in aie_ports)  # the graph's port names are in the header
        assert ("as scheduled" in header) == (plan.closed_form_latency_ms is not None)
        for acc in plan.accelerators:  # the plan's dispatch: each accelerator's (input, GEMM) runs in order
            runs = ", ".join(f"Run{{{i}, {k}}}" for i, k, _, _ in acc.schedule)
            body = header.split(f"namespace acc{acc.index} {{")[1].split("}  // namespace")[0]
            assert f"kNumRuns = {len(acc.schedule)};" in body and runs.replace(", Run", ",\n    Run") in body


def test_sv_package_lints(plans, tmp_path: Path) -> None:
    verilator = _tool("verilator")
    for i, plan in enumerate(plans):
        out = tmp_path / f"p{i}"
        (pkg,) = emit(plan, "sv", out)
        last = plan.accelerators[-1]
        (out / "lint_top.sv").write_text(
            "module lint_top;\n  import accelplan_plan_pkg::*;\n"
            f"  initial if (NUM_ACCELERATORS != {len(plan.accelerators)} || ACC{last.index}_GEMM_N[0] != {last.gemms[0][2]})"
            " $error(\"mismatch\");\nendmodule\n")
        run = subprocess.run([verilator, "--lint-only", "-Wall", "-Wno-UNUSEDPARAM", str(pkg), str(out / "lint_top.sv")],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


def test_json_validates_against_its_schema_and_round_trips(plans, tmp_path: Path) -> None:
    for i, plan in enumerate(plans):
        data_file, schema_file = emit(plan, "json", tmp_path / f"p{i}")
        data, schema = json.loads(data_file.read_text()), json.loads(schema_file.read_text())
        jsonschema.validate(data, schema)
        assert data.pop("schema_version") == schema["properties"]["schema_version"]["const"]
        assert Plan.from_dict(data, plan_form(data).model.accelerator) == plan
        broken = dict(data, schema_version="1.0.0", batch="sixteen")
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


@pytest.mark.slow
def test_emit_command(study_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["solve", str(study_file), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    for target, names in (("json", {"plan.json", "plan.schema.json"}), ("vitis", {"accelplan_plan.hpp", "connectivity.cfg"}),
                          ("sv", {"accelplan_plan_pkg.sv"})):
        build = tmp_path / target
        assert main(["emit", str(tmp_path / "out" / "solve" / "plan.yaml"), "--target", target, "-o", str(build)]) == 0
        assert {p.name for p in build.iterdir()} == names
    capsys.readouterr()
    # an infeasible plan has nothing to emit: a clear error, exit 2
    empty = replace(read_plan(tmp_path / "out" / "solve" / "plan.yaml"), accelerators=())
    write_plan(empty, tmp_path / "empty.yaml")
    assert main(["emit", str(tmp_path / "empty.yaml"), "--target", "sv", "-o", str(tmp_path / "x")]) == 2
    assert "accelerators: a feasible plan has at least one accelerator" in capsys.readouterr().err
