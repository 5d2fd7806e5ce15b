"""The Versal pipeline plan formula (module docstring of accelplan.plan) against a hand computation.

busy_a = sum of a's layer times; period = max(max_a busy_a, DDR bytes per input / DDR channel bandwidth);
(the channel's total: streams L of ``ddr.stream_share`` x its last share x ``ddr.bandwidth`` x ``ddr.efficiency``)
throughput = 1 / period; latency = sum_a busy_a + (batch - 1) * period;
energy = sum of layer energies + static power * period.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from accelplan.api import make_study
from accelplan.families import build_problem
from accelplan.plan import evaluate

from conftest import ROOT

VCK190 = ROOT / "specs" / "hardware" / "vck190.yaml"
BATCH = 4
REL = 1e-9

_BANDWIDTH = {"B/s": 1.0, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9}
_POWER = {"W": 1.0, "mW": 1e-3}


def _quantity(text: str, units: dict[str, float]) -> float:
    value, unit = str(text).split()
    return float(value) * units[unit]


def _spec_copy(tmp_path: Path, name: str, ddr_bandwidth: str | None = None, static_power: str | None = None,
               stream_share: list[float] | None = None) -> Path:
    data = yaml.safe_load(VCK190.read_text())
    if ddr_bandwidth is not None:
        data["ddr"]["bandwidth"] = ddr_bandwidth
    if stream_share is not None:
        data["ddr"]["stream_share"] = stream_share
    if static_power is not None:
        data["energy"]["static_power"] = static_power
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _problem(hardware: str | Path):
    return build_problem(make_study(model="deit-tiny", hardware=str(hardware), batch=BATCH))


def _groups(problem, n_acc: int) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """``n_acc`` accelerators on distinct configurations that fit the device together, consecutive layer blocks."""
    fits = [c for c in range(problem.n_configs) if (problem.usage[c] * n_acc <= problem.capacity).all()]
    fits.sort(key=lambda c: (problem.configs[c].units, c))
    assert len(fits) >= n_acc
    chosen = [fits[round(i * (len(fits) - 1) / (n_acc - 1))] for i in range(n_acc)] if n_acc > 1 else [fits[-1]]
    assert len(set(chosen)) == n_acc
    n_l = problem.n_layers
    cuts = [round(i * n_l / n_acc) for i in range(n_acc + 1)]
    return tuple((c, tuple(range(cuts[i], cuts[i + 1]))) for i, c in enumerate(chosen))


def _hand(problem, groups, ddr_bandwidth: float, static_power: float) -> dict:
    """Every metric of the docstring's formula, in the plan's units (ms, inferences/s, mJ)."""
    busy = {tuple(ls): sum(float(problem.time_s[l, c]) for l in ls) for c, ls in groups}
    ddr_period = sum(layer.ddr_bytes for layer in problem.layers) / ddr_bandwidth
    period = max(max(busy.values()), ddr_period)
    dynamic = sum(float(problem.energy_j[l, c]) for c, ls in groups for l in ls)
    return {"busy_ms": {k: v * 1e3 for k, v in busy.items()}, "ddr_period_s": ddr_period, "period_s": period,
            "period_ms": period * 1e3, "throughput": 1.0 / period,
            "latency_ms": (sum(busy.values()) + (problem.batch - 1) * period) * 1e3,
            "dynamic_j": dynamic, "static_j": static_power * period,
            "energy_mj": (dynamic + static_power * period) * 1e3}


def _check(problem, groups, hand: dict):
    plan = evaluate(problem, groups)
    assert plan.feasible, plan.violations
    assert plan.period_ms == pytest.approx(hand["period_ms"], rel=REL)
    assert plan.throughput == pytest.approx(hand["throughput"], rel=REL)
    assert plan.latency_ms == pytest.approx(hand["latency_ms"], rel=REL)
    assert plan.energy_mj == pytest.approx(hand["energy_mj"], rel=REL)
    index = {layer.name: i for i, layer in enumerate(problem.layers)}
    busy = {tuple(index[n] for n in a.layers): a.busy_ms for a in plan.accelerators}
    assert busy.keys() == hand["busy_ms"].keys()
    for layers, ms in hand["busy_ms"].items():
        assert busy[layers] == pytest.approx(ms, rel=REL)
    return plan


def _spec_figures(path: Path) -> tuple[float, float]:
    data = yaml.safe_load(path.read_text())
    return _quantity(data["ddr"]["bandwidth"], _BANDWIDTH), _quantity(data["energy"]["static_power"], _POWER)


def _channel(path: Path) -> float:
    """The DDR channel's total bandwidth by hand: L streams at the last per-stream share, times the efficiency."""
    ddr = yaml.safe_load(path.read_text())["ddr"]
    share = ddr["stream_share"]
    return len(share) * share[-1] * _quantity(ddr["bandwidth"], _BANDWIDTH) * ddr["efficiency"]


