"""Physical quantities written with their unit in YAML, e.g. ``clock: 1.25 GHz``.

Every quantity is stored in SI base units (Hz, bytes, bytes/s, joules, watts, seconds).
A bare number is refused for a dimensional field because it would be ambiguous (except 0 where zero
is allowed). A quantity is finite, 0 or between 1e-18 and 1e18 in SI units, and clocks and
bandwidths are above zero.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/µ]+)\s*$")

#: unit symbol -> factor to the SI base unit, per dimension
UNITS: dict[str, dict[str, float]] = {
    "frequency": {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
    "size": {"B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024.0, "MiB": 1024.0**2, "GiB": 1024.0**3},
    "bandwidth": {"B/s": 1.0, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12, "GiB/s": 1024.0**3,
                  "Mb/s": 1e6 / 8, "Gb/s": 1e9 / 8},  # bit rates (links) in bytes/s
    "energy": {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "µJ": 1e-6, "mJ": 1e-3, "J": 1.0},
    "power": {"mW": 1e-3, "W": 1.0, "kW": 1e3},
    "time": {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0},
}


#: per dimension, where a hardware figure usually lies (SI units, log-middle of the range): a bare number is read in
#: the unit that puts it nearest, for the suggestion in the refusal (``clock: 1000`` -> ``1000 MHz``, not GHz)
TYPICAL: dict[str, float] = {"frequency": 1e9, "size": 3e7, "bandwidth": 1e10, "energy": 1e-11, "power": 10.0,
                             "time": 1e-6}
#: spellings never suggested (the same factor as a plainer unit, or a bit rate)
_NOT_SUGGESTED = frozenset({"µJ", "µs", "KiB", "MiB", "GiB", "GiB/s", "Mb/s", "Gb/s"})


def suggest_unit(value: float, dimension: str) -> str:
    """The unit of ``dimension`` in which the bare number ``value`` is the most usual hardware figure."""
    units = [u for u in UNITS[dimension] if u not in _NOT_SUGGESTED]
    typical = TYPICAL.get(dimension, 1.0)
    # in logarithms: an integer too large for a float (10**400) still has one
    magnitude = math.log10(abs(value)) if value else -300.0
    return min(units, key=lambda u: abs(magnitude + math.log10(UNITS[dimension][u] / typical)))


SMALLEST, LARGEST = 1e-18, 1e18  # a non-zero quantity in SI units lies between these (no underflow, no overflow)
POSITIVE = frozenset({"frequency", "bandwidth"})  # dimensions that divide work: zero is refused


def parse_quantity(value: object, dimension: str) -> float:
    """Parse ``"<number> <unit>"`` into SI base units for ``dimension``.

    Raises ``ValueError`` naming the allowed units when the unit is wrong or missing.
    """
    allowed = UNITS[dimension]
    examples = ", ".join(allowed)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a {dimension} with a unit, e.g. '1 {next(iter(allowed))}'; units: {examples}")
    if isinstance(value, (int, float)):
        if value == 0 and dimension in POSITIVE:
            raise ValueError(f"a {dimension} must be above zero: it divides work")
        if value == 0:
            return 0.0
        raise ValueError(f"a {dimension} needs a unit (got bare number {value}); write e.g. '{value} {suggest_unit(value, dimension)}'; units: {examples}")
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(f"cannot read {value!r} as a {dimension}; write '<number> <unit>' with a unit among: {examples}")
    number, unit = float(match.group(1)), match.group(2)
    if unit not in allowed:
        raise ValueError(f"unit {unit!r} is not a {dimension} unit; allowed: {examples}")
    if number < 0:
        raise ValueError(f"a {dimension} cannot be negative (got {value!r})")
    si = number * allowed[unit]
    if not math.isfinite(si) or (si != 0 and not SMALLEST <= si <= LARGEST):
        zero = "" if dimension in POSITIVE else "0 or "
        raise ValueError(f"{value!r} is out of range: a {dimension} is {zero}between {SMALLEST:g} and {LARGEST:g} "
                         f"{next(u for u, f in allowed.items() if f == 1.0)}")
    if si == 0 and dimension in POSITIVE:
        raise ValueError(f"a {dimension} must be above zero (got {value!r}): it divides work")
    return si


def _quantity(dimension: str):
    pattern = rf"^\s*{_NUMBER}\s*({'|'.join(re.escape(u) for u in UNITS[dimension])})\s*$"
    return Annotated[
        float,
        BeforeValidator(lambda v: parse_quantity(v, dimension)),
        WithJsonSchema({"type": "string", "pattern": pattern, "description": f"{dimension} with unit: {', '.join(UNITS[dimension])}"}),
    ]


Frequency = _quantity("frequency")
Size = _quantity("size")
Bandwidth = _quantity("bandwidth")
Energy = _quantity("energy")
Power = _quantity("power")
Time = _quantity("time")
