"""The ``rtl`` target (multi-device): per device a top that follows the model's graph, the operator library and
weights, all linted clean by Verilator (-Wall), a Vivado build script that runs to its end in tclsh with Vivado's
commands stubbed; LLaMA-7B on u250-x32 fits each device's BRAM+URAM; other families and unusable plans are refused.
Simulation of generated designs: tests/test_rtl_sim.py."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
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


def lint(folder: Path) -> None:
    """verilator -Wall finds nothing in the device's files (waivers: unused parameters of the package only)."""
    d = folder.name.removeprefix("device")
    from accelplan.emitters.rtl import sources
    files = [f for f in sources(int(d), {"streamed": list((folder / "accelplan_axi_reader.sv").exists() and [1] or [])})]
    run = subprocess.run([require_tool("verilator"), "--lint-only", "-Wall", "--top-module", f"accelplan_device{d}_top", *files],
                         cwd=folder, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


STUBS = "".join(f'proc {c} args {{ lappend ::calls [list {c} {{*}}$args] }}\n' for c in VIVADO_COMMANDS)


def run_build_tcl(acc: AcceleratorPlan, folder: Path) -> None:
    """Source build.tcl with every Vivado command stubbed: it must run to its end, calling the flow in order."""
    d = acc.index
    script = STUBS + f"source {{{folder / 'build.tcl'}}}\nforeach c $::calls {{ puts \"CALL $c\" }}\nputs END\n"
    run = subprocess.run([require_tool("tclsh")], input=script, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.rstrip().endswith("END"), run.stdout + run.stderr
    calls = [line.split()[1:] for line in run.stdout.splitlines() if line.startswith("CALL ")]
    names = [c[0] for c in calls if c[0] not in ("read_mem", "create_ip_black_box")]
    assert names == ["create_project", "read_verilog", "read_xdc", "synth_design", "opt_design", "place_design",
                     "route_design", "report_utilization", "report_timing_summary", "write_bitstream"]
    assert calls[0] == ["create_project", "-in_memory", "-part", acc.part]
    assert "create_clock" in (folder / "clock.xdc").read_text()
    synth = next(c for c in calls if c[0] == "synth_design")
    assert synth[:5] == ["synth_design", "-top", f"accelplan_device{d}_top", "-part", acc.part]


def test_small_plan_emits_lints_and_builds(small_plan: Path, tmp_path: Path, capsys) -> None:
    plan = read_plan(small_plan)
    assert len(plan.accelerators) == 2
    assert main(["emit", str(small_plan), "--target", "rtl", "-o", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {f"device{a.index}" for a in plan.accelerators} | {"system"}
    top0 = (tmp_path / "device0" / "top.sv").read_text()
    # the graph's order: fc1 -> act (ReLU) -> fc2, each its block; fc2's output leaves on a link port
    assert "u_enc_fc1 (" in top0 and "accelplan_unary #(.DATA_WIDTH(8), .FUNC(0)) u_enc_act" in top0
    assert "output logic [63:0] m_enc_fc2_tdata" in top0
    for acc in plan.accelerators:
        folder = tmp_path / f"device{acc.index}"
        lint(folder)
        run_build_tcl(acc, folder)
        for layer in acc.layers:  # on-chip weights: one memory file per layer
            assert (folder / (re.sub(r"\W", "_", layer).lower() + ".mem")).is_file()


@pytest.mark.slow
def test_llama_7b_on_u250_memories_fit_and_streamed_weights_are_port_reads(tmp_path: Path) -> None:
    study = api.make_study(Path(__file__).parent.parent / "specs" / "studies" / "llama-7b-decode_u250-x32.yaml")
    plan = api.plan_study(study, strategy="dp").plan
    emit(plan, "rtl", tmp_path)
    hw = study.hardware.devices[0].device
    capacity_bits = (hw.bram + hw.uram) * 8
    for acc in plan.accelerators:
        folder = tmp_path / f"device{acc.index}"
        pkg = (folder / f"accelplan_device{acc.index}_pkg.sv").read_text()
        onchip = int(re.search(r"ONCHIP_MEMORY_BITS = (\d+)", pkg).group(1))
        assert onchip <= capacity_bits and onchip == acc.weights_onchip_bytes * 8 + acc.kv_onchip_bytes * 8
        top = (folder / "top.sv").read_text()
        streamed = sum(p == "streamed" for p in acc.placements)
        assert top.count("WEIGHT_SOURCE(1)") == streamed == top.count("accelplan_axi_reader #(")
        assert top.count("WEIGHT_SOURCE(0)") + top.count("WEIGHT_SOURCE(2)") == len(acc.layers) - streamed


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


def test_layer_names_become_unique_identifiers() -> None:
    assert prefixes(("block0.qkv", "7x7/conv", "a-b", "a_b", "")) == ["BLOCK0_QKV_", "L7X7_CONV_", "A_B_", "A_B_3_", "LAYER_"]


def _onnx_graph(path: Path, nodes, inits: dict, x_shape: list[int]) -> Path:
    """An ONNX graph of ``nodes`` whose initialisers are ``inits`` (float32), input ``x`` of ``x_shape``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _planned(folder: Path, onnx_file: Path) -> Path:
    """plan.yaml of the imported graph on the chain of small FPGAs (dp)."""
    folder.mkdir()
    (folder / "hw.yaml").write_text(yaml.safe_dump(SYSTEM))
    assert main(["import", str(onnx_file), "-o", str(folder / "model.yaml")]) == 0
    study = api.make_study(model=str(folder / "model.yaml"), hardware=str(folder / "hw.yaml"))
    api.write_outputs(api.plan_study(study, strategy="dp"), folder / "out")
    return folder / "out" / "plan.yaml"


def _memory_text(arr: np.ndarray, tile: tuple[int, int, int]) -> str:
    """A layer's .mem file as the rtl target writes it, for int8 weights ``arr`` [K, N] on tile (pm, pk, pn)."""
    from accelplan.emitters.rtl import weight_words

    _, pk, pn = tile
    digits = -(-(pk * pn * 8) // 4)
    return "".join(f"{w:0{digits}x}\n" for w in weight_words(arr[None], pk, pn, 8))


def test_onnx_initialisers_fill_the_weight_memories(tmp_path: Path, capsys) -> None:
    """``emit --target rtl --weights MODEL.onnx``: each layer's memory holds its ONNX weight as the GEMM reads it
    (MatMul's B as [K, N], Gemm's transposed B, a Conv's [N, C, KH, KW] as K = (ky, kx, c) by N, the RTL im2col's
    order), quantised to int8 per tensor; without --weights the values are the seeded random ones."""
    from onnx import helper

    from accelplan.emitters.rtl import quantised

    rng = np.random.default_rng(5)
    mlp = {"w1": rng.normal(size=(40, 24)), "w2": rng.normal(size=(48, 24)), "w3": rng.normal(size=(48, 20))}
    conv = {"wc": rng.normal(size=(4, 3, 3, 3))}
    n = helper.make_node
    cases = {
        "mlp": (_onnx_graph(tmp_path / "mlp.onnx", [
            n("MatMul", ["x", "w1"], ["h"], name="fc1"), n("Relu", ["h"], ["r"], name="act"),
            n("Gemm", ["r", "w2"], ["g"], name="fc2", transB=1), n("MatMul", ["g", "w3"], ["y"], name="head")],
            mlp, [12, 40]), {"fc1": mlp["w1"], "fc2": mlp["w2"].T, "head": mlp["w3"]}),
        "conv": (_onnx_graph(tmp_path / "conv.onnx", [
            n("Conv", ["x", "wc"], ["c"], name="stem", pads=[1, 1, 1, 1]), n("Relu", ["c"], ["y"], name="act")],
            conv, [1, 3, 8, 8]), {"stem": conv["wc"].transpose(2, 3, 1, 0).reshape(27, 4)}),
    }
    # the layout claim: im2col patches ordered (ky, kx, c) times the GEMM weights are the ONNX convolution
    x = np.pad(rng.normal(size=(8, 8, 3)), ((1, 1), (1, 1), (0, 0)))
    patches = np.array([x[y:y + 3, z:z + 3, :].reshape(-1) for y in range(8) for z in range(8)])
    direct = np.array([[np.sum(x[y:y + 3, z:z + 3, :].transpose(2, 0, 1) * conv["wc"][o]) for o in range(4)]
                       for y in range(8) for z in range(8)])
    assert np.allclose(patches @ cases["conv"][1]["stem"], direct)
    for case, (onnx_file, expected) in cases.items():
        plan_file = _planned(tmp_path / case, onnx_file)
        plan = read_plan(plan_file)
        out, seeded = tmp_path / case / "rtl", tmp_path / case / "seeded"
        assert main(["emit", str(plan_file), "--target", "rtl", "-o", str(out), "--weights", str(onnx_file)]) == 0
        assert main(["emit", str(plan_file), "--target", "rtl", "-o", str(seeded)]) == 0
        found = set()
        for acc in plan.accelerators:
            assert acc.ways == 1 and set(acc.placements) == {"on-chip"}, acc
            for layer, tile in zip(acc.layers, acc.layer_tiles):
                mem = f"device{acc.index}/" + re.sub(r"\W", "_", layer).lower() + ".mem"
                want = _memory_text(quantised(expected[layer], 8), tile)
                assert (out / mem).read_text() == want, layer
                assert (seeded / mem).read_text() != want
                found.add(layer)
        assert found == set(expected)
    capsys.readouterr()


def test_weights_that_do_not_fit_the_plan_are_refused(small_plan: Path, tmp_path: Path, capsys) -> None:
    """--weights from a graph that is not the plan's model, for a target without weights, of a graph whose weights are
    in a missing external file, or not an ONNX file: exit 2, naming what is wrong, nothing written."""
    import onnx
    from onnx import helper

    rng = np.random.default_rng(1)
    other = _onnx_graph(tmp_path / "other.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")],
                        {"w": rng.normal(size=(40, 24))}, [12, 40])
    external = tmp_path / "ext" / "chain.onnx"
    external.parent.mkdir()
    model = onnx.load(str(other))
    onnx.save(model, str(external), save_as_external_data=True, location="chain.weights", size_threshold=0)
    (external.parent / "chain.weights").unlink()
    (tmp_path / "weights.yaml").write_text("w: [1, 2]\n")
    for args, message in [
        (["--target", "rtl", "--weights", str(other)], "have none for layer(s) enc.fc1, enc.fc2, head"),
        (["--target", "json", "--weights", str(other)], "target json writes no weights; --weights applies to: rtl"),
        (["--target", "rtl", "--weights", str(external)], "are in chain.weights, which cannot be read"),
        (["--target", "rtl", "--weights", str(tmp_path / "weights.yaml")], "expected an ONNX graph (.onnx)"),
    ]:
        out = tmp_path / "out"
        assert main(["emit", str(small_plan), *args, "-o", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists() or not any(out.iterdir())
