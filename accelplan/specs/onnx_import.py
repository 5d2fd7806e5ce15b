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
- ``Conv`` (2-D; groups, strides, pads, dilations) -> ``conv2d``; ``ConvTranspose`` is not priced;
- ``MaxPool``/``AveragePool``/``GlobalAveragePool``/``GlobalMaxPool`` -> ``pool``; ``Softmax`` ->
  ``softmax``; ``LayerNormalization`` and its decomposed form (``ReduceMean``, ``Sub``, ``Pow``,
  ``ReduceMean``, ``Add``, ``Sqrt``, ``Div``) -> ``layernorm``; ``Gelu`` and the ``Erf`` pattern
  (``Div``, ``Erf``, ``Add``, ``Mul``, ``Mul``) -> ``gelu``; ``Relu`` -> ``relu``; ``Add``/``Sub``
  -> ``add``; ``Mul``/``Div`` -> ``mul``;
- data movement and shape arithmetic (``Reshape``, ``Transpose``, ``Flatten``, ``Concat``,
  ``Squeeze``, ``Unsqueeze``, ``Identity``, ``Shape``, ``Constant``, ``Cast``, ``Dropout``, ...) costs nothing;
- anything else is listed in an error with node names; ``lump=True`` prices such nodes as an
  element-wise pass over their output (kind ``relu``: one read, one write).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ..errors import SpecError, SpecIssue

ZERO_COST = {"Reshape", "Transpose", "Flatten", "Concat", "Squeeze", "Unsqueeze", "Identity", "Shape", "Constant",
             "ConstantOfShape", "Cast", "Dropout", "Gather", "Slice", "Split", "Expand", "Range", "Equal", "Where"}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
SIMPLE = {"Softmax": "softmax", "LayerNormalization": "layernorm", "Gelu": "gelu", "Relu": "relu", "Add": "add",
          "Sub": "add", "Mul": "mul", "Div": "mul"}
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


def _attrs(node) -> dict[str, Any]:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


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


