"""The devices form: the layer chain cut into runs, one per device of a chain (or per group of adjacent devices
splitting the run k ways: tensor parallelism), every layer its own block.

A plan is a tuple of :class:`DeviceGroup` ``(first device position d, layer indices, configuration per
layer, ways k)``: the run's layers split k ways over devices d..d+k-1 (k = 1: one device), the groups
covering positions 0..D-1 of the chain in layer order. Per input, in seconds (the problem's
:class:`DeviceTables`, kind ``q`` of the group's devices, split ``s`` its ways; a device of the group):

- block l          t_l = time[s, q, l, c_l]                               (its 1/k share of the layer)
- memory           m = sum of streamed bytes (weights / batch, plus the KV cache a token reads) / bandwidth_q
- all-gather       a = sum_l gathered bytes_l / link bandwidth            (k > 1: the output of every layer)
- group            busy = max(max_l t_l, m, a)                             (blocks run concurrently)
- link g -> g+1    x_g = bytes crossing the cut / link bandwidth
- period           p = max(max_g busy_g, max_g x_g);  throughput = 1 / p
- latency          = sum_l t_l + sum over groups of a + (k - 1) hops per layer + sum_g (link latency + x_g)
                     + (batch - 1) * p
- energy           = k x sum_l energy[s, q, l, c_l] + (crossing bytes + k x gathered bytes) * e_link
                     + sum_g k x static_q * p

A served language model (the problem's workload, S sequences in flight = the batch; an input is one
generated token): a token's trip through the chain is L1 = sum_g (max(sum_l t_l + a, m) + hops) + sum_g
(link latency + x_g) (a group reads its streamed bytes for every token: the memory floor); a sequence's
next token waits for its previous one, so TPOT = max(L1, S * p) and tokens/s = S / TPOT (Little's law:
never above 1 / p). The plan's latency is TPOT, its period TPOT / S (so throughput is tokens/s), energy
per token has the static power over TPOT / S.

Budgets per device: DSP, LUT, FF summed over its blocks, and the on-chip bytes (weights and KV caches kept on
chip), within the cap; the streamed bytes within its off-chip memory.
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
    """What the devices model needs (see the module docstring), per tensor-parallel split ``s`` (``splits[s]`` ways),
    device kind ``q``, layer ``l`` and block configuration ``c``; ``chain[d]`` is the kind of the ``d``-th device."""

    kinds: tuple[str, ...]
    parts: tuple[str, ...]  # FPGA part number per kind ("" when the spec gives none)
    chain: tuple[int, ...]
    splits: tuple[int, ...]  # ways a run may be split, 1 first
    block_s: np.ndarray  # (P, K, L, C) per input, one device's share
    block_j: np.ndarray  # (P, K, L, C) per input, one device's share
    fabric: np.ndarray  # (C, 3): DSP, LUT, FF of a block
    capacity: np.ndarray  # (K, 4): DSP, LUT, FF, on-chip bytes, within the utilisation cap
    stored_bytes: np.ndarray  # (P, L) one device's share of a layer's weights and of the batch's KV caches
    kv_bytes: np.ndarray  # (L,) one sequence's KV cache of the layer, whole (0: it reads none)
    gather_bytes: np.ndarray  # (P, L) per input, what one device sends to all-gather the layer's output
    onchip: np.ndarray  # (C,) bool: weights (and KV cache) on chip
    memory_bandwidth: np.ndarray  # (K,) bytes/s
    memory_capacity: np.ndarray  # (K,) bytes of off-chip memory for streamed weights and caches
    clock_hz: np.ndarray  # (K,)
    static_power_w: np.ndarray  # (K,)
    boundary_bytes: np.ndarray  # (L+1,) bytes per input crossing a cut before layer p (p = L: the output)
    link_bandwidth: float
    link_latency_s: float
    link_j_per_byte: float

    @property
    def time_s(self) -> np.ndarray:
        """(K, L, C) per input, unsplit."""
        return self.block_s[0]

    @property
    def energy_j(self) -> np.ndarray:
        """(K, L, C) per input, unsplit."""
        return self.block_j[0]

    @property
    def weight_bytes(self) -> np.ndarray:
        """(L,) bytes a layer stores unsplit: its weights and the batch's KV caches (placed on chip or streamed)."""
        return self.stored_bytes[0]

    def split_index(self, ways: int) -> int:
        """Index of ``ways`` in :attr:`splits` (a ``ValueError`` when the hardware offers no such split)."""
        return self.splits.index(ways)


