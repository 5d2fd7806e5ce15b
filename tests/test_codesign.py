"""accelplan codesign (issue 27): the spec's errors, the front against an exhaustive grid, pruning and resuming."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from accelplan import api, families
from accelplan.cli import main
from accelplan.codesign.results import best
from accelplan.codesign.run import distributions, open_study, prune_reason
from accelplan.codesign.spec import candidate, cost_of, load_codesign
from accelplan.solvers.storages import open_storage
from accelplan.sweep.run import PointTask, solve_point
from conftest import ROOT

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
import toy_family  # noqa: E402


@pytest.fixture(autouse=True)
def toy_registered():
    families.register(toy_family.FAMILY)
    yield
    families.unregister(toy_family.FAMILY.name)


def _files(folder: Path, trials: int = 30, units: str = "{low: 1, high: 4}", extra: str = "") -> Path:
    (folder / "toy.yaml").write_text("name: toy\nfamily: toy-units\nunits: 4\nmacs_per_cycle: 8\nclock_hz: 1000000\n"
                                     "overhead_cycles: 0\nunit_power_w: 0.5\nstatic_power_w: 1.0\n")
    (folder / "m.yaml").write_text(textwrap.dedent("""\
        name: m
        dtype: int8
        batch: 2
        operators:
          - {name: l0, kind: linear, m: 64, k: 128, n: 96}
          - {name: l1, kind: linear, m: 16, k: 64, n: 32}
          - {name: l2, kind: linear, m: 64, k: 128, n: 8}
        """))
    spec = folder / "cd.yaml"
    spec.write_text(textwrap.dedent(f"""\
        name: toy co-design
        model: m.yaml
        hardware: toy.yaml
        execution: chain
        objective: throughput
        time_limit_s: 20
        trials: {trials}
        seed: 1
        space:
          hardware:
            units: {units}
            macs_per_cycle: [4, 8]
            overhead_cycles: [0, 100]
          dtype: [int8, int16]
        objectives:
          - throughput
          - cost
        more: {{overhead_cycles: smaller}}   # fewer cycles per launch is the better hardware
        cost:
          units: 2
          macs_per_cycle: {{"4": 1, "8": 3}}
        {extra}"""))
    return spec


def _grid(spec: Path) -> list[tuple[dict, float, float]]:
    """Every candidate of the space solved: (values, throughput, cost)."""
    cd = load_codesign(spec)
    out = []
    axes = [[(p.name, v) for v in p.grid()] for p in cd.parameters]
    for combo in itertools.product(*axes):
        values = dict(combo)
        c = candidate(cd, values)
        outcome = solve_point(PointTask(c.study, cd.strategy, cd.time_limit_s, cd.seed, c.run))
        assert outcome.plan is not None and outcome.plan.solver.status == "optimal"
        out.append((values, outcome.plan.throughput, cost_of(cd, values)))
    return out


@pytest.mark.parametrize("units, trials, size", [
    ("[2, 4]", 8, 16),
    pytest.param("{low: 1, high: 4}", 24, 32, marks=pytest.mark.slow),
])
def test_the_front_holds_the_best_point_of_the_exhaustive_grid(tmp_path, units, trials, size):
    spec = _files(tmp_path, trials=trials, units=units)
    grid = _grid(spec)
    assert len(grid) == size
    top = max(g[1] for g in grid)
    best_grid = min((g for g in grid if g[1] == pytest.approx(top, rel=1e-9)), key=lambda g: g[2])
    done = api.codesign(spec, tmp_path / "out" / "codesign")
    cd = done.codesign
    found = [(r.metrics["throughput"], r.metrics["cost"]) for r in done.front]
    assert any(t == pytest.approx(best_grid[1], rel=1e-9) and c == best_grid[2] for t, c in found), (found, best_grid)
    # every front point is what the grid solved for its values
    truth = {tuple(sorted(g[0].items())): (g[1], g[2]) for g in grid}
    for r in done.front:
        assert truth[tuple(sorted(r.params.items()))] == (pytest.approx(r.metrics["throughput"]), r.metrics["cost"])
    assert best(cd, done.rows).metrics["throughput"] == pytest.approx(top)
    assert len([r for r in done.rows if r.state in ("complete", "pruned")]) == trials
    out = tmp_path / "out" / "codesign"
    for name in ("trials.csv", "front.csv", "front.png", "importances.csv", "report.md"):
        assert (out / name).is_file(), name
    first = done.front[0]
    assert (out / f"front/{first.number:04d}/plan.yaml").is_file()
    assert "units:" in (out / f"front/{first.number:04d}/hardware.yaml").read_text()
    assert "optuna-dashboard" in (out / "report.md").read_text()
    assert done.importances and set(done.importances) == {"throughput", "cost"}


def test_pruning_reads_a_larger_candidates_bound(tmp_path):
    spec = _files(tmp_path)
    cd = load_codesign(spec)
    study = open_study(cd, None)
    big = {"hardware.units": 4, "hardware.macs_per_cycle": "8", "hardware.overhead_cycles": "0", "dtype": "int8"}
    small = dict(big, **{"hardware.units": 3})
    for values, thr in ((big, 100.0), ({**big, "hardware.units": 1, "hardware.macs_per_cycle": "4"}, 150.0)):
        study.add_trial(optuna.trial.create_trial(
            params=values, distributions=distributions(cd),
            values=[thr, cost_of(cd, values)], user_attrs={"status": "optimal", "bound": thr, "violation": 0.0}))
    finished = study.get_trials()
    why = prune_reason(cd, small, finished)  # its bound is 100 (the larger one's), trial 1 gives 150 for less
    assert why is not None and "trial 1" in why[0] and why[1] == 100.0
    slower = dict(small, **{"hardware.overhead_cycles": "100"})  # more overhead: the big one still relaxes it
    assert prune_reason(cd, slower, finished) is not None
    bigger = dict(big, **{"hardware.overhead_cycles": "0", "hardware.units": 5})  # more units than any solved one
    assert prune_reason(cd, bigger, finished) is None
    assert prune_reason(cd, dict(big, dtype="int16"), finished) is None  # another dtype: no relaxation


@pytest.mark.parametrize("old, new, field, words", [
    ("    units:", "    unitz:", "space.hardware.unitz", "not a field of toy-units hardware"),
    ("units: [2, 4]", "units: {low: 4, high: 1}", "space.hardware.units", "low (4) is above high (1)"),
    ("units: [2, 4]", "units: [1, -2]", "space.hardware.units[1]", "units = -2"),
    ("dtype: [int8, int16]", "dtype: [int8, fp64]", "space.dtype", "'fp64'"),
    ("- cost\n", "- cost\n  - speed\n", "objectives[2]", "throughput"),
])
@pytest.mark.parametrize("command", ["codesign", "validate"])
def test_spec_errors_name_file_line_and_field(tmp_path, capsys, old, new, field, words, command):
    spec = _files(tmp_path, units="[2, 4]")
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))
    line = next(i for i, x in enumerate(spec.read_text().splitlines(), 1) if new.strip().split("\n")[-1] in x)
    assert main([command, str(spec)] + (["-o", str(tmp_path / "out")] if command == "codesign" else [])) == 2
    err = capsys.readouterr().err
    assert f"{spec}:{line}: {field}" in err and words in err, err
    assert not (tmp_path / "out").exists()


def test_validate_schema_and_list_know_codesign_files(tmp_path, capsys, monkeypatch):
    import json

    import jsonschema
    import yaml

    shipped = sorted((ROOT / "specs" / "codesign").glob("*.yaml"))
    assert shipped and main(["validate", *map(str, shipped)]) == 0
    assert capsys.readouterr().out.count("valid codesign spec") == len(shipped)
    assert main(["schema", "codesign"]) == 0
    schema = json.loads(capsys.readouterr().out)
    for path in shipped:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"study": "s.yaml", "space": {"hardware": {}}, "trials": 0}, schema)
    spec = _files(tmp_path, units="[2, 4]")
    monkeypatch.chdir(spec.parent)
    assert main(["list"]) == 0
    assert f"codesign: {spec.name}" in capsys.readouterr().out


def test_cost_of_an_unsearched_parameter_is_refused(tmp_path, capsys):
    spec = _files(tmp_path, extra="limits: {power_w: {max: 5}}\n")
    spec.write_text(spec.read_text().replace("  units: 2\n", "  clock_hz: 2\n"))
    assert main(["codesign", str(spec), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cost.clock_hz" in err and "not a searched parameter" in err


_DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import toy_family
from accelplan import families
families.register(toy_family.FAMILY)
from accelplan.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(spec: Path, out: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _DRIVER.format(tests=str(TESTS)), "codesign", str(spec), "-o",
                             str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _finished(spec: Path, out: Path) -> dict[int, dict]:
    cd = load_codesign(spec)
    study = optuna.load_study(study_name=cd.name, storage=open_storage(f"journal:///{out / 'codesign.log'}"))
    return {t.number: (t.state.name, dict(t.params), t.values) for t in study.get_trials()
            if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)}


@pytest.mark.slow
def test_a_killed_run_resumes_without_losing_a_finished_trial(tmp_path):
    spec = _files(tmp_path, trials=400, units="{low: 1, high: 64}")
    out = tmp_path / "out"
    log = out / "codesign.log"
    process = _run(spec, out)
    deadline = time.time() + 120
    before: dict = {}
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.5)
        if log.is_file():
            before = _finished(spec, out)
            if len(before) >= 30:
                break
    assert process.poll() is None, process.communicate()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = _finished(spec, out)
    assert 30 <= len(before) < 400
    assert not (out / "codesign" / "report.md").exists()  # killed before writing its outputs
    resumed = _run(spec, out)
    assert resumed.wait(timeout=300) == 0, resumed.communicate()
    after = _finished(spec, out)
    assert len(after) == 400
    assert all(after[n] == before[n] for n in before)  # every trial finished before the kill, as it was
    text = (out / "codesign" / "trials.csv").read_text().splitlines()
    assert sum(1 for line in text[1:] if ",complete," in line or ",pruned," in line) == 400


def test_json_prints_the_front_and_nothing_else(tmp_path, capsys):
    import json

    spec = _files(tmp_path, trials=6, units="[2, 4]")
    assert main(["codesign", str(spec), "-o", str(tmp_path / "out"), "--json"]) == 0
    front_ = json.loads(capsys.readouterr().out)
    assert front_ and all({"trial", "params", "throughput", "cost", "status", "bound"} <= set(p) for p in front_)
    assert (tmp_path / "out" / "codesign.log").is_file()
    # the same command again resumes the study: it holds its 6 trials, none added
    assert main(["codesign", str(spec), "-o", str(tmp_path / "out"), "--json"]) == 0
    capsys.readouterr()
    lines = (tmp_path / "out" / "codesign" / "trials.csv").read_text().splitlines()
    assert len(lines) == 1 + 6


def test_a_candidate_whose_cost_breaks_a_limit_is_pruned_unsolved(tmp_path):
    spec = _files(tmp_path, units="[2, 4]", extra="limits: {cost: {max: 9}}\n")
    cd = load_codesign(spec)
    cheap = {"hardware.units": "2", "hardware.macs_per_cycle": "4", "hardware.overhead_cycles": "0", "dtype": "int8"}
    assert cost_of(cd, cheap) == 5 and prune_reason(cd, cheap, []) is None
    dear = dict(cheap, **{"hardware.units": "4", "hardware.macs_per_cycle": "8"})  # 8 + 3
    assert "outside the limit" in prune_reason(cd, dear, [])[0]
