"""A served language model on a chain of devices (issue 23): sequences in flight, the KV cache as a placed operand,
tensor-parallel splits, and Little's law checked against a closed-loop replay."""

from __future__ import annotations

import random

import pytest
import yaml

from accelplan import api
from accelplan.errors import SpecError
from accelplan.families import build_problem
from accelplan.plan import evaluate, metrics
from accelplan.simulate import simulate
from accelplan.solvers import solve

SYSTEM = {
    "name": "llm-chain", "family": "multi-device",
    "devices": [{"count": 4, "device": {
        "name": "fpga", "lut": 400000, "ff": 800000, "dsp": 2000, "bram": "2 MB", "uram": "0 B",
        "memory": {"kind": "hbm2", "capacity": "64 MB", "bandwidth": "20 GB/s", "energy_per_bit": "5 pJ"},
        "clock": "250 MHz", "utilisation_cap": 0.75, "static_power": "10 W",
        "energy": {"mac": {"int8": "1 pJ"}, "onchip_byte": "1 pJ"}}}],
    "link": {"kind": "qsfp28", "bandwidth": "100 Gb/s", "latency": "1 us", "energy_per_bit": "10 pJ"},
    "lane": {"int8": {"dsp": 0.5, "lut": 30, "ff": 40}},
    "block": {"lut": 2000, "ff": 3000},
    "parallelism": {"per_dimension": [1, 4, 16], "max_lanes": 1024},
    "tensor_parallel": [1, 2],
}


def _model(d: int = 256, heads: int = 4, blocks: int = 1, vocab: int = 2048) -> str:
    """A decode step of a small transformer: q/k/v/o, attention against a cache, MLP, LM head."""
    hd = d // heads
    ops = [{"repeat": blocks, "name": "block", "operators": [
        {"name": "q", "kind": "linear", "m": 1, "k": d, "n": d},
        {"name": "qk", "kind": "attention_qk", "heads": heads, "seq": 1, "head_dim": hd, "kv_seq": 64},
        {"name": "pv", "kind": "attention_pv", "heads": heads, "seq": 1, "head_dim": hd, "kv_seq": 64},
        {"name": "up", "kind": "linear", "m": 1, "k": d, "n": 4 * d},
        {"name": "down", "kind": "linear", "m": 1, "k": 4 * d, "n": d}]},
        {"name": "lm_head", "kind": "linear", "m": 1, "k": d, "n": vocab}]
    return yaml.safe_dump({"name": "tiny-decode", "dtype": "int8", "batch": 1, "operators": ops})


def _study(tmp_path, sequences: int, context: int = 256, system: dict | None = None, model: str | None = None, **spec):
    hw, mdl, study = tmp_path / "hw.yaml", tmp_path / "model.yaml", tmp_path / "study.yaml"
    hw.write_text(yaml.safe_dump(system or SYSTEM))
    mdl.write_text(model or _model())
    study.write_text(yaml.safe_dump({"model": "model.yaml", "hardware": "hw.yaml", "reference": False, **spec,
                                     "workload": {"prompt": 64, "generate": 32, "context": context,
                                                  "sequences": sequences}}))
    return api.make_study(study)


def _random_plan(problem, rng: random.Random) -> tuple:
    """Random cuts of the layer chain over the 4 devices, each run on one device or split 2 ways, random blocks."""
    from accelplan.execution.devices import DeviceGroup, block_options
    n, groups, start, pos = problem.n_layers, [], 0, 0
    while start < n:
        left = 4 - pos
        ways = rng.choice([w for w in (1, 2) if w <= left])
        end = n if left - ways < 1 else rng.randint(start + 1, n)
        split = problem.devices.split_index(ways)
        configs = tuple(rng.choice(block_options(problem, l, split)) for l in range(start, end))
        groups.append(DeviceGroup(pos, tuple(range(start, end)), configs, ways))
        start, pos = end, pos + ways
    return tuple(groups)


def test_kv_cache_is_stored_per_sequence_and_read_per_token(tmp_path):
    """The attention layers store S caches (context x head_dim x heads bytes each) and each token reads its own."""
    for s in (1, 8):
        problem = build_problem(_study(tmp_path, s))
        t = problem.devices
        names = [layer.name for layer in problem.layers]
        qk, q = names.index("block0.qk"), names.index("block0.q")
        assert t.kv_bytes[qk] == 256 * 64 * 4 and t.kv_bytes[q] == 0  # K: context 256 x head_dim 64 x 4 heads
        assert t.stored_bytes[0, qk] == s * 256 * 64 * 4 and t.stored_bytes[0, q] == 256 * 256
        assert t.stored_bytes[1, qk] == s * 256 * 64 * 4 / 2  # split 2 ways: 2 heads per device


@pytest.mark.parametrize("sequences", [1, 16, pytest.param(256, marks=pytest.mark.slow)])
def test_littles_law_on_random_chains_and_the_replay_agrees(tmp_path, sequences):
    """For random plans of random chains: tokens/s = S / TPOT <= 1 / stage time, and the closed-loop replay (a token
    waits for its sequence's previous one) gives the same TPOT and tokens/s within 5 %, and obeys the law itself.
    Three chains at 1 and 16 sequences in flight, one at 256 (its replay alone takes about 5 s of CPU)."""
    rng = random.Random(sequences)
    for trial in range(3 if sequences < 256 else 1):
        model = _model(d=rng.choice([128, 256]), blocks=rng.choice([1, 2]), vocab=rng.choice([1024, 4096]))
        problem = build_problem(_study(tmp_path, sequences, context=rng.choice([128, 512]), model=model))
        groups = _random_plan(problem, rng)
        plan = evaluate(problem, groups, check_bounds=False)
        assert plan.serving is not None
        met = metrics(problem, groups, False)
        serving = plan.serving
        assert serving.tokens_per_s == pytest.approx(sequences / (serving.tpot_ms / 1e3))
        assert serving.tokens_per_s <= 1 / (serving.stage_ms / 1e3) * (1 + 1e-9)
        sim = simulate(problem, groups, met, [str(a.index) for a in plan.accelerators])
        assert sim.latency.simulated == pytest.approx(serving.tpot_ms, rel=0.05)
        assert sim.throughput.simulated == pytest.approx(serving.tokens_per_s, rel=0.05)
        assert sim.throughput.simulated <= sequences / (sim.latency.simulated / 1e3) * 1.05


