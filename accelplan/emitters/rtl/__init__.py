"""``rtl`` target (multi-device): per device SystemVerilog that computes the model as its graph says, weights
where the plan puts them, a system top for simulation and a Vivado build script.

Into ``out_dir/device<d>/`` for each device ``d`` of the chain. A group of devices splitting its layers ``ways``
ways (tensor parallelism) is ``ways`` designs, one per rank r (device ``index + r``): each runs every operator of
the group, its GEMMs on its shard of the layer (the family's split rule: its share of the heads when the ways divide
them, else N / ways columns; weights and KV cache sliced to match, a heads split reading its heads' part of the
input through ``accelplan_shard_select``), then ``accelplan_all_gather`` sends its shard to the other ranks on a
link port (``m_<layer>_shard``), takes theirs (``s_<layer>_shard<q>``) and gives every rank the whole output in
the split rule's order (per row, columns split: rank 0's N / ways columns, rank 1's ...; heads split: rank 0's
heads, rank 1's ...). The group's inputs arrive at rank 0 and each rank forwards them to the next; the last rank
sends the group's outputs on:

- ``accelplan_device<d>_pkg.sv``: per layer its GEMM shape, parallelism, weight placement, output shift and
  (streamed) base address in the device's DDR/HBM; the device's on-chip weight and cache bits.
- the operator library (``lib/`` of this package, copied): ``accelplan_gemm`` (GEMM/GEMV with an on-chip weight
  ROM, streamed weights or a KV cache), ``accelplan_im2col``, ``accelplan_unary`` (ReLU, GELU, SiLU ... by
  table), ``accelplan_binary`` (residual add, product), ``accelplan_softmax``, ``accelplan_norm`` (LayerNorm,
  RMSNorm), ``accelplan_pool``, ``accelplan_fifo``, ``accelplan_broadcast``, ``accelplan_stream_reshape``,
  ``accelplan_axi_reader`` and ``accelplan_axi_read_mux`` (streamed weights through one AXI4 read port),
  ``accelplan_all_gather`` (a split layer's shard exchange), ``accelplan_shard_select`` (a rank's heads).
- ``top.sv``: ``accelplan_device<d>_top``, one block per operator of the device wired as the model's graph:
  a tensor read by several operators fans out through ``accelplan_broadcast`` with a FIFO per branch of one whole
  tensor, and a tensor more per operator on the longest other branch before they join again (a residual's skip
  holds what is in flight on the main path, so the fork never waits on it); tensors from or to other devices
  are AXI-Stream ports ``s_<tensor>_*`` / ``m_<tensor>_*``; streamed weights arrive on ``m_axi_*``.
- ``<layer>.mem`` (``<layer>_rank<r>.mem`` in a split group: the rank's shard): on-chip weights ($readmemh
  words, layout in ``accelplan_gemm.sv``); ``memory.mem``: the streamed weights as the memory port serves them (bus words). Written when the device holds at most
  ``MAX_WEIGHT_ELEMENTS`` weight elements; bigger designs name the files and leave them to be made.
- ``build.tcl``: Vivado non-project flow for the device's part, with ``clock.xdc`` (its clock) and the
  memory-controller and link IP as named black boxes.

And ``out_dir/system/accelplan_system_top.sv``: every device, the links between them (a split layer's shard
from each rank to every other rank of its group: with two ways one link each way, with more the wires stand for
the chain's forwarding hops) and a behavioural AXI4 memory per device (``accelplan_axi_mem_model``), for
simulation.

Numbers: signed integers of the plan's dtype; the fixed-point rules of each block are in its header and in the
README ("Generated RTL"). Weights: from ``weights`` (layer name -> array [count, K, N], e.g. an ONNX file's
initialisers), else seeded random int8.
"""

from __future__ import annotations

import math
import re
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import SolveError
from ...outputs import write_atomic
from ...plan import AcceleratorPlan, Plan
from ..vitis import INT_MAX

#: bits per element of the integer data types the blocks compute in
DATA_BITS = {"int8": 8, "int16": 16, "int32": 32}
LIB = Path(__file__).parent / "lib"
#: the Vivado commands build.tcl calls (a test stubs them to run it in plain tclsh)
VIVADO_COMMANDS = ("create_project", "read_verilog", "read_xdc", "read_mem", "create_ip_black_box", "synth_design",
                   "opt_design", "place_design", "route_design", "report_utilization", "report_timing_summary",
                   "write_bitstream")
#: a device's weight files are written up to this many weight elements (bigger: named, left to be made)
MAX_WEIGHT_ELEMENTS = 1 << 22
UNARY_TABLES = ("gelu", "sigmoid", "tanh", "silu", "hardswish", "hardsigmoid")
SUPPORTED = ("linear", "matmul (a weight)", "conv2d (groups 1)", "attention_qk / attention_pv (a KV cache)", "relu",
             *UNARY_TABLES, "add", "mul", "softmax", "layernorm", "pool")


def output_shift(k: int) -> int:
    """A GEMM's output shift: 7 + ceil(log2(K) / 2) (int8 x int8 sums of K terms grow as sqrt(K))."""
    return 7 + ((max(k, 1) - 1).bit_length() + 1) // 2


def q4(f) -> list[int]:
    """A 256-entry table of f over int8 inputs in Q3.4: round(16 f(x / 16)) clamped to int8, entry i for x = i
    (i < 128) or i - 256."""
    out = []
    for i in range(256):
        x = i - 256 if i >= 128 else i
        out.append(max(-128, min(127, math.floor(16 * f(x / 16) + 0.5))))
    return out


def _gelu(x: float) -> float:
    return 0.5 * x * (1 + math.erf(x / math.sqrt(2)))  # Hendrycks & Gimpel 2016, exact (erf) form


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


TABLE_FUNCTIONS = {"gelu": _gelu, "sigmoid": _sigmoid, "tanh": math.tanh,
                   "silu": lambda x: x * _sigmoid(x),  # Elfwing et al. 2018
                   "hardswish": lambda x: x * min(max(x + 3, 0), 6) / 6,  # Howard et al. 2019 (MobileNetV3)
                   "hardsigmoid": lambda x: min(max(x + 3, 0), 6) / 6}


def exp_table() -> list[int]:
    """Softmax's exp table: round(32768 exp(-d / 16)) for d = 0..255."""
    return [math.floor(32768 * math.exp(-d / 16) + 0.5) for d in range(256)]


def _packed(values: list[int], bits: int) -> str:
    """An SV literal holding values[i] at bits [i*bits +: bits]."""
    word = 0
    for i, v in enumerate(values):
        word |= (v & ((1 << bits) - 1)) << (i * bits)
    return f"{len(values) * bits}'h{word:x}"


