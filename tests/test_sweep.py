"""`accelplan sweep` on a real Dask LocalCluster: rows equal solving each point alone, the cache, a killed sweep
resumed, a killed worker's point retried, and bad sweep specs refused with file, line and field."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from accelplan import api, cli
from accelplan.plan_file import read_plan
from accelplan.sweep.cache import PointCache
from accelplan.sweep.results import PointResult
from accelplan.sweep.run import PointTask, solve_point

ROOT = Path(__file__).resolve().parent.parent

SMALL = """\
name: small
model: deit-tiny
hardware: vck190
execution: spatial
strategy: dp
time_limit_s: 30     # dp proves each point in about a second; the limit (a watchdog enforces it) leaves room on a loaded machine
constraints: {batch: 4}
grid:
  hardware:
    aie.units: [100, 400]
    plio.ports_in: [24, 100]
points:
  - {hardware: {aie.units: 200}, batch: 2}
"""


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster of 2 worker processes, one thread each (what `accelplan sweep --workers 2` starts)."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def _write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_rows_equal_each_point_solved_alone_and_a_second_run_solves_nothing(tmp_path, scheduler, capsys):
    sweep_file = _write(tmp_path, SMALL)
    out, cache = tmp_path / "out" / "sweep", tmp_path / "cache"
    first = api.sweep(sweep_file, out, scheduler=scheduler, cache_dir=cache).result
    assert (first.computed, first.cached, first.workers) == (5, 0, 2)
    rows = _rows(out / "sweep.csv")
    assert [r["point"] for r in rows] == ["001", "002", "003", "004", "005"]
    assert [(r["hardware.aie.units"], r["hardware.plio.ports_in"], r["batch"]) for r in rows] == [
        ("100", "24", "4"), ("100", "100", "4"), ("400", "24", "4"), ("400", "100", "4"), ("200", "100", "2")]
    points = api.load_sweep(sweep_file).points
    for row, point in zip(rows, points):
        alone = api.plan_study(point.study, strategy=point.strategy, time_limit_s=point.time_limit_s,
                               seed=point.seed).plan
        assert row["status"] == alone.solver.status == "optimal"
        for column, value in (("throughput", alone.throughput), ("latency_ms", alone.latency_ms),
                              ("energy_mj", alone.energy_mj), ("objective", alone.objective_value())):
            assert float(row[column]) == pytest.approx(value, rel=1e-12), (row["point"], column)
        assert read_plan(out / row["plan_file"]).throughput == pytest.approx(alone.throughput, rel=1e-12)
        assert float(row["cost"]) == float(row["hardware.aie.units"]) and row["cost_name"] == "units"
    assert len({r["throughput"] for r in rows}) >= 3  # the axes change the plans
    front = _rows(out / "pareto.csv")
    assert [f["point"] for f in front] == ["001", "005", "004"]
    _check_front(front, rows)
    best = _rows(out / "best.csv")
    assert [b["point"] for b in best] == [max(rows, key=lambda r: float(r["throughput"]))["point"]]

    capsys.readouterr()
    assert cli.main(["sweep", str(sweep_file), "-o", str(tmp_path / "out"), "--cache", str(cache), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)  # stdout holds the JSON alone
    assert [r["point"] for r in again] == [r["point"] for r in rows] and all(r["cached"] for r in again)
    assert [r["throughput"] for r in again] == [r.throughput for r in first.rows]
    assert all(r["cached"] == "True" for r in _rows(out / "sweep.csv"))
    assert [f["point"] for f in _rows(out / "pareto.csv")] == ["001", "005", "004"]
    renamed = _write(tmp_path, SMALL.replace("name: small", "name: renamed"), "renamed.yaml")  # same points
    assert api.sweep(renamed, out, cache_dir=cache).result.cached == 5
    assert "renamed point 003" in (out / "points" / "003" / "plan.yaml").read_text()  # the plan file says so


def _check_front(front: list[dict], rows: list[dict]) -> None:
    """No row beats a front row; every row is beaten by, or equal to, a front row."""
    def beats(a: dict, b: dict) -> bool:  # lower or equal cost and higher or equal throughput, not both equal
        ca, cb, ta, tb = float(a["cost"]), float(b["cost"]), float(a["throughput"]), float(b["throughput"])
        return ca <= cb and ta >= tb and (ca, ta) != (cb, tb)

    assert not any(beats(o, f) for f in front for o in rows)
    assert all(any(beats(f, o) or (f["cost"], f["throughput"]) == (o["cost"], o["throughput"]) for f in front)
               for o in rows)


@pytest.mark.slow
def test_the_hardware_cost_is_the_familys_count(tmp_path):
    """AI Engines on versal-aie, chiplets on mcm (a mesh dimension swept by index), devices on a device chain."""
    cases = [("vck190\nexecution: spatial", "aie.units", [100, 300], "units", [100, 300]),
             ("mcm-16", "mesh.1", [5], "chiplets", [20]),
             ("u250-x4-pcie", "devices.0.count", [3], "devices", [3])]
    for hardware, path, values, name, costs in cases:
        sweep_file = _write(tmp_path, f"model: deit-tiny\nhardware: {hardware}\nstrategy: dp\n"
                                      f"constraints: {{batch: 1}}\ngrid: {{hardware: {{{path}: {values}}}}}\n")
        outcomes = [solve_point(PointTask.of(p)) for p in api.load_sweep(sweep_file).points]
        assert [(o.cost.name, o.cost.value) for o in outcomes] == [(name, c) for c in costs], hardware
        assert all(o.plan is not None and o.plan.feasible for o in outcomes), hardware


def test_a_point_its_strategy_refuses_is_a_row_saying_why(tmp_path):
    sweep_file = _write(tmp_path, "model: deit-tiny\nhardware: vck190\nstrategy: dp\nconstraints: {batch: 1}\n"
                                  "grid: {execution: [spatial, hybrid]}\n")
    spatial, hybrid = api.load_sweep(sweep_file).points
    rows = [PointResult.of(p, solve_point(PointTask.of(p)), cached=False) for p in (spatial, hybrid)]
    assert rows[0].status == "optimal" and rows[0].plan_yaml is not None
    assert rows[1].status == "unsupported" and rows[1].plan is None and "dp" in rows[1].message
    assert rows[1].cost is not None and rows[1].cost.value == 400  # tabulated before the strategy refused


EIGHT = """\
name: eight points
model: bert-base
hardware: vck190
execution: spatial
strategy: dp              # exact: the same plans however loaded the machine is
time_limit_s: 30
constraints: {batch: 4}
grid:
  hardware:
    aie.units: [50, 100, 150, 200, 250, 300, 350, 400]
