"""The MILP of a chain of devices (devices form), the independent cross-check of the device dp.

Indices: ``l`` layer, ``d`` device position (kind ``k(d)``), ``o`` a block option of layer ``l``
(:func:`accelplan.solvers.exhaustive.block_options`). Variables and constraints (times in µs,
energies in µJ, so coefficients stay near 1):

- ``x[l, d]`` binary, layer on device; every layer on one device; layer 0 on device 0; a layer is
  on the device of its predecessor or the next one (runs of consecutive layers, devices in order);
- ``y[l, o]`` binary, the block of layer ``l``; one per layer; ``on[l] = sum of y over on-chip options``;
- ``P`` the period: ``P >= time[k(d), l, o] y - M (1 - x[l, d])`` (block times, exact where ``x = 1``);
- fabric: ``f[l, d, r] >= fabric[o, r] y - M (1 - x)``, ``sum_l f[l, d, r] <= cap[k(d), r]``;
- weights: ``v[l, d] >= on[l] + x[l, d] - 1`` on chip, ``s[l, d] >= x[l, d] - on[l]`` streamed;
  ``sum W v <= on-chip bytes``, ``sum (W / batch) s <= bandwidth P`` and ``sum W s <= off-chip bytes``;
- cuts: ``cut[l] >= x[l, d] - x[l + 1, d]``; ``(bytes after l / link bandwidth) cut[l] <= P``;
- objective: throughput ``min P``; latency ``sum_l t[l] + sum_l cut[l] (hop + bytes / bandwidth) + (b - 1) P``
  with ``t[l] >= time y - M (1 - x)``; energy ``sum_l e[l] + sum_l cut[l] bytes e_link + sum_d static_k q[d]``
  with ``e[l] >= energy y - M (1 - x)``, ``u[d] >= x[l, d]`` and ``q[d] >= P - P_max (1 - u[d])``;
  the latency bound and ``throughput_min`` as constraints.
Every linearised term is exact at an optimum: the relaxed side only ever pays more.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.environ as pyo

from ..problem import Problem

US, UJ = 1e6, 1e6
#: refuse models with more layer x device pairs than this (the dp solves those)
MAX_PLACEMENTS = 20_000


@dataclass
class DevicesMilp:
    """The built model and how to read a plan from it."""

    model: pyo.ConcreteModel
    problem: Problem
    options: list[list[int]]

    def groups(self) -> tuple:
        """(device, layers, configuration per layer) from the loaded solution."""
        m, p = self.model, self.problem
        where = {l: max(m.D, key=lambda d: pyo.value(m.x[l, d])) for l in m.L}
        block = {l: max(self.options[l], key=lambda o: pyo.value(m.y[l, o])) for l in m.L}
        return tuple((d, tuple(l for l in range(p.n_layers) if where[l] == d),
                      tuple(block[l] for l in range(p.n_layers) if where[l] == d))
                     for d in sorted(set(where.values())))

    def to_objective_units(self, value: float) -> float:
        """The model's objective in the problem's units (inferences/s, ms or mJ)."""
        if self.problem.objective == "throughput":
            return US / value if value > 0 else float("inf")
        return value / 1e3  # µs -> ms, µJ -> mJ


def build_devices_milp(problem: Problem, options: list[list[int]]) -> DevicesMilp:
    """Build the MILP of the module docstring for ``problem`` with each layer's block ``options``."""
    t, p = problem.devices, problem
    n, devices = p.n_layers, min(p.accelerator_slots, p.n_layers)  # one layer at least per device
    kind = [t.chain[d] for d in range(devices)]
    m = pyo.ConcreteModel(name="accelplan-devices")
    m.L, m.D = pyo.RangeSet(0, n - 1), pyo.RangeSet(0, devices - 1)
    m.LO = pyo.Set(dimen=2, initialize=[(l, o) for l in range(n) for o in options[l]])
    m.x = pyo.Var(m.L, m.D, domain=pyo.Binary)
    m.y = pyo.Var(m.LO, domain=pyo.Binary)
    m.P = pyo.Var(domain=pyo.NonNegativeReals)
    _layout(m, n, devices)
    m.one_block = pyo.Constraint(m.L, rule=lambda m, l: sum(m.y[l, o] for o in options[l]) == 1)
    onchip = {l: sum(m.y[l, o] for o in options[l] if t.onchip[o]) for l in range(n)}
    time_us = {(l, d): sum(float(t.time_s[kind[d], l, o]) * US * m.y[l, o] for o in options[l])
               for l in range(n) for d in range(devices)}
    big_t = {l: max(float(t.time_s[k, l, o]) * US for k in set(kind) for o in options[l]) for l in range(n)}
    m.block = pyo.Constraint(m.L, m.D, rule=lambda m, l, d: m.P >= time_us[l, d] - big_t[l] * (1 - m.x[l, d]))
    _fabric(m, p, options, kind)
    _weights(m, p, onchip, kind)
    _cuts(m, p)
    _objective(m, p, options, kind, time_us, big_t)
    return DevicesMilp(m, p, options)


