"""A killed Optuna search (SIGKILL, a real process) resumes with its finished trials and its dead trial failed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from accelplan.solvers.search import GRACE_S

ROOT = Path(__file__).parent.parent


def _states(db: Path) -> dict[str, int]:
    study = optuna.load_study(study_name="run", storage=f"sqlite:///{db}")
    return {s.name: sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}


@pytest.mark.slow
def test_killed_search_resumes_with_finished_trials_and_fails_its_dead_one(tmp_path: Path) -> None:
    db = tmp_path / "search.db"

    def search(limit: str, *more: str) -> list[str]:
        return [sys.executable, "-m", "accelplan.cli", "solve", "specs/studies/bert-base_vck190.yaml", "--strategy",
                "optuna-tpe", "--storage", f"sqlite:///{db}", "--study-name", "run", "--time-limit", limit, "--quiet",
                "-o", str(tmp_path / "out"), *more]
    proc = subprocess.Popen(search("120"), cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline:  # kill once a trial has finished and another is running
        time.sleep(0.05)
        if db.exists():
            try:
                states = _states(db)
            except Exception:  # the study is not created yet
                continue
            if states["COMPLETE"] >= 2 and states["RUNNING"] == 1:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _states(db)
    assert before["COMPLETE"] >= 2
    time.sleep(GRACE_S + 1)  # the dead trial's heartbeat goes stale
    # two more trials, not a time: under load a 2 s search spent its time starting and finished none
    assert subprocess.run(search("60", "--trials", "2"), cwd=ROOT).returncode == 0
    after = _states(db)
    assert after["RUNNING"] == 0
    assert after["FAIL"] == before["RUNNING"]  # the trial the killed search was running, and no other
    assert after["COMPLETE"] > before["COMPLETE"]  # every finished trial kept, and the search went on
