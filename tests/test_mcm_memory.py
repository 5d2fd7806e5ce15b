"""The chiplet model at real tensor sizes (feature map + halo, not im2col) and with SRAM spill, by hand."""

from __future__ import annotations

import math

import pytest

from accelplan.execution.segments import price
from accelplan.families import build_problem
from accelplan.families.mcm import costs as mcm
from accelplan.families.mcm import memory
from accelplan.families.mcm.spec import MCMHardware
from accelplan.solvers import solve
from accelplan.specs.lowering import Gemm, lower
from accelplan.specs.network import flatten
from accelplan.specs.schema import Conv2dOp, ModelSpec, StudySpec
from accelplan.specs.study import Study

from conftest import mcm_exhaustive, random_mcm_problem


def _hw(mesh=(1, 2), sram="4 MiB", dram="8 GB/s", tiles=((1, 8, 8),), **extra) -> MCMHardware:
    """A small package with round numbers: 64 MACs/cycle at 1 GHz, 10 GB/s links, no overheads."""
    return MCMHardware.model_validate({
        "name": "hand", "family": "mcm", "mesh": list(mesh),
        "chiplet": {"macs_per_cycle": {"int8": 64}, "tiles": {"int8": [list(t) for t in tiles]}, "efficiency": 1.0,
                    "sram": sram, "clock": "1 GHz", "elementwise_per_cycle": 16},
        "nop": {"link_bandwidth": "10 GB/s", "hop_latency": "0 ns", "energy_per_bit": "1 pJ"},
        "dram": {"controllers": [{"at": [0, 0], "bandwidth": dram}], "energy_per_bit": "5 pJ"},
        "energy": {"mac": {"int8": "0.2 pJ"}, "sram_byte": "0.5 pJ", "static_power": "0 W"},
        "layer_overhead": "0 us", "reconfiguration": "0 us", **extra})


def _conv(**kw) -> Gemm:
    return lower(Conv2dOp(name="c", kind="conv2d", **kw))


def _mapping(hw, gemm, units, gm):
    cfg = mcm.cluster_shape(hw, units)
    found = [m for m in mcm.mappings(hw, "int8", gemm, cfg, []) if m.weight_groups == gm]
    assert len(found) == 1
    return cfg, found[0]


def test_conv_input_is_feature_map_plus_halo() -> None:
    """A 3x3 'same' convolution (16 -> 16 channels, 8x8) split by output pixels over 2 chiplets: each reads its
    4 output columns plus one halo column (5 of 8), so the pair receives 16*8*10 = 1280 B, not the 9216 B of im2col."""
    hw = _hw()
    gemm = _conv(in_channels=16, out_channels=16, height=8, width=8, kernel=3, padding=1)
    assert (gemm.m, gemm.k, gemm.n, gemm.input_elements, gemm.operand_elements) == (64, 144, 16, 1024, 9216)
    split = memory.spatial_split(gemm.conv, 2)
    assert split.pixels == 32 and split.largest == 16 * 8 * 5 and split.total == 16 * 8 * 10
    cfg, m = _mapping(hw, gemm, 2, gm=2)  # weight-shared: the weights broadcast, the pixels split
    per_chiplet_in, total_in = 16 * 8 * 5, 1280
    out_total, per_chiplet_out = 64 * 16, 32 * 16
    nop = max(max(total_in, out_total) / (10e9 * 1), max(per_chiplet_in, per_chiplet_out) / 10e9)
    compute = 32 * math.ceil(144 / 8) * math.ceil(16 / 8) / 1e9
    assert m.time_s == pytest.approx(max(compute, nop))
    assert m.buffer_bytes_per_chiplet == 2 * (per_chiplet_in + per_chiplet_out)
    # the same GEMM priced as its im2col operand (no geometry) moves 9216 B over the link
    flat = _mapping(hw, Gemm(64, 144, 16), 2, gm=2)[1]
    assert flat.buffer_bytes_per_chiplet == 2 * (32 * 144 + per_chiplet_out)