def _layout(m: pyo.ConcreteModel, n: int, devices: int) -> None:
    m.once = pyo.Constraint(m.L, rule=lambda m, l: sum(m.x[l, d] for d in m.D) == 1)
    m.start = pyo.Constraint(expr=m.x[0, 0] == 1)
    m.chain = pyo.Constraint(
        [(l, d) for l in range(1, n) for d in range(devices)],
        rule=lambda m, l, d: m.x[l, d] <= m.x[l - 1, d] + (m.x[l - 1, d - 1] if d > 0 else 0))


def _fabric(m: pyo.ConcreteModel, p: Problem, options: list[list[int]], kind: list[int]) -> None:
    t = p.devices
    m.R = pyo.RangeSet(0, 2)
    m.f = pyo.Var(m.L, m.D, m.R, domain=pyo.NonNegativeReals)
    scale = {r: float(t.capacity[:, r].max()) for r in range(3)}
    use = {(l, r): sum(float(t.fabric[o, r]) / scale[r] * m.y[l, o] for o in options[l]) for l in m.L for r in range(3)}
    big = {(l, r): max(float(t.fabric[o, r]) for o in options[l]) / scale[r] for l in m.L for r in range(3)}
    m.fab_link = pyo.Constraint(m.L, m.D, m.R, rule=lambda m, l, d, r: m.f[l, d, r] >= use[l, r] - big[l, r] * (1 - m.x[l, d]))
    m.fab_cap = pyo.Constraint(m.D, m.R, rule=lambda m, d, r: sum(m.f[l, d, r] for l in m.L)
                               <= float(t.capacity[kind[d], r]) / scale[r])


def _weights(m: pyo.ConcreteModel, p: Problem, onchip: dict, kind: list[int]) -> None:
    t = p.devices
    heavy = [l for l in range(p.n_layers) if t.weight_bytes[l] > 0]
    if not heavy:
        return
    mb = {l: float(t.weight_bytes[l]) / 1e6 for l in heavy}
    m.v = pyo.Var(heavy, m.D, domain=pyo.NonNegativeReals)
    m.s = pyo.Var(heavy, m.D, domain=pyo.NonNegativeReals)
    m.v_link = pyo.Constraint(heavy, m.D, rule=lambda m, l, d: m.v[l, d] >= onchip[l] + m.x[l, d] - 1)
    m.s_link = pyo.Constraint(heavy, m.D, rule=lambda m, l, d: m.s[l, d] >= m.x[l, d] - onchip[l])
    m.on_cap = pyo.Constraint(m.D, rule=lambda m, d: sum(mb[l] * m.v[l, d] for l in heavy)
                              <= float(t.capacity[kind[d], 3]) / 1e6)
    m.stream = pyo.Constraint(m.D, rule=lambda m, d: sum(mb[l] / p.batch * m.s[l, d] for l in heavy)
                              <= float(t.memory_bandwidth[kind[d]]) / 1e6 * m.P / US)
    m.off_cap = pyo.Constraint(m.D, rule=lambda m, d: sum(mb[l] * m.s[l, d] for l in heavy)
                               <= float(t.memory_capacity[kind[d]]) / 1e6)