def test_compute_bound_pipeline_matches_the_formula() -> None:
    """Three accelerators on vck190: the slowest stage sets the period."""
    bandwidth, static = _spec_figures(VCK190)
    assert (bandwidth, static) == (14e9, 8.0)
    channel = _channel(VCK190)
    assert channel == pytest.approx(3 * 0.571 * 14e9 * 0.4)  # 3 streams of 8 GB/s (CHARM's profile), 40 % of it
    problem = _problem("vck190")
    assert problem.batch == BATCH
    assert problem.ddr_period_s == pytest.approx(sum(l.ddr_bytes for l in problem.layers) / channel, rel=REL)
    assert problem.static_power_w == static
    groups = _groups(problem, 3)
    hand = _hand(problem, groups, channel, static)
    assert max(hand["busy_ms"].values()) / 1e3 > 1.5 * hand["ddr_period_s"]  # compute sets the period here
    _check(problem, groups, hand)


def test_ddr_bound_pipeline_matches_the_formula(tmp_path) -> None:
    """With one 10 MB/s DDR stream the DDR term sets the period, and static energy dwarfs the layers' energy.

    Each stage pays its own layers' DDR time (at most its bytes / 10 MB/s, a single stream), the period
    all layers' bytes / 10 MB/s: with two stages of about half the bytes each, the DDR term is the larger.
    """
    path = _spec_copy(tmp_path, "vck190-slow-ddr", ddr_bandwidth="10 MB/s", stream_share=[1.0])
    bandwidth, static = _spec_figures(path)
    assert bandwidth == 1e7
    assert _channel(path) == pytest.approx(0.4 * bandwidth)  # one stream: the channel's total is the stream's
    bandwidth = _channel(path)
    problem = _problem(path)
    ddr_period = sum(l.ddr_bytes for l in problem.layers) / bandwidth
    assert problem.ddr_period_s == pytest.approx(ddr_period, rel=REL)
    groups = _groups(problem, 2)
    hand = _hand(problem, groups, bandwidth, static)
    assert ddr_period > 1.5 * max(hand["busy_ms"].values()) / 1e3  # DDR sets the period here
    assert hand["period_s"] == ddr_period
    plan = _check(problem, groups, hand)
    assert plan.period_ms == pytest.approx(ddr_period * 1e3, rel=REL)
    assert plan.throughput == pytest.approx(bandwidth / sum(l.ddr_bytes for l in problem.layers), rel=REL)
    # static energy = static power * period: here it is most of the energy
    assert hand["static_j"] > 10 * hand["dynamic_j"]
    assert plan.energy_mj / 1e3 - hand["dynamic_j"] == pytest.approx(static * ddr_period, rel=1e-6)


def test_static_power_adds_power_times_period(tmp_path) -> None:
    """Only the static power differs: energy differs by exactly the power difference times the period."""
    low_path = _spec_copy(tmp_path, "vck190-no-static", static_power="0 W")
    high_path = _spec_copy(tmp_path, "vck190-hot", static_power="80 W")
    low, high = _problem(low_path), _problem(high_path)
    assert (low.static_power_w, high.static_power_w) == (0.0, 80.0)
    groups = _groups(low, 3)
    assert _groups(high, 3) == groups
    bandwidth = _channel(VCK190)
    a = _check(low, groups, _hand(low, groups, bandwidth, 0.0))
    b = _check(high, groups, _hand(high, groups, bandwidth, 80.0))
    assert a.period_ms == b.period_ms and a.latency_ms == b.latency_ms  # static power leaves time alone
    dynamic = sum(float(low.energy_j[l, c]) for c, ls in groups for l in ls)
    assert a.energy_mj == pytest.approx(dynamic * 1e3, rel=REL)  # no static power: only the layers' energy
    assert b.energy_mj - a.energy_mj == pytest.approx(80.0 * a.period_ms, rel=1e-6)  # W * ms = mJ
    assert b.energy_mj > 1.5 * a.energy_mj  # the static term matters here
