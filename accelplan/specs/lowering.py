"""Lower model operators to the two shapes the cost models price: GEMMs and element-wise passes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .schema import AttentionOp, Conv2dOp, ElementwiseOp, GemmOp, Operator


@dataclass(frozen=True)
class ConvGeometry:
    """The input side of a convolution, per group: enough to know which input pixels an output tile reads.

    ``channels`` is the input channels of one group; sizes are (height, width) pairs. A chiplet (or
    engine) that computes a rectangle of the output reads that rectangle's rows and columns
    ``o * stride - padding + i * dilation`` (``i < kernel``) that lie inside the input: its share plus
    the halo its neighbours read too.
    """

    channels: int
    height: int
    width: int
    out_h: int
    out_w: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class Gemm:
    """``count`` independent GEMMs ``[m,k] x [k,n]``; ``weight`` if the k x n operand is a stored weight.

    ``source_elements`` is the size of the tensor the ``[m,k]`` operand is built from, for all ``count``
    GEMMs together: a convolution's input feature map (in_channels x height x width, as stored) rather
    than its im2col expansion, which is formed on chip with the padding and the halos its tiles read twice.
    0 means the operand is the tensor itself (m*k*count). ``conv`` is the convolution's geometry (None for
    any other GEMM), for cost models that price what a spatial share of the output reads.
    """

    m: int
    k: int
    n: int
    count: int = 1
    weight: bool = True
    source_elements: int = 0
    cache_axis: str = ""  # "k" or "n": the k x n operand is a sequence's KV cache, that axis its positions; "": not
    conv: ConvGeometry | None = field(default=None, compare=False)  # equal GEMMs stay equal whatever their geometry

    @property
    def macs(self) -> int:
        """Multiply-accumulates, without padding."""
        return self.m * self.k * self.n * self.count

    @property
    def input_elements(self) -> int:
        """Elements of the input activation tensor as it crosses a link or off-chip memory (not im2col-expanded)."""
        return self.source_elements or self.m * self.k * self.count

    @property
    def operand_elements(self) -> int:
        """Elements of the ``[m,k]`` operands as the engines consume them (im2col-expanded for a convolution)."""
        return self.m * self.k * self.count

    @property
    def cached(self) -> bool:
        """The k x n operand is a KV cache: one per sequence, read by every token the sequence decodes."""
        return bool(self.cache_axis)

    @property
    def cache_elements(self) -> int:
        """Elements of one sequence's KV cache this GEMM reads (0 when it reads none)."""
        return self.k * self.n * self.count if self.cached else 0

    def at_context(self, positions: int) -> "Gemm":
        """The GEMM with its KV cache holding ``positions`` (itself when it reads no cache)."""
        if not self.cached:
            return self
        return replace(self, **{self.cache_axis: positions})

    def prefill(self, prompt: int) -> "Gemm":
        """The GEMM of a decode step applied to a whole prompt of ``prompt`` tokens at once: every row becomes
        ``prompt`` rows, and attention reads the prompt's own keys and values (``prompt`` positions, causal work
        priced as the full square). A GEMM that reads no cache simply gets ``m * prompt`` rows."""
        if not self.cached:
            return replace(self, m=self.m * prompt)
        return replace(self, m=self.m * prompt, **{self.cache_axis: prompt}, cache_axis="")

    def prompt_token(self, prompt: int) -> "Gemm":
        """The GEMM of one prompt token when a whole prompt of ``prompt`` tokens streams through: attention reads the
        keys and values the prompt itself produces (``prompt`` positions, causal work priced as the full square),
        held as activations, not a stored cache."""
        return replace(self.at_context(prompt), cache_axis="")

    @property
    def weight_elements(self) -> int:
        """Elements of the stored k x n operand (0 when it is an activation)."""
        return self.k * self.n * self.count if self.weight else 0


@dataclass(frozen=True)
class Elementwise:
    """A bandwidth-bound pass that reads ``inputs`` tensors of ``input_elements`` and writes ``elements``."""

    elements: int
    input_elements: int
    inputs: int = 1

    @property
    def elements_moved(self) -> int:
        return self.elements + self.inputs * self.input_elements


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv_output(op: Conv2dOp) -> tuple[int, int]:
    """Output height and width of a convolution (floor division, as frameworks do)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(op.kernel), _pair(op.stride), _pair(op.padding), _pair(op.dilation))
    out_h = (op.height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (op.width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return out_h, out_w


def lower(op: Operator) -> Gemm | Elementwise:
    """Lower one operator; raises ``ValueError`` with a user-facing message when its shape is impossible."""
    if isinstance(op, GemmOp):
        weight = op.weight if op.weight is not None else op.kind == "linear"
        return Gemm(op.m, op.k, op.n, op.heads, weight)
    if isinstance(op, AttentionOp):
        kv, cached = op.kv_seq or op.seq, op.kv_seq is not None
        if op.kind == "attention_qk":
            return Gemm(op.seq, op.head_dim, kv, op.heads, weight=False, cache_axis="n" if cached else "")
        return Gemm(op.seq, kv, op.head_dim, op.heads, weight=False, cache_axis="k" if cached else "")
    if isinstance(op, Conv2dOp):
        if op.in_channels % op.groups or op.out_channels % op.groups:
            raise ValueError(f"groups={op.groups} must divide in_channels={op.in_channels} and out_channels={op.out_channels}")
        out_h, out_w = conv_output(op)
        if out_h < 1 or out_w < 1:
            raise ValueError(f"kernel larger than the padded input: output would be {out_h}x{out_w}")
        kh, kw = _pair(op.kernel)
        source = op.in_channels * op.height * op.width
        geometry = ConvGeometry(op.in_channels // op.groups, op.height, op.width, out_h, out_w, (kh, kw),
                                _pair(op.stride), _pair(op.padding), _pair(op.dilation))
        return Gemm(out_h * out_w, op.in_channels // op.groups * kh * kw, op.out_channels // op.groups, op.groups, True,
                    source_elements=source, conv=geometry)
    if isinstance(op, ElementwiseOp):
        reads = 2 if op.kind in ("add", "mul") else 1
        return Elementwise(op.elements, op.input_elements or op.elements, reads)
    raise TypeError(f"unknown operator {op!r}")