def import_onnx(path: Path, batch: int = 1, dims: dict[str, int] | None = None, lump: bool = False,
                name: str | None = None, dtype: str = "int8") -> dict[str, Any]:
    """The model spec (as a mapping, ready for YAML or validation) of the ONNX graph at ``path``.

    ``dtype`` is the deployment data type (exported graphs are usually fp32 even when the
    accelerator runs int8), ``batch`` the spec's default batch.
    """
    import onnx

    file = str(path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise SpecError(file, [SpecIssue("file not found")]) from None
    except Exception as exc:  # protobuf decode errors and the like
        raise SpecError(file, [SpecIssue(f"not a readable ONNX model: {exc}")]) from None
    _fix_dims(model, dims or {}, file)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise SpecError(file, [SpecIssue(f"ONNX shape inference failed: {exc}")]) from None
    graph = model.graph
    shapes = _shapes(model)
    weights = {i.name for i in graph.initializer}
    fused = _fused_patterns(graph, shapes)
    ops: list[dict[str, Any]] = []
    unsupported: list[str] = []
    unknown_shape: list[str] = []
    used: set[str] = set()

    def shape(tensor: str, node_name: str) -> list[int]:
        if tensor not in shapes:
            unknown_shape.append(f"{node_name} ({tensor})")
            return [1]
        return shapes[tensor]

    for index, node in enumerate(graph.node):
        op = node.op_type
        if index in fused:
            kind, elements = fused[index]
            if kind:
                ops.append({"name": _name(node, index, used), "kind": kind, "elements": max(1, elements)})
            continue
        if op in ZERO_COST:
            continue
        label = _name(node, index, used)
        attrs = _attrs(node)
        if op == "MatMul":
            a, b = shape(node.input[0], label), shape(node.input[1], label)
            if len(a) < 2 or len(b) < 2:  # vector products: treat as a 1-row GEMM
                a, b = ([1] + a if len(a) < 2 else a), (b + [1] if len(b) < 2 else b)
            m, k, n = a[-2], a[-1], b[-1]
            if node.input[1] in weights:
                ops.append({"name": label, "kind": "linear", "m": max(1, math.prod(a[:-1])), "k": k, "n": n})
            else:
                lead = [max(x, y) for x, y in zip([1] * (len(b) - len(a)) + a[:-2], [1] * (len(a) - len(b)) + b[:-2])]
                ops.append({"name": label, "kind": "matmul", "m": m, "k": k, "n": n, "heads": max(1, math.prod(lead)),
                            "weight": False})
        elif op == "Gemm":
            a, b = shape(node.input[0], label), shape(node.input[1], label)
            m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
            n = b[0] if attrs.get("transB", 0) else b[1]
            ops.append({"name": label, "kind": "linear", "m": m, "k": k, "n": n,
                        "weight": node.input[1] in weights})
        elif op == "Conv":
            x, w = shape(node.input[0], label), shape(node.input[1], label)
            if len(x) != 4:
                unsupported.append(f"{label} (Conv on {len(x) - 2}-D input; only 2-D is priced)")
                continue
            pads = attrs.get("pads", [0, 0, 0, 0])
            if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or pads[0] != pads[2] or pads[1] != pads[3]:
                # asymmetric or automatic padding: price the output size inference found
                out = shape(node.output[0], label)
                ops.append({"name": label, "kind": "linear", "m": out[2] * out[3],
                            "k": w[1] * w[2] * w[3], "n": w[0]})
                continue
            ops.append({"name": label, "kind": "conv2d", "in_channels": x[1], "out_channels": w[0], "height": x[2],
                        "width": x[3], "kernel": [w[2], w[3]], "stride": list(attrs.get("strides", [1, 1])),
                        "padding": [pads[0], pads[1]], "dilation": list(attrs.get("dilations", [1, 1])),
                        "groups": attrs.get("group", 1)})
        elif op in POOLS:
            ops.append({"name": label, "kind": "pool", "elements": max(1, math.prod(shape(node.output[0], label))),
                        "input_elements": max(1, math.prod(shape(node.input[0], label)))})
        elif op in SIMPLE:
            ops.append({"name": label, "kind": SIMPLE[op], "elements": max(1, math.prod(shape(node.output[0], label)))})
        elif lump:
            ops.append({"name": label, "kind": "relu", "elements": max(1, math.prod(shape(node.output[0], label)))})
        else:
            unsupported.append(f"{label} ({op})")
    if unsupported:
        types = sorted({u.rsplit("(", 1)[1].rstrip(")") for u in unsupported})
        raise SpecError(file, [SpecIssue(f"unsupported ONNX operators {', '.join(types)} at nodes: "
                                         f"{', '.join(unsupported[:20])}{' ...' if len(unsupported) > 20 else ''}; "
                                         "pass --lump to price them as element-wise passes", "graph.node")])
    if unknown_shape:
        raise SpecError(file, [SpecIssue("shape inference left these tensors without a static shape: "
                                         f"{', '.join(unknown_shape[:10])}; set symbolic dimensions with --dim (or model_dims in a study)",
                                         "graph.node")])
    return {"name": name or re.sub(r"[^A-Za-z0-9_.-]+", "-", graph.name or path.stem) or path.stem,
            "description": f"imported from {path.name} by accelplan import", "dtype": dtype, "batch": batch,
            "operators": ops}


def model_yaml(data: dict[str, Any]) -> str:
    """A model spec mapping as YAML, one operator per line."""
    import yaml
    head = {k: v for k, v in data.items() if k != "operators"}
    lines = [yaml.safe_dump(head, sort_keys=False).rstrip(), "operators:"]
    for op in data["operators"]:
        lines.append("  - " + yaml.safe_dump(op, sort_keys=False, default_flow_style=True, width=1 << 16).strip())
    return "\n".join(lines) + "\n"
