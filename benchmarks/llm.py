"""The GPU reference against published measurements of LLaMA-7B-class decode on one A100, and the chain's plan
beside the public FPGA figures.

    python benchmarks/llm.py [--hardware a100] [--chain u250-x32 | --chain ''] [--time-limit 120]
                             [--out benchmarks/results/llm.json]

Each measured point is a published figure of LLaMA-7B or LLaMA-2-7B (the same architecture: 32 blocks, d_model
4096, SwiGLU 11008, vocabulary 32000) in fp16 on one A100 80 GB SXM, with its source (title, URL, table). The model
side is ``specs/models/llama-7b-decode.yaml`` with its dtype set to fp16, planned on the GPU reference (the roofline
of ``--hardware``) at the point's workload: S sequences in flight, the KV caches at the mean context of the
generation (prompt + generate / 2: a step's time is affine in the context, so G steps at the mean take the time of
the G real steps). What each figure is and how the model gives it:

- ``tokens/s`` (a static batch, end to end): S x G / (prefill of the S prompts together + (G - 1) x TPOT); the
  prefill of S prompts is the plan's prefill problem at batch S.
- ``per-token latency`` (median time between two tokens of a sequence): the plan's TPOT.
- ``TTFT`` (batch 1): the plan's time to first token (the prompt through the same GPU).

Error = model / measured - 1; the target is |error| <= 25 %, and a row beyond says why. Public FPGA figures are
printed beside the chain's plan (``--chain``, a built-in device chain; '' skips it) where comparable. Prints a
Markdown table and writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from accelplan import api, families
from accelplan.families.gpu.tabulate import tabulate
from accelplan.objective import objective
from accelplan.outputs import write_atomic
from accelplan.solvers import solve

MODEL = "llama-7b-decode"

LMDEPLOY = ("LMDeploy, \"Benchmark on A100 (FP16)\" (lmdeploy v0.1.0a1, A100-80G, CUDA 11.8), "
            "https://github.com/InternLM/lmdeploy/blob/main/docs/en/benchmark/a100_fp16.md, "
            "Static Inference Benchmark, table llama2-7b (tp 1)")
TRTLLM = ("NVIDIA, \"Performance of TensorRT-LLM\" (TensorRT-LLM v0.5.0), "
          "https://github.com/NVIDIA/TensorRT-LLM/blob/release/0.5.0/docs/source/performance.md")


@dataclass(frozen=True)
class Measured:
    """One published figure: what was measured (``figure``: tokens/s, per-token latency ms, TTFT ms), at which
    workload, and where it is printed."""

    system: str
    model: str
    sequences: int
    prompt: int
    generate: int
    figure: str
    value: float
    source: str
    note: str = ""


MEASURED = (
    # LMDeploy: prompt of 1 token, 128 generated: decode alone (first-token latency 10-80 ms of a run of seconds)
    *(Measured("LMDeploy (TurboMind)", "LLaMA-2-7B", s, 1, 128, "tokens/s", v, LMDEPLOY + ", column throughput(out tok/s)")
      for s, v in ((1, 100.02), (16, 1504.72), (32, 2136.73), (64, 4154.81))),
    *(Measured("LMDeploy (TurboMind)", "LLaMA-2-7B", s, 1, 128, "per-token latency ms", v,
               LMDEPLOY + ", column 50%(s) (median per-token latency, printed to 1 ms)")
      for s, v in ((1, 9.0), (16, 10.0), (32, 11.0), (64, 12.0))),
    # TensorRT-LLM: static batches through gptSessionBenchmark, context phase included
    Measured("TensorRT-LLM", "LLaMA-7B", 64, 128, 128, "tokens/s", 3486, TRTLLM + ", High Throughput, A100 GPUs (FP16)"),
    Measured("TensorRT-LLM", "LLaMA-7B", 32, 128, 2048, "tokens/s", 1459, TRTLLM + ", High Throughput, A100 GPUs (FP16)"),
    Measured("TensorRT-LLM", "LLaMA-7B", 32, 2048, 128, "tokens/s", 529, TRTLLM + ", High Throughput, A100 GPUs (FP16)"),
    Measured("TensorRT-LLM", "LLaMA-7B", 16, 2048, 2048, "tokens/s", 592, TRTLLM + ", High Throughput, A100 GPUs (FP16)"),
    Measured("TensorRT-LLM", "LLaMA-7B", 1, 128, 1, "TTFT ms", 16, TRTLLM + ", Low Latency, A100 GPUs (FP16)"),
    Measured("TensorRT-LLM", "LLaMA-7B", 1, 2048, 1, "TTFT ms", 133, TRTLLM + ", Low Latency, A100 GPUs (FP16)"),
)

#: public FPGA figures of LLaMA-class decode (relative ones: the paper gives the ratio, not the absolute figure)
FPGA = (
    {"system": "FlightLLM on Versal VHK158", "model": "LLaMA-2-7B (sparse, low-bit)", "sequences": 1,
     "figure": "decode tokens/s / A100's", "value": 1.2,
     "source": "Zeng et al., \"FlightLLM: Efficient Large Language Model Inference with a Complete Mapping Flow on "
               "FPGAs\", FPGA '24, https://arxiv.org/abs/2401.03868, abstract (1.2x the throughput of an A100 at "
               "batch 1)",
     "note": "compressed model (sparsity, mixed precision) on a VHK158 (HBM2e 819 GB/s) against the A100 with vLLM; "
             "the chain plans LLaMA-7B at int8, dense, on its devices: the ratio, not the figure, compares"},
    {"system": "FlightLLM on Alveo U280", "model": "LLaMA-2-7B (sparse, low-bit)", "sequences": 1,
     "figure": "energy efficiency (tokens/J) / V100S's", "value": 6.0,
     "source": "Zeng et al., FPGA '24, https://arxiv.org/abs/2401.03868, abstract (6.0x the energy efficiency of a "
               "V100S with vLLM and SmoothQuant at batch 1)",
     "note": "against a V100S, not an A100: printed for the record, no model row is comparable"},
)


def fp16_study(hardware: str, sequences: int, prompt: int, generate: int, context: int):
    """LLaMA-7B decode in fp16 on ``hardware`` at the workload (its KV cache at ``context`` positions)."""
    study = api.make_study(model=MODEL, hardware=hardware, reference=False,
                           workload={"prompt": prompt, "generate": generate, "context": context,
                                     "sequences": sequences})
    return replace(study, model=replace(study.model, dtype="fp16"))


def gpu_point(hardware: str, m: Measured, time_limit_s: float) -> dict:
    """The GPU reference at the point's workload: TPOT at the mean context, the prefill of the S prompts, TTFT."""
    mean = m.prompt + m.generate // 2
    study = fp16_study(hardware, m.sequences, m.prompt, max(m.generate, 1), max(mean, m.prompt + m.generate))
    study = replace(study, spec=study.spec.model_copy(update={"workload": study.spec.workload.model_copy(
        update={"context": mean if m.generate > 1 else m.prompt + 1})}))
    family = families.get(study.hardware.family)
    problem = tabulate(study, family.execution(None), objective("throughput"), prefill_batch=m.sequences)
    plan = solve(problem, "dp", time_limit_s=time_limit_s)
    s = plan.serving
    prefill_s = s.ttft_ms / 1e3  # the S prompts prefilled together
    end_to_end = m.sequences * m.generate / (prefill_s + (m.generate - 1) * s.tpot_ms / 1e3)
    model = {"tokens/s": end_to_end, "per-token latency ms": s.tpot_ms, "TTFT ms": s.ttft_ms}[m.figure]
    return {"gpus": sum(a.units for a in plan.accelerators), "context": mean, "tpot_ms": s.tpot_ms,
            "prefill_ms": s.ttft_ms, "decode_tokens_per_s": s.tokens_per_s, "model": model,
            "error": model / m.value - 1, "status": plan.solver.status}