"""


@pytest.mark.slow
def test_a_killed_sweep_resumed_solves_only_the_unfinished_points(tmp_path, scheduler):
    sweep_file = _write(tmp_path, EIGHT)
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "accelplan.cli", "sweep", str(sweep_file),
                             "-o", str(tmp_path / "out"), "--workers", "2", "--cache", str(cache), "--quiet"],  # own cluster
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(PointCache(cache).keys()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its cluster's worker processes, mid-way
    proc.wait()
    finished = PointCache(cache).keys()
    assert 2 <= len(finished) < 8, proc.stderr.read().decode()
    stamps = {k: PointCache(cache).path(k).stat().st_mtime_ns for k in finished}
    assert not (tmp_path / "out" / "sweep").exists()  # killed before writing: no half output folder
    resumed = api.sweep(sweep_file, tmp_path / "out" / "sweep", scheduler=scheduler, cache_dir=cache).result
    assert resumed.cached == len(finished) and resumed.computed == 8 - len(finished)
    assert {r.key for r in resumed.rows if r.cached} == finished
    assert all(r.feasible for r in resumed.rows)
    assert {k: PointCache(cache).path(k).stat().st_mtime_ns for k in finished} == stamps  # not rewritten


@pytest.mark.slow
def test_a_killed_workers_point_is_retried(tmp_path, scheduler):
    from distributed import Client

    sweep_file = _write(tmp_path, "model: deit-tiny\nhardware: vck190\nexecution: hybrid\nstrategy: colgen\n"
                        "constraints: {batch: 4}\ngrid: {hardware: {aie.units: [400]}}\n")  # colgen: seconds
    outcome: dict = {}

    def run() -> None:
        outcome["run"] = api.sweep(sweep_file, tmp_path / "out" / "sweep", scheduler=scheduler,
                                   cache_dir=tmp_path / "cache")

    thread = threading.Thread(target=run)
    with Client(scheduler) as client:
        pids = client.run(os.getpid)
        thread.start()
        deadline, busy = time.monotonic() + 30, {}
        while time.monotonic() < deadline and not busy:
            busy = {w: k for w, keys in client.processing().items() for k in keys if k.startswith("accelplan-point")}
            time.sleep(0.02)
        assert busy, "the point never started"
        (worker, key), = busy.items()
        time.sleep(0.2)  # colgen on this point takes seconds: it is running
        os.kill(pids[worker], signal.SIGKILL)
        thread.join(timeout=60)
        assert not thread.is_alive()
        story = client.run_on_scheduler(lambda dask_scheduler: [list(t) for t in dask_scheduler.story(key)])
        assert pids[worker] not in client.run(os.getpid).values()  # that worker process really died
    moves = [(t[1], t[2], t[4].rsplit("-", 1)[0]) for t in story]  # (from, to, what caused it)
    lost = moves.index(("processing", "released", "handle-worker-cleanup"))  # the worker died while running it
    assert ("waiting", "processing", "handle-worker-cleanup") in moves[lost:]  # given to a worker again
    assert moves[-2][:2] == ("processing", "memory"), moves  # and finished there
    result = outcome["run"].result
    assert result.computed == 1 and result.rows[0].feasible and result.rows[0].status == "optimal"


@pytest.mark.parametrize("grid, field, message", [
    ("grid:\n  hardware:\n    aie.unitz: [100]\n", "grid.hardware.aie.unitz", "fields of aie: units, grid"),
    ("grid:\n  hardware:\n    aie.units: [100, -5]\n", "grid.hardware.aie.units[1]", "hardware field aie.units"),
    ("grid:\n  hardware:\n    aie.units: [900]\n", "grid.hardware.aie.units[0]", "holds fewer than 900 units"),
    ("grid:\n  batch: [4, 0]\n", "grid.batch[1]", "greater than 0"),
    ("grid:\n  execution: [hybrid, merged-pipeline]\n", "grid.execution[1]", "valid: sequential, spatial, replicated, hybrid"),
    ("grid:\n  model: [bert-base, no-such-model]\n", "grid.model[1]", "no built-in model named 'no-such-model'"),
    ("grid:\n  colour: [red]\n", "grid.colour", "unknown field; allowed fields here: hardware, model, batch"),
    ("points:\n  - {hardware: {mesh: [2, 2]}}\n", "points[0].hardware.mesh", "not a field of versal-aie hardware"),
])
def test_bad_sweep_specs_exit_2_naming_file_line_and_field(tmp_path, capsys, grid, field, message):
    sweep_file = _write(tmp_path, "model: deit-tiny\nhardware: vck190\n" + grid)
    line = 3 + grid.count("\n") - 1
    assert cli.main(["sweep", str(sweep_file), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{sweep_file}:{line}: {field}: " in err and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "sweep").exists()
    assert cli.main(["validate", str(sweep_file)]) == 2
    assert f"{sweep_file}:{line}: {field}: " in capsys.readouterr().err


def test_a_sweep_without_points_or_base_study_is_refused(tmp_path, capsys):
    sweep_file = _write(tmp_path, "model: deit-tiny\ngrid: {batch: [1]}\n")
    assert cli.main(["validate", str(sweep_file)]) == 2
    assert "give a base study" in capsys.readouterr().err


def test_bundled_sweep_schema_and_list(tmp_path, capsys):
    import jsonschema
    import yaml

    bundled = ROOT / "specs" / "sweeps" / "bert-base_vck190.yaml"
    sweep = api.load_sweep(bundled)
    assert len(sweep.points) == 64 and sweep.axes == ("hardware.aie.units", "hardware.plio.ports_in")
    assert len({p.key for p in sweep.points}) == 64 and {p.strategy for p in sweep.points} == {"dp"}
    assert cli.main(["schema", "sweep"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.validate(yaml.safe_load(bundled.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"model": "bert-base", "hardware": "vck190", "grid": {"batch": ["x"]}}, schema)
    _write(tmp_path, SMALL)
    _write(tmp_path, "model: deit-tiny\nhardware: vck190\n", "study.yaml")
    found = [(u.kind, u.path.name) for u in api.user_specs(tmp_path)]
    assert found == [("study", "study.yaml"), ("sweep", "sweep.yaml")]


def test_the_embedded_cluster_listens_on_loopback_only() -> None:
    """The scheduler, its workers and the dashboard of a sweep's own cluster bind 127.0.0.1, not every interface."""
    from accelplan.sweep.run import dask_client

    import psutil

    def listening(process: psutil.Process) -> set[str]:
        return {c.laddr.ip for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}

    me = psutil.Process()
    before = listening(me)
    with dask_client(workers=1) as client:
        info = client.scheduler_info()
        assert info["address"].startswith("tcp://127.0.0.1:")
        ips = listening(me) - before | {ip for child in me.children(recursive=True) for ip in listening(child)}
        assert ips and ips <= {"127.0.0.1"}, ips