class DeviceGroup(NamedTuple):
    """A device of a chain (or ``ways`` adjacent ones splitting its run): its first position, its consecutive layers
    and each layer's block configuration."""

    device: int
    layers: tuple[int, ...]
    configs: tuple[int, ...]
    ways: int = 1


Groups = tuple[DeviceGroup, ...]


@dataclass(frozen=True)
class DevicePlan(AcceleratorPlan):
    """A device of the chain (or ``ways`` devices splitting its layers): one block per layer, with its parallelism
    and where its weights and KV cache live; byte figures are per device."""

    array: tuple[int, int, int] = (1, 1, 1)  # (blocks, 1, 1)
    buffer_bytes: int = 0  # bytes on chip (weights and KV cache)
    layer_tiles: tuple[tuple[int, int, int], ...] = ()  # per layer the block's parallelism (m, k, n)
    placements: tuple[str, ...] = ()  # per layer where its weights live (on-chip | streamed)
    part: str = ""  # the FPGA part the device's build targets
    ways: int = 1  # devices splitting the run (tensor parallelism); index is the first
    weights_onchip_bytes: int = 0
    weights_streamed_bytes: int = 0
    kv_onchip_bytes: int = 0
    kv_offchip_bytes: int = 0

    @property
    def tiles(self) -> dict[str, list]:
        return {"layer_tiles": [list(t) for t in self.layer_tiles], "placements": list(self.placements)}

    def when(self) -> str:
        return f"devices {self.index}-{self.index + self.ways - 1}, split {self.ways} ways" if self.ways > 1 else ""


RESOURCES = ("DSP", "LUT", "FF", "on-chip bytes")


@dataclass(frozen=True)
class DeviceLoad:
    """One group of a plan, per device: its kind, block times, memory and all-gather times, resource use, the bytes
    kept off chip, the link after it and the hop latency of its all-gathers."""

    kind: int
    ways: int
    block_s: tuple[float, ...]
    memory_s: float
    gather_s: float
    use: tuple[float, float, float, float]  # DSP, LUT, FF, on-chip bytes
    offchip_bytes: float  # weights and KV caches kept in the device's DDR/HBM
    link_bytes: float  # per input, to the next group (0 for the last)
    hops_s: float  # per input, the latency of the all-gathers' hops

    @property
    def busy_s(self) -> float:
        return max(max(self.block_s, default=0.0), self.memory_s, self.gather_s)

    @property
    def trip_s(self) -> float:
        """One token's time through the group when it is alone: its blocks in turn and the all-gathers, or reading
        its streamed bytes, whichever is longer, plus the all-gathers' hops."""
        return max(sum(self.block_s) + self.gather_s, self.memory_s) + self.hops_s