def _cuts(m: pyo.ConcreteModel, p: Problem) -> None:
    t = p.devices
    inner = list(range(p.n_layers - 1))
    if not inner:
        m.cut = {}
        return
    m.cut = pyo.Var(inner, domain=pyo.NonNegativeReals, bounds=(0, 1))
    m.cut_link = pyo.Constraint(inner, m.D, rule=lambda m, l, d: m.cut[l] >= m.x[l, d] - m.x[l + 1, d])
    m.link = pyo.Constraint(inner, rule=lambda m, l: float(t.boundary_bytes[l + 1]) / t.link_bandwidth * US * m.cut[l] <= m.P)


def _objective(m: pyo.ConcreteModel, p: Problem, options: list[list[int]], kind: list[int], time_us: dict,
               big_t: dict) -> None:
    t = p.devices
    inner = list(range(p.n_layers - 1))
    hop_us = {l: (t.link_latency_s + float(t.boundary_bytes[l + 1]) / t.link_bandwidth) * US for l in inner}
    m.t = pyo.Var(m.L, domain=pyo.NonNegativeReals)
    m.t_link = pyo.Constraint(m.L, m.D, rule=lambda m, l, d: m.t[l] >= time_us[l, d] - big_t[l] * (1 - m.x[l, d]))
    latency = sum(m.t[l] for l in m.L) + sum(hop_us[l] * m.cut[l] for l in inner) + (p.batch - 1) * m.P
    if p.latency_max_s is not None:
        m.latency_max = pyo.Constraint(expr=latency <= p.latency_max_s * US * (1 + 1e-9))
    if p.throughput_min is not None:
        m.throughput_min = pyo.Constraint(expr=m.P <= US / p.throughput_min)
    if p.objective == "throughput":
        m.obj = pyo.Objective(expr=m.P)
    elif p.objective == "latency":
        m.obj = pyo.Objective(expr=latency)
    else:
        m.obj = pyo.Objective(expr=_energy(m, p, options, kind, inner))


def _energy(m: pyo.ConcreteModel, p: Problem, options: list[list[int]], kind: list[int], inner: list[int]):
    t = p.devices
    energy = {(l, d): sum(float(t.energy_j[kind[d], l, o]) * UJ * m.y[l, o] for o in options[l]) for l in m.L for d in m.D}
    big_e = {l: max(float(t.energy_j[k, l, o]) * UJ for k in set(kind) for o in options[l]) for l in m.L}
    m.e = pyo.Var(m.L, domain=pyo.NonNegativeReals)
    m.e_link = pyo.Constraint(m.L, m.D, rule=lambda m, l, d: m.e[l] >= energy[l, d] - big_e[l] * (1 - m.x[l, d]))
    p_max = (sum(max(float(t.time_s[k, l, o]) for k in set(kind) for o in options[l]) for l in m.L)
             + float(t.weight_bytes.sum()) / p.batch / float(t.memory_bandwidth.min())
             + float(t.boundary_bytes.max()) / t.link_bandwidth) * US
    m.P_max = pyo.Constraint(expr=m.P <= p_max)
    m.u = pyo.Var(m.D, domain=pyo.Binary)
    m.used = pyo.Constraint(m.L, m.D, rule=lambda m, l, d: m.u[d] >= m.x[l, d])
    m.q = pyo.Var(m.D, domain=pyo.NonNegativeReals)
    m.q_link = pyo.Constraint(m.D, rule=lambda m, d: m.q[d] >= m.P - p_max * (1 - m.u[d]))
    link_uj = {l: float(t.boundary_bytes[l + 1]) * t.link_j_per_byte * UJ for l in inner}
    return (sum(m.e[l] for l in m.L) + sum(link_uj[l] * m.cut[l] for l in inner)
            + sum(float(t.static_power_w[kind[d]]) * m.q[d] for d in m.D))  # W x µs = µJ
