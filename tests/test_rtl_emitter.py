"""The ``rtl`` target (multi-device): per device a package holding the plan's parallelism and sizes, a top
and streaming blocks that Verilator lints clean (-Wall), and a Vivado build script that runs to its end in
tclsh with Vivado's commands stubbed; other families and unusable plans are refused."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from accelplan import api
from accelplan.cli import main
from accelplan.emitters import emit
from accelplan.emitters.rtl import VIVADO_COMMANDS, prefixes
from accelplan.errors import SolveError
from accelplan.plan import AcceleratorPlan, Plan
from accelplan.plan_file import read_plan, write_plan
from accelplan.solvers import solve

from conftest import random_problem, require_tool

PART = "xcku5p-ffvb676-2-e"
SYSTEM = {
    "name": "md-rtl-test", "family": "multi-device",
    "devices": [{"count": 3, "device": {
        "name": "small-fpga", "part": PART, "lut": 200000, "ff": 400000, "dsp": 40, "bram": "1 MB", "uram": "0 B",
        "memory": {"kind": "ddr4", "capacity": "4 GB", "bandwidth": "10 GB/s", "energy_per_bit": "15 pJ"},
        "clock": "200 MHz", "utilisation_cap": 0.75, "static_power": "10 W",
        "energy": {"mac": {"int8": "1 pJ"}, "onchip_byte": "1 pJ"}}}],
    "link": {"kind": "qsfp28", "bandwidth": "100 Gb/s", "latency": "1 us", "energy_per_bit": "10 pJ"},
    "lane": {"int8": {"dsp": 0.5, "lut": 40, "ff": 60}},
    "block": {"lut": 2000, "ff": 3000},
    "parallelism": {"per_dimension": [1, 2, 4, 8], "max_lanes": 64},
}
MODEL = """name: chain3
dtype: int8
batch: 4
operators:
  - {name: enc.fc1, kind: linear, m: 12, k: 40, n: 24}
  - {name: enc.act, kind: relu, elements: 288}
  - {name: enc.fc2, kind: linear, m: 12, k: 24, n: 48, heads: 2}
  - {name: head, kind: linear, m: 12, k: 48, n: 20}
