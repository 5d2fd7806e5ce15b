"""The devices form: the layer chain cut into runs, one per device of a chain, every layer its own block.

A plan is a tuple of :class:`DeviceGroup` ``(device position d, layer indices, configuration per layer)``; the
devices used are positions 0..D-1 of the chain, in layer order. Per input, in seconds (the
problem's :class:`~accelplan.problem.DeviceTables`, ``k`` the kind of device ``d``):

- block l          t_l = time[k, l, c_l]
- memory of d      s_d = sum of streamed weights W_l / batch over d's blocks / bandwidth_k
- device d         busy_d = max(max_l t_l, s_d)                         (blocks run concurrently)
- link d -> d+1    x_d = bytes crossing the cut / link bandwidth
- period           = max(max_d busy_d, max_d x_d);  throughput = 1 / period
- latency          = sum_l t_l + sum_d (link latency + x_d) + (batch - 1) * period   (one input through
                     every block and link, then the rest of the batch at the period)
- energy           = sum_l energy[k, l, c_l] + sum_d crossing bytes * e_link + sum_d static_k * period
Budgets per device: DSP, LUT, FF summed over its blocks, and the on-chip weights, within the cap;
the streamed weights within its off-chip memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..plan import AcceleratorPlan, Budget, Plan, SolverFacts, priced_plan
from . import Metrics, bound_violations
from .form import PlanForm

if TYPE_CHECKING:
    from ..problem import Problem


@dataclass(frozen=True, eq=False)
class DeviceTables:
    """What the devices model needs (see the module docstring), per device kind ``k``,
    layer ``l`` and block configuration ``c``; ``chain[d]`` is the kind of the ``d``-th device."""

    kinds: tuple[str, ...]
    parts: tuple[str, ...]  # FPGA part number per kind ("" when the spec gives none)
    chain: tuple[int, ...]
    time_s: np.ndarray  # (K, L, C) per input
    energy_j: np.ndarray  # (K, L, C) per input
    fabric: np.ndarray  # (C, 3): DSP, LUT, FF of a block
    capacity: np.ndarray  # (K, 4): DSP, LUT, FF, on-chip bytes, within the utilisation cap
    weight_bytes: np.ndarray  # (L,)
    onchip: np.ndarray  # (C,) bool: weights on chip
    memory_bandwidth: np.ndarray  # (K,) bytes/s
    memory_capacity: np.ndarray  # (K,) bytes of off-chip memory for streamed weights
    clock_hz: np.ndarray  # (K,)
    static_power_w: np.ndarray  # (K,)
    boundary_bytes: np.ndarray  # (L+1,) bytes per input crossing a cut before layer p (p = L: the output)
    link_bandwidth: float
    link_latency_s: float
    link_j_per_byte: float


class DeviceGroup(NamedTuple):
    """One device of a chain: its position, its consecutive layers and each layer's block configuration."""

    device: int
    layers: tuple[int, ...]
    configs: tuple[int, ...]


Groups = tuple[DeviceGroup, ...]


@dataclass(frozen=True)
class DevicePlan(AcceleratorPlan):
    """A device of the chain: one block per layer, with its parallelism and where its weights live."""

    array: tuple[int, int, int] = (1, 1, 1)  # (blocks, 1, 1)
    buffer_bytes: int = 0  # weights on chip
    layer_tiles: tuple[tuple[int, int, int], ...] = ()  # per layer the block's parallelism (m, k, n)
    placements: tuple[str, ...] = ()  # per layer where its weights live (on-chip | streamed)
    part: str = ""  # the FPGA part the device's build targets

    @property
    def tiles(self) -> dict[str, list]:
        return {"layer_tiles": [list(t) for t in self.layer_tiles], "placements": list(self.placements)}


RESOURCES = ("DSP", "LUT", "FF", "on-chip bytes")


@dataclass(frozen=True)
class DeviceLoad:
    """One device of a plan: its kind, block times, memory time, resource use and the link after it."""

    kind: int
    block_s: tuple[float, ...]
    memory_s: float
    use: tuple[float, float, float, float]  # DSP, LUT, FF, on-chip bytes
    offchip_bytes: float  # weights kept in the device's DDR/HBM
    link_bytes: float  # per input, to the next device (0 for the last)

    @property
    def busy_s(self) -> float:
        return max(max(self.block_s, default=0.0), self.memory_s)


