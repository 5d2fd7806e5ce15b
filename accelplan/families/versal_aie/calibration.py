"""What ``accelplan calibrate`` fits on a Versal AI Engine device, and how a measured GEMM row is predicted.

A measured row names its accelerator (``array`` ``AxBxC`` engines, ``engine_tile`` ``tmxtkxtn``); its
GEMM is a whole model of one layer (input read from DDR, result written there: :func:`costs.memory_plan`
with ``first`` and ``last``), timed for its ``batch`` inputs: ``predicted = batch * time_s``.
"""

from __future__ import annotations

import functools

from typing import Any

from ...calibrate import Constant, Measurement
from ...specs.lowering import Gemm
from . import costs
from .spec import VersalAIEHardware

#: the hardware-spec constants a calibration may fit, with their bounds
CONSTANTS = (
    Constant("aie.array_efficiency", 0.01, 1.0, "", "fraction of the kernel rate the engine array sustains"),
    Constant("ddr.efficiency", 0.01, 1.0, "", "fraction of the profiled DDR stream bandwidths a design reaches"),
    Constant("launch_overhead", 0.0, 10e-3, "time", "fixed time per GEMM launch"),
)

MAX_ENGINES = 100_000  # engines along one side of an array, or elements along one side of a tile

#: configuration columns a measurement row needs
COLUMNS = ("array", "engine_tile")


@functools.lru_cache(maxsize=1024)
def _triple(text: str, column: str) -> tuple[int, int, int]:
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and 0 < int(p) <= MAX_ENGINES for p in parts):
        raise ValueError(f"{column}: expected three positive integers as AxBxC (e.g. 6x4x16), got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def check_row(hw: VersalAIEHardware, row: Measurement) -> str | None:
    """Why ``row`` cannot be priced on ``hw`` (a message naming the column), or None."""
    try:
        array, tile = _triple(row.config.get("array", ""), "array"), _triple(row.config.get("engine_tile", ""),
                                                                              "engine_tile")
    except ValueError as exc:
        return str(exc)
    if row.dtype not in hw.aie.macs_per_cycle:
        return f"dtype: {row.dtype!r} has no aie.macs_per_cycle on {hw.name} (have: {', '.join(hw.aie.macs_per_cycle)})"
    if array[0] * array[1] * array[2] > hw.aie.units:
        return f"array: {array[0]}x{array[1]}x{array[2]} needs more than the {hw.aie.units} engines of {hw.name}"
    if not costs.engine_tile_fits(hw, row.dtype, tile):
        return f"engine_tile: {tile[0]}x{tile[1]}x{tile[2]} does not fit an engine's local memory for {row.dtype}"
    return None


_MEMORY: dict[tuple[Any, ...], costs.MemoryPlan] = {}


def _memory_plan(hw: VersalAIEHardware, dtype: str, gemm: Gemm, batch: int) -> costs.MemoryPlan:
    """The row's memory plan. It reads only the hardware's PL block (part of the key; the fitted constants leave it
    as it is), so a fit prices it once per row rather than once per trial."""
    key = (hw.pl, dtype, gemm, batch)
    if key not in _MEMORY:
        if len(_MEMORY) >= 65536:
            _MEMORY.clear()
        _MEMORY[key] = costs.memory_plan(hw, dtype, gemm, batch, first=True, last=True)
    return _MEMORY[key]


def predict_s(hw: VersalAIEHardware, row: Measurement) -> float:
    """Predicted time of the measured run [s]: ``batch`` inputs of the row's GEMM, alone on its accelerator."""
    cfg = costs.make_config(hw, row.dtype, _triple(row.config["array"], "array"),
                            _triple(row.config["engine_tile"], "engine_tile"))
    gemm = Gemm(row.m, row.k, row.n, row.count, True)
    memory = _memory_plan(hw, row.dtype, gemm, row.batch)
    return row.batch * costs.gemm_cost(hw, row.dtype, gemm, cfg, row.batch, memory).time_s
