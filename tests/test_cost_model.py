"""The versal-aie cost model against hand computation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from accelplan.families.versal_aie import costs as v
from accelplan.specs.lowering import Elementwise, Gemm, conv_output, lower
from accelplan.specs.schema import Conv2dOp
from accelplan.specs.study import load_hardware


@pytest.fixture(scope="module")
def hw(root: Path):
    return load_hardware(root / "specs" / "hardware" / "vck190.yaml")


def test_config_resources(hw) -> None:
    cfg = v.make_config(hw, "int8", (2, 6, 8), (64, 64, 64))
    assert cfg.units == 96 and cfg.tile == (128, 384, 512)
    assert cfg.ports_in == math.ceil(12 / 4) + math.ceil(48 / 4) == 15
    assert cfg.ports_out == math.ceil(16 / 4) == 4
    assert cfg.buffer_bytes == 2 * (128 * 384 + 384 * 512 + 128 * 512)
    assert cfg.label == "2x6x8@64x64x64"


def test_gemm_cost_by_hand(hw) -> None:
    cfg = v.make_config(hw, "int8", (2, 6, 8), (64, 64, 64))
    g = Gemm(m=128, k=768, n=3072, count=1, weight=True)  # BERT FC1
    cost = v.gemm_cost(hw, "int8", g, cfg, batch=16)
    steps = 1 * 2 * 6  # ceil(128/128) * ceil(768/384) * ceil(3072/512)
    compute = steps * 64 ** 3 / (128 * 0.79) / 1e9
    bw = 128 / 8 * 230e6
    lhs, rhs, out = steps * 128 * 384, steps * 384 * 512, 1 * 6 * 128 * 512
    transfer = max(lhs / (3 * bw), rhs / (12 * bw), out / (4 * bw))
    assert cost.compute_s == pytest.approx(compute)
    assert cost.transfer_s == pytest.approx(transfer)
    assert cost.time_s == pytest.approx(max(compute, transfer) + 1e-6)
    energy = steps * 128 * 384 * 512 * 0.4e-12 + (lhs + rhs + out) * 2e-12 + 768 * 3072 / 16 * 100e-12
    assert cost.energy_j == pytest.approx(energy)


def test_padding_waste_is_kept(hw) -> None:
    cfg = v.make_config(hw, "int8", (2, 1, 1), (64, 64, 64))
    exact = v.gemm_cost(hw, "int8", Gemm(128, 64, 64), cfg, 1)
    padded = v.gemm_cost(hw, "int8", Gemm(129, 64, 64), cfg, 1)  # one row more: a whole extra step
    assert padded.padded_macs == 2 * exact.padded_macs
    assert padded.compute_s == pytest.approx(2 * exact.compute_s)


def test_engine_tile_must_fit_local_memory(hw) -> None:
    assert v.engine_tile_fits(hw, "int8", (64, 64, 64))  # 2*(4096+4096) + 4096*4 = 32 KiB exactly
    assert not v.engine_tile_fits(hw, "int8", (64, 64, 65))
    assert not v.engine_tile_fits(hw, "fp32", (64, 64, 64))
    assert all(cfg.units <= 400 and cfg.ports_in <= 100 for cfg in v.menu(hw, "int8"))


def test_elementwise_is_bandwidth_bound(hw) -> None:
    cost = v.elementwise_cost(hw, "int8", Elementwise(elements=1000, input_elements=1000, inputs=2))
    assert cost.time_s == pytest.approx(3000 / 58.88e9)
    assert cost.energy_j == pytest.approx(3000 * 5e-12)


def test_conv_lowering() -> None:
    op = Conv2dOp(name="c", kind="conv2d", in_channels=64, out_channels=128, height=56, width=56, kernel=3,
                  stride=2, padding=1)
    assert conv_output(op) == (28, 28)
    assert lower(op) == Gemm(28 * 28, 64 * 9, 128, 1, True, source_elements=64 * 56 * 56)
    assert lower(op).input_elements == 64 * 56 * 56 < lower(op).operand_elements == 28 * 28 * 64 * 9
    dw = Conv2dOp(name="d", kind="conv2d", in_channels=32, out_channels=32, height=14, width=14, kernel=3,
                  padding=1, groups=32)
    assert lower(dw) == Gemm(14 * 14, 9, 1, 32, True, source_elements=32 * 14 * 14)
    dil = Conv2dOp(name="e", kind="conv2d", in_channels=8, out_channels=8, height=16, width=16, kernel=3,
                   dilation=2)
    assert conv_output(dil) == (12, 12)


def test_each_engine_tile_prices_with_its_own_kernel_efficiency(hw) -> None:
    """vck190's menu gives each tile its kernel's efficiency; the priced compute time divides by it."""
    g = Gemm(m=128, k=768, n=3072, count=1, weight=True)
    for tile, eff in (((64, 64, 64), 0.79), ((32, 96, 32), 0.82), ((32, 32, 32), 0.60)):
        cfg = v.make_config(hw, "int8", (2, 6, 8), tile)
        assert cfg.kernel_efficiency == eff == v.tile_efficiency(hw, "int8", tile)
        (mt, kt, nt), (tm, tk, tn) = cfg.tile, tile
        steps = math.ceil(128 / mt) * math.ceil(768 / kt) * math.ceil(3072 / nt)
        cost = v.gemm_cost(hw, "int8", g, cfg, batch=16)
        assert cost.compute_s == pytest.approx(steps * tm * tk * tn / (128 * eff * hw.aie.array_efficiency) / 1e9)
    # a tile the menu does not list (e.g. generated from engine_tile_dims) takes the dtype's aie.kernel_efficiency
    assert v.tile_efficiency(hw, "int8", (16, 16, 16)) == hw.aie.kernel_efficiency["int8"] == 0.79
