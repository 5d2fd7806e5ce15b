"""A replay as a Chrome / Perfetto trace (Trace Event Format, JSON object form).

One process (``pid``) per track group (the accelerators or clusters, each device of a chain, the
shared resources, the links), one thread (``tid``) per track: an accelerator, cluster or block,
or a shared resource (DDR, DRAM, a device's memory, a link, the package's reconfiguration).
``M`` events name them; every job is an ``X`` (complete) event with ``ts`` and ``dur`` in
microseconds: one per (input, layer) on the compute tracks (``cat: op``, ``args``: input and
layer), and the transfers and setups that take time on the shared ones. Opens in
https://ui.perfetto.dev and chrome://tracing.
"""

from __future__ import annotations

from typing import Any

from . import Replay


def trace_events(replay: Replay, layer_names: list[str], title: str) -> dict[str, Any]:
    """The trace of ``replay`` (``layer_names``: the problem's layers, for the events' args)."""
    tracks, jobs, s = replay.layout.tracks, replay.layout.jobs, replay.schedule
    pids: dict[str, int] = {}
    events: list[dict[str, Any]] = []
    for k, track in enumerate(tracks):
        if track.group not in pids:
            pids[track.group] = len(pids) + 1
            pid = pids[track.group]
            events += [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": track.group}},
                       {"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}}]
        pid = pids[track.group]
        events += [{"ph": "M", "name": "thread_name", "pid": pid, "tid": k + 1, "args": {"name": track.name}},
                   {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": k + 1, "args": {"sort_index": k}}]
    for j, job in enumerate(jobs):
        dur = s.end_s[j] - s.start_s[j]
        if job.kind != "op" and dur <= 0:
            continue
        track = tracks[job.resource]
        args: dict[str, Any] = {"input": job.input} if job.input >= 0 else {}
        if 0 <= job.layer < len(layer_names):
            args["layer"] = layer_names[job.layer]
        args["ready_us"] = s.ready_s[j] * 1e6
        events.append({"name": job.label, "cat": job.kind, "ph": "X", "ts": s.start_s[j] * 1e6, "dur": dur * 1e6,
                       "pid": pids[track.group], "tid": job.resource + 1, "args": args})
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"title": title, "time_unit": "us"}}