def test_one_sequence_waits_for_its_previous_token(tmp_path):
    """S = 1: tokens/s is 1 / one token's trip, far below the pipeline's 1 / stage time, and the bottleneck says so."""
    problem = build_problem(_study(tmp_path, 1))
    plan = solve(problem, "dp", time_limit_s=30)
    serving = plan.serving
    assert serving.tokens_per_s == pytest.approx(1e3 / serving.tpot_ms)
    if len(plan.accelerators) > 1:
        assert serving.tpot_ms > serving.stage_ms and "previous token" in plan.bottleneck


def test_the_cache_fits_nowhere_and_the_refusal_names_what_fits(tmp_path):
    with pytest.raises(SpecError, match=r"at most (\d+) sequences fit at context 8192, or context (\d+) at 4096"):
        build_problem(_study(tmp_path, 4096, context=8192))


def test_a_layer_larger_than_a_device_is_split(tmp_path):
    """An LM head of 96 MB exceeds one device's 64 MB HBM + 1.5 MB on chip: refused without splits, planned split 2
    ways with them, its all-gather on the links."""
    big = _model(vocab=384 * 1024)
    unsplit = {**SYSTEM, "tensor_parallel": [1]}
    with pytest.raises(SpecError, match="lm_head.*splits no layer"):
        build_problem(_study(tmp_path, 1, system=unsplit, model=big))
    problem = build_problem(_study(tmp_path, 1, model=big))
    plan = solve(problem, "dp", time_limit_s=60)
    assert plan.feasible and any(a.ways == 2 and "lm_head" in a.layers for a in plan.accelerators)


def test_dp_agrees_with_exhaustive_with_splits(tmp_path):
    """Brute force over every cut, split and block of a 2-device chain: dp's proven tokens/s is the optimum."""
    system = {**SYSTEM, "devices": [{**SYSTEM["devices"][0], "count": 2}],
              "parallelism": {"per_dimension": [1, 16], "max_lanes": 256}}
    model = yaml.safe_dump({"name": "two", "dtype": "int8", "batch": 1, "operators": [
        {"name": "qk", "kind": "attention_qk", "heads": 4, "seq": 1, "head_dim": 64, "kv_seq": 64},
        {"name": "lm_head", "kind": "linear", "m": 1, "k": 256, "n": 8192}]})
    for s in (4, 64):
        problem = build_problem(_study(tmp_path, s, system=system, model=model))
        brute = solve(problem, "exhaustive", time_limit_s=120)
        dp = solve(problem, "dp", time_limit_s=60)
        assert brute.solver.status == "optimal"
        if dp.solver.status == "optimal":
            assert dp.throughput == pytest.approx(brute.throughput, rel=1e-6)
        assert dp.throughput <= brute.throughput * (1 + 1e-9)
        assert dp.solver.bound >= brute.throughput * (1 - 1e-9)  # dp's bound is a true bound


def test_a_served_plan_file_carries_its_figures(tmp_path):
    problem = build_problem(_study(tmp_path, 16))
    plan = solve(problem, "dp", time_limit_s=30)
    data = plan.to_dict()
    assert {"ttft_ms", "tpot_ms", "tokens_per_s", "joules_per_token"} <= set(data["serving"])
    assert data["serving"]["ttft_ms"] > 0 and data["serving"]["request_latency_ms"] == pytest.approx(
        data["serving"]["ttft_ms"] + 31 * data["serving"]["tpot_ms"])
    kv = sum(a.kv_onchip_bytes + a.kv_offchip_bytes for a in plan.accelerators for _ in range(a.ways))
    assert kv == pytest.approx(plan.serving.kv_cache_bytes, rel=1e-6)  # every sequence's cache is placed somewhere


@pytest.mark.slow
@pytest.mark.parametrize("sequences", [1, 256])
def test_llama_7b_on_u55c_obeys_littles_law_and_scales_past_65_devices(sequences):
    study = api.make_study(model="llama-7b-decode", hardware="u55c-x128")
    from dataclasses import replace

    from accelplan.specs.schema import WorkloadSpec
    study = replace(study, spec=study.spec.model_copy(update={"workload": WorkloadSpec(
        prompt=512, generate=128, context=2048, sequences=sequences)}))
    plan = solve(build_problem(study), "dp", time_limit_s=120)
    serving = plan.serving
    assert plan.feasible and serving.tokens_per_s <= sequences / (serving.tpot_ms / 1e3) * (1 + 1e-9)
    devices = sum(a.ways for a in plan.accelerators)
    assert devices > 65 and any(a.ways > 1 and "lm_head" in a.layers for a in plan.accelerators)
    kv = sum((a.kv_onchip_bytes + a.kv_offchip_bytes) * a.ways for a in plan.accelerators)
    assert kv == pytest.approx(sequences * 32 * 2 * 2048 * 4096, rel=1e-6)  # int8 K and V of 32 layers at 2048
