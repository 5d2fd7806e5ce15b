"""ONNX graphs built in code import with the shapes and MAC counts a hand computation gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accelplan import api
from accelplan.cli import main
from accelplan.errors import SpecError
from accelplan.specs.lowering import Gemm, lower
from accelplan.specs.network import flatten
from accelplan.specs.onnx_import import import_onnx
from accelplan.specs.schema import ModelSpec
from accelplan.specs.study import load_model

D, H, HD, FF, SEQ = 768, 12, 64, 3072, 128


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def _i64(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _save(graph: onnx.GraphProto, path: Path, opset: int = 17) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def bert_block(path: Path) -> Path:
    """One BERT encoder block with symbolic batch and seq: attention, LayerNormalization, Erf-GELU, decomposed LayerNorm."""
    n = helper.make_node
    inits = [_w("wq", D, D), _w("wk", D, D), _w("wv", D, D), _w("wo", D, D), _w("w1", D, FF), _w("w2", FF, D),
             _w("bq", D), _w("g", D), _w("b", D), _i64("heads_shape", [0, 0, H, HD]), _i64("merge_shape", [0, 0, D]),
             numpy_helper.from_array(np.array(8.0, dtype=np.float32), "scale"),
             numpy_helper.from_array(np.array(1.4142135, dtype=np.float32), "sqrt2"),
             numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
             numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
             numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
             numpy_helper.from_array(np.array(1e-5, dtype=np.float32), "eps")]
    nodes = [
        n("MatMul", ["x", "wq"], ["q0"], name="q"), n("Add", ["q0", "bq"], ["q1"], name="q_bias"),
        n("MatMul", ["x", "wk"], ["k0"], name="k"), n("MatMul", ["x", "wv"], ["v0"], name="v"),
        n("Reshape", ["q1", "heads_shape"], ["q2"]), n("Transpose", ["q2"], ["q3"], perm=[0, 2, 1, 3]),
        n("Reshape", ["k0", "heads_shape"], ["k2"]), n("Transpose", ["k2"], ["k3"], perm=[0, 2, 3, 1]),
        n("Reshape", ["v0", "heads_shape"], ["v2"]), n("Transpose", ["v2"], ["v3"], perm=[0, 2, 1, 3]),
        n("MatMul", ["q3", "k3"], ["s0"], name="qk"), n("Div", ["s0", "scale"], ["s1"], name="scale"),
        n("Softmax", ["s1"], ["p"], name="softmax", axis=-1), n("MatMul", ["p", "v3"], ["c0"], name="pv"),
        n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3]), n("Reshape", ["c1", "merge_shape"], ["c2"]),
        n("MatMul", ["c2", "wo"], ["o0"], name="proj"), n("Add", ["o0", "x"], ["o1"], name="residual1"),
        n("LayerNormalization", ["o1", "g", "b"], ["h0"], name="ln1", axis=-1),
        n("MatMul", ["h0", "w1"], ["f0"], name="fc1"),
        n("Div", ["f0", "sqrt2"], ["e0"]), n("Erf", ["e0"], ["e1"]), n("Add", ["e1", "one"], ["e2"]),
        n("Mul", ["f0", "e2"], ["e3"]), n("Mul", ["e3", "half"], ["f1"], name="gelu_out"),
        n("MatMul", ["f1", "w2"], ["f2"], name="fc2"), n("Add", ["f2", "h0"], ["r"], name="residual2"),
        n("ReduceMean", ["r"], ["mu"], name="ln2", axes=[-1]), n("Sub", ["r", "mu"], ["d"]),
        n("Pow", ["d", "two"], ["d2"]), n("ReduceMean", ["d2"], ["var"], axes=[-1]), n("Add", ["var", "eps"], ["ve"]),
        n("Sqrt", ["ve"], ["sd"]), n("Div", ["d", "sd"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", D])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", D])
    return _save(helper.make_graph(nodes, "bert_block", [x], [y], inits), path)


def bottleneck(path: Path) -> Path:
    """A ResNet bottleneck with a strided 3x3 and a projection shortcut."""
    n = helper.make_node
    inits = [_w("w1", 64, 256, 1, 1), _w("w2", 64, 64, 3, 3), _w("w3", 256, 64, 1, 1), _w("ws", 256, 256, 1, 1)]
    nodes = [n("Conv", ["x", "w1"], ["a"], name="conv1"), n("Relu", ["a"], ["a1"], name="relu1"),
             n("Conv", ["a1", "w2"], ["b"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]), n("Relu", ["b"], ["b1"]),
             n("Conv", ["b1", "w3"], ["c"], name="conv3"),
             n("Conv", ["x", "ws"], ["s"], name="shortcut", strides=[2, 2]),
             n("Add", ["c", "s"], ["d"], name="add"), n("Relu", ["d"], ["y"], name="relu_out")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 256, 56, 56])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 256, 28, 28])
    return _save(helper.make_graph(nodes, "bottleneck", [x], [y], inits), path)


def small_cnn(path: Path, extra: str | None = None) -> Path:
    """Conv (dilated), depthwise conv (groups), max pool, global average pool, flatten, Gemm (transB)."""
    n = helper.make_node
    inits = [_w("w1", 16, 3, 3, 3), _w("w2", 16, 1, 3, 3), _w("fc", 10, 16), _w("fcb", 10)]
    nodes = [n("Conv", ["x", "w1"], ["a"], name="stem", pads=[2, 2, 2, 2], dilations=[2, 2]),
             n("Relu", ["a"], ["a1"]),
             n("Conv", ["a1", "w2"], ["b"], name="dw", pads=[1, 1, 1, 1], group=16, strides=[2, 2]),
             n("MaxPool", ["b"], ["c"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             n("GlobalAveragePool", ["c"], ["g"], name="gap"), n("Flatten", ["g"], ["f"]),
             n("Gemm", ["f", "fc", "fcb"], ["y0"], name="classifier", transB=1)]
    last = "y0"
    if extra:
        nodes.append(n(extra, ["y0"], ["y1"], name="odd_node", **({"size": 3} if extra == "LRN" else {})))
        last = "y1"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, 10])
    return _save(helper.make_graph(nodes, "small_cnn", [x], [y], inits), path)


def _gemms(data: dict) -> dict[str, Gemm]:
    net = flatten(ModelSpec.model_validate(data))
    return {op.name: lower(op.op) for op in net.ops if isinstance(lower(op.op), Gemm)}


def test_bert_block_shapes_and_macs(tmp_path: Path) -> None:
    data = import_onnx(bert_block(tmp_path / "bert.onnx"), dims={"seq": SEQ})
    ops = {op["name"]: op for op in data["operators"]}
    assert [op["kind"] for op in data["operators"]] == [
        "linear", "add", "linear", "linear", "matmul", "mul", "softmax", "matmul", "linear", "add", "layernorm",
        "linear", "gelu", "linear", "add", "layernorm"]
    assert ops["q"] | {} == {"name": "q", "kind": "linear", "m": SEQ, "k": D, "n": D}
    assert (ops["qk"]["m"], ops["qk"]["k"], ops["qk"]["n"], ops["qk"]["heads"]) == (SEQ, HD, SEQ, H)
    assert (ops["pv"]["m"], ops["pv"]["k"], ops["pv"]["n"], ops["pv"]["heads"]) == (SEQ, SEQ, HD, H)
    assert (ops["fc1"]["k"], ops["fc1"]["n"]) == (D, FF) and (ops["fc2"]["k"], ops["fc2"]["n"]) == (FF, D)
    assert ops["softmax"]["elements"] == H * SEQ * SEQ
    assert ops["ln1"]["elements"] == ops["ln2"]["elements"] == SEQ * D  # fused and decomposed LayerNorm
    gelu = [op for op in data["operators"] if op["kind"] == "gelu"]
    assert len(gelu) == 1 and gelu[0]["elements"] == SEQ * FF  # the Erf pattern, one operator
    gemms = _gemms(data)
    assert sum(g.macs for g in gemms.values()) == 4 * SEQ * D * D + 2 * H * SEQ * SEQ * HD + 2 * SEQ * D * FF
    assert gemms["q"].weight and not gemms["qk"].weight


def test_bottleneck_shapes_and_macs(tmp_path: Path) -> None:
    data = import_onnx(bottleneck(tmp_path / "b.onnx"))
    ops = {op["name"]: op for op in data["operators"]}
    assert ops["conv2"]["stride"] == [2, 2] and ops["conv2"]["padding"] == [1, 1] and ops["conv2"]["kernel"] == [3, 3]
    gemms = _gemms(data)
    assert (gemms["conv1"].m, gemms["conv1"].k, gemms["conv1"].n) == (56 * 56, 256, 64)
    assert (gemms["conv2"].m, gemms["conv2"].k, gemms["conv2"].n) == (28 * 28, 64 * 9, 64)
    assert (gemms["conv3"].m, gemms["shortcut"].m) == (28 * 28, 28 * 28)
    expected = 56 * 56 * 256 * 64 + 28 * 28 * (64 * 9 * 64 + 64 * 256 + 256 * 256)
    assert sum(g.macs for g in gemms.values()) == expected
    assert ops["add"]["elements"] == 256 * 28 * 28


def test_small_cnn_groups_dilation_pool_gemm(tmp_path: Path) -> None:
    data = import_onnx(small_cnn(tmp_path / "cnn.onnx"))
    ops = {op["name"]: op for op in data["operators"]}
    gemms = _gemms(data)
    assert (gemms["stem"].m, gemms["stem"].k, gemms["stem"].n) == (32 * 32, 27, 16)  # dilation 2, padding 2
    assert (gemms["dw"].m, gemms["dw"].k, gemms["dw"].n, gemms["dw"].count) == (16 * 16, 9, 1, 16)  # depthwise
    assert ops["pool"]["kind"] == "pool" and ops["pool"]["elements"] == 16 * 8 * 8
    assert ops["pool"]["input_elements"] == 16 * 16 * 16 and ops["gap"]["elements"] == 16
    assert (gemms["classifier"].m, gemms["classifier"].k, gemms["classifier"].n) == (1, 16, 10)


def test_unsupported_operators_are_listed_and_lumped_on_request(tmp_path: Path) -> None:
    path = small_cnn(tmp_path / "odd.onnx", extra="Softplus")
    with pytest.raises(SpecError, match=r"unsupported ONNX operators Softplus at nodes: odd_node \(Softplus\).*--lump"):
        import_onnx(path)
    lumped = import_onnx(path, lump=True)  # the kind it used and the operator it stands for are both written
    assert lumped["operators"][-1] == {"name": "odd_node.Softplus", "kind": "unary", "elements": 10}


def test_missing_symbolic_dimension_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="symbolic dimensions without a value: seq"):
        import_onnx(bert_block(tmp_path / "bert.onnx"))


def test_import_command_and_a_study_naming_onnx(tmp_path: Path, capsys) -> None:
    onnx_file = bert_block(tmp_path / "bert.onnx")
    out = tmp_path / "models" / "bert-block.yaml"
    assert main(["import", str(onnx_file), "-o", str(out), "--dim", "seq=128", "--batch", "8", "--name", "bert-block"]) == 0
    assert main(["validate", str(out)]) == 0
    net = load_model(out)
    assert net.name == "bert-block" and len(net.ops) == 16
    assert main(["import", str(onnx_file), "-o", str(tmp_path / "x.yaml"), "--dim", "seq"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    # a study may name the .onnx file directly, with its symbolic dimensions
    (tmp_path / "study.yaml").write_text("model: bert.onnx\nhardware: vck190\nexecution: spatial\n"
                                         "model_dims: {seq: 128}\nconstraints: {batch: 8, max_accelerators: 3}\n")
    result = api.plan_study(api.make_study(tmp_path / "study.yaml"), strategy="dp")
    assert result.plan.feasible and result.problem.n_layers == 8  # q k v qk pv proj fc1 fc2
    from_yaml = api.plan_study(api.make_study(model=str(out), hardware="vck190", execution="spatial", batch=8,
                                              max_accelerators=3), strategy="dp")
    assert from_yaml.plan.throughput == pytest.approx(result.plan.throughput)


def test_graph_with_absent_external_weights_imports_and_solves(tmp_path: Path, capsys) -> None:
    """A planner needs shapes, not weights: weights stored in an external file that is not there."""
    n = helper.make_node
    graph = helper.make_graph(
        [n("MatMul", ["x", "w1"], ["h"], name="fc1"), n("Relu", ["h"], ["r"], name="act"),
         n("MatMul", ["r", "w2"], ["y"], name="fc2")],
        "torch_jit", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [SEQ, D])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [SEQ, D])], [_w("w1", D, FF), _w("w2", FF, D)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "exported.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="exported.data",
              size_threshold=0)
    (tmp_path / "exported.data").unlink()
    spec = import_onnx(path)
    assert spec["name"] == "exported"  # the file's name, not the exporter's graph name
    gemms = [op for op in spec["operators"] if op["kind"] in ("linear", "matmul")]
    assert [(g["m"], g["k"], g["n"]) for g in gemms] == [(SEQ, D, FF), (SEQ, FF, D)]
    (tmp_path / "study.yaml").write_text("model: exported.onnx\nhardware: vck190\nexecution: hybrid\n"
                                         "constraints: {batch: 4, max_accelerators: 2}\ntime_limit_s: 20\n")
    assert main(["solve", str(tmp_path / "study.yaml"), "--strategy", "colgen", "-o", str(tmp_path / "out"),
                 "--quiet"]) == 0


def test_validate_reads_onnx_files_as_models(tmp_path: Path, capsys) -> None:
    n = helper.make_node
    graph = helper.make_graph([n("MatMul", ["x", "w"], ["y"], name="fc")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], [_w("w", 8, 8)])
    good = _save(graph, tmp_path / "good.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\xfe\x00 not a protobuf")
    assert main(["validate", str(good)]) == 0
    assert "valid model (ONNX)" in capsys.readouterr().out
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not a readable ONNX model" in err and "UnicodeDecodeError" not in err


def _conv_w(name: str, out_c: int, in_c: int, k: int) -> onnx.TensorProto:
    return _w(name, out_c, in_c, k, k)


def mobilenet_v2_block(path: Path, opset: int = 13) -> Path:
    """MobileNetV2 in miniature: stem conv + BatchNorm + ReLU6 (Clip), an inverted residual (expand 1x1, depthwise
    3x3, project 1x1, residual Add), GlobalAveragePool, Flatten, Gemm; the weights of an exporter (absent here)."""
    n = helper.make_node
    c, e = 16, 64
    inits = [_conv_w("w0", c, 3, 3), _w("bn_s", c), _w("bn_b", c), _w("bn_m", c), _w("bn_v", c),
             _conv_w("w1", e, c, 1), _conv_w("wd", e, 1, 3), _conv_w("w2", c, e, 1), _w("fc", 10, c), _w("fcb", 10),
             numpy_helper.from_array(np.array(0.0, dtype=np.float32), "lo"),
             numpy_helper.from_array(np.array(6.0, dtype=np.float32), "hi")]
    nodes = [
        n("Conv", ["x", "w0"], ["s0"], name="stem", pads=[1, 1, 1, 1], strides=[2, 2]),
        n("BatchNormalization", ["s0", "bn_s", "bn_b", "bn_m", "bn_v"], ["s1"], name="stem_bn"),
        n("Clip", ["s1", "lo", "hi"], ["s2"], name="stem_relu6"),
        n("Conv", ["s2", "w1"], ["e0"], name="expand"), n("Clip", ["e0", "lo", "hi"], ["e1"], name="expand_relu6"),
        n("Conv", ["e1", "wd"], ["d0"], name="depthwise", pads=[1, 1, 1, 1], group=e),
        n("Clip", ["d0", "lo", "hi"], ["d1"], name="dw_relu6"),
        n("Conv", ["d1", "w2"], ["p0"], name="project"), n("Add", ["p0", "s2"], ["r"], name="residual"),
        n("GlobalAveragePool", ["r"], ["g"], name="gap"), n("Flatten", ["g"], ["f"], axis=1),
        n("Gemm", ["f", "fc", "fcb"], ["y"], name="classifier", transB=1)]
    graph = helper.make_graph(nodes, "torch_jit", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path), save_as_external_data=True, location=path.stem + ".data", size_threshold=0)
    (path.parent / (path.stem + ".data")).unlink()
    return path


def alexnet_block(path: Path, opset: int = 11) -> Path:
    """AlexNet in miniature: Conv, ReLU, LRN, MaxPool, Flatten, Dropout, Gemm."""
    n = helper.make_node
    inits = [_conv_w("w0", 8, 3, 5), _w("fc", 10, 8 * 7 * 7), _w("fcb", 10)]
    nodes = [n("Conv", ["x", "w0"], ["c0"], name="conv1", strides=[2, 2], pads=[2, 2, 2, 2]),
             n("Relu", ["c0"], ["c1"], name="relu1"), n("LRN", ["c1"], ["c2"], name="lrn1", size=5),
             n("MaxPool", ["c2"], ["p"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             n("Flatten", ["p"], ["f"], axis=1), n("Dropout", ["f"], ["fd"], name="drop"),
             n("Gemm", ["fd", "fc", "fcb"], ["y"], name="fc1", transB=1)]
    graph = helper.make_graph(nodes, "main_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return _save(graph, path, opset)


@pytest.mark.parametrize("build, kinds", [
    (mobilenet_v2_block, ["conv2d", "batchnorm", "clip", "conv2d", "clip", "conv2d", "clip", "conv2d", "add", "pool",
                          "linear"]),
    (alexnet_block, ["conv2d", "relu", "lrn", "pool", "linear"]),
])
def test_vision_exports_import_without_lump_and_solve(build, kinds, tmp_path: Path) -> None:
    path = build(tmp_path / f"{build.__name__}.onnx")
    spec = import_onnx(path)
    assert [op["kind"] for op in spec["operators"]] == kinds
    if build is mobilenet_v2_block:
        dw = next(op for op in spec["operators"] if op["name"] == "depthwise")
        assert dw["groups"] == dw["in_channels"] == dw["out_channels"] == 64  # depthwise: one group per channel
    (tmp_path / "study.yaml").write_text(f"model: {path.name}\nhardware: vck190\nexecution: hybrid\n"
                                         "constraints: {batch: 4, max_accelerators: 3}\ntime_limit_s: 20\n")
    assert main(["solve", str(tmp_path / "study.yaml"), "--strategy", "colgen", "-o", str(tmp_path / "out"),
                 "--quiet"]) == 0


@pytest.mark.parametrize("opset, rows, message", [
    (17, 16, "the graph's shapes are inconsistent"),  # MatMul [4, 8] x [16, 8]: K does not match
    (999, 8, "opset 999 of the default ONNX domain is not supported; valid: 1 to"),
])
def test_invalid_graphs_are_refused_not_converted(opset: int, rows: int, message: str, tmp_path: Path, capsys) -> None:
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_w("w", rows, 8)])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    with pytest.raises(SpecError, match=message):
        import_onnx(path)
    assert main(["import", str(path), "-o", str(tmp_path / "m.yaml")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "m.yaml").exists()


def test_weights_values_are_not_needed_but_their_shapes_still_are(tmp_path: Path) -> None:
    """Shape inference gets large initializers without their values (their dimensions kept): a 128 x 64 weight whose K
    contradicts the activation's 32 is still refused, and the same graph with a matching weight imports with the
    shapes of a full one."""
    def saved(k: int) -> Path:
        graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 32])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_w("w", k, 64)])
        path = tmp_path / f"k{k}.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return path

    bad, good = saved(128), saved(32)
    with pytest.raises(SpecError, match="the graph's shapes are inconsistent"):
        import_onnx(bad)
    fc = _gemms(import_onnx(good))["fc"]
    assert (fc.m, fc.k, fc.n) == (4, 32, 64)


def test_conv_transpose_as_its_gemm_and_gather_as_an_embedding(tmp_path: Path) -> None:
    """A decoder's upsampling and a language model's embedding, priced as what they are."""
    n = helper.make_node
    vocab, tokens = 1000, 16
    inits = [_w("wt", 8, 4, 2, 2), _w("emb", vocab, 32), _i64("ids", list(range(tokens)))]
    nodes = [n("ConvTranspose", ["x", "wt"], ["u"], name="up", strides=[2, 2]),
             n("Gather", ["emb", "ids"], ["e"], name="embed", axis=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 10])],
                              [helper.make_tensor_value_info("u", TensorProto.FLOAT, [1, 4, 20, 20]),
                               helper.make_tensor_value_info("e", TensorProto.FLOAT, [tokens, 32])], inits)
    spec = import_onnx(_save(graph, tmp_path / "up.onnx", opset=21))
    ops = {op["name"]: op for op in spec["operators"]}
    up = lower(ModelSpec.model_validate({**spec, "operators": [ops["up"]]}).operators[0])
    assert isinstance(up, Gemm) and up.macs == 10 * 10 * 8 * 4 * 2 * 2  # every input pixel times the 8x4x2x2 weights
    assert ops["up.col2im"] == {"name": "up.col2im", "kind": "add", "elements": 4 * 20 * 20}
    assert ops["embed"] == {"name": "embed", "kind": "gather", "elements": tokens * 32}  # rows fetched, not the table