#: why a row misses the 25 % target (the causes read off the sources' own columns)
EXPLAINED = {
    ("LMDeploy (TurboMind)", 32, "tokens/s"): (
        "the model matches LMDeploy's median per-token latency at S=32 (11 ms measured, 10.3 ms modelled: -6 %); "
        "32 / 11 ms = 2,909 tokens/s, but the printed 2,137 is the run's average, which carries the first-token "
        "latencies (mean 79 ms, max 725 ms) and the slow tail (p99 21 ms): a scheduling spread a roofline has not"),
    ("LMDeploy (TurboMind)", 64, "tokens/s"): (
        "the model matches LMDeploy's median per-token latency at S=64 (12 ms measured, 11.1 ms modelled: -7 %); "
        "64 / 12 ms = 5,333 tokens/s, but the printed 4,155 carries the first-token latencies (mean 42 ms, max "
        "210 ms) and the tail (p95 28 ms, p99 41 ms)"),
    ("TensorRT-LLM", 1, "TTFT ms"): (
        "a 128-token prompt puts every weight GEMM at the roofline's ridge: its compute (7.9 ms at 70 % of peak) and "
        "its weight stream (8.3 ms at 80 % of 2,039 GB/s) are equal, and the roofline takes the larger while real "
        "kernels overlap the two only in part (their sum, 17.6 ms with launches, brackets the 16 ms measured); at "
        "2,048 tokens compute dominates and the model is within 3 %"),
}