def layout_violations(problem: "Problem", groups: Groups) -> list[str]:
    """Why ``groups`` is not a chain of devices 0..D-1 running consecutive layers in order (then it is not priced)."""
    out = []
    order = sorted(groups, key=lambda g: g[0])
    if [g[0] for g in order] != list(range(len(groups))):
        out.append("devices must be positions 0, 1, ... of the chain, each used once")
    if len(groups) > problem.accelerator_slots:
        out.append(f"{len(groups)} devices exceed the {problem.accelerator_slots} available")
    layers = [l for g in order for l in g[1]]
    if layers != list(range(problem.n_layers)) or any(not g[1] for g in groups):
        out.append("devices must run non-empty runs of consecutive layers, in chain order, every layer once")
    if any(len(g[1]) != len(g[2]) for g in groups):
        out.append("every layer needs its own block configuration")
    return out


def loads(problem: "Problem", groups: Groups) -> list[DeviceLoad]:
    """Each device's load, in chain order (``groups`` laid out correctly)."""
    t = problem.devices
    out = []
    for d, ls, cs in sorted(groups, key=lambda g: g[0]):
        k = t.chain[d]
        ls, cs = list(ls), list(cs)
        streamed = float(sum(t.weight_bytes[l] for l, c in zip(ls, cs) if not t.onchip[c])) / problem.batch
        fab = t.fabric[cs].sum(axis=0)
        onchip = float(sum(t.weight_bytes[l] for l, c in zip(ls, cs) if t.onchip[c]))
        last = d == len(groups) - 1
        out.append(DeviceLoad(k, tuple(float(x) for x in t.time_s[k, ls, cs]), streamed / float(t.memory_bandwidth[k]),
                              (float(fab[0]), float(fab[1]), float(fab[2]), onchip), streamed * problem.batch,
                              0.0 if last else float(t.boundary_bytes[ls[-1] + 1])))
    return out


def budget_violations(problem: "Problem", devices: list[DeviceLoad]) -> list[str]:
    out = []
    for d, dev in enumerate(devices):
        for name, used, cap in zip(RESOURCES, dev.use, problem.devices.capacity[dev.kind]):
            if used > cap * (1 + 1e-9):
                out.append(f"device {d}: {name} {used:g} used of {cap:g}")
        if dev.offchip_bytes > problem.devices.memory_capacity[dev.kind] * (1 + 1e-9):
            out.append(f"device {d}: streamed weights {dev.offchip_bytes:g} B exceed its off-chip memory "
                       f"{problem.devices.memory_capacity[dev.kind]:g} B")
    return out


def metrics(problem: "Problem", groups: Groups, check_bounds: bool = True) -> Metrics:
    """Price ``groups`` (see the module docstring); infinite when the layout is wrong."""
    violations = layout_violations(problem, groups)
    if violations:
        return Metrics(tuple(0.0 for _ in groups), float("inf"), float("inf"), float("inf"), tuple(violations))
    t = problem.devices
    devices = loads(problem, groups)
    violations = budget_violations(problem, devices)
    links = [dev.link_bytes / t.link_bandwidth for dev in devices[:-1]]
    period = max([dev.busy_s for dev in devices] + links)
    latency = (sum(sum(dev.block_s) for dev in devices) + sum(t.link_latency_s + x for x in links)
               + (problem.batch - 1) * period)
    energy = (sum(float(t.energy_j[t.chain[d], l, c]) for d, ls, cs in groups for l, c in zip(ls, cs))
              + sum(dev.link_bytes for dev in devices) * t.link_j_per_byte
              + sum(float(t.static_power_w[dev.kind]) for dev in devices) * period)
    if check_bounds:
        violations += bound_violations(problem, latency, period)
    return Metrics(tuple(dev.busy_s for dev in devices), period, latency, energy, tuple(violations))


def bottleneck(problem: "Problem", groups: Groups, devices: list[DeviceLoad]) -> str:
    """What sets the period: a block (layer on device), a device's off-chip memory, or a link (``devices``: the
    groups' :func:`loads`)."""
    t = problem.devices
    names = [problem.layers[l].name for _, ls, _ in sorted(groups, key=lambda g: g[0]) for l in ls]
    best, what, i = -1.0, "", 0
    for d, dev in enumerate(devices):
        for s in dev.block_s:
            if s > best:
                best, what = s, f"block {names[i]} on device {d}"
            i += 1
        if dev.memory_s > best:
            best, what = dev.memory_s, f"weights streamed from the off-chip memory of device {d}"
        if d < len(devices) - 1 and dev.link_bytes / t.link_bandwidth > best:
            best, what = dev.link_bytes / t.link_bandwidth, f"link {d} -> {d + 1}"
    return what


