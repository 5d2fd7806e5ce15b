"""Replay of a device-chain plan (:mod:`accelplan.execution.devices`): a run of layers per device, links between.

Every layer is its own block on its device (the blocks of a device run at the same time, as in
the analytical model); a block runs one input at a time, ``time[k, l, c_l]`` per input (the
problem's :class:`~accelplan.problem.DeviceTables`), after the input's previous layer. A block
whose weights stream reads ``W_l / batch`` bytes per input from its device's DDR/HBM (shared by
the device's blocks, one transfer at a time at its bandwidth) into a double buffer: the transfer
may start once the block has started the input before, and the block ends an input when both its
time and the transfer are done. Between device ``d`` and ``d + 1`` each input's activations cross the
link (one transfer at a time, bytes / link bandwidth) and arrive the link latency later. A run split
``k`` ways runs as one block per layer (its devices in step, each on its share) followed by the
all-gather of the layer's output on the group's links, arriving ``k - 1`` hop latencies later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..execution.devices import DeviceGroup
from .engine import Job
from .layout import Layout, LayoutBuilder

if TYPE_CHECKING:
    from ..problem import Problem


def layout(problem: "Problem", groups: tuple, inputs: int) -> Layout:
    """The jobs of ``inputs`` inputs through ``groups`` ((device, layers, configuration per layer[, ways]), in chain
    order). A served model's inputs are tokens: input ``i`` is a token of sequence ``i mod S``, which enters the
    chain only when the sequence's previous token (input ``i - S``) has left it, and its streamed bytes are read
    while it is on the block (no prefetch ahead of the token)."""
    t = problem.devices
    b = LayoutBuilder()
    block: dict[int, tuple[int, int, int, int, int]] = {}  # layer -> (track, configuration, kind, split, group index)
    memory, link, gather = {}, {}, {}
    groups = [DeviceGroup(*g) for g in groups]
    for gi, (d, ls, cs, ways) in enumerate(groups):
        name = f"device {d}" if ways == 1 else f"devices {d}-{d + ways - 1}"
        group = f"{name} ({t.kinds[t.chain[d]]})"
        for l, c in zip(ls, cs):
            block[l] = (b.track(f"block {problem.layers[l].name}", group, gi), c, t.chain[d], t.split_index(ways), gi)
        if any(not t.onchip[c] for c in cs):
            memory[gi] = b.track(f"{name} memory", group, gi, shared=True)
        if ways > 1:
            gather[gi] = b.track(f"{name} all-gather", group, gi, shared=True)
    for gi, g in enumerate(groups[:-1]):
        link[g.layers[-1]] = b.track(f"link {g.device + g.ways - 1} -> {g.device + g.ways}", "links", shared=True)
    served = problem.workload is not None
    outputs, last = [], [-1] * problem.n_layers  # last: per layer, the operator of the input before
    for i in range(inputs):
        prev, lag = (outputs[i - problem.batch], 0.0) if served and i >= problem.batch else (-1, 0.0)
        for l, layer in enumerate(problem.layers):
            track, c, k, s, gi = block[l]
            prev = b.add(Job(track, float(t.block_s[s, k, l, c]), (i, l), "op", layer.name, i, l,
                             after=((prev, lag),) if prev >= 0 else ()))
            lag = 0.0
            if not t.onchip[c] and t.stored_bytes[s, l] > 0:
                b.stream(prev, memory[gi], float(t.stored_bytes[s, l]) / problem.batch / float(t.memory_bandwidth[k]),
                         "memory", f"{layer.name} weights and cache", prev if served else last[l])
            last[l] = prev
            if gi in gather:
                prev = b.add(Job(gather[gi], float(t.gather_bytes[s, l]) / t.link_bandwidth, (i, l, 3), "link",
                                 f"input {i} all-gather {layer.name}", i, l, after=((prev, 0.0),)))
                lag = (groups[gi].ways - 1) * t.link_latency_s
            if l in link:
                prev = b.add(Job(link[l], float(t.boundary_bytes[l + 1]) / t.link_bandwidth, (i, l, 2), "link",
                                 f"input {i} -> next device", i, l, after=((prev, lag),)))
                lag = t.link_latency_s
        outputs.append(prev)
    return b.layout(outputs, inputs)