def chain_point(chain: str, sequences: int, time_limit_s: float) -> dict | None:
    """The chain's plan of LLaMA-7B decode (int8, as the model file) at batch-1 serving and its A100 reference."""
    study = api.make_study(model=MODEL, hardware=chain, reference="a100",
                           workload={"prompt": 128, "generate": 128, "sequences": sequences})
    t0 = time.perf_counter()
    result = api.plan_study(study, time_limit_s=time_limit_s)
    plan, ref = result.plan, result.reference
    if not plan.feasible or plan.serving is None or ref is None or ref.serving is None:
        return None
    return {"chain": chain, "devices": len(plan.accelerators), "tokens_per_s": plan.serving.tokens_per_s,
            "tpot_ms": plan.serving.tpot_ms, "joules_per_token": plan.serving.joules_per_token,
            "a100_tokens_per_s": ref.serving.tokens_per_s, "a100_joules_per_token": ref.serving.joules_per_token,
            "ratio_tokens_per_s": plan.serving.tokens_per_s / ref.serving.tokens_per_s,
            "ratio_tokens_per_joule": ref.serving.joules_per_token / plan.serving.joules_per_token,
            "solve_s": time.perf_counter() - t0}


def _f(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hardware", default="a100", help="the GPU reference (a gpu-family spec)")
    ap.add_argument("--chain", default="u250-x32", help="device chain planned beside the FPGA figures ('' skips)")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "llm.json")
    args = ap.parse_args()
    rows = []
    print(f"| system | model | S | prompt | generated | figure | measured | {args.hardware} model | error | source |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in MEASURED:
        r = asdict(m) | gpu_point(args.hardware, m, args.time_limit)
        r["within_25_percent"] = abs(r["error"]) <= 0.25
        r["explained"] = EXPLAINED.get((m.system, m.sequences, m.figure), "")
        rows.append(r)
        print(f"| {m.system} | {m.model} fp16 | {m.sequences} | {m.prompt} | {m.generate} | {m.figure} | "
              f"{m.value:,.2f} | {r['model']:,.2f} | {r['error']:+.1%}{'' if r['within_25_percent'] else ' *'} | "
              f"{m.source} |", flush=True)
    chain, why = None, ""
    if args.chain:
        try:
            chain = chain_point(args.chain, 1, args.time_limit)
            why = "" if chain is not None else "no feasible plan with serving figures"
        except Exception as e:  # the chain side is optional: a refusal is printed, not raised
            why = f"{type(e).__name__}: {e}"
    print("\n| FPGA system | model | S | figure | published | chain's plan (same figure) | source |")
    print("|---|---|---|---|---|---|---|")
    for f in FPGA:
        planned = None
        if chain is not None and f["figure"].startswith("decode tokens/s"):
            planned = chain["ratio_tokens_per_s"]
        f["chain"] = planned
        print(f"| {f['system']} | {f['model']} | {f['sequences']} | {f['figure']} | {f['value']:g} | "
              f"{_f(planned, '.3g')}{' (' + args.chain + ', int8)' if planned is not None else ''} | {f['source']} |")
    if chain is not None:
        print(f"\n{args.chain}: {chain['devices']} devices, {chain['tokens_per_s']:.1f} tokens/s at S=1 "
              f"({chain['ratio_tokens_per_s']:.3g}x the A100 roofline's {chain['a100_tokens_per_s']:.1f}), "
              f"{chain['joules_per_token']:.3f} J/token ({chain['ratio_tokens_per_joule']:.3g}x the A100's tokens/J)")
    if why:
        print(f"\n{args.chain}: not planned ({why})")
    missed = [r for r in rows if not r["within_25_percent"]]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} within 25 %"
          + "".join(f"\n* {r['system']} S={r['sequences']} {r['figure']}: {r['explained'] or 'not explained'}"
                    for r in missed))
    write_atomic(args.out, json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                       "hardware": args.hardware, "rows": rows, "fpga": list(FPGA), "chain": chain,
                                       "chain_note": why},
                                      indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