def _text(text: str) -> str:
    """``text`` for a one-line SV or Tcl comment: control characters (a newline would end the comment) as ``?``."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


def _fail(acc: AcceleratorPlan, message: str) -> SolveError:
    return SolveError(f"rtl target, device {acc.index} ({acc.config}): {message}")


def prefixes(layers: tuple[str, ...]) -> list[str]:
    """Per layer its parameter prefix: the name with every character outside [A-Za-z0-9_] made ``_``, upper case,
    ``_`` appended (``block0.qkv`` -> ``BLOCK0_QKV_``); ``L`` before a leading digit; a repeat gets ``_<i>`` (its
    position) added."""
    out: list[str] = []
    for i, name in enumerate(layers):
        ident = re.sub(r"[^A-Za-z0-9_]", "_", name).upper() or "LAYER"
        if ident[0].isdigit():
            ident = "L" + ident
        while f"{ident}_" in out:
            ident = f"{ident}_{i}"
        out.append(f"{ident}_")
    return out


def layer_parameters(acc: AcceleratorPlan) -> list[dict[str, int]]:
    """Per layer of the device its streaming parameters (names without the layer prefix), checked to fit an SV ``int``."""
    n_layers = len(acc.layers)
    if len(acc.gemms) != n_layers or len(acc.layer_tiles) != n_layers or len(acc.placements) != n_layers:
        raise _fail(acc, f"the plan gives {len(acc.gemms)} GEMMs, {len(acc.layer_tiles)} parallelisms and "
                         f"{len(acc.placements)} weight placements for {n_layers} layers; the rtl target needs one "
                         "of each per layer (a multi-device plan)")
    out = []
    for name, (m, k, n, count), (pm, pk, pn), place in zip(acc.layers, acc.gemms, acc.layer_tiles, acc.placements):
        if place not in ("on-chip", "streamed"):
            raise _fail(acc, f"layer {name!r}: weight placement {place!r} is neither on-chip nor streamed")
        values = {"DATA_IN_0_TENSOR_SIZE_DIM_0": k, "DATA_IN_0_TENSOR_SIZE_DIM_1": m,
                  "DATA_IN_0_PARALLELISM_DIM_0": pk, "DATA_IN_0_PARALLELISM_DIM_1": pm,
                  "WEIGHT_TENSOR_SIZE_DIM_0": k, "WEIGHT_TENSOR_SIZE_DIM_1": n,
                  "WEIGHT_PARALLELISM_DIM_0": pk, "WEIGHT_PARALLELISM_DIM_1": pn,
                  "DATA_OUT_0_TENSOR_SIZE_DIM_0": n, "DATA_OUT_0_TENSOR_SIZE_DIM_1": m,
                  "DATA_OUT_0_PARALLELISM_DIM_0": pn, "DATA_OUT_0_PARALLELISM_DIM_1": pm,
                  "COUNT": count}
        for param, value in values.items():
            if isinstance(value, bool) or not hasattr(value, "__index__"):  # int or numpy integer
                raise _fail(acc, f"layer {name!r}: {param} = {value!r} is not an integer")
            if not 1 <= value <= INT_MAX:
                raise _fail(acc, f"layer {name!r}: {param} = {value} does not fit a positive 32-bit int "
                                 f"(1 .. {INT_MAX}) of SystemVerilog")
            values[param] = int(value.__index__())
        values["WEIGHTS_ON_CHIP"] = int(place == "on-chip")
        out.append(values)
    return out


def _check_derived(acc: AcceleratorPlan, name: str, values: dict[str, int], bits: int) -> None:
    """The sizes the block derives from its parameters must fit an SV ``int`` too."""
    k, n = values["DATA_IN_0_TENSOR_SIZE_DIM_0"], values["WEIGHT_TENSOR_SIZE_DIM_1"]
    pm, pk = values["DATA_IN_0_PARALLELISM_DIM_1"], values["DATA_IN_0_PARALLELISM_DIM_0"]
    pn = values["WEIGHT_PARALLELISM_DIM_1"]
    kb, nb = -(-k // pk), -(-n // pn)
    derived = {"the weight ROM depth (COUNT x ceil(N / pn) x ceil(K / pk))": values["COUNT"] * nb * kb,
               "K padded to whole beats (ceil(K / pk) x pk)": kb * pk,
               "the input beat width in bits (pm x pk x DATA_WIDTH)": pm * pk * bits,
               "the weight word width in bits (pk x pn x DATA_WIDTH)": pk * pn * bits,
               "the output beat width in bits (pm x pn x DATA_WIDTH)": pm * pn * bits}
    for what, value in derived.items():
        if value > INT_MAX:
            raise _fail(acc, f"layer {name!r}: {what} = {value} does not fit a 32-bit int of SystemVerilog")


def _data_bits(plan: Plan) -> int:
    dtype = plan.dtype or "int8"
    if dtype not in DATA_BITS:
        raise SolveError(f"rtl target: the blocks compute in signed integers and the plan's dtype {dtype} needs "
                         f"floating-point MACs, which this target does not generate (it takes {', '.join(DATA_BITS)})")
    return DATA_BITS[dtype]


def _part(acc: AcceleratorPlan) -> str:
    if not acc.part:
        raise _fail(acc, "the plan names no FPGA part for build.tcl: the hardware spec needs `part:` under the "
                         "device (e.g. `part: xcu250-figd2104-2L-e`); solve again after adding it")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", acc.part):
        raise _fail(acc, f"part {acc.part!r} is not a part name (letters, digits, '-', '_', '.')")
    return acc.part


@dataclass
class Tensor:
    """A tensor between operators: the model's input or an operator's output, row-major [rows][cols]."""

    name: str
    ident: str
    elements: int
    cols: int
    geom: tuple[int, int, int] | None = None  # (H, W, C) of a feature map
    width: int = 1  # elements per beat as produced
    device: int = -1  # position of the producing device in the chain (-1: the model's input)
    consumers: list[tuple[str, int]] = field(default_factory=list)  # (operator, input index)


@dataclass
class Node:
    """One operator of the model on one device."""

    name: str
    ident: str
    kind: str
    op: object
    inputs: list[str]
    device: int
    gemm: dict | None = None


def _network(plan: Plan, plan_file: Path | None):
    """The model graph of the plan: from the study its run block names, else the built-in model of its name."""
    if plan_file is not None:
        from ...simulate.source import _run_block, rebuild_study
        from ...specs.loader import read_yaml
        data, lines = read_yaml(plan_file)
        return rebuild_study(plan_file, plan, _run_block(plan_file, data, lines), lines).model
    from ...specs.library import builtin_path
    from ...specs.study import load_model
    path = builtin_path("models", plan.model)
    if path is None:
        raise SolveError(f"rtl target: the model {plan.model!r} is not a built-in model; give the plan file (accelplan "
                         "emit PLAN reads the model its run block names)")
    return load_model(path)


def _split(acc: AcceleratorPlan, name: str, gemm: tuple[int, int, int, int], ways: int) -> tuple[tuple, str]:
    """One device's share of a GEMM split ``ways`` ways: heads when ``ways`` divides them, else columns."""
    m, k, n, count = gemm
    if ways == 1:
        return gemm, ""
    if count % ways == 0:
        return (m, k, n, count // ways), "count"
    if n % ways:
        raise _fail(acc, f"layer {name!r}: N = {n} split {ways} ways is not a whole number of columns per device")
    return (m, k, n // ways, count), "columns"


def build_graph(plan: Plan, network, bits: int) -> tuple[dict[str, Tensor], dict[str, Node], list[AcceleratorPlan]]:
    """Tensors and operator nodes of the whole model, each operator on its device of the plan."""
    from ...specs.lowering import conv_output
    accs = list(plan.accelerators)
    where: dict[str, int] = {}
    for pos, acc in enumerate(accs):
        layer_parameters(acc)
        for op in acc.ops:
            where[op] = pos
    tensors: dict[str, Tensor] = {}
    nodes: dict[str, Node] = {}
    idents = dict(zip([o.name for o in network.ops], [p[:-1].lower() for p in prefixes(tuple(o.name for o in network.ops))]))
    layer_of = {}
    for pos, acc in enumerate(accs):
        for name, g, t, place in zip(acc.layers, acc.gemms, acc.layer_tiles, acc.placements):
            layer_of[name] = (pos, acc, g, t, place)

    def input_tensor(first) -> Tensor:
        op = first.op
        kind = op.kind
        if kind == "conv2d":
            return Tensor("input", "input", op.in_channels * op.height * op.width, op.in_channels,
                          (op.height, op.width, op.in_channels))
        if kind in ("linear", "matmul"):
            return Tensor("input", "input", op.heads * op.m * op.k, op.k)
        if kind.startswith("attention"):
            d = op.head_dim
            return Tensor("input", "input", op.heads * op.seq * d, op.heads * d)
        n = op.input_elements or op.elements
        return Tensor("input", "input", n, n)

    for nop in network.ops:
        if nop.name not in where:
            raise SolveError(f"rtl target: operator {nop.name!r} of model {network.name} runs on no device of the plan")
        op, kind, pos = nop.op, nop.op.kind, where[nop.name]
        inputs = list(nop.inputs)
        if not inputs:
            if "input" not in tensors:
                tensors["input"] = input_tensor(nop)
            inputs = ["input"]
        if kind == "add" and len(inputs) == 1:
            # a residual join written with one input: the other operand is the last earlier add's output (the
            # previous residual stream), else the model's input (the README's rule)
            partner = next((o.name for o in reversed(network.ops[:network.ops.index(nop)]) if o.op.kind == "add"), "input")
            if partner not in tensors:
                tensors["input"] = input_tensor(network.ops[0])
            inputs.append(partner)
        for i, src in enumerate(inputs):
            tensors[src].consumers.append((nop.name, i))
        x = tensors[inputs[0]]
        node = Node(nop.name, idents[nop.name], kind, op, inputs, pos)
        acc = accs[pos]
        if nop.name in layer_of:
            _, acc, g, (pm, pk, pn), place = layer_of[nop.name]
            (m, k, n, count), how = _split(acc, nop.name, g, acc.ways)
            cache = kind.startswith("attention") and getattr(op, "kv_seq", None) is not None
            if kind == "matmul" and not (op.weight or False) or kind.startswith("attention") and not cache:
                raise _fail(acc, f"layer {nop.name!r}: a GEMM of two activations ({kind} without a stored operand) "
                                 "is not generated by the rtl target yet (operators it generates: "
                                 f"{', '.join(SUPPORTED)})")
            if kind == "conv2d" and op.groups != 1:
                raise _fail(acc, f"layer {nop.name!r}: a grouped convolution (groups {op.groups}) is not generated "
                                 "by the rtl target yet")
            if cache and how == "columns":
                raise _fail(acc, f"layer {nop.name!r}: a KV cache split {acc.ways} ways by columns (its {count} heads "
                                 "do not divide among the devices) is not generated by the rtl target yet")
            in_w = pk if k % pk == 0 and kind != "conv2d" and how != "count" else 1
            if kind == "conv2d":
                in_w = pk if k % pk == 0 and op.in_channels % pk == 0 else 1
            out_w = pn if n % pn == 0 and not how else 1
            node.gemm = dict(m=m, k=k, n=n, count=count, pm=pm, pk=pk, pn=pn, place=place, how=how,
                             shift=output_shift(k), in_w=in_w, out_w=out_w, cache=cache,
                             cache_axis=0 if kind == "attention_qk" else 1,
                             kb=-(-k // pk), nb=-(-n // pn), mb=-(-m // pm))
            full_n, full_count = g[2], g[3]
            node.gemm.update(full_n=full_n, full_count=full_count)
            geom = None
            if kind == "conv2d":
                oh, ow = conv_output(op)
                geom = (oh, ow, op.out_channels)
            out = Tensor(nop.name, node.ident, full_count * m * full_n, full_n, geom, out_w, pos)
        elif kind == "pool":
            if x.geom is None:
                raise _fail(acc, f"operator {nop.name!r}: pooling needs a feature map (a convolution's output) as input")
            h, w, c = x.geom
            r = math.isqrt(max(1, x.elements // op.elements))
            if r * r * op.elements != x.elements or h % r or w % r:
                raise _fail(acc, f"operator {nop.name!r}: {x.elements} -> {op.elements} elements is no square "
                                 f"pooling window of a {h}x{w}x{c} map")
            out = Tensor(nop.name, node.ident, op.elements, c, (h // r, w // r, c), 1, pos)
            node.gemm = None
            node.pool = r  # type: ignore[attr-defined]
        else:
            if kind not in ("relu", "add", "mul", "softmax", "layernorm", *UNARY_TABLES):
                raise _fail(acc, f"operator {nop.name!r}: kind {kind} is not generated by the rtl target (it "
                                 f"generates: {', '.join(SUPPORTED)})")
            if kind in ("add", "mul") and len(inputs) != 2:
                raise _fail(acc, f"operator {nop.name!r}: {kind} needs two inputs, the model gives {len(inputs)}")
            if kind in ("softmax", "layernorm") and bits != 8 or kind in UNARY_TABLES and bits != 8:
                raise _fail(acc, f"operator {nop.name!r}: {kind} is generated for int8 only")
            out = Tensor(nop.name, node.ident, x.elements, x.cols, x.geom, 1, pos)
        tensors[nop.name] = out
        nodes[nop.name] = node
    return tensors, nodes, accs


def weight_array(name: str, count: int, k: int, n: int, weights: dict | None, seed: int, bits: int = 8) -> np.ndarray:
    """A layer's stored operand [count, K, N] (weights, or a KV cache's initial contents) as ``bits``-bit integers:
    given integers as they are, given floats (an ONNX file's) quantised (:func:`quantised`), else seeded random
    int8 values."""
    if weights is not None and name in weights:
        arr = np.asarray(weights[name])
        if arr.ndim == 2:
            arr = arr[None]
        if arr.shape != (count, k, n):
            raise SolveError(f"rtl target: weights of layer {name!r} have shape {arr.shape}, the plan needs "
                             f"{(count, k, n)} (count, K, N)")
        return quantised(arr, bits) if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.int64)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return rng.integers(-128, 128, size=(count, k, n), dtype=np.int64)


def quantised(values: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric per-tensor quantisation to ``bits``-bit integers: the largest magnitude becomes 2^(bits-1) - 1
    (all zeros stay zeros)."""
    top = float(np.max(np.abs(values))) if values.size else 0.0
    if top == 0.0:
        return np.zeros(values.shape, dtype=np.int64)
    most = (1 << (bits - 1)) - 1
    return np.clip(np.rint(values / top * most), -most, most).astype(np.int64)


WEIGHT_KINDS = ("linear", "matmul", "conv2d")  # operators whose stored operand is a weight (not a KV cache)


def _check_weights(nodes: dict[str, Node], weights: dict) -> None:
    """Weights given must cover every weight-carrying layer the design generates (none left to seeded values)."""
    missing = [name for name, node in nodes.items() if node.gemm and node.kind in WEIGHT_KINDS and name not in weights]
    if missing:
        raise SolveError(f"rtl target: the weights given have none for layer(s) {', '.join(missing[:10])}"
                         f"{' ...' if len(missing) > 10 else ''} (weights for: {', '.join(sorted(weights)[:10])}"
                         f"{' ...' if len(weights) > 10 else ''})")


def shard_weights(arr: np.ndarray, g: dict, rank: int) -> np.ndarray:
    """Rank ``rank``'s part of a split layer's stored operand [count, K, N] (the family's split rule: heads when the
    ways divide them, else columns); the whole array when the layer is not split."""
    if g["how"] == "count":
        return arr[rank * g["count"]:(rank + 1) * g["count"]]
    if g["how"] == "columns":
        return arr[:, :, rank * g["n"]:(rank + 1) * g["n"]]
    return arr


def weight_words(arr: np.ndarray, pk: int, pn: int, bits: int) -> list[int]:
    """The words of a GEMM's weights in the order the block uses them (see accelplan_gemm.sv)."""
    count, k, n = arr.shape
    kb, nb = -(-k // pk), -(-n // pn)
    padded = np.zeros((count, kb * pk, nb * pn), dtype=np.int64)
    padded[:, :k, :n] = arr
    mask = (1 << bits) - 1
    words = []
    for g in range(count):
        for b in range(nb):
            for a in range(kb):
                tile = padded[g, a * pk:(a + 1) * pk, b * pn:(b + 1) * pn]  # [k][n]
                word = 0
                for nn in range(pn):
                    for kk in range(pk):
                        word |= (int(tile[kk, nn]) & mask) << ((nn * pk + kk) * bits)
                words.append(word)
    return words


def _beats(t: Tensor, width: int) -> int:
    return -(-t.elements // width)


def device_design(plan: Plan, acc: AcceleratorPlan, pos: int, tensors: dict[str, Tensor], nodes: dict[str, Node],
                  bits: int, n_devices: int, rank: int = 0) -> dict:
    """What one device's top holds: its nodes, imported and exported tensors, streamed layers; in a group split
    ``acc.ways`` ways, rank ``rank``'s: every rank runs every operator of the group (its GEMMs on its shard, then
    all-gathered), the group's imports arrive at rank 0 and each rank forwards them to the next along the chain,
    and the last rank (the chain's link to the next device) sends the group's exports on."""
    mine = [n for n in nodes.values() if n.device == pos]
    imports, exports = [], []
    for t in tensors.values():
        later = [nodes[c].device for c, _ in t.consumers]
        last = max(later) if later else t.device
        if t.device < pos <= last:
            imports.append(t)
        if t.device <= pos < last or (t.device == pos and not t.consumers):
            exports.append(t)
    if rank < acc.ways - 1:
        exports = list(imports)  # forwarded to the next rank
    streamed = [n for n in mine if n.gemm and n.gemm["place"] == "streamed"]
    gathers = [n for n in mine if n.gemm and n.gemm["how"]]
    return {"nodes": mine, "imports": imports, "exports": exports, "streamed": streamed, "gathers": gathers,
            "rank": rank, "ways": acc.ways, "id": acc.index + rank}


def _in_width(node: Node, i: int) -> int:
    if node.gemm and i == 0:
        return 1 if node.kind == "conv2d" else node.gemm["in_w"]
    return 1


def _ops_between(nodes: dict[str, Node], tensors: dict[str, Tensor], start: str, end: str) -> int:
    """The most operators on a path of the graph from operator ``start`` to operator ``end`` (``start`` counted,
    ``end`` not); 0 when ``end`` is not reached from ``start``."""
    memo: dict[str, int] = {}

    def longest(name: str) -> int:  # -1: end not reached
        if name == end:
            return 0
        if name not in memo:
            memo[name] = -1
            for c, _ in tensors[name].consumers:
                rest = longest(c)
                if rest >= 0:
                    memo[name] = max(memo[name], 1 + rest)
        return memo[name]

    return max(0, longest(start))


def gather_depth(outer: int, block: int) -> int:
    """Elements each shard FIFO of an all-gather holds: the whole shard (so no rank waits on another's order) up to
    two blocks or 4096 elements, whichever is more; plus two."""
    return min(outer * block, max(2 * block, 4096)) + 2


def mem_name(node: Node, design: dict) -> str:
    """A layer's on-chip weight file: ``<layer>.mem``; in a split group ``<layer>_rank<r>.mem`` (each rank's shard,
    so the ranks' files differ in name as in content)."""
    return f"{node.ident}_rank{design['rank']}.mem" if design["ways"] > 1 else f"{node.ident}.mem"


def _gather_shape(g: dict) -> tuple[int, int]:
    """(OUTER, B) of a split GEMM's output: heads split, one block of the rank's heads; columns, a block per row."""
    return (1, g["count"] * g["m"] * g["n"]) if g["how"] == "count" else (g["count"] * g["m"], g["n"])


def top(plan: Plan, acc: AcceleratorPlan, pos: int, design: dict, tensors: dict[str, Tensor], nodes: dict[str, Node],
        bits: int, bus: int) -> str:
    d, rank, ways = design["id"], design["rank"], acc.ways
    id_w = max(1, (len(design["streamed"]) - 1).bit_length())
    out = [_text(f"// Generated by accelplan: device {d} ({acc.config}, {acc.part}) of {plan.model} on {plan.hardware}"
                 + (f", rank {rank} of the {ways} devices {acc.index}-{acc.index + ways - 1} splitting their layers"
                    if ways > 1 else "") + ". Do not edit."),
           "// One block per operator, wired as the model's graph (see the package for each layer's GEMM). Streams",
           "// carry tensors row-major, valid/ready; s_<tensor> / m_<tensor>: AXI-Stream links to the neighbouring",
           "// devices (or the model's input and output); m_axi_*: the AXI4 read port of the device's DDR/HBM.",
           *(["// m_<layer>_shard: this rank's shard of a split layer's output, to the other ranks; s_<layer>_shard<q>:",
              "// rank q's shard (the links of the chain carry both; accelplan_all_gather joins them)."]
             if design["gathers"] else []),
           "// Waiver: build flows take this file as top.sv while the module is named per device.",
           "/* verilator lint_off DECLFILENAME */",
           f"module accelplan_device{d}_top (",
           "    input  logic clk,",
           "    input  logic rst"]
    ports = []
    for t in design["imports"]:
        ports += [f"    input  logic [{t.width * bits - 1}:0] s_{t.ident}_tdata", f"    input  logic s_{t.ident}_tvalid",
                  f"    output logic s_{t.ident}_tready"]
    for t in design["exports"]:
        ports += [f"    output logic [{t.width * bits - 1}:0] m_{t.ident}_tdata", f"    output logic m_{t.ident}_tvalid",
                  f"    input  logic m_{t.ident}_tready"]
    for node in design["gathers"]:
        ports += [f"    output logic [{bits - 1}:0] m_{node.ident}_shard_tdata", f"    output logic m_{node.ident}_shard_tvalid",
                  f"    input  logic m_{node.ident}_shard_tready"]
        for q in range(ways):
            if q != rank:
                ports += [f"    input  logic [{bits - 1}:0] s_{node.ident}_shard{q}_tdata",
                          f"    input  logic s_{node.ident}_shard{q}_tvalid", f"    output logic s_{node.ident}_shard{q}_tready"]
    if design["streamed"]:
        ports += [f"    output logic [{id_w - 1}:0] m_axi_arid", "    output logic [63:0] m_axi_araddr", "    output logic [7:0] m_axi_arlen",
                  "    output logic [2:0] m_axi_arsize", "    output logic [1:0] m_axi_arburst", "    output logic m_axi_arvalid",
                  "    input  logic m_axi_arready", f"    input  logic [{id_w - 1}:0] m_axi_rid", f"    input  logic [{bus - 1}:0] m_axi_rdata",
                  "    input  logic [1:0] m_axi_rresp", "    input  logic m_axi_rlast", "    input  logic m_axi_rvalid",
                  "    output logic m_axi_rready"]
    out[-1] += "," if ports else ""
    out += [p + ("," if i < len(ports) - 1 else "") for i, p in enumerate(ports)]
    out += [");"]

    def stream(name: str, width: int) -> list[str]:
        return [f"  logic [{width * bits - 1}:0] {name}_data;", f"  logic {name}_valid, {name}_ready;"]

    body: list[str] = []
    # sources: every tensor this device holds (produced here or imported)
    held = [t for t in tensors.values() if t.device == pos] + design["imports"]
    for t in held:
        src = f"t_{t.ident}"
        body += ["", _text(f"  // tensor {t.name}: {t.elements} elements, rows of {t.cols}, {t.width} per beat")] + stream(src, t.width)
        if t in design["imports"]:
            body += [f"  assign {src}_data = s_{t.ident}_tdata;", f"  assign {src}_valid = s_{t.ident}_tvalid;",
                     f"  assign s_{t.ident}_tready = {src}_ready;"]
        sinks = [(f"c_{nodes[c].ident}_{i}", _in_width(nodes[c], i)) for c, i in t.consumers if nodes[c].device == pos]
        targets = [[c] for c, _ in t.consumers if nodes[c].device == pos]  # the operators each sink feeds
        if t in design["exports"]:
            sinks.append((f"x_{t.ident}", t.width))
            targets.append([c for c, _ in t.consumers if nodes[c].device > pos])
        if not sinks:
            body += [f"  assign {src}_ready = 1'b1;  // read on no device here" + (
                         " (the group's last rank sends it on)" if design["rank"] < acc.ways - 1 else ""),
                     f"  wire unused_{t.ident} = ^{{{src}_data, {src}_valid}};"]
            continue
        for name, width in sinks:
            body += stream(name, width)
        if len(sinks) == 1:
            branches = [(src, sinks[0])]
        else:
            beats = _beats(t, t.width)
            body += [f"  logic [{len(sinks) * t.width * bits - 1}:0] b_{t.ident}_data;",
                     f"  logic [{len(sinks) - 1}:0] b_{t.ident}_valid, b_{t.ident}_ready;",
                     "  accelplan_broadcast #(", f"      .WIDTH({t.width * bits}), .OUTS({len(sinks)})",
                     f"  ) u_{t.ident}_fanout (",
                     f"      .in_data({src}_data), .in_valid({src}_valid), .in_ready({src}_ready),",
                     f"      .out_data(b_{t.ident}_data), .out_valid(b_{t.ident}_valid), .out_ready(b_{t.ident}_ready)", "  );"]
            branches = []
            for j, (name, width) in enumerate(sinks):
                f = f"f_{t.ident}_{j}"
                # a branch that joins another again (a residual's skip) holds a tensor per operator on the longest
                # other branch before the join, plus one: the tensors in flight there, so the fork never waits
                held = 1 + max([_ops_between(nodes, tensors, c, target) for k, other in enumerate(targets) if k != j
                                for c in other for target in targets[j]], default=0)
                depth = beats * held + 2
                body += stream(f, t.width) + [
                    f"  // branch {j}: a FIFO of {held} whole tensor(s) ({depth} beats), so no reader holds up the others",
                    f"  accelplan_fifo #(.WIDTH({t.width * bits}), .DEPTH({depth})) u_{t.ident}_fifo{j} (",
                    f"      .clk, .rst, .in_data(b_{t.ident}_data[{j * t.width * bits} +: {t.width * bits}]),",
                    f"      .in_valid(b_{t.ident}_valid[{j}]), .in_ready(b_{t.ident}_ready[{j}]),",
                    f"      .out_data({f}_data), .out_valid({f}_valid), .out_ready({f}_ready)", "  );"]
                branches.append((f, (name, width)))
        for src_name, (name, width) in branches:
            if width == t.width:
                body += [f"  assign {name}_data = {src_name}_data;", f"  assign {name}_valid = {src_name}_valid;",
                         f"  assign {src_name}_ready = {name}_ready;"]
            else:
                body += [f"  accelplan_stream_reshape #(.DATA_WIDTH({bits}), .IN_ELEMS({t.width}), .OUT_ELEMS({width})) "
                         f"u_{name}_reshape (", "      .clk, .rst,",
                         f"      .data_in({src_name}_data), .data_in_valid({src_name}_valid), .data_in_ready({src_name}_ready),",
                         f"      .data_out({name}_data), .data_out_valid({name}_valid), .data_out_ready({name}_ready)", "  );"]
        if t in design["exports"]:
            body += [f"  assign m_{t.ident}_tdata = x_{t.ident}_data;", f"  assign m_{t.ident}_tvalid = x_{t.ident}_valid;",
                     f"  assign x_{t.ident}_ready = m_{t.ident}_tready;"]
    # blocks
    readers = []
    for node in design["nodes"]:
        t = tensors[node.name]
        y = f"t_{t.ident}"
        ins = [f"c_{node.ident}_{i}" for i in range(len(node.inputs))]
        body += ["", _text(f"  // operator {node.name} ({node.kind}) <- {', '.join(node.inputs)}")]
        if node.gemm:
            g = node.gemm
            x = ins[0]
            if node.kind == "conv2d":
                op = node.op
                h, w, c = tensors[node.inputs[0]].geom
                oh, ow, _ = t.geom
                from ...specs.lowering import _pair
                (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(op.kernel), _pair(op.stride), _pair(op.padding), _pair(op.dilation))
                body += stream(f"p_{node.ident}", g["in_w"]) + [
                    f"  accelplan_im2col #(.DATA_WIDTH({bits}), .H({h}), .W({w}), .C({c}), .KH({kh}), .KW({kw}), "
                    f".SH({sh}), .SW({sw}), .PH({ph}), .PW({pw}), .DH({dh}), .DW({dw}), .OH({oh}), .OW({ow}), "
                    f".OUT_W({g['in_w']})) u_{node.ident}_im2col (",
                    "      .clk, .rst,",
                    f"      .in_data({x}_data), .in_valid({x}_valid), .in_ready({x}_ready),",
                    f"      .out_data(p_{node.ident}_data), .out_valid(p_{node.ident}_valid), .out_ready(p_{node.ident}_ready)", "  );"]
                x = f"p_{node.ident}"
            source = 1 if g["place"] == "streamed" else 2 if g["cache"] else 0

            def shard(stream_name: str, tensor: Tensor, per_head: int, what: str) -> str:
                """A heads-split GEMM reads its heads' part of a tensor holding every head's: the rank's run."""
                if g["how"] != "count" or tensor.elements != g["full_count"] * per_head:
                    return stream_name
                sel = f"{stream_name}_r{rank}"
                nonlocal body
                body += stream(sel, 1) + [
                    f"  // {what}: rank {rank}'s {g['count']} of {g['full_count']} heads",
                    f"  accelplan_shard_select #(.DATA_WIDTH({bits}), .OUTER(1), .B({g['count'] * per_head}), "
                    f".WAYS({ways}), .RANK({rank})) u_{stream_name}_shard (", "      .clk, .rst,",
                    f"      .in_data({stream_name}_data), .in_valid({stream_name}_valid), .in_ready({stream_name}_ready),",
                    f"      .out_data({sel}_data), .out_valid({sel}_valid), .out_ready({sel}_ready)", "  );"]
                return sel

            if node.kind != "conv2d":
                x = shard(x, tensors[node.inputs[0]], g["m"] * g["k"], "the input")
            gy = f"g_{node.ident}" if g["how"] else y
            if g["how"]:
                body += stream(gy, 1)
            word = g["pk"] * g["pn"] * bits
            body += [f"  logic [{word - 1}:0] w_{node.ident}_data;", f"  logic w_{node.ident}_valid, w_{node.ident}_ready;"]
            if g["cache"] and len(ins) > 1 and source == 2:
                cache = shard(ins[1], tensors[node.inputs[1]], g["k"] if g["cache_axis"] == 0 else g["n"],
                              "the KV cache's new entry")
            else:
                cache = None
                for extra in ins[1:]:
                    body += [f"  assign {extra}_ready = 1'b1;  // " + (
                        "the new KV entry: written back by the memory controller's write port (not generated)"
                        if g["cache"] else "read for its timing only")]
            body += [f"  accelplan_gemm #(",
                     f"      .DATA_WIDTH({bits}), .M({g['m']}), .K({g['k']}), .N({g['n']}), .COUNT({g['count']}),",
                     f"      .PM({g['pm']}), .PK({g['pk']}), .PN({g['pn']}), .IN_W({g['in_w']}), .OUT_W({1 if g['how'] else g['out_w']}),",
                     f"      .OUTPUT_SHIFT({g['shift']}), .WEIGHT_SOURCE({source}), .CACHE_AXIS({g['cache_axis']}),",
                     f"      .WEIGHTS_FILE(\"{mem_name(node, design)}\")" if source != 1 else "      .WEIGHTS_FILE(\"\")",
                     f"  ) u_{node.ident} (",
                     "      .clk, .rst,",
                     f"      .in_data({x}_data), .in_valid({x}_valid), .in_ready({x}_ready),",
                     f"      .out_data({gy}_data), .out_valid({gy}_valid), .out_ready({gy}_ready),",
                     f"      .w_data(w_{node.ident}_data), .w_valid(w_{node.ident}_valid), .w_ready(w_{node.ident}_ready),",
                     f"      .cache_in_data({cache + '_data' if cache else f'{bits}' + chr(39) + 'd0'}), "
                     f".cache_in_valid({cache + '_valid' if cache else '1' + chr(39) + 'b0'}), "
                     f".cache_in_ready({cache + '_ready' if cache else f'unused_{node.ident}_cache_ready'})", "  );"]
            if not cache:
                body.insert(len(body) - 12, f"  logic unused_{node.ident}_cache_ready;")
            if source == 1:
                readers.append((node, word))
            else:
                body += [f"  assign w_{node.ident}_data = '0;", f"  assign w_{node.ident}_valid = 1'b0;",
                         f"  wire unused_{node.ident}_w = w_{node.ident}_ready;"]
            if g["how"]:
                outer, block = _gather_shape(g)
                others = [q for q in range(ways) if q != rank][::-1]  # highest first: port j at bits [j*W +: W]
                cat = lambda sig: "{" + ", ".join(f"s_{node.ident}_shard{q}_{sig}" for q in others) + "}"
                body += [f"  // all-gather: {ways} shards of {outer} x {block} elements, {g['how']} split",
                         f"  accelplan_all_gather #(.DATA_WIDTH({bits}), .OUTER({outer}), .B({block}), .WAYS({ways}), "
                         f".RANK({rank}), .DEPTH({gather_depth(outer, block)})) u_{node.ident}_gather (", "      .clk, .rst,",
                         f"      .in_data({gy}_data), .in_valid({gy}_valid), .in_ready({gy}_ready),",
                         f"      .link_out_data(m_{node.ident}_shard_tdata), .link_out_valid(m_{node.ident}_shard_tvalid), "
                         f".link_out_ready(m_{node.ident}_shard_tready),",
                         f"      .link_in_data({cat('tdata')}), .link_in_valid({cat('tvalid')}), .link_in_ready({cat('tready')}),",
                         f"      .out_data({y}_data), .out_valid({y}_valid), .out_ready({y}_ready)", "  );"]
        elif node.kind in ("add", "mul"):
            silu = node.kind == "mul" and "silu" in node.name.lower()
            table = _packed(q4(TABLE_FUNCTIONS["silu"]), 8) if silu else "'0"
            body += [f"  accelplan_binary #(.DATA_WIDTH({bits}), .OP({int(node.kind == 'mul')}), .SHIFT(4), "
                     f".A_TABLE({int(silu)}), .TABLE({table})) u_{node.ident} (", "      .clk, .rst,",
                     f"      .a_data({ins[0]}_data), .a_valid({ins[0]}_valid), .a_ready({ins[0]}_ready),",
                     f"      .b_data({ins[1]}_data), .b_valid({ins[1]}_valid), .b_ready({ins[1]}_ready),",
                     f"      .out_data({y}_data), .out_valid({y}_valid), .out_ready({y}_ready)", "  );"]
        else:
            x = ins[0]
            cols = tensors[node.inputs[0]].cols
            if node.kind == "softmax":
                head = f"  accelplan_softmax #(.DATA_WIDTH({bits}), .L({cols}), .EXP_TABLE({_packed(exp_table(), 16)}))"
            elif node.kind == "layernorm":
                rms = int("rms" in node.name.lower())
                head = f"  accelplan_norm #(.DATA_WIDTH({bits}), .L({cols}), .RMS({rms}), .RECIP_L({round((1 << 20) / cols)}))"
            elif node.kind == "pool":
                h, w, c = tensors[node.inputs[0]].geom
                head = f"  accelplan_pool #(.DATA_WIDTH({bits}), .H({h}), .W({w}), .C({c}), .R({node.pool}))"  # type: ignore[attr-defined]
            elif node.kind == "relu":
                head = f"  accelplan_unary #(.DATA_WIDTH({bits}), .FUNC(0))"
            else:
                head = f"  accelplan_unary #(.DATA_WIDTH({bits}), .FUNC(1), .TABLE({_packed(q4(TABLE_FUNCTIONS[node.kind]), 8)}))"
            body += [head + f" u_{node.ident} (", "      .clk, .rst,",
                     f"      .in_data({x}_data), .in_valid({x}_valid), .in_ready({x}_ready),",
                     f"      .out_data({y}_data), .out_valid({y}_valid), .out_ready({y}_ready)", "  );"]
    if readers:
        n = len(readers)
        body += ["", f"  // the AXI4 read port: {n} streamed layer(s), each read by an accelplan_axi_reader, muxed by ARID",
                 f"  logic [{n * 64 - 1}:0] r_araddr;", f"  logic [{n * 8 - 1}:0] r_arlen;",
                 f"  logic [{n - 1}:0] r_arvalid, r_arready, r_rvalid, r_rready;", f"  logic [{bus - 1}:0] r_rdata;"]
        for j, (node, word) in enumerate(readers):
            body += [f"  accelplan_axi_reader #(.BUS({bus}), .WORD({word}), .BEATS({-(-word // bus)}), "
                     f".BASE(64'h{node.gemm['base']:x}), .WORDS({node.gemm['words']}), .FIFO_DEPTH(32)) u_{node.ident}_reader (",
                     "      .clk, .rst,",
                     f"      .araddr(r_araddr[{j * 64} +: 64]), .arlen(r_arlen[{j * 8} +: 8]), .arvalid(r_arvalid[{j}]), .arready(r_arready[{j}]),",
                     f"      .rdata(r_rdata), .rvalid(r_rvalid[{j}]), .rready(r_rready[{j}]),",
                     f"      .w_data(w_{node.ident}_data), .w_valid(w_{node.ident}_valid), .w_ready(w_{node.ident}_ready)", "  );"]
        body += [f"  accelplan_axi_read_mux #(.N({n}), .BUS({bus}), .ID_W({id_w})) u_axi_mux (", "      .clk, .rst,",
                 "      .s_araddr(r_araddr), .s_arlen(r_arlen), .s_arvalid(r_arvalid), .s_arready(r_arready),",
                 "      .s_rdata(r_rdata), .s_rvalid(r_rvalid), .s_rready(r_rready),",
                 "      .m_arid(m_axi_arid), .m_araddr(m_axi_araddr), .m_arlen(m_axi_arlen), .m_arsize(m_axi_arsize),",
                 "      .m_arburst(m_axi_arburst), .m_arvalid(m_axi_arvalid), .m_arready(m_axi_arready),",
                 "      .m_rid(m_axi_rid), .m_rdata(m_axi_rdata), .m_rresp(m_axi_rresp), .m_rlast(m_axi_rlast),",
                 "      .m_rvalid(m_axi_rvalid), .m_rready(m_axi_rready)", "  );"]
    out += body + [f"endmodule : accelplan_device{d}_top", "/* verilator lint_on DECLFILENAME */", ""]
    return "\n".join(out)


def package(plan: Plan, acc: AcceleratorPlan, design: dict, bits: int, bus: int) -> str:
    d = design["id"]
    out = ["// Generated by accelplan: the plan's figures for one device's blocks. Do not edit.",
           _text(f"// device {d} ({acc.config}, {acc.part}) of {plan.model} on {plan.hardware}, batch {plan.batch}"
                 + (f", rank {design['rank']} of a group split {acc.ways} ways (shapes are one device's share)"
                    if acc.ways > 1 else "")),
           f"package accelplan_device{d}_pkg;",
           "  // Waiver: constants for drivers and testbenches, not all used by the RTL.",
           "  /* verilator lint_off UNUSEDPARAM */",
           f"  localparam int DEVICE_ID = {d};", f"  localparam int WAYS = {acc.ways};",
           f"  localparam int RANK = {design['rank']};",
           f"  localparam int DATA_WIDTH = {bits};  // {plan.dtype or 'int8'}, signed",
           f"  localparam int NUM_LAYERS = {len(acc.layers)};", f"  localparam int AXI_DATA_WIDTH = {bus};"]
    onchip = sum(n.gemm["rom_bits"] for n in design["nodes"] if n.gemm and n.gemm["place"] != "streamed")
    streamed = sum(n.gemm["words"] * n.gemm["pk"] * n.gemm["pn"] * bits for n in design["streamed"])
    out += [f"  localparam longint ONCHIP_MEMORY_BITS = {onchip};  // weight ROMs and KV caches in BRAM/URAM",
            f"  localparam longint STREAMED_BITS = {streamed};  // read through m_axi"]
    for node in design["nodes"]:
        if not node.gemm:
            continue
        g, p = node.gemm, node.ident.upper() + "_"
        out.append(_text(f"  // layer {node.name}: {g['count']} x {g['m']} x {g['k']} x {g['n']}, parallelism "
                         f"{g['pm']} x {g['pk']} x {g['pn']}, {'KV cache' if g['cache'] else 'weights'} {g['place']}"))
        values = {"M": g["m"], "K": g["k"], "N": g["n"], "COUNT": g["count"], "PM": g["pm"], "PK": g["pk"], "PN": g["pn"],
                  "OUTPUT_SHIFT": g["shift"], "WEIGHTS_ON_CHIP": int(g["place"] != "streamed")}
        out += [f"  localparam int {p}{k} = {v};" for k, v in values.items()]
        if g["place"] == "streamed":
            out.append(f"  localparam longint {p}BASE = 64'h{g['base']:x};")
    out += ["  /* verilator lint_on UNUSEDPARAM */", f"endpackage : accelplan_device{d}_pkg", ""]
    return "\n".join(out)


def sources(d: int, design: dict) -> list[str]:
    """The device folder's SystemVerilog files, in compilation order."""
    lib = ["accelplan_fifo.sv", "accelplan_broadcast.sv", "accelplan_stream_reshape.sv", "accelplan_gemm.sv",
           "accelplan_im2col.sv", "accelplan_unary.sv", "accelplan_binary.sv", "accelplan_softmax.sv", "accelplan_norm.sv",
           "accelplan_pool.sv", "accelplan_all_gather.sv", "accelplan_shard_select.sv"]
    if design["streamed"]:
        lib += ["accelplan_axi_reader.sv", "accelplan_axi_read_mux.sv"]
    return [f"accelplan_device{d}_pkg.sv", *lib, "top.sv"]


def build_tcl(plan: Plan, acc: AcceleratorPlan, design: dict, part: str, clock_mhz: float, mems: list[str]) -> str:
    d = design["id"]
    files = " ".join(f"[file join $here {f}]" for f in sources(d, design))
    period = 1000.0 / clock_mhz
    boxes = (["accelplan_ddr_controller"] if design["streamed"] else []) + (["accelplan_link"] if design["imports"] or design["exports"] or design["gathers"] else [])
    return "\n".join([
        _text(f"# Generated by accelplan: Vivado non-project build of device {d} ({acc.config}) of {plan.model} on {plan.hardware}."),
        "# Do not edit. Run: vivado -mode batch -source build.tcl  (outputs go next to this script).",
        "# The design's memory port (m_axi_*) and links (s_*/m_* AXI-Stream) meet IP this script does not make: the",
        f"# DDR/HBM controller and the link MAC, named black boxes below ({', '.join(boxes) or 'none'}); a shell or",
        "# block design joins them to top's ports. Weight ROMs load from <layer>.mem next to this script.",
        "set here [file dirname [file normalize [info script]]]",
        "set reports [file join $here reports]",
        "file mkdir $reports",
        "",
        f"create_project -in_memory -part {part}",
        f"read_verilog -sv [list {files}]",
        "read_xdc [file join $here clock.xdc]",
        f"foreach name [list {' '.join(mems)}] {{",
        "    if {[file exists [file join $here $name]]} { read_mem [file join $here $name] }",
        "}",
        *[f"create_ip_black_box {b}" for b in boxes],
        "",
        f"synth_design -top accelplan_device{d}_top -part {part}",
        "opt_design",
        "place_design",
        "route_design",
        "report_utilization -file [file join $reports utilization.rpt]",
        "report_timing_summary -file [file join $reports timing_summary.rpt]",
        f"write_bitstream -force [file join $here accelplan_device{d}.bit]",
        f"puts \"accelplan: device {d} built: [file join $here accelplan_device{d}.bit]\"",
        "",
        f"# clock: {clock_mhz:g} MHz (period {period:.3f} ns)"]) + "\n"


def system_top(plan: Plan, accs: list[AcceleratorPlan], designs: list[dict], tensors: dict[str, Tensor], bits: int,
               buses: list[int], mem_words: list[int]) -> str:
    """The system top for simulation: every device (each rank of a split group: ``accs`` and ``designs`` per device in
    chain order), the links, a memory model per device with streamed weights. A tensor crossing devices goes from
    each device to the next (the ranks of a split group forward the group's inputs along the chain, the last sends
    its outputs on); a rank's shard of a split layer goes to every other rank of its group (with two ways, one link
    each way; with more, the wires stand for the hops the chain's links forward it over)."""
    inputs = [t for t in tensors.values() if t.device == -1]
    outputs = [t for t in tensors.values() if not t.consumers]
    out = [_text(f"// Generated by accelplan: the devices of the plan of {plan.model} on {plan.hardware} joined as the"
                 " chain's links join them, for simulation. Do not edit."),
           "// s_<tensor>: the model's input, m_<tensor>: its output; each device's AXI4 port is served by a behavioural",
           "// memory (accelplan_axi_mem_model) holding its streamed weights (../device<d>/memory.mem).",
           "/* verilator lint_off DECLFILENAME */",
           "module accelplan_system_top (", "    input  logic clk,", "    input  logic rst,"]
    ports = []
    for t in inputs:
        ports += [f"    input  logic [{t.width * bits - 1}:0] s_{t.ident}_tdata", f"    input  logic s_{t.ident}_tvalid",
                  f"    output logic s_{t.ident}_tready"]
    for t in outputs:
        ports += [f"    output logic [{t.width * bits - 1}:0] m_{t.ident}_tdata", f"    output logic m_{t.ident}_tvalid",
                  f"    input  logic m_{t.ident}_tready"]
    out += [p + ("," if i < len(ports) - 1 else "") for i, p in enumerate(ports)] + [");"]
    for pos, (acc, design) in enumerate(zip(accs, designs)):
        d = design["id"]
        conns = ["      .clk, .rst"]
        for t in design["imports"]:
            src = f"s_{t.ident}" if t.device == -1 and not any(t in dd["imports"] for dd in designs[:pos]) else f"l{pos - 1}_{t.ident}"
            conns.append(f"      .s_{t.ident}_tdata({src}_tdata), .s_{t.ident}_tvalid({src}_tvalid), .s_{t.ident}_tready({src}_tready)")
        for t in design["exports"]:
            dst = f"m_{t.ident}" if t in outputs else f"l{pos}_{t.ident}"
            if t not in outputs:
                out += [f"  logic [{t.width * bits - 1}:0] {dst}_tdata;", f"  logic {dst}_tvalid, {dst}_tready;"]
            conns.append(f"      .m_{t.ident}_tdata({dst}_tdata), .m_{t.ident}_tvalid({dst}_tvalid), .m_{t.ident}_tready({dst}_tready)")
        first = pos - design["rank"]  # the group's rank 0
        for node in design["gathers"]:
            x = f"x{first}_{node.ident}"
            mine = f"{x}_r{design['rank']}"
            if design["rank"] == 0:  # the group's exchange wires, declared once
                for q in range(design["ways"]):
                    out += [f"  logic [{bits - 1}:0] {x}_r{q}_tdata;", f"  logic {x}_r{q}_tvalid, {x}_r{q}_tready;"]
                    recv = [r for r in range(design["ways"]) if r != q]
                    out += [f"  logic [{len(recv) - 1}:0] {x}_r{q}_ready;",
                            f"  assign {x}_r{q}_tready = &{x}_r{q}_ready;  // a shard beat leaves when every rank takes it"]
            conns.append(f"      .m_{node.ident}_shard_tdata({mine}_tdata), .m_{node.ident}_shard_tvalid({mine}_tvalid), "
                         f".m_{node.ident}_shard_tready({mine}_tready)")
            for q in range(design["ways"]):
                if q != design["rank"]:
                    j = [r for r in range(design["ways"]) if r != q].index(design["rank"])
                    conns.append(f"      .s_{node.ident}_shard{q}_tdata({x}_r{q}_tdata), "
                                 f".s_{node.ident}_shard{q}_tvalid({x}_r{q}_tvalid && {x}_r{q}_tready), "
                                 f".s_{node.ident}_shard{q}_tready({x}_r{q}_ready[{j}])")
        if design["streamed"]:
            id_w = max(1, (len(design["streamed"]) - 1).bit_length())
            a = f"d{d}_axi"
            out += [f"  logic [{id_w - 1}:0] {a}_arid, {a}_rid;", f"  logic [63:0] {a}_araddr;", f"  logic [7:0] {a}_arlen;",
                    f"  logic [2:0] {a}_arsize;", f"  logic [1:0] {a}_arburst, {a}_rresp;", f"  logic [{buses[pos] - 1}:0] {a}_rdata;",
                    f"  logic {a}_arvalid, {a}_arready, {a}_rlast, {a}_rvalid, {a}_rready;",
                    f"  accelplan_axi_mem_model #(.BUS({buses[pos]}), .ID_W({id_w}), .WORDS({mem_words[pos]}), .LATENCY(8), "
                    f".IMAGE(\"../device{d}/memory.mem\")) u_memory{d} (", "      .clk, .rst,",
                    f"      .s_arid({a}_arid), .s_araddr({a}_araddr), .s_arlen({a}_arlen), .s_arsize({a}_arsize),",
                    f"      .s_arburst({a}_arburst), .s_arvalid({a}_arvalid), .s_arready({a}_arready), .s_rid({a}_rid),",
                    f"      .s_rdata({a}_rdata), .s_rresp({a}_rresp), .s_rlast({a}_rlast), .s_rvalid({a}_rvalid), .s_rready({a}_rready)",
                    "  );"]
            conns.append(", ".join(f".m_axi_{s}({a}_{s})" for s in ("arid", "araddr", "arlen", "arsize", "arburst", "arvalid",
                                                                      "arready", "rid", "rdata", "rresp", "rlast", "rvalid", "rready")))
        out += [f"  accelplan_device{d}_top u_device{d} (", ",\n".join(conns), "  );"]
    out += ["endmodule : accelplan_system_top", "/* verilator lint_on DECLFILENAME */", ""]
    return "\n".join(out)


def _clock_mhz(plan: Plan, acc: AcceleratorPlan, clocks: dict[str, float] | None) -> float:
    return (clocks or {}).get(acc.config, 250.0)


def emit_rtl(plan: Plan, out_dir: Path, *, network=None, weights: dict | None = None, seed: int = 0,
             plan_file: Path | None = None, clocks: dict[str, float] | None = None) -> list[Path]:
    """Write per device ``device<d>/`` (package, library, top, weights, build.tcl, clock.xdc) and ``system/``.

    ``network``: the model graph (default: read through the plan's run block, or the built-in model of its name);
    ``weights``: layer name -> [count, K, N] array, integers as they are or floats quantised (default: seeded random
    int8; when given, every weight-carrying layer must have one); ``clocks``: MHz per device
    config (default: the hardware spec's, else 250). Everything is checked before anything is written.
    """
    bits = _data_bits(plan)
    for acc in plan.accelerators:
        if not acc.layers and not acc.ops:
            raise _fail(acc, "the device runs no layers: nothing to generate")
        _part(acc)
        for name, values in zip(acc.layers, layer_parameters(acc)):
            _check_derived(acc, name, values, bits)
    if network is None:
        network = _network(plan, plan_file)
    if clocks is None:
        clocks = _spec_clocks(plan, plan_file)
    tensors, nodes, accs = build_graph(plan, network, bits)
    if weights is not None:
        _check_weights(nodes, weights)
    texts: list[tuple[Path, str]] = []
    designs, buses, mem_words, units = [], [], [], []
    for pos, acc, rank in [(pos, acc, r) for pos, acc in enumerate(accs) for r in range(acc.ways)]:
        design = device_design(plan, acc, pos, tensors, nodes, bits, len(accs), rank)
        d = design["id"]
        folder = out_dir / f"device{d}"
        words_max = max([n.gemm["pk"] * n.gemm["pn"] * bits for n in design["streamed"]], default=32)
        bus = min(1024, max(32, 1 << (words_max - 1).bit_length()))
        total = 0
        for node in design["nodes"]:
            if node.gemm:
                g = node.gemm
                depth = g["count"] * g["nb"] * g["kb"]
                g["rom_bits"] = depth * g["pk"] * g["pn"] * bits
                total += g["count"] * g["k"] * g["n"]
        write_weights = total <= MAX_WEIGHT_ELEMENTS
        image: list[int] = []
        address = 0
        mems = []
        for node in design["nodes"]:
            g = node.gemm
            if not g:
                continue
            arr = shard_weights(weight_array(node.name, g["full_count"], g["k"], g["full_n"], weights, seed, bits), g,
                                rank) \
                if write_weights else None
            words = weight_words(arr, g["pk"], g["pn"], bits) if write_weights else None
            if g["place"] == "streamed":
                beats = -(-(g["pk"] * g["pn"] * bits) // bus)
                per_gemm = g["nb"] * g["kb"]
                g["words"] = g["count"] * g["mb"] * per_gemm  # each block of rows reads its GEMM's words again
                g["base"] = address
                if words is not None:
                    for c in range(g["count"]):
                        for _ in range(g["mb"]):
                            for w in words[c * per_gemm:(c + 1) * per_gemm]:
                                image += [(w >> (b * bus)) & ((1 << bus) - 1) for b in range(beats)]
                    image += [0] * (-(len(image)) % (4096 * 8 // bus))
                address += -(-(g["words"] * beats * bus // 8) // 4096) * 4096
            else:
                mems.append(mem_name(node, design))
                if words is not None:
                    digits = -(-(g["pk"] * g["pn"] * bits) // 4)
                    texts.append((folder / mems[-1], "".join(f"{w:0{digits}x}\n" for w in words)))
        if design["streamed"] and write_weights:
            digits = bus // 4
            texts.append((folder / "memory.mem", "".join(f"{w:0{digits}x}\n" for w in image)))
        designs.append(design)
        units.append(acc)
        buses.append(bus)
        mem_words.append(max(1, address * 8 // bus))
        clock = _clock_mhz(plan, acc, clocks)
        texts += [(folder / f"accelplan_device{d}_pkg.sv", package(plan, acc, design, bits, bus)),
                  (folder / "top.sv", top(plan, acc, pos, design, tensors, nodes, bits, bus)),
                  (folder / "clock.xdc", f"# Generated by accelplan: the device's clock ({clock:g} MHz).\n"
                                         f"create_clock -name clk -period {1000.0 / clock:.3f} [get_ports clk]\n"),
                  (folder / "build.tcl", build_tcl(plan, acc, design, acc.part, clock, mems))]
        for f in sources(d, design)[1:-1]:  # the library modules the device uses (the memory model goes to system/)
            texts.append((folder / f, (LIB / f).read_text()))
    texts.append((out_dir / "system" / "accelplan_system_top.sv", system_top(plan, units, designs, tensors, bits, buses, mem_words)))
    texts.append((out_dir / "system" / "accelplan_axi_mem_model.sv", (LIB / "accelplan_axi_mem_model.sv").read_text()))
    return [write_atomic(path, text) for path, text in texts]


def _spec_clocks(plan: Plan, plan_file: Path | None) -> dict[str, float]:
    """Clock (MHz) per device name of the plan's hardware spec, when it can be read; else empty (250 MHz)."""
    try:
        from ...specs.library import builtin_path
        from ...specs.study import load_hardware
        path = None
        if plan_file is not None:
            from ...specs.loader import read_yaml
            data, _ = read_yaml(plan_file)
            ref = (data.get("run") or {}).get("hardware") if isinstance(data, dict) else None
            if isinstance(ref, str) and Path(ref).is_file():
                path = Path(ref)
        path = path or builtin_path("hardware", plan.hardware)
        if path is None:
            return {}
        hw = load_hardware(path)
        return {g.device.name: g.device.clock / 1e6 for g in hw.devices}
    except Exception:  # the clock is a constraint's figure only: fall back to 250 MHz rather than refuse to emit
        return {}


emit_rtl.reads_plan_file = True  # type: ignore[attr-defined]
emit_rtl.takes_weights = True  # type: ignore[attr-defined]