def block_options(problem: "Problem", layer: int) -> list[int]:
    """The configurations worth trying for a layer's block: per weight placement, those no other beats on both
    cycles and lanes (fabric, time and energy only grow with them; placement decides weights and their energy).
    A layer without weights keeps only on-chip configurations (streaming nothing changes nothing)."""
    t = problem.devices
    cyc = t.time_s[0, layer]  # one kind: the ordering of cycles is the same on every clock
    lanes = np.array([cfg.lanes for cfg in problem.configs])
    keep = []
    for onchip in (True, False):
        if not onchip and t.weight_bytes[layer] == 0:
            continue
        idx = np.flatnonzero(t.onchip == onchip)
        c_, l_ = cyc[idx], lanes[idx]
        le = (c_[:, None] <= c_[None, :]) & (l_[:, None] <= l_[None, :])  # [o, c]: o at least as good as c
        better = (c_[:, None] < c_[None, :]) | (l_[:, None] < l_[None, :]) | (idx[:, None] < idx[None, :])
        np.fill_diagonal(le, False)
        keep += [int(c) for c in idx[~(le & better).any(axis=0)]]
    return keep


def _device(problem: "Problem", group: DeviceGroup, load: DeviceLoad, period: float, start: float) -> DevicePlan:
    t = problem.devices
    d, ls, cs = group
    macs = sum(problem.layers[l].gemm.macs for l in ls)
    lanes = sum(problem.configs[c].lanes for c in cs)
    busy = load.busy_s
    return DevicePlan(
        index=d, config=t.kinds[load.kind], units=int(load.use[0]), layers=tuple(problem.layers[l].name for l in ls),
        ops=tuple(op for l in ls for op in problem.layers[l].ops), busy_ms=busy * 1e3,
        utilization=busy / period if period else 0.0,
        mac_efficiency=macs / (lanes * float(t.clock_hz[load.kind]) * busy) if busy else 0.0,
        start_ms=start * 1e3, pace_ms=period * 1e3,
        gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls)),
        array=(len(ls), 1, 1), buffer_bytes=int(load.use[3]),
        layer_tiles=tuple((problem.configs[c].pm, problem.configs[c].pk, problem.configs[c].pn) for c in cs),
        placements=tuple("on-chip" if problem.configs[c].onchip else "streamed" for c in cs),
        part=t.parts[load.kind])


def _budgets(problem: "Problem", devices: list[DeviceLoad]) -> tuple[Budget, ...]:
    out = []
    for d, load in enumerate(devices):
        cap = problem.devices.capacity[load.kind]
        out += [Budget(f"device {d}: {name}", used, float(c), "B" if name.endswith("bytes") else "")
                for name, used, c in zip(RESOURCES, load.use, cap)]
    return tuple(out)


class DevicesForm(PlanForm):
    """A chain of devices, a run of layers on each, every layer its own block (see the module docstring)."""

    name = "devices"
    group = DeviceGroup
    tables = DeviceTables
    accelerator = DevicePlan
    replay = "accelplan.simulate.devices:layout"
    streams = True

    metrics = staticmethod(metrics)  # the module's pricing, as the form's

    def plan(self, problem: "Problem", groups: Groups, solver: SolverFacts | None = None,
             check_bounds: bool = True) -> Plan:
        """Price ``groups`` and describe every device."""
        groups = tuple(sorted((DeviceGroup(g.device, tuple(g.layers), tuple(g.configs)) for g in groups),
                              key=lambda g: g.device))
        met = metrics(problem, groups, check_bounds)
        accs, budgets, what = [], (), ""
        if met.period_s != float("inf"):
            devices = loads(problem, groups)
            start = 0.0
            for group, load in zip(groups, devices):
                accs.append(_device(problem, group, load, met.period_s, start))
                start += sum(load.block_s) + (problem.devices.link_latency_s if load.link_bytes else 0.0)
            budgets, what = _budgets(problem, devices), bottleneck(problem, groups, devices)
        return priced_plan(problem, met, accs, solver, groups, budgets=budgets, bottleneck=what)

    def plan_groups(self, problem: "Problem", plan: Plan) -> Groups:
        """Per device its position, layers and each layer's block configuration, the one with that layer's
        parallelism (``layer_tiles``: pm, pk, pn) and weight placement; a ``KeyError`` names a layer whose block
        is not in the problem's menu."""
        t = problem.devices
        index = {layer.name: i for i, layer in enumerate(problem.layers)}
        out = []
        for a in plan.accelerators:
            configs = []
            for name, tile, place in zip(a.layers, a.layer_tiles, a.placements, strict=True):
                onchip = place == "on-chip"
                match = next((c for c, cfg in enumerate(problem.configs)
                              if (cfg.pm, cfg.pk, cfg.pn) == tuple(tile) and bool(t.onchip[c]) == onchip), None)
                if match is None:
                    raise KeyError(f"layer {name}: no block configuration with parallelism {list(tile)} and weights {place}")
                configs.append(match)
            out.append(DeviceGroup(a.index, tuple(index[n] for n in a.layers), tuple(configs)))
        return tuple(out)


FORM = DevicesForm()