def test_row_major_runs_beside_the_grid() -> None:
    """8x8 outputs of a 3x3 'same' convolution over 3 chiplets: the best grid gives 8x3-pixel rectangles (24 pixels,
    at most 8x5 inputs read); runs of 22 consecutive pixels balance better but read whole input rows (4, 6 and 4
    rows of 8). Both are candidates; a run within one row reads only its columns."""
    gemm = _conv(in_channels=16, out_channels=16, height=8, width=8, kernel=3, padding=1)
    assert memory.spatial_split(gemm.conv, 3) == memory.SpatialSplit((1, 3), 24, 16 * 8 * 5, 16 * 8 * 12)
    assert memory.raster_split(gemm.conv, 3) == memory.SpatialSplit((3, 1), 22, 16 * 6 * 8, 16 * 14 * 8, "raster")
    runs = memory.raster_split(gemm.conv, 16)  # 4 pixels each: half a row, 2 or 3 input rows x 5 columns
    assert (runs.pixels, runs.largest, runs.total) == (4, 16 * 3 * 5, 16 * 5 * 2 * (2 + 2 + 3 * 6))
    hw = _hw(mesh=(1, 3))
    cfg = mcm.cluster_shape(hw, 3)
    ws = [m for m in mcm.mappings(hw, "int8", gemm, cfg, []) if m.weight_groups == 3]
    assert sorted(m.time_s for m in ws) == pytest.approx(sorted(
        max(px * math.ceil(144 / 8) * 2 / 1e9, max(total, 64 * 16) / 10e9, max(largest, px * 16) / 10e9)
        for px, largest, total in ((24, 640, 1536), (22, 768, 1792))))


def test_strided_pointwise_conv_reads_a_quarter() -> None:
    """A 1x1 stride-2 convolution reads every other row and column: a quarter of its 8x8 input."""
    gemm = _conv(in_channels=4, out_channels=8, height=8, width=8, kernel=1, stride=2)
    whole = memory.spatial_split(gemm.conv, 1)
    assert whole.pixels == 16 and whole.largest == whole.total == 4 * 4 * 4
    quarter = memory.spatial_split(gemm.conv, 4)  # a 2x2 grid of 2x2-pixel tiles, no halo
    assert quarter.pixels == 4 and quarter.largest == 4 * 2 * 2 and quarter.total == 4 * 4 * 4


def test_resnet_layer1_conv_link_time_below_compute() -> None:
    """ResNet's 3x3 64->64 conv at 56x56 on a 2x2 cluster of simba-36 chiplets with 8 GB/s links, split by pixels
    into a 2x2 grid (28x28 outputs, 29x29 inputs read each): priced at im2col size its input (1.8 MB) holds the
    two-link face for 113 us against 31 us of compute; at its real size (the map + halo, 215 KB) it is compute-bound."""
    from accelplan.specs.study import load_hardware
    from conftest import ROOT
    simba = load_hardware(ROOT / "specs" / "hardware" / "simba-36.yaml")
    hw = simba.model_copy(update={"nop": simba.nop.model_copy(update={"link_bandwidth": 8e9})})
    cfg = mcm.cluster_shape(hw, 4)
    gemm = _conv(in_channels=64, out_channels=64, height=56, width=56, kernel=3, padding=1)
    assert memory.spatial_split(gemm.conv, 4) == memory.SpatialSplit((2, 2), 784, 64 * 29 * 29, 64 * 58 * 58)
    real = min((m for m in mcm.mappings(hw, "int8", gemm, cfg, []) if m.weight_groups == 4), key=lambda m: m.time_s)
    flat = min((m for m in mcm.mappings(hw, "int8", Gemm(gemm.m, gemm.k, gemm.n), cfg, []) if m.weight_groups == 4),
               key=lambda m: m.time_s)
    compute = 784 * math.ceil(576 / 32) * math.ceil(64 / 32) / (0.9 * 1e9)  # tile 1x32x32 (the others tie)
    hops, overhead = 3 * 20e-9, 0.5e-6
    real_link = max(64 * 58 * 58, 3136 * 64) / (8e9 * 2) + hops
    assert real_link < compute and real.time_s == pytest.approx(compute + overhead)
    im2col_link = 3136 * 576 / (8e9 * 2) + hops
    assert flat.time_s == pytest.approx(im2col_link + overhead) and im2col_link > 3 * compute


