"""The GPU reference of a served language model, like for like (issue 23, item 5): the decode step of S sequences
with their KV caches at the workload's context, the prompt's TTFT, the weights and caches checked against memory,
tensor parallelism over a node's GPUs when one cannot hold them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from accelplan import api
from accelplan.cli import main
from accelplan.errors import SpecError
from accelplan.families import build_problem
from accelplan.families.gpu.costs import ALL_GATHER, ALL_REDUCE, collective_s, collectives, layer_time_s
from accelplan.plan import evaluate
from accelplan.problem import group_layers
from accelplan.solvers import solve

A100_INT8, A100_BW, LAUNCH, POWER = 312e12 * 0.7, 2039e9 * 0.8, 5e-6, 400.0


def served(model: str, hardware: str, sequences: int, prompt: int = 128, generate: int = 128,
           context: int | None = None, **overrides):
    workload = {"prompt": prompt, "generate": generate, "sequences": sequences}
    if context is not None:
        workload["context"] = context
    return api.make_study(model=model, hardware=hardware, workload=workload, **overrides)


@pytest.mark.parametrize("sequences", [1, 16, 256])
def test_littles_law_and_the_decode_step_by_hand(sequences):
    """tokens/s <= S / TPOT (the GPU decodes the S sequences together, so equal), and the step is, per layer,
    max(compute at S tokens, (weights + S x KV cache at the context) / bandwidth) + a launch."""
    study = served("llama-7b-decode", "a100", sequences, prompt=512, generate=512)
    problem = build_problem(study)
    plan = solve(problem, "dp", time_limit_s=30)
    s = plan.serving
    assert plan.solver.status == "optimal" and s is not None and s.sequences == sequences
    assert s.tokens_per_s <= sequences / (s.tpot_ms / 1e3) * (1 + 1e-9)
    assert s.tokens_per_s == pytest.approx(sequences / (s.tpot_ms / 1e3))
    step = 0.0
    for group in group_layers(study):
        g = group.gemm.at_context(1024)
        weights = g.k * g.n * g.count if g.weight else 0
        kv = g.k * g.n * g.count if g.cached else 0
        acts = (g.m * g.k + g.m * g.n) * g.count * sequences
        assert g.cached == (kv > 0) and (not g.cached or 1024 in (g.k, g.n))
        step += max(g.macs * sequences / A100_INT8, (weights + kv * sequences + acts) / A100_BW) + LAUNCH
    assert s.tpot_ms == pytest.approx(step * 1e3)
    assert s.joules_per_token == pytest.approx(POWER * step / sequences)
    assert s.kv_cache_bytes == pytest.approx(sequences * 2 * 32 * 4096 * 1024)  # K and V, 32 blocks, int8
    assert s.weight_bytes == pytest.approx(sum(g.gemm.weight_elements for g in group_layers(study)))


def test_ttft_is_the_prompt_through_the_same_gpu():
    study = served("llama-7b-decode", "a100", 8, prompt=1024, generate=64)
    problem = build_problem(study)
    plan = solve(problem, "dp", time_limit_s=30)
    prompt_s = sum(layer_time_s(study.hardware, "int8", g.gemm.at_context(1088).prefill(1024), 1)
                   for g in group_layers(study))
    assert plan.serving.ttft_ms == pytest.approx(prompt_s * 1e3)
    assert problem.prefill.batch == 1 and problem.prefill.workload is None
    assert plan.serving.request_latency_ms == pytest.approx(plan.serving.ttft_ms + 63 * plan.serving.tpot_ms)
    # a 1024-token prompt is compute-bound: its time is about the MACs at the sustained rate
    macs = sum(g.gemm.at_context(1088).prefill(1024).macs for g in group_layers(study))
    assert macs / A100_INT8 < prompt_s < macs / A100_INT8 * 1.2


def test_gpt3_175b_is_refused_on_one_a100_with_the_memory_figures():
    with pytest.raises(SpecError) as err:
        build_problem(served("gpt3-175b-decode", "a100", 1, prompt=1024, generate=1024))
    text = str(err.value)
    assert "gpt3-175b-decode does not fit on a100: weights 174.56 GB + KV cache 4.83 GB" in text
    assert "exceed the memory of one GPU (80.00 GB); the weights alone exceed it" in text
    assert "dgx-a100" in text and "workload.sequences" in text


def test_the_refusal_names_the_most_sequences_and_the_longest_context_that_fit():
    study = served("llama-7b-decode", "a100", 100, prompt=2048, generate=2048)
    with pytest.raises(SpecError) as err:
        build_problem(study)
    weights = sum(g.gemm.weight_elements for g in group_layers(study))
    kv = 2 * 32 * 4096 * 4096  # one sequence's K and V at 4096 positions, int8
    most, longest = int((80e9 - weights) // kv), int((80e9 - weights) // (kv / 4096 * 100))
    assert f"at most {most} sequences fit at context 4096, or context {longest} at 100 sequences" in str(err.value)
    plan = solve(build_problem(served("llama-7b-decode", "a100", most, prompt=2048, generate=2048)), "dp",
                 time_limit_s=30)
    assert plan.feasible and plan.budgets[1].used <= 80e9


@pytest.mark.slow
@pytest.mark.parametrize("sequences, smallest", [(1, 4), (32, 8)])
def test_gpt3_175b_on_the_node_takes_the_fewest_gpus_that_hold_it_per_token_energy(sequences, smallest):
    """Energy per token is k x board power / tokens/s, i.e. the objective of throughput per GPU: the smallest
    degree that holds the weights and caches wins it; throughput takes every GPU."""
    study = served("gpt3-175b-decode", "dgx-a100", sequences, prompt=1024, generate=1024, objective="energy")
    problem = build_problem(study)
    need = 174.56e9 + sequences * 2 * 96 * 12288 * 2048
    assert [c.units for c in problem.configs] == [k for k in (1, 2, 4, 8) if need / k <= 80e9]
    plan = solve(problem, "dp", time_limit_s=60)
    (acc,) = plan.accelerators
    assert plan.solver.status == "optimal" and acc.units == smallest >= 3 and acc.config == f"tp{smallest}"
    memory = {b.name: b for b in plan.budgets}["memory per GPU"]
    assert memory.used == pytest.approx(need / smallest, rel=1e-3) and memory.used <= memory.available
    per_degree = [evaluate(problem, ((c, tuple(range(problem.n_layers))),)) for c in range(problem.n_configs)]
    assert min(per_degree, key=lambda p: p.energy_mj).accelerators[0].units == smallest
    fastest = solve(build_problem(study, objective="throughput"), "dp", time_limit_s=60)
    assert fastest.accelerators[0].units == 8
    if smallest < 8:  # more GPUs: more tokens/s, each GPU less used
        assert fastest.serving.tokens_per_s > plan.serving.tokens_per_s
        assert fastest.serving.joules_per_token > plan.serving.joules_per_token


def test_tensor_parallel_layers_pay_their_all_reduce_on_nvlink():
    """Split k ways: a layer's weights, MACs and caches divide by k; after each attention and MLP block (the layers
    fused with a residual add) a ring all-reduce of 2(k-1)/k x its output at 300 GB/s plus 1 us per step; the
    vocabulary-split LM head gathers its logits."""
    study = served("llama-7b-decode", "dgx-a100", 4)
    hw, groups = study.hardware, group_layers(study)
    kinds = {nop.name: nop.op.kind for nop in study.model.ops}
    reduce = collectives(kinds, groups)
    names = {g.name.split(".")[-1]: r for g, r in zip(groups, reduce)}
    assert names["o"] == names["down"] == ALL_REDUCE and names["lm_head"] == ALL_GATHER
    assert names["q"] == names["gate"] == names["qk"] == 0
    assert sum(r == ALL_REDUCE for r in reduce) == 64  # two per block
    o = next(g.gemm for g in groups if g.name.endswith("o"))
    assert collective_s(hw, 8, ALL_REDUCE, 4096, 4) == pytest.approx(2 * 7 / 8 * 4096 / 300e9 + 14 * 1e-6 / 4)
    alone, split = layer_time_s(hw, "int8", o, 4, 1), layer_time_s(hw, "int8", o, 4, 2, ALL_REDUCE)
    stream = (4096 * 4096 / 2 / 4 + 4096 + 4096 / 2) / A100_BW  # half the weights per GPU, per token
    assert alone > split == pytest.approx(stream + LAUNCH / 4 + collective_s(hw, 2, ALL_REDUCE, 4096, 4))
    problem = build_problem(study)
    assert problem.time_s.shape == (problem.n_layers, 4) and np.all(problem.time_s[:, 1] < problem.time_s[:, 0])
    assert np.allclose(problem.energy_j, problem.time_s * np.array([400, 800, 1600, 3200]))


def test_a_study_without_workload_is_priced_as_before():
    problem = build_problem(api.make_study(model="llama-7b-decode", hardware="a100", batch=4))
    assert problem.workload is None and problem.prefill is None
    assert [c.label for c in problem.configs] == ["gpu"] and problem.resources == ("gpus",)


def _study(tmp_path, **fields):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(fields))
    return path


def test_a_served_study_solves_through_the_cli_and_its_plan_carries_serving(tmp_path, capsys):
    study = _study(tmp_path, model="llama-7b-decode", hardware="a100", reference="dgx-a100",
                   workload={"prompt": 256, "generate": 256, "sequences": 32})
    assert main(["solve", str(study), "-o", str(tmp_path / "out"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    plan = yaml.safe_load((tmp_path / "out" / "solve" / "plan.yaml").read_text())
    s = plan["serving"]
    assert s["sequences"] == 32 and s["context"] == 512 and s["prompt"] == 256
    assert s["tokens_per_s"] == pytest.approx(32 / (s["tpot_ms"] / 1e3)) == pytest.approx(out["throughput"])
    assert 0 < s["ttft_ms"] and s["joules_per_token"] == pytest.approx(out["energy_mj"] / 1e3)
    ref = out["reference"]  # the node at the same workload, throughput: every GPU
    assert ref["hardware"] == "dgx-a100" and (ref["units"], ref["units_word"]) == (8, "GPUs") and ref["tokens_per_s"] > s["tokens_per_s"]
    assert ref["versus"]["tokens_per_s"]["plan_is"] == "worse" and ref["versus"]["joules_per_token"]["plan_is"] == "better"
    report = (tmp_path / "out" / "solve" / "report.md").read_text()
    assert "| tokens/s |" in report and "| TTFT (ms) |" in report and "32 sequences in flight" in report
    assert "a100 gives" in report and "the tokens/s of dgx-a100 (worse)" in report


def test_a_served_model_too_large_exits_2_naming_the_field(tmp_path, capsys):
    study = _study(tmp_path, model="gpt3-175b-decode", hardware="a100",
                   workload={"prompt": 128, "generate": 128, "sequences": 1})
    assert main(["solve", str(study), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{study}: workload.sequences: gpt3-175b-decode does not fit on a100" in err and "Traceback" not in err
    node = _study(tmp_path, model="gpt3-175b-decode", hardware="dgx-a100", reference="a100",
                  workload={"prompt": 128, "generate": 128, "sequences": 1})
    assert main(["solve", str(node), "-o", str(tmp_path / "out")]) == 2
    assert "reference: the reference a100: gpt3-175b-decode does not fit on a100" in capsys.readouterr().err


def test_the_comparison_says_which_side_is_better_in_words():
    """Reports read both plans' serving figures: more tokens/s is better, more TPOT, TTFT or J/token worse."""
    from accelplan.reports.reference import reference_line, reference_markdown, reference_table

    one = solve(build_problem(served("llama-7b-decode", "a100", 16)), "dp", time_limit_s=30)
    node = solve(build_problem(served("llama-7b-decode", "dgx-a100", 16)), "dp", time_limit_s=30)
    assert node.accelerators[0].units == 8
    table = reference_table(one, node)
    rows = {r[0]: r for r in table.rows}
    assert set(rows) == {"tokens/s", "TPOT (ms)", "TTFT (ms)", "J/token"}
    assert rows["tokens/s"][-1] == "worse" and rows["TPOT (ms)"][-1] == "worse" and rows["J/token"][-1] == "better"
    ratio = one.serving.tokens_per_s / node.serving.tokens_per_s
    line = reference_line(one, node)
    assert f"a100 gives {ratio:.3g}x the tokens/s of dgx-a100 (worse)" in line and "on 8 GPUs" in line
    assert f"energy per token {one.serving.joules_per_token / node.serving.joules_per_token:.3g}x dgx-a100's (better)" in line
    assert reference_table(one, one).rows[0][-1] == "the same"
    plain = solve(build_problem(api.make_study(model="deit-tiny", hardware="a100", batch=4)), "dp", time_limit_s=10)
    assert "the throughput of a100 (the same)" in reference_markdown(plain, plain)
