"""Import an ONNX graph as a model spec (the operators accelplan prices).

Shapes come from ONNX shape inference after the graph inputs' symbolic dimensions are fixed:
the batch dimension (``batch``, ``N``, ... or any first dimension that is symbolic) is set to 1,
because a model spec describes one inference (the spec's ``batch`` field records the batch the
user asked for), and other symbols by name (``dims={"seq": 128}``). Initializers and
``value_info`` shapes are read as well.

Mapping (ONNX -> spec operator):
- ``MatMul``: weight operand (initializer) -> ``linear`` with the activation's leading dimensions
  folded into M; two activations -> ``matmul`` with the broadcast leading dimensions as ``heads``
  (attention's 4-D ``[b, h, s, d] x [b, h, d, s]``);
- ``Gemm`` (``transA``/``transB`` honoured) -> ``linear``;
- ``Conv`` (2-D; groups, strides, pads, dilations) -> ``conv2d``; ``ConvTranspose`` -> its GEMM (``linear``,
  input pixels x input channels x output channels and kernel area) and the col2im sum (``add``);
- ``Gather`` from an initializer (an embedding) -> ``gather`` (the fetched rows read and written once);
- ``MaxPool``/``AveragePool``/``GlobalAveragePool``/``GlobalMaxPool`` -> ``pool``; ``Softmax`` ->
  ``softmax``; ``LayerNormalization`` and its decomposed form (``ReduceMean``, ``Sub``, ``Pow``,
  ``ReduceMean``, ``Add``, ``Sqrt``, ``Div``) -> ``layernorm``; ``Gelu`` and the ``Erf`` pattern
  (``Div``, ``Erf``, ``Add``, ``Mul``, ``Mul``) -> ``gelu``; ``Relu`` -> ``relu``; ``Add``/``Sub``
  -> ``add``; ``Mul``/``Div`` -> ``mul``; ``Clip`` (ReLU6), ``Sigmoid``, ``HardSigmoid``, ``HardSwish``,
  ``Tanh``, ``Exp``, ``Erf``, ``Sqrt``, ``Pow``, ``LRN``, ``BatchNormalization`` -> their own one-input
  kinds (SiLU exports as ``Sigmoid`` then ``Mul``: two passes); ``ReduceMean``/``ReduceSum``/... -> ``reduce``
  and ``Resize``/``Upsample`` -> ``resize`` (read the input tensor, write the output);
- data movement and shape arithmetic (``Reshape``, ``Transpose``, ``Flatten``, ``Concat``,
  ``Squeeze``, ``Unsqueeze``, ``Identity``, ``Shape``, ``Constant``, ``Cast``, ``Dropout``, ...) costs nothing;
- anything else is listed in an error with node names; ``lump=True`` prices
  such nodes as a one-input element-wise pass over their output (kind ``unary``, the op type in the name).

Each op type's handler is registered in ``HANDLERS`` (op type -> handler); nodes of a decomposed
pattern go to ``_decomposed`` and op types not in the table to ``_other``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import SpecError, SpecIssue

ZERO_COST = {"Reshape", "Transpose", "Flatten", "Concat", "Squeeze", "Unsqueeze", "Identity", "Shape", "Constant",
             "ConstantOfShape", "Cast", "Dropout", "Slice", "Split", "Expand", "Range", "Equal", "Where"}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
SIMPLE = {"Softmax": "softmax", "LayerNormalization": "layernorm", "Gelu": "gelu", "Relu": "relu", "Add": "add",
          "Sub": "add", "Mul": "mul", "Div": "mul", "Clip": "clip", "Sigmoid": "sigmoid", "HardSigmoid": "hardsigmoid",
          "HardSwish": "hardswish", "Tanh": "tanh", "Exp": "exp", "Erf": "erf", "Sqrt": "sqrt", "Pow": "pow",
          "LRN": "lrn", "BatchNormalization": "batchnorm", "LeakyRelu": "relu", "PRelu": "relu"}
REDUCTIONS = {"ReduceMean": "reduce", "ReduceSum": "reduce", "ReduceMax": "reduce", "ReduceMin": "reduce",
              "Resize": "resize", "Upsample": "resize"}  # read the input tensor, write a smaller or larger one
BATCH_NAMES = {"batch", "batch_size", "n", "b", "bs", "batchsize"}


def _name(node, index: int, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name or "").strip("_") or f"{node.op_type.lower()}{index}"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def _fix_dims(model, dims: dict[str, int], file: str) -> None:
    """Give every symbolic dimension of the graph inputs a value (batch -> 1, others from ``dims``)."""
    missing = set()
    initializers = {i.name for i in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape = value.type.tensor_type.shape
        for axis, dim in enumerate(shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            sym = dim.dim_param
            if sym in dims:
                dim.dim_value = int(dims[sym])
            elif axis == 0 and (sym.lower() in BATCH_NAMES or not sym):
                dim.dim_value = 1
            else:
                missing.add(sym or f"{value.name}[{axis}]")
    if missing:
        raise SpecError(file, [SpecIssue(f"symbolic dimensions without a value: {', '.join(sorted(missing))}; "
                                         "set them with --dim NAME=VALUE (accelplan import) or model_dims: {NAME: VALUE} in a study", "graph.input")])


def _shapes(model) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            out[value.name] = [d.dim_value for d in dims]
    return out


#: an AttributeProto's value by its type (onnx.helper.get_attribute_value, without importing onnx.helper)
_ATTRIBUTE_FIELDS = {1: "f", 2: "i", 3: "s", 4: "t", 5: "g", 11: "sparse_tensor", 13: "tp", 6: "floats", 7: "ints",
                     8: "strings", 9: "tensors", 10: "graphs", 12: "sparse_tensors", 14: "type_protos"}


def _attrs(node) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        field_ = _ATTRIBUTE_FIELDS.get(a.type)
        value = getattr(a, field_) if field_ else None
        out[a.name] = list(value) if a.type in (6, 7, 8, 9, 10, 12, 14) else value
    return out


def _onnx_parts() -> tuple[Any, Any, Any]:
    """onnx's protobuf module, its C++ shape inference and its operator schemas, without running ``onnx/__init__``
    when the package is not imported yet (issue 25, item 11: it imports ml_dtypes, the helpers, the reference
    evaluator's dependencies, about 1 s of a 2.7 s import + solve). The two submodules are registered under their own
    names, so an ``import onnx`` later reuses them (its C++ extension is loaded once)."""
    import importlib
    import sys

    names = ("onnx.onnx_ml_pb2", "onnx.onnx_cpp2py_export.shape_inference", "onnx.onnx_cpp2py_export.defs")
    if not all(name in sys.modules for name in names) and "onnx" not in sys.modules:
        import importlib.util
        import types

        spec = importlib.util.find_spec("onnx")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("No module named 'onnx'", name="onnx")
        stub = types.ModuleType("onnx")
        stub.__path__, stub.__spec__ = list(spec.submodule_search_locations), spec
        sys.modules["onnx"] = stub  # only while the two submodules load: the real package is imported on demand
        try:
            for name in ("onnx.onnx_cpp2py_export", *names):
                importlib.import_module(name)
        except ImportError:
            pass  # what did load stays registered; the whole package is imported below and reuses it
        finally:
            if sys.modules.get("onnx") is stub:
                del sys.modules["onnx"]
    if not all(name in sys.modules for name in names):
        import onnx  # noqa: F401  (a layout the light path does not know: the whole package)
        import onnx.defs  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    return tuple(sys.modules[name] for name in names)  # type: ignore[return-value]


def _fused_patterns(graph, shapes) -> dict[int, tuple[str, int]]:
    """Node index -> (kind, elements) for nodes of a decomposed LayerNorm or Erf-GELU; the first node carries the op."""
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            consumers.setdefault(name, []).append(i)
    nodes = graph.node

    def only(i: int, op: str) -> int | None:
        users = consumers.get(nodes[i].output[0], [])
        users = [u for u in users if nodes[u].op_type == op]
        return users[0] if users else None

    fused: dict[int, tuple[str, int]] = {}
    for i, node in enumerate(nodes):
        if i in fused:
            continue
        if node.op_type == "ReduceMean":  # mean -> Sub(x, mean) -> Pow -> ReduceMean -> Add(eps) -> Sqrt -> Div
            chain = [i]
            for op in ("Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div"):
                nxt = only(chain[-1], op)
                if nxt is None:
                    break
                chain.append(nxt)
            if len(chain) == 7:
                elements = math.prod(shapes.get(node.input[0], [1]))
                fused |= {k: ("", 0) for k in chain}
                fused[i] = ("layernorm", elements)
        elif node.op_type == "Erf":  # Div(x, sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5)
            chain = [i]
            for op in ("Add", "Mul", "Mul"):
                nxt = only(chain[-1], op)
                if nxt is None:
                    break
                chain.append(nxt)
            producer = [k for k, n in enumerate(nodes) if node.input[0] in n.output and n.op_type == "Div"]
            if len(chain) == 4 and producer:
                elements = math.prod(shapes.get(node.output[0], [1]))
                fused |= {k: ("", 0) for k in [producer[0], *chain]}
                fused[producer[0]] = ("gelu", elements)
    return fused


@dataclass(frozen=True)
class WeightSource:
    """Where a GEMM operator's weight operand comes from: an initializer and how it is laid out (``kn``: [K, N], as
    MatMul's B; ``nk``: [N, K], as Gemm's B under transB; ``conv``: [N, C, KH, KW], whose K runs (ky, kx, c) as the
    RTL's im2col streams a patch)."""

    initializer: str
    layout: str


@dataclass
class _GraphContext:
    """What the operator handlers share while one graph is imported: its facts, and what they emit."""

    shapes: dict[str, list[int]]  # tensor -> static shape (initializers, inputs, value_info, outputs)
    weights: set[str]  # initializer names
    fused: dict[int, tuple[str, int]]  # node index -> (kind, elements) from _fused_patterns
    lump: bool  # price unsupported nodes as element-wise passes instead of rejecting them
    ops: list[dict[str, Any]] = field(default_factory=list)  # spec operators emitted so far
    unsupported: list[str] = field(default_factory=list)  # "label (reason)" of nodes that cannot be priced
    unknown_shape: list[str] = field(default_factory=list)  # "label (tensor)" of tensors without a static shape
    used: set[str] = field(default_factory=set)  # operator names taken so far
    sources: dict[str, WeightSource] = field(default_factory=dict)  # operator name -> its weight initializer

    def shape(self, tensor: str, label: str) -> list[int]:
        """The static shape of ``tensor``; ``[1]`` (recorded as unknown, for node ``label``) if it has none."""
        if tensor not in self.shapes:
            self.unknown_shape.append(f"{label} ({tensor})")
            return [1]
        return self.shapes[tensor]

    def elements(self, tensor: str, label: str) -> int:
        """The element count of ``tensor`` (at least 1)."""
        return max(1, math.prod(self.shape(tensor, label)))


Handler = Callable[[_GraphContext, Any, int], None]  # (context, node, node index) -> None; appends to the context
PricedHandler = Callable[[_GraphContext, Any, str, dict[str, Any]], None]  # (context, node, label, attributes)


def _priced(handler: PricedHandler) -> Handler:
    """A table handler that names the node and reads its attributes, then calls ``handler`` with them."""
    def run(ctx: _GraphContext, node, index: int) -> None:
        label = _name(node, index, ctx.used)
        handler(ctx, node, label, _attrs(node))
    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _free(ctx: _GraphContext, node, index: int) -> None:
    """Data movement and shape arithmetic (``ZERO_COST``): nothing to price, and the node takes no name."""


def _decomposed(ctx: _GraphContext, node, index: int) -> None:
    """A node of a decomposed LayerNorm or Erf-GELU: the pattern's first node emits the operator, the rest nothing."""
    kind, elements = ctx.fused[index]
    if kind:
        ctx.ops.append({"name": _name(node, index, ctx.used), "kind": kind, "elements": max(1, elements)})


def _matmul(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """``MatMul``: an initializer second operand -> ``linear`` (leading dimensions folded into M); two activations
    -> ``matmul`` with the broadcast leading dimensions as ``heads``. A vector A is one row, a vector B one column."""
    a, b = ctx.shape(node.input[0], label), ctx.shape(node.input[1], label)
    if len(a) < 2 or len(b) < 2:  # vector products: treat as a 1-row GEMM
        a, b = ([1] + a if len(a) < 2 else a), (b + [1] if len(b) < 2 else b)
    m, k, n = a[-2], a[-1], b[-1]
    if node.input[1] in ctx.weights:
        ctx.ops.append({"name": label, "kind": "linear", "m": max(1, math.prod(a[:-1])), "k": k, "n": n})
        ctx.sources[label] = WeightSource(node.input[1], "kn")
        return
    lead = [max(x, y) for x, y in zip([1] * (len(b) - len(a)) + a[:-2], [1] * (len(a) - len(b)) + b[:-2])]
    ctx.ops.append({"name": label, "kind": "matmul", "m": m, "k": k, "n": n, "heads": max(1, math.prod(lead)),
                    "weight": False})


def _gemm(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """``Gemm`` -> ``linear``, honouring ``transA``/``transB``; ``weight`` says whether B is an initializer."""
    a, b = ctx.shape(node.input[0], label), ctx.shape(node.input[1], label)
    m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
    n = b[0] if attrs.get("transB", 0) else b[1]
    ctx.ops.append({"name": label, "kind": "linear", "m": m, "k": k, "n": n, "weight": node.input[1] in ctx.weights})
    if node.input[1] in ctx.weights:
        ctx.sources[label] = WeightSource(node.input[1], "nk" if attrs.get("transB", 0) else "kn")


def _conv(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """2-D ``Conv`` -> ``conv2d`` (groups, strides, pads, dilations); asymmetric or automatic padding -> ``linear``
    over the output size shape inference found; other ranks are unsupported."""
    x, w = ctx.shape(node.input[0], label), ctx.shape(node.input[1], label)
    if len(x) != 4:
        ctx.unsupported.append(f"{label} (Conv on {len(x) - 2}-D input; only 2-D is priced)")
        return
    pads = attrs.get("pads", [0, 0, 0, 0])
    if node.input[1] in ctx.weights:
        ctx.sources[label] = WeightSource(node.input[1], "conv")
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or pads[0] != pads[2] or pads[1] != pads[3]:
        out = ctx.shape(node.output[0], label)
        ctx.ops.append({"name": label, "kind": "linear", "m": out[2] * out[3], "k": w[1] * w[2] * w[3], "n": w[0]})
        return
    ctx.ops.append({"name": label, "kind": "conv2d", "in_channels": x[1], "out_channels": w[0], "height": x[2],
                    "width": x[3], "kernel": [w[2], w[3]], "stride": list(attrs.get("strides", [1, 1])),
                    "padding": [pads[0], pads[1]], "dilation": list(attrs.get("dilations", [1, 1])),
                    "groups": attrs.get("group", 1)})


def _conv_transpose(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """2-D ``ConvTranspose`` as its GEMM and col2im: every input pixel times the weights
    (``linear``: M = input pixels, K = input channels per group, N = output channels per group x kernel
    area, ``heads`` = groups), then the overlapping columns summed into the output (an ``add`` pass
    over the output tensor)."""
    x, w = ctx.shape(node.input[0], label), ctx.shape(node.input[1], label)
    if len(x) != 4:
        ctx.unsupported.append(f"{label} (ConvTranspose on {len(x) - 2}-D input; only 2-D is priced)")
        return
    groups = attrs.get("group", 1)
    ctx.ops.append({"name": label, "kind": "linear", "m": x[2] * x[3], "k": x[1] // groups,
                    "n": w[1] * w[2] * w[3], "heads": groups})
    ctx.ops.append({"name": f"{label}.col2im", "kind": "add", "elements": ctx.elements(node.output[0], label)})


def _gather(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """``Gather`` from an initializer (an embedding table) -> ``gather``: the rows it fetches are read and written
    once; a ``Gather`` on activations or shapes (index arithmetic) costs nothing."""
    if node.input[0] in ctx.weights:
        ctx.ops.append({"name": label, "kind": "gather", "elements": ctx.elements(node.output[0], label)})


def _pool(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """``MaxPool``/``AveragePool``/``GlobalAveragePool``/``GlobalMaxPool`` (``POOLS``) -> ``pool``; ``ReduceMean``
    and the other reductions, ``Resize``/``Upsample`` (``REDUCTIONS``) -> ``reduce``/``resize``: each reads its input
    tensor and writes its output."""
    ctx.ops.append({"name": label, "kind": REDUCTIONS.get(node.op_type, "pool"),
                    "elements": ctx.elements(node.output[0], label),
                    "input_elements": ctx.elements(node.input[0], label)})


def _elementwise(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """``Softmax``, ``LayerNormalization``, ``Gelu``, ``Relu``, ``Add``/``Sub``, ``Mul``/``Div``, the activations
    (``Clip``, ``Sigmoid``, ``HardSigmoid``, ``HardSwish``, ``Tanh``, ...), ``LRN`` and ``BatchNormalization`` ->
    the ``SIMPLE`` kind, priced by the output's element count."""
    ctx.ops.append({"name": label, "kind": SIMPLE[node.op_type], "elements": ctx.elements(node.output[0], label)})


def _other(ctx: _GraphContext, node, label: str, attrs: dict[str, Any]) -> None:
    """Any other operator: with ``lump``, a one-input element-wise pass over its output (kind ``unary``, the
    operator type kept in its name); else unsupported."""
    if ctx.lump:
        ctx.ops.append({"name": f"{label}.{node.op_type}" if node.op_type.lower() not in label.lower() else label,
                        "kind": "unary", "elements": ctx.elements(node.output[0], label)})
    else:
        ctx.unsupported.append(f"{label} ({node.op_type})")


HANDLERS: dict[str, Handler] = {
    "MatMul": _priced(_matmul),
    "Gemm": _priced(_gemm),
    "Conv": _priced(_conv),
    **dict.fromkeys(sorted(POOLS | set(REDUCTIONS)), _priced(_pool)),
    **dict.fromkeys(SIMPLE, _priced(_elementwise)),
    **dict.fromkeys(sorted(ZERO_COST), _free),
    "ConvTranspose": _priced(_conv_transpose),
    "Gather": _priced(_gather),
}
_FALLBACK: Handler = _priced(_other)


def _handler(ctx: _GraphContext, node, index: int) -> Handler:
    """The handler of node ``index``: the pattern's when it belongs to a decomposed one, else its op type's."""
    if index in ctx.fused:
        return _decomposed
    return HANDLERS.get(node.op_type, _FALLBACK)


def _load(path: Path, dims: dict[str, int], file: str):
    """The ONNX model at ``path`` with its symbolic dimensions fixed and shapes inferred."""
    pb, inference, _ = _onnx_parts()
    try:
        model = pb.ModelProto()
        model.ParseFromString(path.read_bytes())  # shapes, not weights: external data files are never read
    except FileNotFoundError:
        raise SpecError(file, [SpecIssue("file not found")]) from None
    except Exception as exc:  # protobuf decode errors and the like
        raise SpecError(file, [SpecIssue(f"not a readable ONNX model: {exc}")]) from None
    _check_opsets(model, file)
    _fix_dims(model, dims, file)
    _drop_weight_values(model)
    try:  # strict: a graph whose shapes contradict each other (e.g. a MatMul's K) is refused, not converted
        inferred = pb.ModelProto()
        inferred.ParseFromString(inference.infer_shapes(model.SerializeToString(), False, True, True))
        return inferred
    except Exception as exc:
        raise SpecError(file, [SpecIssue(f"the graph's shapes are inconsistent (ONNX shape inference): "
                                         f"{str(exc).strip().splitlines()[-1]}", "graph")]) from None


#: initializers with more elements than this are weights: their values are dropped before shape inference (a shape
#: operand, e.g. Reshape's target, has a few)
WEIGHT_ELEMENTS = 1024


def _drop_weight_values(model) -> None:
    """Clear the values of the large initializers, keeping their type and dimensions: the importer reads only names and
    shapes, and shape inference gets the model as bytes, so each value crossed it three times (serialised, parsed by
    onnx's C++, serialised back: 0.4 s of a ResNet-18 import with 46 MB of weights)."""
    for init in model.graph.initializer:
        if math.prod(init.dims) > WEIGHT_ELEMENTS:
            for values in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data",
                           "string_data"):
                init.ClearField(values)


def _check_opsets(model, file: str) -> None:
    """The default-domain opset must be one this ``onnx`` package knows (1..its latest)."""
    latest = _onnx_parts()[2].schema_version_map()[""][1]
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and not 1 <= opset.version <= latest:
            raise SpecError(file, [SpecIssue(f"opset {opset.version} of the default ONNX domain is not supported; "
                                             f"valid: 1 to {latest} (re-export with a lower opset)", "opset_import")])


def _check(ctx: _GraphContext, file: str) -> None:
    """Raise a SpecError for unsupported operators, else for tensors without a static shape."""
    unsupported, unknown_shape = ctx.unsupported, ctx.unknown_shape
    if unsupported:
        types = sorted({u.rsplit("(", 1)[1].rstrip(")") for u in unsupported})
        raise SpecError(file, [SpecIssue(f"unsupported ONNX operators {', '.join(types)} at nodes: "
                                         f"{', '.join(unsupported[:20])}{' ...' if len(unsupported) > 20 else ''}; "
                                         "pass --lump to price them as element-wise passes", "graph.node")])
    if unknown_shape:
        raise SpecError(file, [SpecIssue("shape inference left these tensors without a static shape: "
                                         f"{', '.join(unknown_shape[:10])}; set symbolic dimensions with --dim (or model_dims in a study)",
                                         "graph.node")])


def import_onnx(path: Path, batch: int = 1, dims: dict[str, int] | None = None, lump: bool = False,
                name: str | None = None, dtype: str = "int8") -> dict[str, Any]:
    """The model spec (as a mapping, ready for YAML or validation) of the ONNX graph at ``path``.

    ``dtype`` is the deployment data type (exported graphs are usually fp32 even when the
    accelerator runs int8), ``batch`` the spec's default batch.
    """
    ctx = _walk(path, dims, lump)
    return {"name": name or re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem) or "imported",
            "description": f"imported from {path.name} by accelplan import", "dtype": dtype, "batch": batch,
            "operators": ctx.ops}


def _walk(path: Path, dims: dict[str, int] | None, lump: bool) -> _GraphContext:
    """The graph at ``path`` priced node by node (every operator, and where each GEMM's weights come from)."""
    file = str(path)
    model = _load(path, dims or {}, file)
    graph = model.graph
    shapes = _shapes(model)
    ctx = _GraphContext(shapes=shapes, weights={i.name for i in graph.initializer},
                        fused=_fused_patterns(graph, shapes), lump=lump)
    for index, node in enumerate(graph.node):
        _handler(ctx, node, index)(ctx, node, index)
    _check(ctx, file)
    return ctx


def onnx_weights(path: Path, dims: dict[str, int] | None = None, lump: bool = False) -> dict[str, Any]:
    """The weights of the graph's GEMM operators, by operator name (the names :func:`import_onnx` gives): float
    arrays [1, K, N] in the order the operator's GEMM reads them (:class:`WeightSource`). Values in external data
    files are read from beside the graph; a file that is missing is refused, naming it and the tensor."""
    import numpy as np
    import onnx
    from onnx import external_data_helper, numpy_helper

    sources = _walk(path, dims, lump).sources
    model = onnx.load(str(path), load_external_data=False)
    tensors = {t.name: t for t in model.graph.initializer}
    out = {}
    for name, source in sources.items():
        tensor = tensors[source.initializer]
        if external_data_helper.uses_external_data(tensor):
            location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            try:
                external_data_helper.load_external_data_for_tensor(tensor, str(path.parent))
            except Exception:  # a missing or unreadable file: OSError, or onnx's ValidationError (not a regular file)
                raise SpecError(str(path), [SpecIssue(f"the weights of operator {name!r} (initializer "
                                                      f"{tensor.name!r}) are in {location}, which cannot be read "
                                                      f"beside the graph", "graph.initializer")]) from None
        out[name] = _as_gemm(np.asarray(numpy_helper.to_array(tensor), dtype=np.float64), source.layout)
    return out


def _as_gemm(values, layout: str):
    """A weight initializer as its GEMM operand [1, K, N] (:class:`WeightSource`)."""
    if layout == "conv":  # [N, C, KH, KW] -> K = (ky, kx, c), N
        n = values.shape[0]
        return values.transpose(2, 3, 1, 0).reshape(1, -1, n)
    if values.ndim < 2:  # a vector B: one column
        values = values.reshape(-1, 1)
    if layout == "nk":
        values = values.T
    return values.reshape(-1, values.shape[-2], values.shape[-1])  # leading dimensions (stacked weights): count


def model_yaml(data: dict[str, Any]) -> str:
    """A model spec mapping as YAML, one operator per line."""
    import yaml
    head = {k: v for k, v in data.items() if k != "operators"}
    lines = [yaml.safe_dump(head, sort_keys=False).rstrip(), "operators:"]
    for op in data["operators"]:
        lines.append("  - " + yaml.safe_dump(op, sort_keys=False, default_flow_style=True, width=1 << 16).strip())
    return "\n".join(lines) + "\n"
