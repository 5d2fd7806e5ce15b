"""Pareto fronts over several batch sizes, and the sentence per front saying where each execution model wins."""

from __future__ import annotations

import subprocess
import sys

import pytest

from accelplan.reports.pareto import pareto_rows, pareto_sentences
from accelplan.sweeps import Front, FrontPoint, merged_fronts, non_dominated, pareto_fronts, wins

from conftest import random_problem, variant


def _point(execution: str, latency_ms: float, throughput: float) -> FrontPoint:
    return FrontPoint(execution, latency_ms, throughput, 1.0, True, "dp", None, None)  # type: ignore[arg-type]


def test_wins_split_the_latency_axis_by_hand() -> None:
    """sequential is alone below 2 ms; spatial leads from 2 to 5 ms; hybrid from 5 ms up; replicated never."""
    fronts = [Front("sequential", "dp", (_point("sequential", 1.0, 100.0), _point("sequential", 8.0, 150.0))),
              Front("spatial", "dp", (_point("spatial", 2.0, 300.0),)),
              Front("replicated", "dp", (_point("replicated", 3.0, 250.0),)),
              Front("hybrid", "colgen", (_point("hybrid", 5.0, 400.0),))]
    got = {w.execution: (w.ranges, w.throughput, w.lowest_ms) for w in wins(fronts)}
    assert got == {"sequential": (((1.0, 2.0),), 100.0, 1.0), "spatial": (((2.0, 5.0),), 300.0, 2.0),
                   "replicated": ((), 0.0, 3.0), "hybrid": (((5.0, None),), 400.0, 5.0)}
    lines = pareto_sentences(fronts)
    assert lines[0].startswith("sequential gives the most throughput for latency bounds from 1 to 2 ms")
    assert lines[2].startswith("replicated gives the most throughput under no latency bound")
    assert "from 5 ms up" in lines[3]


def test_a_tie_goes_to_the_narrower_model_and_empty_fronts_say_why() -> None:
    fronts = [Front("spatial", "dp", (_point("spatial", 2.0, 300.0),)),
              Front("hybrid", "colgen", (_point("hybrid", 2.0, 300.0),)),
              Front("other", "milp", (), "stopped: no plan in time")]
    assert [w.ranges for w in wins(fronts)] == [((2.0, None),), (), ()]
    assert pareto_sentences(fronts)[2] == "other: no plan (stopped: no plan in time)."


@pytest.mark.slow
def test_fronts_over_batches_merge_into_one_front_per_execution_model() -> None:
    """Each batch's exact fronts on a random problem, merged: every merged point is one of theirs, none is dominated
    by any of theirs, and rows give each point's batch."""
    base = random_problem(11, "throughput")
    per_batch = []
    for batch in (1, 4):
        problems = {e: variant(base, execution=e, batch=batch) for e in ("sequential", "spatial", "hybrid")}
        per_batch.append(pareto_fronts(problems, "auto", max_points=4, time_limit_s=20))
    merged = merged_fronts(per_batch)
    assert [f.execution for f in merged] == ["sequential", "spatial", "hybrid"]
    for k, front in enumerate(merged):
        theirs = [q for fronts in per_batch for q in fronts[k].points]
        assert front.points and all(q in theirs for q in front.points)
        assert list(front.points) == non_dominated(theirs)
    assert {r["batch"] for r in pareto_rows(merged)} <= {1, 4}


@pytest.mark.parametrize("value", ["0", "1,x", ""])
def test_pareto_refuses_a_bad_batch_list(value: str, tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "accelplan.cli", "pareto", "--model", "deit-tiny", "--hardware",
                           "vck190", "--batch", value, "-o", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--batch" in proc.stderr