def test_weights_over_sram_pay_input_stationary_rereads() -> None:
    """A 256x512x512 GEMM on one chiplet with 64 KiB SRAM: 256 KiB of weights do not fit. Input-stationary: 4 blocks
    of the 128 KiB input, the weights read 4 times (X + 4Y + O = 1.25 MiB); weight-stationary would read the input
    8 times (Y + 8X + O = 1.375 MiB). The 1 MiB beyond the weights' first pass is DRAM time (2.1 ms at 0.5 GB/s),
    longer than the compute (1.05 ms) it overlaps."""
    hw = _hw(mesh=(1, 1), sram="64 KiB", dram="0.5 GB/s")
    gemm = Gemm(256, 512, 512)
    cfg, m = _mapping(hw, gemm, 1, gm=1)
    x, y, o = 256 * 512, 512 * 512, 256 * 512
    assert m.weight_bytes_per_chiplet == y and m.weight_bytes_per_chiplet + m.buffer_bytes_per_chiplet > 64 * 1024
    assert m.blocking == "input-stationary"
    assert m.spill_bytes == (x + 4 * y + o) - y == 1048576
    compute = 256 * (512 // 8) * (512 // 8) / 1e9
    assert m.time_s == pytest.approx(1048576 / 0.5e9) and compute < m.time_s
    assert (x + 4 * y + o) < (y + 8 * x + o)


def test_large_input_picks_weight_stationary() -> None:
    """1024x256x256 on 64 KiB: input-stationary blocks the 256 KiB input 8 ways and reads the 64 KiB of weights 8 times
    (X + 8Y + O = 1 MiB); weight-stationary holds half the weights at a time and reads the input twice
    (Y + 2X + O = 832 KiB), so it is chosen."""
    hw = _hw(mesh=(1, 1), sram="64 KiB", dram="1 GB/s")
    m = _mapping(hw, Gemm(1024, 256, 256), 1, gm=1)[1]
    x, y, o = 1024 * 256, 256 * 256, 1024 * 256
    assert m.blocking == "weight-stationary"
    assert m.spill_bytes == (y + 2 * x + o) - y


def _study(hw: MCMHardware, ops: list[dict], execution: str = "layer-sequential", batch: int = 1) -> Study:
    model = ModelSpec.model_validate({"name": "hand", "dtype": "int8", "batch": batch, "operators": ops})
    spec = StudySpec(model="hand", hardware="hand", execution=execution, objective="throughput",
                     constraints={"batch": batch})
    return Study(spec, flatten(model), hw)


def test_spilled_layer_in_a_plan_by_hand() -> None:
    """The spilled GEMM above as a one-layer model: the cluster cannot keep its weights, so per input it streams the
    weights' first pass and the re-reads (1.25 MiB at 0.5 GB/s) overlapped with the compute (1.05 ms), plus one
    tile's exposed compute (the weights in 4 tiles of half the 64 KiB SRAM left... see below); its energy carries the
    DRAM bytes."""
    hw = _hw(mesh=(1, 1), sram="64 KiB", dram="0.5 GB/s")
    problem = build_problem(_study(hw, [{"name": "g", "kind": "linear", "m": 256, "k": 512, "n": 512}]))
    t = problem.segments
    m = price(problem, ((0, (0,), 0),))
    assert m.fits == (False,)
    layer = problem.time_s[0, 0]
    assert layer == pytest.approx(1048576 / 0.5e9)
    compute, stream = 256 * 64 * 64 / 1e9, (1048576 + 512 * 512) / 0.5e9
    tiles = math.ceil(512 * 512 / (64 * 1024 / 4))  # no weight buffer declared: half of half the SRAM (spilled)
    assert tiles == 16 and t.mappings[0][0].weight_tiles == tiles
    busy = max(compute, stream) + min(compute, stream) / tiles
    assert m.busy_s[0] == pytest.approx(busy) and busy < compute + stream
    assert m.batch_time_s == pytest.approx(busy + (256 * 512 + 256 * 512) / 0.5e9)
    dram_j = 8 * 5e-12  # the DRAM access; the spill bytes add the hops from the controller (0 on a 1x1 mesh)
    assert m.energy_j == pytest.approx(problem.energy_j[0, 0] + (512 * 512 + 2 * 256 * 512) * dram_j)
    assert problem.energy_j[0, 0] > 1048576 * dram_j
    assert t.boundary_bytes.tolist() == [256 * 512, 256 * 512]


def test_dram_share_of_a_streaming_cluster() -> None:
    """Two clusters of one chiplet each on a 1x2 package, both streaming their weights: each gets half the DRAM."""
    hw = _hw(mesh=(1, 2), sram="16 KiB", dram="2 GB/s")
    ops = [{"name": "a", "kind": "linear", "m": 16, "k": 256, "n": 256},
           {"name": "b", "kind": "linear", "m": 16, "k": 256, "n": 256}]
    problem = build_problem(_study(hw, ops, execution="segmented-pipeline", batch=4))
    one = [c for c, cfg in enumerate(problem.configs) if cfg.units == 1][0]
    m = price(problem, ((one, (0,), 0), (one, (1,), 0)))
    assert m.fits == (False, False)
    x = problem.segments.mappings[0][one].as_streamed()
    stream = (256 * 256 + x.spill_bytes) / 1e9  # 64 KiB of weights and the blocking's re-reads at 1 GB/s, half of 2
    compute = 16 * 32 * 32 / 1e9  # 16 x 256 x 256 on a 1x8x8 tile
    assert x.streamed_time_s == pytest.approx(max(compute, stream) + min(compute, stream) / x.weight_tiles)
    assert m.busy_s[0] == pytest.approx(x.streamed_time_s) and stream > compute


def test_dram_enters_through_the_controllers_links() -> None:
    """A 32 GB/s controller at a 1x2 mesh's end reaches the package through one 10 GB/s link; at a 3x3 mesh's
    centre through four (32 GB/s: the controller binds)."""
    assert mcm.dram_bandwidth(_hw(mesh=(1, 2), dram="32 GB/s")) == 10e9
    centre = _hw(mesh=(3, 3), dram="32 GB/s", tiles=((1, 8, 8),)).model_copy()
    centre = centre.model_copy(update={"dram": centre.dram.model_copy(update={
        "controllers": [centre.dram.controllers[0].model_copy(update={"at": (1, 1)})]})})
    assert mcm.mesh_links(centre, (1, 1)) == 4 and mcm.dram_bandwidth(centre) == 32e9
    assert mcm.dram_bandwidth(_hw(mesh=(1, 1), dram="32 GB/s")) == 32e9  # one chiplet: no link in the way


def test_boundaries_carry_real_tensors() -> None:
    """Model input = the 3x32x32 image (not its 27x1024 im2col); a cut after conv + pool carries the pooled output
    written and the next conv's input read."""
    hw = _hw()
    ops = [{"name": "c1", "kind": "conv2d", "in_channels": 3, "out_channels": 8, "height": 32, "width": 32, "kernel": 3,
            "padding": 1},
           {"name": "p1", "kind": "pool", "elements": 8 * 16 * 16, "input_elements": 8 * 32 * 32},
           {"name": "c2", "kind": "conv2d", "in_channels": 8, "out_channels": 4, "height": 16, "width": 16, "kernel": 3,
            "padding": 1}]
    problem = build_problem(_study(hw, ops))
    assert problem.segments.boundary_bytes.tolist() == [3 * 32 * 32, 8 * 16 * 16 * 2, 4 * 16 * 16]


def test_leading_elementwise_pass_is_not_the_first_output() -> None:
    """A pass before the first GEMM is fused into it, but the tensor it hands on is still the GEMM's output."""
    ops = [{"name": "norm", "kind": "layernorm", "elements": 64 * 32},
           {"name": "fc1", "kind": "linear", "m": 64, "k": 32, "n": 16},
           {"name": "fc2", "kind": "linear", "m": 64, "k": 16, "n": 8}]
    problem = build_problem(_study(_hw(), ops))
    assert problem.segments.boundary_bytes.tolist() == [64 * 32, 64 * 16 + 64 * 16, 64 * 8]


@pytest.mark.slow
def test_dp_matches_exhaustive_where_layers_spill() -> None:
    """Random small packages where some layer spills: dp and exhaustive enumeration find the same optimum."""
    checked = 0
    for seed in range(40):
        problem = random_mcm_problem(seed, "throughput")
        if not any(m.blocking for row in problem.segments.mappings for m in row):
            continue
        ref, dp = mcm_exhaustive(seed, "throughput"), solve(problem, "dp", time_limit_s=60)  # enumerated once per session
        assert ref.solver.status == dp.solver.status == "optimal"
        assert math.isclose(dp.objective_value(), ref.objective_value(), rel_tol=1e-9), seed
        checked += 1
        if checked == 6:
            break
    assert checked == 6


def test_streamed_weights_overlap_compute_by_hand() -> None:
    """Two 64x512x512 GEMMs on one chiplet (600 KiB SRAM, 64 KiB of it the weight buffer): 2 x 256 KiB of weights and
    128 KiB of buffers overflow the SRAM, so the weights stream for every input. Per layer compute 64 x 64 x 64 cycles
    = 0.262 ms, streaming 256 KiB at 0.5 GB/s = 0.524 ms, double-buffered in 8 tiles of 32 KiB (half the weight
    buffer): max(C, S) + min(C, S) / 8 = 0.557 ms, not C + S = 0.786 ms."""
    def hw_of(sram):
        hw = _hw(mesh=(1, 1), sram=sram, dram="0.5 GB/s", tiles=((1, 8, 8),))
        return hw.model_copy(update={"chiplet": hw.chiplet.model_copy(update={"weight_buffer": 64 * 1024.0})})

    ops = [{"name": f"g{i}", "kind": "linear", "m": 64, "k": 512, "n": 512} for i in range(2)]
    problem = build_problem(_study(hw_of("600 KiB"), ops))
    m = price(problem, ((0, (0, 1), 0),))
    assert m.fits == (False,)
    compute, stream = 64 * 64 * 64 / 1e9, 512 * 512 / 0.5e9
    x = problem.segments.mappings[0][0].as_streamed()
    assert x.weight_tiles == 8 and x.blocking == ""  # the layer alone fits: no re-reads
    per_layer = max(compute, stream) + min(compute, stream) / 8
    assert x.streamed_time_s == pytest.approx(per_layer) and per_layer == pytest.approx(0.5570560e-3)
    assert m.busy_s[0] == pytest.approx(2 * per_layer)
    assert m.busy_s[0] < 2 * (compute + stream) * 0.75  # the serial sum would be 41 % longer
    assert problem.time_s[0, 0] == pytest.approx(compute)  # weights held: compute only, loaded once per batch
    held = price(build_problem(_study(hw_of("2 MiB"), ops)), ((0, (0, 1), 0),))
    assert held.fits == (True,) and held.busy_s[0] == pytest.approx(2 * compute)


def test_array_use_follows_the_layer_shape() -> None:
    """Spatial utilisation = MACs / (cycles x tile): 64x128x256 on a 1x32x32 tile fills the array; N = 40 fills 40
    of 64 columns; a 3-channel 7x7 convolution puts its 3 input channels on 32 lanes (kernel positions in time:
    49 x ceil(3/32) steps, not ceil(147/32)): 3/32 of the lanes; on an 8-lane tile 3/8."""
    hw = _hw()
    hw = hw.model_copy(update={"chiplet": hw.chiplet.model_copy(update={
        "macs_per_cycle": {"int8": 1024}, "tiles": {"int8": [(1, 32, 32), (16, 8, 8)]}})})
    cfg = mcm.cluster_shape(hw, 1)

    def use(gemm, tile):
        return next(m for m in mcm.mappings(hw, "int8", gemm, cfg, []) if m.tile == tile).utilization

    assert use(Gemm(64, 128, 256), (1, 32, 32)) == 1.0
    assert use(Gemm(64, 128, 40), (1, 32, 32)) == pytest.approx(40 / 64)
    conv1 = _conv(in_channels=3, out_channels=64, height=224, width=224, kernel=7, stride=2, padding=3)
    assert conv1.k == 147
    assert use(conv1, (1, 32, 32)) == pytest.approx(3 / 32)
    assert use(conv1, (16, 8, 8)) == pytest.approx(3 / 8)
    cycles = mcm.array_cycles(conv1, conv1.m, 64, (1, 32, 32))
    assert cycles == 112 * 112 * 49 * 1 * 2  # rows x kernel positions x ceil(3/32) x ceil(64/32)
    assert mcm.array_cycles(Gemm(12544, 147, 64), 12544, 64, (1, 32, 32)) == 12544 * 5 * 2  # im2col GEMM: 147 of 160


def test_weight_buffer_is_part_of_sram() -> None:
    """A weight buffer larger than the chiplet's SRAM is refused by the family's check, naming the field."""
    from accelplan.families import get
    hw = _hw(sram="64 KiB").model_copy()
    hw = hw.model_copy(update={"chiplet": hw.chiplet.model_copy(update={"weight_buffer": 128 * 1024.0})})
    issues = get("mcm").check(hw, {})
    assert [i.field for i in issues] == ["chiplet.weight_buffer"]
