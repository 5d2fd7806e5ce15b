"""A plan's figures as inline SVG (report.html draws them: :data:`accelplan.reports.html.FIGURES`).

Each reads the plan (and its family's words) alone. Python lays a figure out (its :class:`Frame`: the plot area,
the scales and the words around it; the marks in data coordinates); a Jinja2 template under
``templates/figures/`` draws it, every text escaped, in a ``viewBox`` so it scales with the page. No matplotlib:
a solve draws its report without importing it (Pareto fronts, anytime curves and sweeps still write PNGs, :mod:`.png`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .jinja import template
from .tables import fmt, words

if TYPE_CHECKING:
    from markupsafe import Markup

    from ..plan import AcceleratorPlan, Plan

WIDTH = 960.0  # every figure's viewBox width; heights follow the rows
TITLE_H, AXIS_H = 30.0, 44.0  # above the plot area (the title), below it (ticks and the x label)
CHAR = 0.58  # average glyph width over the font size, to leave room for a text before the browser measures it
#: matplotlib's tab10 and tab20, the colours the PNG figures had
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
TAB20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
         "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5")


@dataclass(frozen=True)
class Scale:
    """Values from ``lo`` to ``hi`` onto pixels from ``start`` to ``end``, evenly or (``log``) by decades."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        """The pixel of ``value``."""
        f = math.log10 if self.log else float
        span = (f(self.hi) - f(self.lo)) or 1.0
        return self.start + (self.end - self.start) * (f(value) - f(self.lo)) / span

    def ticks(self, most: int = 8) -> tuple[tuple[float, str], ...]:
        """(pixel, label) of round values within the range: decades on a log scale, else steps of 1, 2, 2.5 or 5
        times a power of ten, at most ``most`` + 1 of them."""
        if self.log:
            values = [10.0 ** k for k in range(math.ceil(math.log10(self.lo)), math.floor(math.log10(self.hi)) + 1)]
        else:
            raw = (self.hi - self.lo) / most or 1.0
            power = 10.0 ** math.floor(math.log10(raw))
            step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
            values = [round(k * step, 12) for k in range(math.ceil(self.lo / step - 1e-9),
                                                         math.floor(self.hi / step + 1e-9) + 1)]
        return tuple((self(v), f"{v:g}") for v in values)


@dataclass(frozen=True)
class Frame:
    """A figure's size, its plot area (pixels), its x scale and what is written around it; ``y_ticks`` are (pixel,
    label), ``grid`` the axes whose ticks draw grid lines ("x", "xy" or "")."""

    height: float
    top: float
    bottom: float
    title: str
    x: Scale
    x_label: str
    x_ticks: tuple[tuple[float, str], ...]
    y_label: str = ""
    y_ticks: tuple[tuple[float, str], ...] = ()
    grid: str = ""
    box: bool = True  # the plot area framed on four sides (else the x axis only)
    width: float = WIDTH

    @property
    def left(self) -> float:
        return self.x.start

    @property
    def right(self) -> float:
        return self.x.end


@dataclass(frozen=True)
class Rows:
    """One horizontal band per accelerator below ``top``: its centre and the bars' height (0.8 of the band)."""

    top: float
    pitch: float

    def __call__(self, row: int) -> float:
        """The centre pixel of ``row``."""
        return self.top + (row + 0.5) * self.pitch

    @property
    def bar(self) -> float:
        return 0.8 * self.pitch


def text_px(text: str, size: float) -> float:
    """About how wide ``text`` is at font size ``size`` (px)."""
    return CHAR * size * len(text)


def _short(text: str, most: int = 90) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def _rows_frame(n: int, rows: Rows, x: Scale, **around: Any) -> Frame:
    """The frame of a figure of ``n`` rows of ``rows`` on the x scale ``x`` (its ticks unless ``around`` gives them);
    ``around``: the rest of the :class:`Frame`'s fields."""
    bottom = rows.top + max(1, n) * rows.pitch
    return Frame(height=bottom + AXIS_H, top=rows.top, bottom=bottom, x=x, **{"x_ticks": x.ticks(), **around})


def _draw(name: str, **context: Any) -> "Markup":
    """``templates/figures/<name>.svg.j2`` rendered, as markup the report inserts unescaped."""
    from markupsafe import Markup

    return Markup(template(f"figures/{name}.svg.j2").render(**context))


# ------------------------------------------------------------------------------------------------ the plan


def plan_caption(plan: "Plan") -> str:
    """The plan picture's title: the units in use at once (a plan of segments reuses the device: its busiest
    segment's)."""
    w, per_segment = words(plan), {}
    for a in plan.accelerators:
        per_segment[a.when()] = per_segment.get(a.when(), 0) + a.units
    segments = f" at once (the most of any of its {plan.segments} segments)" if plan.segments > 1 else ""
    return (f"{len(plan.accelerators)} {w.accelerators} using {max(per_segment.values(), default=0)} {w.units}"
            f"{segments}")


