"""Generated RTL computes the model: three small models planned over a chain of small FPGAs (at least two
devices), emitted with the rtl target and simulated end to end with cocotb on Verilator through the system top
(streamed weights served by the behavioural AXI4 memory), the outputs bit-exact against tests/rtl_reference.py
(numpy, written from the README's fixed-point rules). Cycle counts are printed beside the plan's period.
Tensor parallelism: the MLP planned on 2 devices split 2 ways, and the transformer block's one-device plan split 2
ways by hand (heads and columns), each rank its own design and weight shard, the shards all-gathered over links."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import yaml

import rtl_reference as ref
from accelplan import api
from accelplan.emitters.rtl import emit_rtl
from accelplan.plan_file import read_plan

from conftest import require_tool

PART = "xcku5p-ffvb676-2-e"


def system(devices: int, dsp: int, bram: str, tensor_parallel: tuple[int, ...] = (1,)) -> dict:
    return {
        "name": "rtl-sim", "family": "multi-device",
        "devices": [{"count": devices, "device": {
            "name": "small-fpga", "part": PART, "lut": 200000, "ff": 400000, "dsp": dsp, "bram": bram, "uram": "0 B",
            "memory": {"kind": "ddr4", "capacity": "4 GB", "bandwidth": "10 GB/s", "energy_per_bit": "15 pJ"},
            "clock": "200 MHz", "utilisation_cap": 0.75, "static_power": "10 W",
            "energy": {"mac": {"int8": "1 pJ"}, "onchip_byte": "1 pJ"}}}],
        "link": {"kind": "qsfp28", "bandwidth": "100 Gb/s", "latency": "1 us", "energy_per_bit": "10 pJ"},
        "lane": {"int8": {"dsp": 0.5, "lut": 40, "ff": 60}},
        "block": {"lut": 2000, "ff": 3000},
        "parallelism": {"per_dimension": [1, 2, 4, 8], "max_lanes": 64},
        "tensor_parallel": list(tensor_parallel),
    }


MLP = """name: mlp2
dtype: int8
batch: 4
operators:
  - {name: fc1, kind: linear, m: 4, k: 32, n: 64}
  - {name: act, kind: relu, elements: 256}
  - {name: fc2, kind: linear, m: 4, k: 64, n: 16}
"""

TRANSFORMER = """name: block
dtype: int8
batch: 2
operators:
  - {name: embed, kind: linear, m: 1, k: 16, n: 16}
  - {name: norm1, kind: layernorm, elements: 16}
  - {name: q, kind: linear, m: 1, k: 16, n: 16}
  - {name: k, kind: linear, m: 1, k: 16, n: 16, inputs: [norm1]}
  - {name: v, kind: linear, m: 1, k: 16, n: 16, inputs: [norm1]}
  - {name: qk, kind: attention_qk, heads: 2, seq: 1, head_dim: 8, kv_seq: 8, inputs: [q, k]}
  - {name: softmax, kind: softmax, elements: 16}
  - {name: pv, kind: attention_pv, heads: 2, seq: 1, head_dim: 8, kv_seq: 8, inputs: [softmax, v]}
  - {name: o, kind: linear, m: 1, k: 16, n: 16}
  - {name: add1, kind: add, elements: 16, inputs: [o, embed]}
  - {name: rms2, kind: layernorm, elements: 16}
  - {name: gate, kind: linear, m: 1, k: 16, n: 32}
  - {name: up, kind: linear, m: 1, k: 16, n: 32, inputs: [rms2]}
  - {name: silu_mul, kind: mul, elements: 32, inputs: [gate, up]}
  - {name: down, kind: linear, m: 1, k: 32, n: 16}
  - {name: add2, kind: add, elements: 16, inputs: [down, add1]}
"""

CONV = """name: convs
dtype: int8
batch: 2
operators:
  - {name: conv1, kind: conv2d, in_channels: 4, out_channels: 8, height: 8, width: 8, kernel: 3, padding: 1}
  - {name: relu1, kind: relu, elements: 512}
  - {name: pool1, kind: pool, elements: 128, input_elements: 512}
  - {name: conv2, kind: conv2d, in_channels: 8, out_channels: 8, height: 4, width: 4, kernel: 3, padding: 1}
  - {name: gelu2, kind: gelu, elements: 128}