def layout_violations(problem: "Problem", groups: Groups) -> list[str]:
    """Why ``groups`` is not a chain of devices 0..D-1 running consecutive layers in order (then it is not priced)."""
    out = []
    order = sorted(groups, key=lambda g: g[0])
    t = problem.devices
    if any(not isinstance(g.device, (int, np.integer)) or g.ways not in t.splits for g in groups):
        out.append(f"every group needs a device position and a split of {', '.join(map(str, t.splits))} ways")
        return out
    ends = np.cumsum([0] + [g.ways for g in order])
    if [g.device for g in order] != [int(e) for e in ends[:-1]]:
        out.append("devices must be positions 0, 1, ... of the chain, each used once")
    if ends[-1] > problem.accelerator_slots:
        out.append(f"{int(ends[-1])} devices exceed the {problem.accelerator_slots} available")
    elif any(len({t.chain[d] for d in range(g.device, g.device + g.ways)}) > 1 for g in order):
        out.append("a split run needs devices of one kind")
    layers = [l for g in order for l in g[1]]
    if layers != list(range(problem.n_layers)) or any(not g[1] for g in groups):
        out.append("devices must run non-empty runs of consecutive layers, in chain order, every layer once")
    if any(len(g[1]) != len(g[2]) for g in groups):
        out.append("every layer needs its own block configuration")
    return out


def _load(problem: "Problem", group: DeviceGroup, last: bool) -> DeviceLoad:
    t = problem.devices
    k, s = t.chain[group.device], t.split_index(group.ways)
    ls, cs = list(group.layers), list(group.configs)
    stored = t.stored_bytes[s, ls]
    off = np.array([not t.onchip[c] for c in cs])
    streamed = float(stored[off].sum())
    fab = t.fabric[cs].sum(axis=0)
    gathered = float(t.gather_bytes[s, ls].sum())
    return DeviceLoad(k, group.ways, tuple(float(x) for x in t.block_s[s, k, ls, cs]),
                      streamed / problem.batch / float(t.memory_bandwidth[k]), gathered / t.link_bandwidth,
                      (float(fab[0]), float(fab[1]), float(fab[2]), float(stored[~off].sum())), streamed,
                      0.0 if last else float(t.boundary_bytes[ls[-1] + 1]),
                      (group.ways - 1) * len(ls) * t.link_latency_s)


def loads(problem: "Problem", groups: Groups) -> list[DeviceLoad]:
    """Each group's load, in chain order (``groups`` laid out correctly)."""
    order = sorted(groups, key=lambda g: g[0])
    return [_load(problem, DeviceGroup(*g), i == len(order) - 1) for i, g in enumerate(order)]


def budget_violations(problem: "Problem", devices: list[DeviceLoad]) -> list[str]:
    out = []
    for d, dev in enumerate(devices):
        for name, used, cap in zip(RESOURCES, dev.use, problem.devices.capacity[dev.kind]):
            if used > cap * (1 + 1e-9):
                out.append(f"device group {d}: {name} {used:g} used of {cap:g}")
        if dev.offchip_bytes > problem.devices.memory_capacity[dev.kind] * (1 + 1e-9):
            out.append(f"device group {d}: {dev.offchip_bytes:g} B kept off chip (weights, KV cache) exceed its "
                       f"off-chip memory {problem.devices.memory_capacity[dev.kind]:g} B")
    return out


@dataclass(frozen=True)
class ChainTimes:
    """What a plan's groups give, per input: the slowest stage, one input's trip, and the latency and period priced."""

    stage_s: float
    trip_s: float
    latency_s: float
    period_s: float


def chain_times(problem: "Problem", devices: list[DeviceLoad]) -> ChainTimes:
    """Stage time p, one input's trip, and the priced latency and period (see the module docstring)."""
    t = problem.devices
    links = [dev.link_bytes / t.link_bandwidth for dev in devices[:-1]]
    stage = max([dev.busy_s for dev in devices] + links)
    hops = sum(t.link_latency_s + x for x in links)
    if problem.workload is not None:
        trip = sum(dev.trip_s for dev in devices) + hops
        tpot = max(trip, problem.batch * stage)
        return ChainTimes(stage, trip, tpot, tpot / problem.batch)
    trip = sum(sum(dev.block_s) + dev.gather_s + dev.hops_s for dev in devices) + hops
    return ChainTimes(stage, trip, trip + (problem.batch - 1) * stage, stage)