def plan_label(plan: "Plan", a: "AcceleratorPlan") -> str:
    """What the plan picture writes beside an accelerator: index, segment, configuration, size, first operators."""
    units = words(plan).units
    names = ", ".join(a.layers[:4]) + (f", … (+{len(a.layers) - 4})" if len(a.layers) > 4 else "")
    where = f"{a.when()}, " if plan.segments > 1 else ""
    size = "" if units in a.config else f", {a.units} {units}"
    return _short(f"#{a.index} {where}{a.config}{size}: {names}")


def plan_picture(plan: "Plan") -> "Markup":
    """Accelerators as boxes whose length is their unit count (colour by index), with configuration and operators
    beside them; the title counts the units in use at once."""
    widest = max((a.units for a in plan.accelerators), default=1)
    rows = Rows(TITLE_H, 34.0)
    x = Scale(0.0, widest, 16.0, 0.42 * WIDTH)
    frame = _rows_frame(len(plan.accelerators), rows, x, title=plan_caption(plan), x_label=words(plan).units,
                        x_ticks=((x(0), "0"), (x(widest), f"{widest:g}")), box=False)
    boxes = [(rows(row), a.units, TAB10[a.index % 10], plan_label(plan, a)) for row, a in enumerate(plan.accelerators)]
    return _draw("plan", f=frame, rows=rows, boxes=boxes)


# ------------------------------------------------------------------------------------------------ the Gantt chart


def gantt_bars(plan: "Plan") -> list[tuple[int, float, float, int, int]]:
    """The bars the Gantt chart draws: (row, start ms, width ms, input, layer index into the accelerator's layers or
    -1). From each accelerator's recorded ``schedule`` (every operator run of the batch as the plan's dispatch runs
    it) where the plan records one, else input ``i`` at ``start_ms + i * pace_ms`` for ``busy_ms``."""
    bars = []
    scheduled = any(getattr(a, "schedule", ()) for a in plan.accelerators)
    for row, a in enumerate(plan.accelerators):
        if scheduled:
            bars += [(row, start, end - start, i, layer) for i, layer, start, end in getattr(a, "schedule", ())]
        else:
            bars += [(row, a.start_ms + i * a.pace_ms, a.busy_ms, i, -1) for i in range(plan.batch)]
    return bars


@dataclass(frozen=True)
class Gantt:
    """The Gantt chart laid out: its frame and rows; the bars of :func:`gantt_bars`, each with its colour (by
    input) and the words a pointer over it shows (accelerator, layer, input, start and end); the layer names written
    on wide bars (centre ms, row, name); the span no accelerator covers ((from, to) ms, or None) and the study's
    latency bound (ms) where the time axis reaches it."""

    frame: Frame
    rows: Rows
    bars: tuple[tuple[tuple[int, float, float, int, int], str, str], ...]
    labels: tuple[tuple[float, int, str], ...]
    unplaced: tuple[float, float] | None
    bound_ms: float | None


LABEL_SIZE = 9.0  # font size of the layer names on the Gantt's bars


def gantt_labels(plan: "Plan", bars: list, x: Scale) -> tuple[tuple[float, int, str], ...]:
    """Layer names on the bars at least 1/25 of the time axis wide, at most 40, each cut to its bar's width (and 14
    characters)."""
    out = []
    for row, s, w, _, layer in bars:
        room = int((x(s + w) - x(s)) / (CHAR * LABEL_SIZE))
        if layer >= 0 and w >= (x.hi - x.lo) / 25 and room >= 2 and len(out) < 40:
            out.append((s + w / 2, row, _short(plan.accelerators[row].layers[layer], min(14, room))))
    return tuple(out)


def gantt_chart(plan: "Plan") -> Gantt:
    """The Gantt chart of one batch laid out: :func:`gantt_bars` coloured by input, the time axis from 0 to the plan's
    latency, the span no accelerator covers shaded, the latency bound as a line where it is within."""
    bars = gantt_bars(plan)
    end = plan.latency_ms or max((s + w for _, s, w, _, _ in bars), default=1.0)
    rows, x = Rows(TITLE_H, 36.0), Scale(0.0, end, 64.0, WIDTH - 16.0)
    title = (f"one batch of {plan.batch}: latency {fmt(plan.latency_ms, '.4f')} ms, period "
             f"{fmt(plan.period_ms, '.4f')} ms" + ("; colour = input" if plan.batch > 1 else ""))
    frame = _rows_frame(len(plan.accelerators), rows, x, title=title, x_label="time (ms)",
                        y_label=words(plan).accelerator, grid="x",
                        y_ticks=tuple((rows(r), f"#{a.index}") for r, a in enumerate(plan.accelerators)))
    covered = max((s + w for _, s, w, _, _ in bars), default=0.0)
    bound = plan.latency_max_ms if plan.latency_max_ms is not None and plan.latency_max_ms <= end else None
    return Gantt(frame, rows, tuple((b, TAB20[b[3] % 20], _bar_words(plan, b)) for b in bars), gantt_labels(plan, bars, x),
                 (covered, end) if covered < end * (1 - 1e-6) else None, bound)


