"""A served language model's figures as a serving engineer reads them: TTFT, TPOT, tokens/s, J/token, where the
weights and KV caches live on each device, and what binds. Read off the plan; nothing is recomputed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..families import ReportTable
from ..plan import Plan


def serving_line(plan: Plan) -> str:
    """The terminal line of a served plan's figures."""
    s = plan.serving
    return (f"{s.sequences} sequences in flight: {s.tokens_per_s:.2f} tokens/s  TPOT {s.tpot_ms:.4f} ms  "
            f"TTFT {s.ttft_ms:.4f} ms  request {s.request_latency_ms:.2f} ms ({s.prompt} in, {s.generate} out)  "
            f"{s.joules_per_token:.4g} J/token")


def serving_json(plan: Plan) -> dict[str, Any] | None:
    """The serving figures for ``--json`` (None for a plan without a workload)."""
    if plan.serving is None:
        return None
    return asdict(plan.serving) | {"saturating_sequences": plan.serving.saturating_sequences}


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.1f}"


def memory_map(plan: Plan) -> list[str]:
    """Per device (group): weights on chip and streamed, KV cache on and off chip, per device, in MB."""
    rows = ["| device | ways | weights on chip MB | weights streamed MB | KV cache on chip MB | KV cache off chip MB |",
            "|---|---|---|---|---|---|"]
    for a in plan.accelerators:
        where = f"{a.index}" if a.ways == 1 else f"{a.index}-{a.index + a.ways - 1}"
        rows.append(f"| {where} | {a.ways} | {_mb(a.weights_onchip_bytes)} | {_mb(a.weights_streamed_bytes)} | "
                    f"{_mb(a.kv_onchip_bytes)} | {_mb(a.kv_offchip_bytes)} |")
    return rows


def serving_markdown(plan: Plan) -> str:
    """The report section of a served plan: the figures, what binds, and the memory map."""
    s = plan.serving
    out = ["## Serving", "",
           f"{s.sequences} sequences in flight, each request {s.prompt} prompt tokens and {s.generate} generated, "
           f"a KV cache of {s.context} positions per sequence.", "",
           "| figure | value |", "|---|---|",
           f"| tokens/s | {s.tokens_per_s:,.2f} |", f"| TPOT (time per output token) | {s.tpot_ms:.4f} ms |",
           f"| TTFT (time to first token) | {s.ttft_ms:.4f} ms |",
           f"| request latency (TTFT + {s.generate - 1} x TPOT) | {s.request_latency_ms:,.2f} ms |",
           f"| energy per token | {s.joules_per_token:.4g} J |",
           f"| weights | {s.weight_bytes / 1e9:.4g} GB |",
           f"| KV cache, all sequences | {s.kv_cache_bytes / 1e9:.4g} GB ({s.kv_bytes_per_token / 1e6:,.1f} MB read per token) |",
           f"| slowest stage per token | {s.stage_ms:.4f} ms (tokens/s at most {1e3 / s.stage_ms:,.1f}) |", ""]
    if s.tpot_ms > s.sequences * s.stage_ms * (1 + 1e-9):
        out += [f"Binding: each sequence waits for its previous token. One token's trip through the chain "
                f"({s.tpot_ms:.4f} ms) is longer than {s.sequences} sequences x the slowest stage, so tokens/s = "
                f"{s.sequences} / TPOT; about {s.saturating_sequences:,.0f} sequences in flight would keep the "
                f"slowest stage busy (if their caches fit).", ""]
    else:
        out += [f"Binding: the slowest stage ({plan.bottleneck}); more sequences in flight raise TPOT, not tokens/s.", ""]
    if plan.accelerators and hasattr(plan.accelerators[0], "kv_onchip_bytes"):
        out += ["Memory map, per device:", "", *memory_map(plan), ""]
    return "\n".join(out)


def _memory_table(plan: Plan) -> ReportTable:
    rows = []
    for a in plan.accelerators:
        where = f"{a.index}" if a.ways == 1 else f"{a.index}-{a.index + a.ways - 1}"
        rows.append((where, a.ways, _mb(a.weights_onchip_bytes), _mb(a.weights_streamed_bytes), _mb(a.kv_onchip_bytes),
                     _mb(a.kv_offchip_bytes)))
    return ReportTable("Memory map, per device", ("device", "ways", "weights on chip MB", "weights streamed MB",
                                                  "KV cache on chip MB", "KV cache off chip MB"), tuple(rows))


def serving_section(plan: Plan, section: Any) -> Any:
    """The same section as :func:`serving_markdown`, as a report :class:`~accelplan.reports.sections.Section`
    (``section``: that class)."""
    s = plan.serving
    figures = ReportTable("", ("figure", "value"), (
        ("tokens/s", f"{s.tokens_per_s:,.2f}"), ("TPOT (time per output token)", f"{s.tpot_ms:.4f} ms"),
        ("TTFT (time to first token)", f"{s.ttft_ms:.4f} ms"),
        (f"request latency (TTFT + {s.generate - 1} x TPOT)", f"{s.request_latency_ms:,.2f} ms"),
        ("energy per token", f"{s.joules_per_token:.4g} J"), ("weights", f"{s.weight_bytes / 1e9:.4g} GB"),
        ("KV cache, all sequences", f"{s.kv_cache_bytes / 1e9:.4g} GB ({s.kv_bytes_per_token / 1e6:,.1f} MB read per token)"),
        ("slowest stage per token", f"{s.stage_ms:.4f} ms (tokens/s at most {1e3 / s.stage_ms:,.1f})")))
    if s.tpot_ms > s.sequences * s.stage_ms * (1 + 1e-9):
        binding = (f"Binding: each sequence waits for its previous token. One token's trip through the chain "
                   f"({s.tpot_ms:.4f} ms) is longer than {s.sequences} sequences x the slowest stage, so tokens/s = "
                   f"{s.sequences} / TPOT; about {s.saturating_sequences:,.0f} sequences in flight would keep the "
                   f"slowest stage busy (if their caches fit).")
    else:
        binding = f"Binding: the slowest stage ({plan.bottleneck}); more sequences in flight raise TPOT, not tokens/s."
    tables = (figures,) + ((_memory_table(plan),) if plan.accelerators and hasattr(plan.accelerators[0], "kv_onchip_bytes")
                           else ())
    return section("Serving", paragraphs=(
        f"{s.sequences} sequences in flight, each request {s.prompt} prompt tokens and {s.generate} generated, "
        f"a KV cache of {s.context} positions per sequence.", binding), tables=tables, left=1)