def metrics(problem: "Problem", groups: Groups, check_bounds: bool = True) -> Metrics:
    """Price ``groups`` (see the module docstring); infinite when the layout is wrong."""
    groups = tuple(DeviceGroup(*g) for g in groups)
    violations = layout_violations(problem, groups)
    if violations:
        return Metrics(tuple(0.0 for _ in groups), float("inf"), float("inf"), float("inf"), tuple(violations))
    t = problem.devices
    devices = loads(problem, groups)
    violations = budget_violations(problem, devices)
    times = chain_times(problem, devices)
    energy = (sum(g.ways * float(t.block_j[t.split_index(g.ways), t.chain[g.device], l, c])
                  for g in groups for l, c in zip(g.layers, g.configs))
              + sum(dev.link_bytes + dev.ways * dev.gather_s * t.link_bandwidth for dev in devices) * t.link_j_per_byte
              + sum(dev.ways * float(t.static_power_w[dev.kind]) for dev in devices) * times.period_s)
    if check_bounds:
        violations += bound_violations(problem, times.latency_s, times.period_s)
    return Metrics(tuple(dev.busy_s for dev in devices), times.period_s, times.latency_s, energy, tuple(violations),
                   stage_s=times.stage_s)


def bottleneck(problem: "Problem", groups: Groups, devices: list[DeviceLoad]) -> str:
    """What sets the period: a block (layer on device), a device's off-chip memory, an all-gather, a link, or (a served
    model) the wait for each sequence's previous token (``devices``: the groups' :func:`loads`)."""
    t = problem.devices
    order = sorted(groups, key=lambda g: g[0])
    best, what = -1.0, ""
    for g, dev in zip(order, devices):
        where = f"device {g.device}" if g.ways == 1 else f"devices {g.device}-{g.device + g.ways - 1}"
        for l, s in zip(g.layers, dev.block_s):
            if s > best:
                best, what = s, f"block {problem.layers[l].name} on {where}"
        if dev.memory_s > best:
            best, what = dev.memory_s, f"weights and KV cache streamed from the off-chip memory of {where}"
        if dev.gather_s > best:
            best, what = dev.gather_s, f"all-gathers of the {g.ways}-way split on {where}"
        if dev.link_bytes and dev.link_bytes / t.link_bandwidth > best:
            best, what = dev.link_bytes / t.link_bandwidth, f"link after {where}"
    times = chain_times(problem, devices)
    if problem.workload is not None and times.trip_s > problem.batch * times.stage_s:
        return (f"each sequence's previous token: one token's trip through the chain ({times.trip_s * 1e3:.4g} ms) "
                f"exceeds {problem.batch} sequences x the slowest stage ({what}, {best * 1e3:.4g} ms)")
    return what


def block_options(problem: "Problem", layer: int, split: int = 0) -> list[int]:
    """The configurations worth trying for a layer's block (split ``split``): per placement, those no other beats on
    both cycles and lanes (fabric, time and energy only grow with them; placement decides the stored bytes and their
    energy). A layer storing nothing keeps only on-chip configurations (streaming nothing changes nothing)."""
    t = problem.devices
    cyc = t.block_s[split, 0, layer]  # one kind: the ordering of cycles is the same on every clock
    lanes = np.array([cfg.lanes for cfg in problem.configs])
    keep = []
    for onchip in (True, False):
        if not onchip and t.stored_bytes[split, layer] == 0:
            continue
        idx = np.flatnonzero(t.onchip == onchip)
        c_, l_ = cyc[idx], lanes[idx]
        le = (c_[:, None] <= c_[None, :]) & (l_[:, None] <= l_[None, :])  # [o, c]: o at least as good as c
        better = (c_[:, None] < c_[None, :]) | (l_[:, None] < l_[None, :]) | (idx[:, None] < idx[None, :])
        np.fill_diagonal(le, False)
        keep += [int(c) for c in idx[~(le & better).any(axis=0)]]
    return keep


