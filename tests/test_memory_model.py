"""The versal-aie memory model (operand placement, output-stationary blocking, DDR streams) by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from accelplan.api import make_study
from accelplan.calibrate import with_value
from accelplan.families import build_problem
from accelplan.families.versal_aie import costs as v
from accelplan.specs.lowering import Gemm, lower
from accelplan.specs.schema import Conv2dOp
from accelplan.specs.study import load_hardware

MIB = 1024 ** 2


@pytest.fixture(scope="module")
def hw(root: Path):
    return load_hardware(root / "specs" / "hardware" / "vck190.yaml")


def test_channel_bandwidth_follows_the_stream_profile(hw) -> None:
    """CHARM's profile (14, 11, 8 GB/s per stream with 1, 2, 3 at once) times the fitted efficiency 0.4."""
    assert hw.ddr.efficiency == 0.4
    assert v.ddr_bandwidth(hw, 1) == pytest.approx(14e9 * 0.4)
    assert v.ddr_bandwidth(hw, 2) == pytest.approx(2 * 0.786 * 14e9 * 0.4)  # 11 GB/s each
    assert v.ddr_bandwidth(hw, 3) == pytest.approx(3 * 0.571 * 14e9 * 0.4)  # 8 GB/s each
    assert v.ddr_bandwidth(hw, 5) == v.ddr_bandwidth(hw, 3) == v.channel_bandwidth(hw)  # saturated


def test_operands_beyond_the_buffer_are_blocked_and_priced_by_hand(hw) -> None:
    """1024^3 fp32, first and last layer, PL buffer cut to 2 MiB: A, B, C (4 MiB each) cannot all stay on chip."""
    small = with_value(with_value(hw, "pl.buffer", 2 * MIB), "ddr.efficiency", 0.25)
    g = Gemm(1024, 1024, 1024)
    mem = v.memory_plan(small, "fp32", g, batch=1, first=True, last=True)
    # feasible blocks: (2*Mb*Nb + 2*128*(Mb+Nb)) * 4 B <= 2 MiB; (384, 384): 491,520 elements <= 524,288.
    # traffic = A*ceil(1024/Nb) + B*ceil(1024/Mb) + C; 384 x 384 gives 3 + 3 + 1 = 7 x 4 MiB, as 256 x 512 does,
    # with the larger block; 512 x 512 does not fit (786,432 elements).
    assert mem.lhs_from_ddr and mem.rhs_from_ddr and mem.out_to_ddr
    assert mem.block == (384, 384) and (mem.lhs_reads, mem.rhs_reads) == (3, 3)
    assert mem.ddr_bytes == 7 * 4 * MIB
    assert mem.exposed_bytes == 384 * 384 * 4  # the last output block, stored after the last compute
    assert mem.streams == 3
    cfg = v.make_config(small, "fp32", (4, 4, 4), (32, 32, 32))  # tile 128 x 128 x 128: 8 x 8 x 8 steps
    cost = v.gemm_cost(small, "fp32", g, cfg, 1, mem)
    compute = 512 * 32 ** 3 / (8 * 0.93) / 1e9
    plio = 512 * 128 * 128 * 4 / (4 * 128 / 8 * 230e6)  # 4 LHS ports of 3.68 GB/s
    streamed = (7 * 4 * MIB - 384 * 384 * 4) / (3 * 0.571 * 14e9 * 0.25)
    exposed = 384 * 384 * 4 / (14e9 * 0.25)
    assert cost.compute_s == pytest.approx(compute) and cost.transfer_s == pytest.approx(plio)
    assert streamed > max(compute, plio)  # DDR-bound
    assert cost.time_s == pytest.approx(streamed + exposed + 1e-6)
    assert cost.ddr_s == pytest.approx(streamed + exposed)


def test_the_whole_buffer_holds_a_1024_gemm(hw) -> None:
    """12 MiB <= 20 MiB: every operand crosses DDR once; the result's store is not overlapped."""
    mem = v.memory_plan(hw, "fp32", Gemm(1024, 1024, 1024), 1, first=True, last=True)
    assert mem.ddr_bytes == 12 * MIB and mem.exposed_bytes == 4 * MIB and mem.streams == 2
    assert v.ddr_seconds(hw, mem) == pytest.approx((8 * MIB / (2 * 0.786 * 14e9 * 0.4), 4 * MIB / (14e9 * 0.4)))


def test_activations_stay_on_chip_when_they_fit(hw) -> None:
    """A middle layer: only the weights cross DDR, once per batch (the model before the memory model)."""
    g = Gemm(128, 768, 3072)
    mem = v.memory_plan(hw, "int8", g, batch=16)
    assert not mem.lhs_from_ddr and not mem.out_to_ddr
    assert mem.ddr_bytes == 768 * 3072 / 16 and mem.exposed_bytes == 0 and mem.streams == 1
    big = Gemm(4096, 768, 3072)  # output 12 MiB per input > half the buffer: written to DDR
    assert v.memory_plan(hw, "int8", big, batch=1).out_to_ddr


def test_a_convolution_reads_its_feature_map_not_the_im2col_expansion(hw) -> None:
    op = Conv2dOp(name="c", kind="conv2d", in_channels=64, out_channels=128, height=56, width=56, kernel=3, padding=1)
    g = lower(op)
    mem = v.memory_plan(hw, "int8", g, batch=1, first=True)
    assert mem.lhs_reads == 1
    assert mem.ddr_bytes == 64 * 56 * 56 + 64 * 9 * 128  # the feature map and the weights, once
    assert mem.ddr_bytes < g.operand_elements


def test_tabulate_prices_the_model_input_and_output(root: Path, tmp_path: Path) -> None:
    """The first layer reads its input from DDR, the last writes its result; the period's DDR term is their sum."""
    model = tmp_path / "two.yaml"
    model.write_text("name: two\ndtype: fp32\nbatch: 1\noperators:\n"
                     "  - {name: a, kind: linear, m: 256, k: 512, n: 512}\n"
                     "  - {name: b, kind: linear, m: 256, k: 512, n: 128}\n")
    problem = build_problem(make_study(model=str(model), hardware="vck190", execution="spatial"))
    first, last = problem.layers
    assert first.ddr_bytes == (256 * 512 + 512 * 512) * 4  # input + weights (the output stays on chip)
    assert last.ddr_bytes == (512 * 128 + 256 * 128) * 4  # weights + result
    hw = load_hardware(root / "specs" / "hardware" / "vck190.yaml")
    assert problem.ddr_period_s == pytest.approx((first.ddr_bytes + last.ddr_bytes) / (3 * 0.571 * 14e9 * 0.4))
    # every configuration pays at least the layer's own DDR time
    assert problem.time_s[0].min() >= first.ddr_bytes / v.ddr_bandwidth(hw, 2) - 1e-15
    assert math.isfinite(problem.time_s.max())