def _bar_words(plan: "Plan", bar: tuple[int, float, float, int, int]) -> str:
    """What a Gantt bar is, for the pointer: ``#1 layer0.q, input 3: 0.512-0.540 ms``."""
    row, start, width, i, layer = bar
    acc = plan.accelerators[row]
    what = acc.layers[layer] if 0 <= layer < len(acc.layers) else "its layers"
    return f"#{acc.index} {what}, input {i}: {start:.4g}-{start + width:.4g} ms"


def gantt(plan: "Plan") -> "Markup":
    """The Gantt chart of one batch (:func:`gantt_chart`) as SVG."""
    return _draw("gantt", g=gantt_chart(plan))


# ------------------------------------------------------------------------------------------------ utilisation


def _legend_width(entries: tuple[tuple[str, str, str], ...]) -> float:
    """The room a legend of (label, colour, mark) entries takes right of the plot area."""
    return 48.0 + max(text_px(label, 10.0) for label, _, _ in entries)


def utilisation(plan: "Plan") -> "Markup":
    """Busy share of the period and, over it, the useful MAC share, per accelerator; the legend outside the bars."""
    labels = [_short(f"#{a.index} {a.config}", 40) for a in plan.accelerators]
    legend = (("busy / period", TAB10[0], "bar"), ("useful MAC share", TAB10[1], "bar"))
    left = 24.0 + max((text_px(label, 11.0) for label in labels), default=0.0)
    rows, x = Rows(12.0, 28.0), Scale(0.0, 100.0, left, WIDTH - _legend_width(legend))
    frame = _rows_frame(len(labels), rows, x, title="", x_label="% of the pipeline period", grid="xy",
                        y_ticks=tuple((rows(r), label) for r, label in enumerate(labels)))
    bars = [(rows(r), 100 * a.utilization, 100 * a.mac_efficiency * a.utilization)
            for r, a in enumerate(plan.accelerators)]
    return _draw("utilisation", f=frame, rows=rows, bars=bars, legend=legend)


# ------------------------------------------------------------------------------------------------ the roofline


def roofline_points(plan: "Plan") -> list[tuple[str, float, float, str]]:
    """(layer, compute time / slowest other term, attained share of the peak, bound) per layer whose terms the plan
    records: the first term is the compute time; the others are the transfers and fixed costs it is set against."""
    out = []
    for t in plan.layer_times:
        if len(t.terms_ms) < 2 or t.terms_ms[0] <= 0:
            continue
        other = max(t.terms_ms[1:])
        out.append((t.name, t.terms_ms[0] / other if other > 0 else float("inf"), t.mac_efficiency, t.bound))
    return out


def roofline(plan: "Plan") -> "Markup":
    """Normalised roofline: per layer (a dot coloured by its bound, its name on hover) the attained share of its
    accelerator's peak MAC rate against compute time over its slowest other term (1: the ridge); the roof min(1, x)
    on a log x axis."""
    points = [p for p in roofline_points(plan) if math.isfinite(p[1])]
    bounds = list(dict.fromkeys(p[3] for p in points))
    legend = (("roof (no loss)", "#000", "line"),
              *((f"{b or '—'}-bound", TAB10[k % 10], "dot") for k, b in enumerate(bounds)))
    xs = [p[1] for p in points] or [1.0]
    top, bottom = TITLE_H, 440.0 - AXIS_H
    x = Scale(min(min(xs) / 2, 0.1), max(max(xs) * 2, 10.0), 64.0, WIDTH - _legend_width(legend), log=True)
    y = Scale(0.0, 1.05, bottom, top)
    frame = Frame(height=440.0, top=top, bottom=bottom, title=f"roofline of {len(points)} layers", x=x,
                  x_label="compute time / slowest other term (ridge at 1)", x_ticks=x.ticks(),
                  y_label="attained share of the peak MAC rate", y_ticks=y.ticks(6), grid="xy")
    roof = [(x(v), y(min(1.0, v))) for v in (x.lo * (x.hi / x.lo) ** (k / 100) for k in range(101))]
    dots = [(x(p[1]), y(p[2]), TAB10[bounds.index(p[3]) % 10], p[0]) for p in points]
    return _draw("roofline", f=frame, roof=roof, dots=dots, legend=legend)