def _memory_map(problem: "Problem", group: DeviceGroup) -> dict[str, int]:
    """Per device of the group: weights on chip and streamed, KV cache on and off chip (bytes)."""
    t = problem.devices
    s = t.split_index(group.ways)
    out = dict.fromkeys(("weights_onchip_bytes", "weights_streamed_bytes", "kv_onchip_bytes", "kv_offchip_bytes"), 0)
    for l, c in zip(group.layers, group.configs):
        kv = float(t.kv_bytes[l]) * problem.batch / group.ways if t.kv_bytes[l] else 0.0
        weights = float(t.stored_bytes[s, l]) - kv
        on = bool(t.onchip[c])
        out["weights_onchip_bytes" if on else "weights_streamed_bytes"] += int(round(weights))
        out["kv_onchip_bytes" if on else "kv_offchip_bytes"] += int(round(kv))
    return out


def _device(problem: "Problem", group: DeviceGroup, load: DeviceLoad, period: float, start: float) -> DevicePlan:
    t = problem.devices
    d, ls, cs, ways = group
    macs = sum(problem.layers[l].gemm.macs for l in ls)
    lanes = sum(problem.configs[c].lanes for c in cs) * ways
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
        part=t.parts[load.kind], ways=ways, **_memory_map(problem, group))


def _budgets(problem: "Problem", groups: Groups, devices: list[DeviceLoad]) -> tuple[Budget, ...]:
    out = []
    for g, load in zip(groups, devices):
        cap = problem.devices.capacity[load.kind]
        name = f"device {g.device}" if g.ways == 1 else f"devices {g.device}-{g.device + g.ways - 1} (each)"
        out += [Budget(f"{name}: {what}", used, float(c), "B" if what.endswith("bytes") else "")
                for what, used, c in zip(RESOURCES, load.use, cap)]
    return tuple(out)


class DevicesForm(PlanForm):
    """A chain of devices, a run of layers on each (or split over adjacent ones), every layer its own block (see the
    module docstring)."""

    name = "devices"
    group = DeviceGroup
    tables = DeviceTables
    accelerator = DevicePlan
    replay = "accelplan.simulate.devices:layout"
    streams = True

    metrics = staticmethod(metrics)  # the module's pricing, as the form's

    def slots(self, problem: "Problem") -> int:
        """The devices of the chain a plan may use (a layer split k ways takes k)."""
        return problem.max_accelerators

    def slots_used(self, groups: tuple) -> int:
        """Devices the groups take: each group its ways."""
        return sum(DeviceGroup(*g).ways for g in groups)

    def plan(self, problem: "Problem", groups: Groups, solver: SolverFacts | None = None,
             check_bounds: bool = True) -> Plan:
        """Price ``groups`` and describe every device (group)."""
        groups = tuple(sorted((DeviceGroup(g[0], tuple(g[1]), tuple(g[2]), *g[3:]) for g in groups),
                              key=lambda g: g.device))
        met = metrics(problem, groups, check_bounds)
        accs, budgets, what = [], (), ""
        if met.period_s != float("inf"):
            devices = loads(problem, groups)
            start = 0.0
            for group, load in zip(groups, devices):
                accs.append(_device(problem, group, load, met.period_s, start))
                start += load.trip_s + (problem.devices.link_latency_s if load.link_bytes else 0.0)
            budgets, what = _budgets(problem, groups, devices), bottleneck(problem, groups, devices)
        return priced_plan(problem, met, accs, solver, groups, budgets=budgets, bottleneck=what)

    def plan_groups(self, problem: "Problem", plan: Plan) -> Groups:
        """Per device (group) its position, layers, each layer's block configuration (the one with that layer's
        parallelism, ``layer_tiles``: pm, pk, pn, and placement) and ways; a ``KeyError`` names a layer whose block
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
            out.append(DeviceGroup(a.index, tuple(index[n] for n in a.layers), tuple(configs), a.ways))
        return tuple(out)


FORM = DevicesForm()