"""


def plan_of(folder: Path, model: str, hw: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hw.yaml").write_text(yaml.safe_dump(hw))
    (folder / "model.yaml").write_text(model)
    study = api.make_study(model=str(folder / "model.yaml"), hardware=str(folder / "hw.yaml"))
    api.write_outputs(api.plan_study(study, strategy="dp"), folder / "out")
    return folder / "out" / "plan.yaml"


def rng_weights(network, plan, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for acc in plan.accelerators:
        for name, (m, k, n, count) in zip(acc.layers, acc.gemms):
            out[name] = rng.integers(-128, 128, size=(count, k, n))
    return out


def _runner(shared: Path):
    """cocotb's Verilator runner, built lighter: no --public-flat-rw (only the system top's ports are public, through
    a .vlt file, so Verilator optimises the rest), C++ at -O0 (the simulations are short; compiling is what costs),
    and Verilator's runtime objects (verilated*.o, the same for every design with these flags) compiled once per
    session and copied into each design's build."""
    require_tool("verilator")
    try:
        from cocotb.runner import Verilator
    except ImportError:
        if os.environ.get("ACCELPLAN_REQUIRE_TOOLS") == "1":
            pytest.fail("ACCELPLAN_REQUIRE_TOOLS=1 but cocotb is not installed (pip install -e '.[test]')")
        pytest.skip("cocotb not installed (pip install -e '.[test]')")

    class Light(Verilator):
        def _build_command(self):
            verilate, make = super()._build_command()
            vlt = Path(self.build_dir) / "public.vlt"
            vlt.parent.mkdir(parents=True, exist_ok=True)
            vlt.write_text('`verilator_config\npublic_flat_rw -module "accelplan_system_top" -var "*"\n')
            verilate = [a for a in verilate if a != "--public-flat-rw"] + [str(vlt)]
            copy = [sys.executable, "-c", COPY_OBJECTS, str(shared), str(self.build_dir)]
            make += ["-j2", "OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]
            return [verilate, copy + ["in"], make, copy + ["out"]]

    return Light()


#: copies Verilator's runtime objects between the session's store (argv[1]) and a build (argv[2]): "in" before make
#: (fresh timestamps, so make keeps them), "out" after; the store is keyed by the build's VM_* settings that reach
#: these objects (all but VM_PARALLEL_BUILDS, which only groups the design's objects: see verilated.mk)
COPY_OBJECTS = """
import hashlib, pathlib, re, shutil, sys
store, build, way = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
flags = "".join(f for f in re.findall(r"^VM_\\w+ = .*$", (build / "Vtop_classes.mk").read_text(), re.M)
                if not f.startswith("VM_PARALLEL_BUILDS"))  # groups the design's own objects only
store = store / hashlib.sha1(flags.encode()).hexdigest()[:12]
names = ["verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o"]
src, dst = (store, build) if way == "in" else (build, store)
if all((src / n).is_file() for n in names) and not all((dst / n).is_file() for n in names):
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(src / n, dst / n)
"""


def simulate(build: Path, shared: Path, inputs: list[list[int]], out_port: str, out_elements: int,
             max_cycles: int) -> dict:
    """Compile the system top with Verilator (once per design) and run tests/rtl_tb.py on it."""
    runner = _runner(shared)
    sources = [build / "system" / "accelplan_axi_mem_model.sv", build / "system" / "accelplan_system_top.sv"]
    seen = set()
    for dev in sorted(build.glob("device*")):
        for f in sorted(dev.glob("*.sv")):
            if f.name.startswith("accelplan_device") or f.name == "top.sv" or f.name not in seen:
                sources.append(f)
                seen.add(f.name)
    sim = build / "sim"
    runner.build(verilog_sources=[str(s) for s in sources], hdl_toplevel="accelplan_system_top", build_dir=str(sim),
                 build_args=["-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast"])
    top = (build / "system" / "accelplan_system_top.sv").read_text()
    width = {port: (int(re.search(rf"\[(\d+):0\] {port}_tdata", top).group(1)) + 1) // 8 for port in ("s_input", out_port)}
    cfg = {"bits": 8, "in_width": width["s_input"], "out_width": width[out_port], "in_port": "s_input", "out_port": out_port,
           "out_elements": out_elements, "inputs": inputs, "max_cycles": max_cycles}
    (build / "tb.json").write_text(json.dumps(cfg))
    # $readmemh paths are relative to where the simulation runs: the device folder of each ROM; run in run/ and
    # give every ROM its own folder's file through a symlink farm (memory images are read as ../device<d>/)
    run_dir = build / "run"
    run_dir.mkdir(exist_ok=True)
    for dev in sorted(build.glob("device*")):
        for f in dev.glob("*.mem"):
            link = run_dir / f.name
            if not link.exists():
                link.symlink_to(f)
    runner.test(test_module="rtl_tb", hdl_toplevel="accelplan_system_top", build_dir=str(sim), test_dir=str(run_dir),
                extra_env={"ACCELPLAN_TB": str(build / "tb.json"), "ACCELPLAN_TB_OUT": str(build / "result.json"),
                           "PYTHONPATH": str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    return json.loads((build / "result.json").read_text())


def mlp_reference(xs, w):
    return [v for x in xs for v in ref.linear(ref.relu(ref.linear(x[None], w["fc1"])), w["fc2"]).reshape(-1).tolist()]


def transformer_reference(xs, w):
    """Decode of len(xs) tokens through the block; the KV caches start as w['qk'] / w['pv'] and token t writes
    position t."""
    kc, vc = w["qk"].copy(), w["pv"].copy()  # [2, 8, kv] and [2, kv, 8]
    outs = []
    for t, x in enumerate(xs):
        e = ref.linear(x[None, None], w["embed"]).reshape(16)
        n1 = ref.norm(e, 16)
        q, k, v = (ref.linear(n1[None, None], w[name]).reshape(2, 8) for name in ("q", "k", "v"))
        kc[:, :, t % kc.shape[2]] = k
        vc[:, t % vc.shape[1], :] = v
        s = ref.linear(q[:, None, :], kc).reshape(2, -1)
        p = ref.softmax(s, kc.shape[2])
        a = ref.linear(p[:, None, :], vc).reshape(16)
        o = ref.linear(a[None, None], w["o"]).reshape(16)
        a1 = ref.add(o, e)
        r2 = ref.norm(a1, 16, rms=True)
        g = ref.linear(r2[None, None], w["gate"]).reshape(32)
        u = ref.linear(r2[None, None], w["up"]).reshape(32)
        h = ref.mul(ref.apply(ref.SILU, g), u)
        dn = ref.linear(h[None, None], w["down"]).reshape(16)
        outs += ref.add(dn, a1).tolist()
    return outs


def conv_reference(xs, w):
    want = []
    for x in xs:
        y, _ = ref.conv2d(x, w["conv1"][0], 3, 1)
        y = ref.maxpool(ref.relu(y).reshape(-1), 8, 8, 8, 2).reshape(4, 4, 8)
        z, _ = ref.conv2d(y, w["conv2"][0], 3, 1)
        want += ref.apply(ref.GELU, z).reshape(-1).tolist()
    return want


@dataclass(frozen=True)
class Design:
    """A small model planned over a chain of small FPGAs, what the testbench streams in and what must come out."""

    model: str
    devices: int
    dsp: int
    seeds: tuple[int, int]  # weights, inputs
    inputs: Callable  # (rng, plan) -> list of input arrays
    out_port: str
    out_elements: int
    reference: Callable  # (inputs, weights) -> flat outputs
    max_cycles: int
    bram: str = "1 MB"
    ways: int = 1  # the plan must split a group this many ways (the hardware offers 1 and this)
    hand_split: bool = False  # planned on one device, then that device's group split ``ways`` ways by hand


DESIGNS = {
    # 2 KB of BRAM: fc1's weights stream from the device's memory through its AXI4 port (the behavioural memory)
    "mlp": Design(MLP, 3, 24, (1, 2), lambda rng, plan: [rng.integers(-128, 128, size=(4, 32)) for _ in range(plan.batch)],
                  "m_fc2", 64, mlp_reference, 20000, bram="2 KB"),
    # three decode steps: the third is the first whose embedding row sums negative (LayerNorm's mean < 0)
    "transformer": Design(TRANSFORMER, 3, 12, (3, 4), lambda rng, plan: [rng.integers(-128, 128, size=16) for _ in range(3)],
                          "m_add2", 16, transformer_reference, 30000),
    "conv": Design(CONV, 3, 12, (5, 6), lambda rng, plan: [rng.integers(-128, 128, size=(8, 8, 4)) for _ in range(plan.batch)],
                   "m_gelu2", 128, conv_reference, 40000),
    # tensor parallelism: the MLP on 2 devices split 2 ways (both layers by columns: fc1 32 + 32 of 64, fc2 8 + 8 of
    # 16), each rank's shard all-gathered over the links
    "tp_mlp": Design(MLP, 2, 24, (7, 8), lambda rng, plan: [rng.integers(-128, 128, size=(4, 32)) for _ in range(plan.batch)],
                     "m_fc2", 64, mlp_reference, 20000, ways=2),
    # the transformer block on one device's plan split 2 ways by hand (the planner keeps it on one device): qk and
    # pv split by heads (each rank its head's q, KV cache and new entry), the other layers by columns
    "tp_transformer": Design(TRANSFORMER, 1, 48, (3, 4), lambda rng, plan: [rng.integers(-128, 128, size=16) for _ in range(3)],
                             "m_add2", 16, transformer_reference, 30000, ways=2, hand_split=True),
}


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """name -> (plan, weights, build folder): each design planned and emitted once per module (lint and simulation
    read the same files)."""
    done: dict[str, tuple] = {}

    def get(name: str):
        if name not in done:
            d = DESIGNS[name]
            folder = tmp_path_factory.mktemp(name)
            ways = (1,) if d.hand_split else tuple(sorted({1, d.ways}))
            plan_file = plan_of(folder / "plan", d.model, system(d.devices, d.dsp, d.bram, ways))
            plan = read_plan(plan_file)
            if d.hand_split:
                plan = replace(plan, accelerators=tuple(replace(acc, ways=d.ways) for acc in plan.accelerators))
            assert sum(acc.ways for acc in plan.accelerators) >= 2, plan.accelerators
            assert max(acc.ways for acc in plan.accelerators) == d.ways, plan.accelerators
            if d.bram != "1 MB":
                assert "streamed" in {p for acc in plan.accelerators for p in acc.placements}
            weights = rng_weights(None, plan, d.seeds[0])
            emit_rtl(plan, folder / "build", weights=weights, plan_file=plan_file)
            done[name] = (plan, weights, folder / "build")
        return done[name]

    return get


@pytest.fixture(scope="module")
def shared_objects(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("verilator-runtime")


def verilator_lint(cwd: Path, top: str, files: list) -> None:
    """verilator --lint-only -Wall finds nothing (waivers in the files: unused parameters of the packages only)."""
    run = subprocess.run([require_tool("verilator"), "--lint-only", "-Wall", "--top-module", top, *map(str, files)],
                         cwd=cwd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "%Warning" not in run.stderr, run.stderr


def lint_design(build: Path) -> None:
    """Every emitted SystemVerilog file lints clean: the system top with all devices, each device's top with its own
    folder's files, and each library module alone at its default parameters (the ones no design instantiates too)."""
    from accelplan.emitters.rtl import LIB
    devices = sorted(build.glob("device*"))
    system = [build / "system" / "accelplan_axi_mem_model.sv", build / "system" / "accelplan_system_top.sv"]
    libs = sorted({f.name for dev in devices for f in dev.glob("accelplan_*.sv") if "_device" not in f.name})
    for dev in devices:
        for f in dev.glob("accelplan_*.sv"):
            if "_device" not in f.name:  # copies of the library, word for word
                assert f.read_text() == (LIB / f.name).read_text(), f
    pkgs = [dev / f"accelplan_{dev.name}_pkg.sv" for dev in devices]
    verilator_lint(build, "accelplan_system_top",
                   system + pkgs + [devices[0] / n for n in libs if (devices[0] / n).exists()]
                   + [dev / n for dev in devices[1:] for n in libs if not (devices[0] / n).exists() and (dev / n).exists()]
                   + [dev / "top.sv" for dev in devices])
    for dev in devices:
        own = [f.name for f in dev.glob("accelplan_*.sv") if "_device" not in f.name]
        verilator_lint(dev, f"accelplan_{dev.name}_top", [f"accelplan_{dev.name}_pkg.sv", *sorted(own), "top.sv"])
    for f in sorted(LIB.glob("*.sv")):
        extra = [LIB / "accelplan_fifo.sv"] if f.name in ("accelplan_axi_reader.sv", "accelplan_all_gather.sv") else []
        verilator_lint(LIB, f.stem, [f, *extra])


@pytest.mark.parametrize("name", [pytest.param("mlp"), pytest.param("transformer", marks=pytest.mark.slow),
                                  pytest.param("conv", marks=pytest.mark.slow), pytest.param("tp_mlp"),
                                  pytest.param("tp_transformer", marks=pytest.mark.slow)])
def test_emitted_design_lints_clean(name: str, emitted) -> None:
    plan, _, build = emitted(name)
    lint_design(build)


def cycle_report(name: str, plan, res: dict, clock_hz: float = 200e6) -> dict:
    """Simulated cycles beside the plan's: the first input's output (latency), the interval between inputs' outputs
    (period) and the whole batch."""
    done = res["done_at"]
    row = {"design": name, "inputs": len(done), "first": done[0],
           "interval": (done[-1] - done[0]) / (len(done) - 1) if len(done) > 1 else None, "all": done[-1],
           "plan_period": plan.period_ms * 1e-3 * clock_hz, "plan_latency": plan.latency_ms * 1e-3 * clock_hz}
    print(f"\nrtl cycles {name}: first output {row['first']}, interval {row['interval']}, all {len(done)} inputs "
          f"{row['all']} | plan: period {row['plan_period']:.0f}, latency {row['plan_latency']:.0f} (cycles at "
          f"{clock_hz / 1e6:g} MHz)")
    return row


def run_design(name: str, emitted, shared_objects: Path) -> None:
    d = DESIGNS[name]
    plan, weights, build = emitted(name)
    rng = np.random.default_rng(d.seeds[1])
    xs = d.inputs(rng, plan)
    res = simulate(build, shared_objects, [x.reshape(-1).tolist() for x in xs], d.out_port, d.out_elements,
                   d.max_cycles)
    cycle_report(name, plan, res)
    assert len(res["done_at"]) == len(xs)
    assert res["outputs"] == d.reference(xs, weights)


def test_tensor_parallel_ranks_hold_their_shards(emitted) -> None:
    """A group split 2 ways is two designs, device0/ and device1/, each with its RANK and its weight shard (columns
    split: rank r holds columns r N/2 .. (r + 1) N/2 of every layer, in <layer>_rank<r>.mem), joined in the system top by each layer's
    shard exchange."""
    from accelplan.emitters.rtl import weight_words
    plan, weights, build = emitted("tp_mlp")
    (acc,) = plan.accelerators
    assert acc.ways == 2 and {p.name for p in build.iterdir()} == {"device0", "device1", "system"}
    for rank in range(2):
        folder = build / f"device{rank}"
        assert f"localparam int RANK = {rank};" in (folder / f"accelplan_device{rank}_pkg.sv").read_text()
        top = (folder / "top.sv").read_text()
        for layer, (pm, pk, pn) in zip(acc.layers, acc.layer_tiles):
            assert f".WAYS(2), .RANK({rank})" in top and f"m_{layer}_shard_tdata" in top
            n = weights[layer].shape[2] // 2
            shard = weights[layer][:, :, rank * n:(rank + 1) * n]
            words = [int(w, 16) for w in (folder / f"{layer}_rank{rank}.mem").read_text().split()]
            assert words == weight_words(shard, pk, pn, 8)
    system_top = (build / "system" / "accelplan_system_top.sv").read_text()
    assert ".m_fc1_shard_tdata(x0_fc1_r1_tdata)" in system_top and ".s_fc1_shard1_tdata(x0_fc1_r1_tdata)" in system_top


def test_a_kv_cache_split_by_columns_is_refused(tmp_path: Path) -> None:
    """4 ways do not divide the block's 2 heads: qk / pv would split their KV caches by columns, which the rtl target
    does not generate; it says so before writing anything."""
    from accelplan.errors import SolveError
    plan_file = plan_of(tmp_path / "plan", TRANSFORMER, system(1, 48, "1 MB"))
    plan = read_plan(plan_file)
    plan = replace(plan, accelerators=tuple(replace(acc, ways=4) for acc in plan.accelerators))
    with pytest.raises(SolveError, match=r"layer 'qk': a KV cache split 4 ways by columns"):
        emit_rtl(plan, tmp_path / "build", plan_file=plan_file)
    assert not (tmp_path / "build").exists()


@pytest.mark.slow
def test_tensor_parallel_mlp_bit_exact(emitted, shared_objects: Path) -> None:
    run_design("tp_mlp", emitted, shared_objects)


@pytest.mark.slow
def test_tensor_parallel_transformer_block_bit_exact(emitted, shared_objects: Path) -> None:
    run_design("tp_transformer", emitted, shared_objects)


@pytest.mark.slow
def test_mlp_bit_exact(emitted, shared_objects: Path) -> None:
    run_design("mlp", emitted, shared_objects)


@pytest.mark.slow
def test_transformer_block_bit_exact(emitted, shared_objects: Path) -> None:
    run_design("transformer", emitted, shared_objects)


@pytest.mark.slow
def test_conv_stack_bit_exact(emitted, shared_objects: Path) -> None:
    run_design("conv", emitted, shared_objects)
