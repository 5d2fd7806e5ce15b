"""Reports that explain the plan (issue 25 item 7; the Gantt of issue 24 item 2): the bottleneck named for every family,
per-layer times and bounds recorded in the plan, the Gantt drawn from the plan's schedule up to its latency, budgets
in words, the study's bounds shown, Markdown and HTML with the same sections, terminal lines free of Markdown."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from accelplan import api
from accelplan.families import build_problem
from accelplan.plan import Budget
from accelplan.plan_file import plan_to_yaml, read_plan
from accelplan.reports.figures import gantt, gantt_bars, gantt_chart, roofline_points
from accelplan.reports.html import report_html
from accelplan.reports.markdown import report_markdown
from accelplan.reports.summary import summary_json, summary_table
from accelplan.reports.tables import budget_rows, quantity
from accelplan.solvers import solve

from conftest import random_mcm_problem, random_problem


def _plan(problem, strategy="dp"):
    return solve(problem, strategy, 20, 0)


@pytest.fixture(scope="module")
def hybrid():
    """A re-entrant-capable hybrid plan of a small random versal-aie study at batch 3."""
    from conftest import variant
    problem = variant(random_problem(3, "throughput", layers=(5, 6)), execution="hybrid", batch=3)
    return problem, solve(problem, "colgen", 20, 0)


def test_versal_plan_names_its_bottleneck_and_layer_bounds(hybrid) -> None:
    problem, plan = hybrid
    assert plan.feasible and plan.bottleneck, plan.bottleneck
    assert "-bound" in plan.bottleneck or "DDR channel" in plan.bottleneck
    assert plan.layer_terms[:3] == ("compute", "PLIO", "DDR") and "launch" in plan.layer_terms
    assert [t.name for t in plan.layer_times] == [layer.name for layer in problem.layers]
    for t in plan.layer_times:
        acc = plan.accelerators[t.accelerator]
        assert t.name in acc.layers and t.bound in plan.layer_terms
        # the bound is the term that sets the time: max(compute, PLIO, DDR) + DDR store + launch + element-wise
        over, added = t.terms_ms[:3], t.terms_ms[3:]
        assert t.time_ms == pytest.approx(max(over) + sum(added), rel=1e-9)
        assert t.terms_ms[plan.layer_terms.index(t.bound)] == pytest.approx(max(max(over), *added))
        assert 0 < t.mac_efficiency <= 1
    for acc in plan.accelerators:  # the layers' times add up to the busy time
        assert sum(t.time_ms for t in plan.layer_times if t.accelerator == acc.index) == pytest.approx(acc.busy_ms)


def test_mcm_plan_names_its_bottleneck_and_layer_bounds() -> None:
    problem = random_mcm_problem(5, "throughput", layers=(4, 5))
    plan = _plan(problem)
    assert plan.feasible and plan.bottleneck
    assert plan.layer_terms and plan.layer_terms[0] == "compute"
    assert len(plan.layer_times) == problem.n_layers
    for acc in plan.accelerators:
        assert sum(t.time_ms for t in plan.layer_times if t.accelerator == acc.index) == pytest.approx(acc.busy_ms)
    assert all(t.bound in plan.layer_terms for t in plan.layer_times)


@pytest.mark.slow
def test_every_built_in_family_names_a_bottleneck(root) -> None:
    """versal-aie, mcm, multi-device and gpu: ``bottleneck`` in --json is never empty."""
    for model, hardware, batch in (("deit-tiny", "vck190", 1), ("resnet50", "mcm-16", 2), ("gpt2-small", "a100", 1),
                                   ("resnet50", "u250-x4-pcie", 1)):
        study = api.make_study(model=model, hardware=hardware, batch=batch)
        plan = api.plan_study(study, time_limit_s=20).plan
        assert plan.feasible, (hardware, plan.violations)
        assert summary_json(plan)["bottleneck"], hardware


def test_gantt_draws_the_plans_schedule_up_to_its_latency(hybrid) -> None:
    _, plan = hybrid
    runs = sorted((a, i, l, s, e) for a, acc in enumerate(plan.accelerators) for i, l, s, e in acc.schedule)
    assert runs, "the plan records its schedule"
    chart = gantt_chart(plan)
    drawn = [(row, round(s, 9), round(s + w, 9)) for (row, s, w, _, _), _, _ in chart.bars]
    assert sorted(drawn) == sorted((a, round(s, 9), round(e, 9)) for a, _, _, s, e in runs)
    x = chart.frame.x
    assert (x.lo, x.hi) == pytest.approx((0.0, plan.latency_ms))
    bars = gantt_bars(plan)
    assert {(row, i) for row, _, _, i, _ in bars} == {(a, i) for a, i, *_ in runs}  # colour by input
    assert len({colour for (*_, i, _), colour, _ in chart.bars}) == min(20, plan.batch)
    # the SVG draws one rect per bar, where the time axis puts it (to the 0.01 px it writes)
    rects = re.findall(r'<rect class="bar" x="([-\d.]+)" y="[-\d.]+" width="([-\d.]+)"', gantt(plan))
    assert len(rects) == len(runs)
    for (left, width), ((_, s, w, _, _), _, _) in zip(rects, chart.bars):
        assert float(left) == pytest.approx(x(s), abs=0.006)
        assert float(width) == pytest.approx(x(s + w) - x(s), abs=0.02)
    # under the pointer each bar names its accelerator, layer, input and times, as the plan records them
    titles = re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title></rect>', gantt(plan))
    a, i, l, s, e = runs[-1]
    acc = plan.accelerators[a]
    assert len(titles) == len(runs) and f"#{acc.index} {acc.layers[l]}, input {i}: {s:.4g}-{e:.4g} ms" in titles


def test_gantt_of_a_segment_plan_ends_at_its_latency() -> None:
    plan = _plan(random_mcm_problem(2, "throughput", layers=(4, 5)))
    assert gantt_chart(plan).frame.x.hi == pytest.approx(plan.latency_ms)


def test_figures_are_scalable_svg_with_their_words_escaped(hybrid) -> None:
    """Every figure of the report is an SVG element with a viewBox, well-formed XML; a name with markup in it is
    written as text."""
    import xml.etree.ElementTree as ET
    from accelplan.reports.html import FIGURES
    _, plan = hybrid
    first = plan.accelerators[0]
    odd = replace(plan, accelerators=(replace(first, config="<b>&x", layers=("<i>",) + first.layers[1:]),
                                      *plan.accelerators[1:]))
    for name, draw in FIGURES.items():
        svg = ET.fromstring(draw(odd))
        assert svg.tag == "{http://www.w3.org/2000/svg}svg" and len(svg.get("viewBox").split()) == 4, name
    assert "&lt;b&gt;&amp;x" in FIGURES["plan"](odd) and "&lt;b&gt;&amp;x" in FIGURES["utilisation"](odd)
    assert "<b>" not in report_html(odd) and "<i>" not in report_html(odd)


def test_budget_rows_in_words_and_units(hybrid) -> None:
    _, plan = hybrid
    rows = budget_rows(plan)
    names = [r[0] for r in rows]
    for raw in ("units", "ports_in", "ports_out", "buffer_bytes"):
        assert raw not in names and not any(raw in n for n in names)
    assert "AI Engines" in names and "PLIO input ports" in names and "PL buffer" in names
    assert all(re.fullmatch(r"[\d,.]+( KiB| MiB| ms)?", cell) for r in rows for cell in r[1:]), rows
    assert quantity(1_296_000.0, "") == "1,296,000"
    odd = replace(plan, family="multi-device", budgets=(Budget("device 0: LUT", 1_296_000.0, 1_728_000.0),))
    assert budget_rows(odd) == [("device 0: LUTs", "1,296,000", "1,728,000")]


def test_study_bounds_beside_the_figures(hybrid) -> None:
    problem, _ = hybrid
    bounded = problem.with_latency_bound(10.0)
    plan = solve(replace(bounded, throughput_min=1.0), "colgen", 20, 0)
    assert plan.latency_max_ms == pytest.approx(10_000.0) and plan.throughput_min == 1.0
    md, html = report_markdown(plan), report_html(plan)
    for text in (md, html):
        assert "latency bound" in text and "throughput floor" in text
    assert "latency bound 1e+04 ms (met" in summary_table(plan)
    again = read_plan_text(plan)
    assert again.latency_max_ms == plan.latency_max_ms and again.layer_times == plan.layer_times


def read_plan_text(plan):
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "plan.yaml"
        path.write_text(plan_to_yaml(plan))
        return read_plan(path)


def test_markdown_and_html_carry_the_same_sections(hybrid) -> None:
    _, plan = hybrid
    md, html = report_markdown(plan), report_html(plan)
    md_sections = re.findall(r"^## (.+)$", md, re.M)
    html_sections = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2>(.*?)</h2>", html)]
    assert md_sections == html_sections
    for must in ("Solver", "Schedule of one batch", "Layers: time and what sets it", "Roofline", "Shared budgets",
                 "Model"):
        assert must in md_sections
    import html as html_
    assert plan.bottleneck.split(";")[0] in md and plan.bottleneck.split(";")[0] in html_.unescape(html)
    from accelplan.reports.tables import model_note
    assert model_note(plan)[:60] in html_.unescape(html)
    assert len(re.findall(r"<svg ", html)) == 4 and "<img " not in html  # plan, Gantt, utilisation, roofline


def test_roofline_points_read_the_recorded_terms(hybrid) -> None:
    _, plan = hybrid
    points = roofline_points(plan)
    assert len(points) == len(plan.layer_times)
    for (name, x, y, bound), t in zip(points, plan.layer_times):
        assert name == t.name and y == t.mac_efficiency and bound == t.bound
        assert (x >= 1) == (t.terms_ms[0] >= max(t.terms_ms[1:]))


def test_terminal_lines_have_no_markdown(hybrid) -> None:
    from accelplan.plan import SolverFacts
    _, plan = hybrid
    text = summary_table(replace(plan, solver=SolverFacts("dp", "feasible", objective=1.0)))
    assert "**" not in text and "-%" not in text and "gap -" in text
    assert f"bottleneck: {plan.bottleneck}" in text


def test_old_plans_without_layer_records_still_report(hybrid) -> None:
    _, plan = hybrid
    bare = replace(plan, layer_terms=(), layer_times=(), bottleneck="", latency_max_ms=None)
    md, html = report_markdown(bare), report_html(bare)
    assert "Layers: time and what sets it" not in md and "Roofline" not in html
    assert re.findall(r"^## (.+)$", md, re.M) == [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2>(.*?)</h2>", html)]
