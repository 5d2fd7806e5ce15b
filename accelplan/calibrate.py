"""Fit a hardware spec's efficiency and overhead constants to measured runs (``accelplan calibrate``).

Measurements come from a CSV with a header row; each row is one measured operator run:

``name, m, k, n, count, dtype, batch, <configuration columns of the family>, measured_ms, source``

(``count`` and ``batch`` may be left out: 1). The family of the hardware says which constants it fits,
which configuration columns a row needs and how a row is predicted (its ``calibration()``: for
versal-aie, :mod:`accelplan.families.versal_aie.calibration`). The fit is bounded least squares
(``scipy.optimize.least_squares``) on the relative errors ``predicted / measured - 1``; it is refused
when the rows cannot determine a constant (a rank-deficient Jacobian at the solution). The result is a
hardware spec YAML, the original with the fitted values, that solves as any other.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AccelplanError, SpecError, SpecIssue

#: columns every measurement row has (``count`` and ``batch`` optional)
COMMON = ("name", "m", "k", "n", "dtype", "measured_ms", "source")
OPTIONAL = ("count", "batch")
#: a singular value below this fraction of the largest (columns scaled by each constant's range) = not determined
RANK_TOLERANCE = 1e-6

# limits of a measurements file, checked as it is read (a fit prices every row a few thousand times)
MAX_BYTES = 4 * 2**20  # the file; at most this much (and one byte more) is ever read
MAX_ROWS = 100  # measurement rows
MAX_FIELD = 1000  # characters of one value (a source's citation included)
MAX_NAME = 200  # characters of a row's name and dtype
MIN_MS, MAX_MS = 1e-6, 1e9  # a measured time: 1 ns to 11.6 days [ms]


@dataclass(frozen=True)
class Constant:
    """A hardware-spec value a calibration may fit: its dotted path, bounds, dimension ("" or "time") and meaning."""

    path: str
    lower: float
    upper: float
    dimension: str
    meaning: str


@dataclass(frozen=True)
class Measurement:
    """One measured run of ``count`` GEMMs ``[m,k] x [k,n]`` for ``batch`` inputs on a named configuration."""

    line: int
    name: str
    m: int
    k: int
    n: int
    count: int
    dtype: str
    batch: int
    measured_s: float
    source: str
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RowFit:
    """A measurement beside its prediction before and after the fit [s]."""

    measurement: Measurement
    before_s: float
    after_s: float

    @property
    def error_before(self) -> float:
        return self.before_s / self.measurement.measured_s - 1

    @property
    def error_after(self) -> float:
        return self.after_s / self.measurement.measured_s - 1


@dataclass(frozen=True)
class Calibration:
    """The fitted constants (path -> value before and after) and every row's errors."""

    hardware: str
    before: dict[str, float]
    after: dict[str, float]
    rows: tuple[RowFit, ...]
    hardware_spec: Any = None  # the fitted spec object
    left_out: tuple[str, ...] = ()  # constants the rows cannot determine, kept as they were (no --fit given)
    dimensions: dict[str, str] = field(default_factory=dict)  # path -> "time" or "fraction"

    def value_text(self, path: str, value: float) -> str:
        """A constant's value as the spec writes it (a time with its unit)."""
        return str(_yaml_value(value, self.dimensions.get(path, "")))


def _int(text: str, column: str, most: int) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or not 1 <= int(text) <= most:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"{column}: expected a positive integer, got {shown!r} (at most {most:,})")
    return int(text)


def _row(raw: dict[str, str], line: int, extra: Sequence[str]) -> Measurement:
    """One CSV row as a Measurement; raises ValueError naming the column."""
    from .specs.schema import MAX_BATCH, MAX_DIM

    for column, value in raw.items():
        if isinstance(value, str) and len(value) > MAX_FIELD:
            raise ValueError(f"{column}: {len(value):,} characters; a value has at most {MAX_FIELD:,}")
    for column in (*COMMON, *extra):
        if not (raw.get(column) or "").strip():
            raise ValueError(f"{column}: missing value")
    for column in ("name", "dtype"):
        if len(raw[column].strip()) > MAX_NAME:
            raise ValueError(f"{column}: {len(raw[column].strip()):,} characters; at most {MAX_NAME}")
    text = raw["measured_ms"].strip()
    try:
        measured = float(text)
    except ValueError:
        raise ValueError(f"measured_ms: expected a number of milliseconds, got {text[:40]!r}") from None
    if not math.isfinite(measured) or not MIN_MS <= measured <= MAX_MS:
        raise ValueError(f"measured_ms: expected a time between {MIN_MS:g} ms (1 ns) and {MAX_MS:g} ms, "
                         f"got {text[:40]!r}")
    return Measurement(line, raw["name"].strip(), _int(raw["m"], "m", MAX_DIM), _int(raw["k"], "k", MAX_DIM),
                       _int(raw["n"], "n", MAX_DIM), _int(raw.get("count") or "1", "count", MAX_DIM),
                       raw["dtype"].strip(), _int(raw.get("batch") or "1", "batch", MAX_BATCH), measured / 1e3,
                       raw["source"].strip(), {c: raw[c].strip() for c in extra})