"""


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory) -> Path:
    """plan.yaml of the 3-layer model on a chain of small FPGAs (2 devices, one block hand-off re-packed)."""
    folder = tmp_path_factory.mktemp("small")
    (folder / "hw.yaml").write_text(yaml.safe_dump(SYSTEM))
    (folder / "model.yaml").write_text(MODEL)
    study = api.make_study(model=str(folder / "model.yaml"), hardware=str(folder / "hw.yaml"))
    api.write_outputs(api.plan_study(study, strategy="dp"), folder / "out")
    return folder / "out" / "plan.yaml"


@pytest.fixture(scope="module")
def gpt3_plan(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gpt3")
    study = api.make_study(model="gpt3-xl-decode", hardware="u250-x4-pcie", batch=1)
    return write_plan(api.plan_study(study, strategy="dp").plan, folder / "plan.yaml")


def sv_params(text: str) -> dict[str, int]:
    """Every ``localparam int NAME = value;`` of a package."""
    found = re.findall(r"^\s*localparam int (\w+) = (-?\d+);", text, re.M)
    params = {name: int(value) for name, value in found}
    assert len(params) == len(found), "a parameter is defined twice"
    return params


def check_package(plan: Plan, acc: AcceleratorPlan, folder: Path) -> None:
    """The package holds the device's id, data width and, per layer, the plan's GEMM and parallelism."""
    params = sv_params((folder / f"accelplan_device{acc.index}_pkg.sv").read_text())
    assert params.pop("DEVICE_ID") == acc.index and params.pop("DATA_WIDTH") == 8
    assert params.pop("NUM_LAYERS") == len(acc.layers)
    for name, (m, k, n, count), (pm, pk, pn), place in zip(acc.layers, acc.gemms, acc.layer_tiles, acc.placements):
        p = re.sub(r"\W", "_", name).upper() + "_"
        want = {"DATA_IN_0_PARALLELISM_DIM_0": pk, "DATA_IN_0_PARALLELISM_DIM_1": pm,
                "WEIGHT_PARALLELISM_DIM_0": pk, "WEIGHT_PARALLELISM_DIM_1": pn,
                "DATA_OUT_0_PARALLELISM_DIM_0": pn, "DATA_OUT_0_PARALLELISM_DIM_1": pm,
                "DATA_IN_0_TENSOR_SIZE_DIM_0": k, "DATA_IN_0_TENSOR_SIZE_DIM_1": m,
                "WEIGHT_TENSOR_SIZE_DIM_0": k, "WEIGHT_TENSOR_SIZE_DIM_1": n,
                "DATA_OUT_0_TENSOR_SIZE_DIM_0": n, "DATA_OUT_0_TENSOR_SIZE_DIM_1": m,
                "COUNT": count, "WEIGHTS_ON_CHIP": int(place == "on-chip")}
        assert {key: params.pop(p + key) for key in want} == want, name
    assert not params, f"unexpected parameters {sorted(params)}"
    # the top chains one block per layer, in the plan's order
    instances = re.findall(r"^\s*\) (u\d+_\w+) \(", (folder / "top.sv").read_text(), re.M)
    blocks = [i for i in instances if not i.endswith("_reshape")]
    assert blocks == [f"u{i}_{ident}" for i, ident in enumerate(re.sub(r"\W", "_", name).lower() for name in acc.layers)]


def lint(acc: AcceleratorPlan, folder: Path) -> None:
    """verilator -Wall finds nothing, with zero weights (no ROMs) and with weight ROMs read from files."""
    d = acc.index
    files = [f"accelplan_device{d}_pkg.sv", "accelplan_stream_linear.sv", "accelplan_stream_reshape.sv", "top.sv"]
    for load_weights in (0, 1):
        run = subprocess.run([require_tool("verilator"), "--lint-only", "-Wall", f"-GLOAD_WEIGHTS={load_weights}",
                              "--top-module", f"accelplan_device{d}_top", *files],
                             cwd=folder, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr


STUBS = "".join(f'proc {c} args {{ lappend ::calls [list {c} {{*}}$args] }}\n' for c in VIVADO_COMMANDS)


def run_build_tcl(acc: AcceleratorPlan, folder: Path) -> None:
    """Source build.tcl with every Vivado command stubbed: it must run to its end, calling the flow in order."""
    d = acc.index
    script = STUBS + f"source {{{folder / 'build.tcl'}}}\nforeach c $::calls {{ puts \"CALL $c\" }}\nputs END\n"
    run = subprocess.run([require_tool("tclsh")], input=script, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.rstrip().endswith("END"), run.stdout + run.stderr
    calls = [line.split()[1:] for line in run.stdout.splitlines() if line.startswith("CALL ")]
    assert [c[0] for c in calls] == ["create_project", "read_verilog", "synth_design", "opt_design", "place_design",
                                     "route_design", "report_utilization", "report_timing_summary", "write_bitstream"]
    assert calls[0] == ["create_project", "-in_memory", "-part", acc.part]
    read = " ".join(calls[1])
    assert all(str(folder / f) in read for f in ("accelplan_stream_linear.sv", "top.sv", f"accelplan_device{d}_pkg.sv"))
    assert calls[2][:5] == ["synth_design", "-top", f"accelplan_device{d}_top", "-part", acc.part]
    assert calls[-1][:2] == ["write_bitstream", "-force"] and calls[-1][2].endswith(f"accelplan_device{d}.bit")


def test_small_plan_emits_lints_and_builds(small_plan: Path, tmp_path: Path, capsys) -> None:
    plan = read_plan(small_plan)
    assert len(plan.accelerators) == 2 and max(len(a.layers) for a in plan.accelerators) == 2
    assert main(["emit", str(small_plan), "--target", "rtl", "-o", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("wrote ") == 5 * len(plan.accelerators)
    assert {p.name for p in tmp_path.iterdir()} == {f"device{a.index}" for a in plan.accelerators}
    for acc in plan.accelerators:
        folder = tmp_path / f"device{acc.index}"
        assert {p.name for p in folder.iterdir()} == {f"accelplan_device{acc.index}_pkg.sv", "accelplan_stream_linear.sv",
                                                      "accelplan_stream_reshape.sv", "top.sv", "build.tcl"}
        check_package(plan, acc, folder)
        lint(acc, folder)
        run_build_tcl(acc, folder)
    assert "accelplan_stream_reshape" in (tmp_path / "device1" / "top.sv").read_text()  # 8-element beats -> 4


@pytest.mark.slow
def test_gpt3_xl_on_four_u250(gpt3_plan: Path, tmp_path: Path) -> None:
    plan = read_plan(gpt3_plan)
    assert len(plan.accelerators) == 4 and {a.part for a in plan.accelerators} == {"xcu250-figd2104-2L-e"}
    written = emit(plan, "rtl", tmp_path)
    assert len(written) == 5 * 4
    for acc in plan.accelerators:
        check_package(plan, acc, tmp_path / f"device{acc.index}")
        run_build_tcl(acc, tmp_path / f"device{acc.index}")
    smallest = min(plan.accelerators, key=lambda a: len(a.layers))
    lint(smallest, tmp_path / f"device{smallest.index}")


def test_other_families_refuse_rtl(tmp_path: Path, capsys) -> None:
    versal = write_plan(solve(random_problem(1, "throughput"), "exhaustive"), tmp_path / "plan.yaml")
    assert read_plan(versal).family == "versal-aie"
    assert main(["emit", str(versal), "--target", "rtl", "-o", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err
    assert "target rtl does not write configs" in err and "json" in err
    assert not (tmp_path / "build").exists()


def test_a_device_without_part_is_refused(small_plan: Path, tmp_path: Path, capsys) -> None:
    plan = read_plan(small_plan)
    no_part = replace(plan, accelerators=(plan.accelerators[0], replace(plan.accelerators[1], part="")))
    with pytest.raises(SolveError, match=r"device 1 .*hardware spec needs `part:`"):
        emit(no_part, "rtl", tmp_path / "build")
    assert not (tmp_path / "build").exists()  # nothing is written before every device is checked
    write_plan(no_part, tmp_path / "no_part.yaml")
    assert main(["emit", str(tmp_path / "no_part.yaml"), "--target", "rtl", "-o", str(tmp_path / "build")]) == 2
    assert "needs `part:`" in capsys.readouterr().err


def test_values_that_do_not_fit_32_bits_or_floats_are_refused(small_plan: Path, tmp_path: Path) -> None:
    plan = read_plan(small_plan)
    acc = plan.accelerators[1]

    def with_layer(gemm=None, tile=None) -> Plan:
        changed = replace(acc, gemms=(gemm or acc.gemms[0],) + acc.gemms[1:],
                          layer_tiles=(tile or acc.layer_tiles[0],) + acc.layer_tiles[1:])
        return replace(plan, accelerators=(plan.accelerators[0], changed))

    m, k, n, count = acc.gemms[0]
    with pytest.raises(SolveError, match=rf"layer '{acc.layers[0]}': DATA_IN_0_TENSOR_SIZE_DIM_0 = 2147483648 does not fit"):
        emit(with_layer(gemm=(m, 2**31, n, count)), "rtl", tmp_path)
    with pytest.raises(SolveError, match=r"WEIGHT_PARALLELISM_DIM_1 = 0 does not fit"):
        emit(with_layer(tile=(1, 1, 0)), "rtl", tmp_path)
    with pytest.raises(SolveError, match=rf"layer '{acc.layers[0]}': the weight ROM depth .* does not fit"):
        emit(with_layer(gemm=(m, 2**20, 2**20, count), tile=(1, 1, 1)), "rtl", tmp_path)
    with pytest.raises(SolveError, match="dtype fp16 needs floating-point MACs"):
        emit(replace(plan, dtype="fp16"), "rtl", tmp_path)
    assert not list(tmp_path.iterdir())


def test_layer_names_become_unique_identifiers() -> None:
    assert prefixes(("block0.qkv", "7x7/conv", "a-b", "a_b", "")) == ["BLOCK0_QKV_", "L7X7_CONV_", "A_B_", "A_B_3_", "LAYER_"]
