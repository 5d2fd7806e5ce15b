"""LLM specs for the many-device work (LLaMA-7B decode, GPT-3 XL decode, GPT-3 175B prefill/decode).

Each spec is checked against closed-form transformer arithmetic written here from the published
architecture figures, not by re-summing its operators: per block, the projections hold
4·d² weights (Q, K, V, O) plus 2·d·ffn (GELU MLP) or 3·d·ffn (SwiGLU: gate, up, down); attention
costs 2·heads·q·kv·head_dim MACs (Q·Kᵀ and P·V); the LM head is d × vocab, for the last position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from accelplan.specs.lowering import Gemm, lower
from accelplan.specs.study import load_model

MODELS = Path(__file__).parent.parent / "specs" / "models"


@dataclass(frozen=True)
class Arch:
    layers: int
    d: int
    heads: int
    head_dim: int
    ffn: int
    vocab: int
    gated: bool       # SwiGLU (gate, up, down) instead of fc1, fc2
    fused_qkv: bool   # one QKV GEMM instead of three

    def block_weights(self) -> int:
        return 4 * self.d * self.d + (3 if self.gated else 2) * self.d * self.ffn

    def weights(self) -> int:
        return self.layers * self.block_weights() + self.d * self.vocab

    def gemms(self) -> int:
        projections = (2 if self.fused_qkv else 4) + (3 if self.gated else 2)
        return self.layers * (projections + 2) + 1  # + Q·Kᵀ and P·V per block, + LM head

    def macs(self, tokens: int, kv: int) -> int:
        """``tokens`` new positions attending to ``kv`` positions (causal prefill priced dense)."""
        attention = 2 * self.heads * tokens * kv * self.head_dim
        return self.layers * (tokens * self.block_weights() + attention) + self.d * self.vocab


LLAMA_7B = Arch(layers=32, d=4096, heads=32, head_dim=128, ffn=11008, vocab=32000, gated=True, fused_qkv=False)
GPT3_XL = Arch(layers=24, d=2048, heads=16, head_dim=128, ffn=8192, vocab=50257, gated=False, fused_qkv=True)
GPT3_175B = Arch(layers=96, d=12288, heads=96, head_dim=128, ffn=49152, vocab=50257, gated=False, fused_qkv=True)

# name: (architecture, new tokens, attended positions)
SPECS = {
    "llama-7b-decode": (LLAMA_7B, 1, 2048),
    "gpt3-xl-decode": (GPT3_XL, 1, 2048),
    "gpt3-175b": (GPT3_175B, 2048, 2048),
    "gpt3-175b-decode": (GPT3_175B, 1, 2048),
}


def _gemms(name: str) -> tuple[object, list[Gemm]]:
    net = load_model(MODELS / f"{name}.yaml")
    return net, [g for g in (lower(op.op) for op in net.ops) if isinstance(g, Gemm)]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_llm_spec_matches_closed_form(name: str) -> None:
    arch, tokens, kv = SPECS[name]
    net, gemms = _gemms(name)
    assert len(gemms) == arch.gemms()
    assert sum(g.macs for g in gemms) == arch.macs(tokens, kv)
    assert sum(g.weight_elements for g in gemms) == arch.weights()
    assert net.ops[-1].name == "lm_head" and len(net.ops) == arch.layers * (16 if arch.gated else 12) + 2


def test_published_parameter_counts() -> None:
    # the closed forms themselves, against the papers' headline sizes (GEMM weights, no embeddings/biases/norms)
    assert LLAMA_7B.weights() == 6_607_077_376                   # + 131 M input embedding = 6.74 B ("7B", 6.7B)
    assert GPT3_XL.weights() == 1_310_885_888                    # "1.3B"
    assert GPT3_175B.weights() == 174_563_733_504                # "175.0B" incl. embeddings
    assert GPT3_175B.weights() / 1e9 == pytest.approx(174.6, rel=0.01)
    assert GPT3_175B.layers * GPT3_175B.block_weights() == 96 * 12 * 12288 ** 2


@pytest.mark.parametrize("name", ["llama-7b-decode", "gpt3-xl-decode", "gpt3-175b-decode"])
def test_decode_is_one_token_against_the_cache(name: str) -> None:
    arch, _, kv = SPECS[name]
    net, gemms = _gemms(name)
    assert all(g.m == 1 for g in gemms)
    for op in net.ops:
        if op.op.kind in ("attention_qk", "attention_pv"):
            assert (op.op.seq, op.op.kv_seq, op.op.heads, op.op.head_dim) == (1, kv, arch.heads, arch.head_dim)
    # one token: a MAC per weight, plus the attention over the cache
    macs, weights = sum(g.macs for g in gemms), sum(g.weight_elements for g in gemms)
    assert macs - weights == arch.layers * 2 * arch.heads * kv * arch.head_dim


@pytest.mark.parametrize("decode,prefill", [
    ("llama-7b-decode", "llama-7b-prefill"),
    ("gpt3-xl-decode", "gpt3-xl"),
    ("gpt3-175b-decode", "gpt3-175b"),
])
def test_decode_and_prefill_share_weights(decode: str, prefill: str) -> None:
    (dnet, dg), (pnet, pg) = _gemms(decode), _gemms(prefill)
    assert sum(g.weight_elements for g in dg) == sum(g.weight_elements for g in pg)
    assert [(g.k, g.n, g.weight) for g in dg if g.weight] == [(g.k, g.n, g.weight) for g in pg if g.weight]
    assert [op.name for op in dnet.ops] == [op.name for op in pnet.ops]
    assert (dnet.dtype, dnet.batch) == (pnet.dtype, pnet.batch) == ("int8", 1)


def test_flattening_96_blocks_is_fast() -> None:
    start = time.perf_counter()
    net = load_model(MODELS / "gpt3-175b.yaml")
    assert time.perf_counter() - start < 1.0
    assert len(net.ops) == 96 * 12 + 2 and net.ops[-4].name == "block95.fc2"