def _issue(message: str, line: int) -> SpecIssue:
    """A row's problem, ``"<column>: <what is wrong>"``, as an issue naming that column and the line."""
    column, sep, rest = message.partition(": ")
    return SpecIssue(rest, column, line) if sep else SpecIssue(message, "", line)


def read_measurements(path: Path, model: Any, hw: Any) -> list[Measurement]:
    """Rows of ``path`` checked against the family's calibration ``model`` on ``hw``; every bad row named by line."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise SpecError(file, [SpecIssue(f"cannot read the measurements: {getattr(exc, 'strerror', None) or exc}")]) \
            from None
    if len(data) > MAX_BYTES:
        raise SpecError(file, [SpecIssue(f"larger than {MAX_BYTES // 2**20} MiB: a measurements file holds at most "
                                         f"{MAX_ROWS} rows of a few hundred characters")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SpecError(file, [SpecIssue(f"not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                                         "", line)]) from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise SpecError(file, [SpecIssue("a NUL character: a measurements file is CSV text", "", line)])
    reader = csv.DictReader(text.splitlines(keepends=True))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise SpecError(file, [SpecIssue(f"cannot read the header as CSV ({exc})", "header", 1)]) from None
    if any(len(c) > MAX_NAME for c in header):
        raise SpecError(file, [SpecIssue(f"a column name longer than {MAX_NAME} characters", "header", 1)])
    missing = [c for c in (*COMMON, *model.COLUMNS) if c not in header]
    if missing:
        raise SpecError(file, [SpecIssue(f"the header lacks {', '.join(missing)} (columns: "
                                         f"{', '.join((*COMMON[:5], *OPTIONAL, *model.COLUMNS, *COMMON[5:]))})",
                                         "header", 1)])
    rows, issues, count = [], [], 0
    while len(issues) < 20:
        line = reader.line_num + 1
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            issues.append(SpecIssue(f"cannot read the row as CSV ({exc})", "row", line))
            break
        line = reader.line_num
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        count += 1
        if count > MAX_ROWS:
            raise SpecError(file, [SpecIssue(f"more than {MAX_ROWS} measurement rows (a fit prices every row a few "
                                             "thousand times); keep the rows that bind the constants to fit", "row",
                                             line)])
        if None in raw:
            issues.append(SpecIssue(f"more values than the {len(header)} columns of the header", "row", line))
            continue
        try:
            row = _row(raw, line, model.COLUMNS)
        except ValueError as exc:
            issues.append(_issue(str(exc), line))
            continue
        problem = model.check_row(hw, row)
        if problem:
            issues.append(_issue(problem, line))
            continue
        rows.append(row)
    if issues:
        raise SpecError(file, issues)
    if not rows:
        raise SpecError(file, [SpecIssue("no measurement rows after the header", "", 2)])
    return rows


def get_value(spec: Any, path: str) -> float:
    """The value at dotted ``path`` of a spec object."""
    for part in path.split("."):
        spec = getattr(spec, part)
    return float(spec)


def with_value(spec: Any, path: str, value: float) -> Any:
    """A copy of the (pydantic) spec with dotted ``path`` set to ``value``."""
    head, _, rest = path.partition(".")
    if not rest:
        return spec.model_copy(update={head: value})
    return spec.model_copy(update={head: with_value(getattr(spec, head), rest, value)})


def _with_all(hw: Any, constants: Sequence[Constant], x: Sequence[float]) -> Any:
    for constant, value in zip(constants, x):
        hw = with_value(hw, constant.path, float(value))
    return hw


def _undetermined(jac: np.ndarray, constants: Sequence[Constant]) -> list[str]:
    """Constants the rows cannot determine: columns (scaled by each constant's range) in the Jacobian's null space."""
    scaled = jac * np.array([c.upper - c.lower for c in constants])
    if scaled.shape[0] == 0 or not np.any(scaled):
        return [c.path for c in constants]
    _, s, vt = np.linalg.svd(scaled, full_matrices=True)
    s = np.concatenate([s, np.zeros(len(constants) - len(s))])
    null = vt[s <= RANK_TOLERANCE * s.max()]
    return [c.path for i, c in enumerate(constants) if null.size and np.abs(null[:, i]).max() > 1e-3]


def _starts(x0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> list[np.ndarray]:
    """Starting points of the fit: the spec's own values, then a 3-level grid over the bounds (1/6, 1/2, 5/6 of each
    range). Predictions are maxima of competing bounds (compute, transfers, DDR), so the residuals are piecewise
    smooth and one start can stall where a constant does not bind; the best of these fits is kept."""
    levels = [lower + f * (upper - lower) for f in (1 / 6, 1 / 2, 5 / 6)]
    grid = itertools.product(*[[level[i] for level in levels] for i in range(len(x0))])
    inside = lower + 1e-9 * (upper - lower)
    return [np.clip(x0, inside, upper)] + [np.array(p) for p in grid]


def _least_squares(hw: Any, rows: Sequence[Measurement], model: Any, constants: Sequence[Constant]) -> Any:
    """The best bounded least-squares fit of ``constants`` over several starts (scipy's result)."""
    from scipy.optimize import least_squares

    x0 = np.array([min(max(get_value(hw, c.path), c.lower), c.upper) for c in constants])
    lower, upper = np.array([c.lower for c in constants]), np.array([c.upper for c in constants])

    def residuals(x: np.ndarray) -> np.ndarray:
        trial = _with_all(hw, constants, x)
        out = np.array([model.predict_s(trial, r) / r.measured_s - 1 for r in rows], dtype=float)
        if not np.all(np.isfinite(out)):  # refused here: the solver must not see an infinity or a NaN
            bad = [r for r, v in zip(rows, out) if not math.isfinite(v)]
            values = ", ".join(f"{c.path} = {float(v):.6g}" for c, v in zip(constants, x))
            raise AccelplanError(
                f"the fit is degenerate: the relative error of {len(bad)} row(s) is not a finite number at {values} "
                f"(line {', '.join(str(r.line) for r in bad[:5])}: a predicted time that overflows, or a measured time "
                "too small to divide by); check those rows' dimensions and measured_ms")
        return out

    return min((least_squares(residuals, start, bounds=(lower, upper), x_scale=upper - lower, diff_step=1e-4)
                for start in _starts(x0, lower, upper)), key=lambda r: r.cost)


def calibrate(hw: Any, rows: Sequence[Measurement], model: Any, fit: Sequence[str] | None = None) -> Calibration:
    """Fit ``model.CONSTANTS`` (or those named in ``fit``) of ``hw`` to ``rows`` by bounded least squares.

    Residuals: ``predicted_s / measured_s - 1`` per row. Constants named in ``fit`` that the rows cannot
    determine raise :class:`AccelplanError` naming them (and why) instead of returning an arbitrary value;
    without ``fit``, those are left as they are (``Calibration.left_out``) and the others fitted.
    """
    by_path = {c.path: c for c in model.CONSTANTS}
    unknown = [name for name in fit or () if name not in by_path]
    if unknown:
        raise AccelplanError(f"cannot fit {', '.join(unknown)}: the constants of {hw.name}'s family are "
                             f"{', '.join(by_path)}")
    constants = [by_path[name] for name in fit] if fit else list(model.CONSTANTS)
    if fit and len(rows) < len(constants):
        raise AccelplanError(f"{len(rows)} rows for {len(constants)} constants cannot determine "
                             f"{', '.join(c.path for c in constants)}: give at least one row per constant, "
                             f"or fit fewer constants with --fit")
    left_out: list[str] = []
    while True:
        result = _least_squares(hw, rows, model, constants)
        lost = _undetermined(np.atleast_2d(result.jac), constants)
        if not lost:
            break
        if fit or len(lost) == len(constants):
            raise AccelplanError(
                f"the {len(rows)} measurement rows cannot determine {', '.join(lost)}: no row's predicted time "
                f"depends on {'it' if len(lost) == 1 else 'them'} independently of the other constants "
                f"({len(rows)} rows for {len(constants)} constants; rank-deficient Jacobian). Add rows bound by "
                f"{'it' if len(lost) == 1 else 'them'}, or fit fewer constants with --fit")
        left_out += lost
        constants = [c for c in constants if c.path not in lost]
    before = [model.predict_s(hw, r) for r in rows]
    fitted = _with_all(hw, constants, result.x)
    after = [model.predict_s(fitted, r) for r in rows]
    return Calibration(hw.name, {c.path: get_value(hw, c.path) for c in constants},
                       {c.path: float(v) for c, v in zip(constants, result.x)},
                       tuple(RowFit(r, b, a) for r, b, a in zip(rows, before, after)), fitted, tuple(left_out),
                       {c.path: c.dimension for c in constants})


def _yaml_value(value: float, dimension: str) -> Any:
    """A fitted value as the spec writes it: a time with its unit, a fraction as a plain number."""
    if dimension == "time":
        return f"{value * 1e6:.6g} us"
    return float(f"{value:.6g}")


def calibrated_yaml(source: Path, calibration: Calibration, model: Any, measurements: Path) -> str:
    """The text of the calibrated hardware spec: ``source`` with the fitted values and a comment naming their origin."""
    import yaml

    from .specs.loader import read_yaml

    data, _ = read_yaml(source)
    dims = {c.path: c.dimension for c in model.CONSTANTS}
    for path, value in calibration.after.items():
        node = data
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _yaml_value(value, dims[path])
    data["name"] = f"{data['name']}-calibrated"
    fitted = ", ".join(f"{p} = {_yaml_value(v, dims[p])}" for p, v in calibration.after.items())
    header = (f"# {source.name} calibrated by `accelplan calibrate {measurements.name}` (bounded least squares on "
              f"{len(calibration.rows)} measured rows, each with its source in {measurements.name}).\n"
              f"# Fitted: {fitted}. Every other value as in {source.name}, whose comments cite their sources.\n")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
