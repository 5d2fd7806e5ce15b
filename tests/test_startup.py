"""Start-up of an ONNX import + solve (issue 25, item 11): the graph is read with onnx's protobuf classes and C++ shape
inference only, not the whole onnx package (about 1 s of imports: ml_dtypes, helpers, the reference evaluator), auto
asks no strategy beyond the one it picks (milp's refusal on segments imported Pyomo), and report.html's figures are
SVG from templates, not matplotlib (its import and four PNG figures were about half the CPU time of a ResNet-18
ONNX solve)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from accelplan.cli import main
code = main(['solve', '--model', sys.argv[1], '--hardware', 'simba-36', '--execution', 'layer-sequential',
             '--quiet', '-o', sys.argv[2]])
heavy = sorted({m for m in sys.modules if m in ('onnx', 'onnx.helper', 'ml_dtypes', 'pyomo', 'ortools', 'optuna',
                                              'matplotlib')})
print('CODE', code, 'HEAVY', ','.join(heavy))
import onnx, onnx.shape_inference  # the package imported afterwards reuses the loaded parts
model = onnx.load(sys.argv[1])
print('LATER', len(onnx.shape_inference.infer_shapes(model).graph.node), onnx.helper.make_node('Relu', ['a'], ['b']).op_type)
"""

GRAPH = """
import onnx
from onnx import TensorProto, helper


def write(path):
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    inits = [helper.make_tensor("w1", TensorProto.FLOAT, [64, 128], [0.0] * 64 * 128),
             helper.make_tensor("w2", TensorProto.FLOAT, [128, 32], [0.0] * 128 * 32)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
"""


NO_MATPLOTLIB = """
import sys
from accelplan.cli import main
code = main(['solve', '--model', 'deit-tiny', '--hardware', 'vck190', '--execution', 'spatial', '--strategy', 'dp',
             '--quiet', '-o', sys.argv[1]])
print('CODE', code, 'MATPLOTLIB', sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')[:3])
"""


def test_a_solve_draws_its_report_without_matplotlib(tmp_path: Path, root: Path) -> None:
    """A solve writes report.html with its four figures as inline SVG and never imports matplotlib."""
    res = subprocess.run([sys.executable, "-c", NO_MATPLOTLIB, str(tmp_path)], capture_output=True, text=True,
                         cwd=root, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "CODE 0 MATPLOTLIB []" in res.stdout, res.stdout
    html = (tmp_path / "solve" / "report.html").read_text()
    assert html.count("<svg ") == 4 and "<img " not in html


@pytest.mark.slow
def test_an_onnx_solve_loads_neither_the_onnx_package_nor_other_backends(tmp_path: Path, root: Path) -> None:
    pytest.importorskip("onnx")
    (tmp_path / "onnx_graph.py").write_text(GRAPH)
    subprocess.run([sys.executable, "-c", f"from onnx_graph import write; write({str(tmp_path / 'mlp.onnx')!r})"],
                   cwd=tmp_path, check=True, timeout=120)
    res = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "mlp.onnx"), str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=root,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines() if line.startswith(("CODE", "LATER")))
    code, heavy = lines["CODE"].split(" HEAVY ")
    assert code == "0" and heavy.strip() == "", res.stdout
    assert lines["LATER"] == "3 Relu"
    assert (tmp_path / "out" / "solve" / "plan.yaml").is_file()


LIGHT = """
import sys
from accelplan.cli import main
args = sys.argv[1:]
code = main(args)
print('CODE', code, 'LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pydantic', 'jinja2', 'scipy'}))
"""


@pytest.mark.parametrize("argv, loaded", [(["list", "."], []), (["show", "bert-base"], []),
                                          (["schema", "model"], ["pydantic"])])
def test_the_light_commands_do_not_import_the_planner(argv: list[str], loaded: list[str], tmp_path: Path,
                                                      root: Path) -> None:
    """``list`` and ``show`` read names and files only (accelplan.catalog, not accelplan.api: 0.57 -> 0.26 s for
    list); ``schema`` needs the spec schemas (pydantic) and nothing of the planner (numpy, the reports' Jinja2)."""
    res = subprocess.run([sys.executable, "-c", LIGHT, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"CODE 0 LOADED {loaded}" in res.stdout, res.stdout[-400:]
