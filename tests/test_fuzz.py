"""Fuzzing: mutated specs give a clean answer (exit 0, 1 or 2 and no traceback) within a time limit.

Each case mutates a built-in model, hardware or study (``tests/spec_mutations.py``) and runs
``accelplan validate`` on the study that reads it in-process; a case that validates is then
tabulated (``build_problem``), which is where quantities that passed the schema would divide by zero
or overflow. ``benchmarks/fuzz.py`` runs thousands of cases through the whole CLI in subprocesses.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from accelplan import api
from accelplan.cli import main
from accelplan.errors import AccelplanError
from accelplan.families import build_problem

from spec_mutations import case

CASES = 200
PER_CASE_S = 10


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


@pytest.mark.parametrize("block", range(4))
@pytest.mark.slow
def test_mutated_specs_answer_cleanly(block: int, tmp_path: Path, capsys) -> None:
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for seed in range(block * CASES // 4, (block + 1) * CASES // 4):
            c = case(seed, tmp_path / str(seed))
            signal.alarm(PER_CASE_S)
            start = time.perf_counter()
            try:
                status = main(["validate", str(c.study)])
                assert status in (0, 2), (c, status)
                if status == 0:
                    try:
                        build_problem(api.make_study(c.study))
                    except AccelplanError:
                        pass  # a clean error at tabulation (e.g. no configuration fits) is an answer
            except _Hang:
                pytest.fail(f"no answer within {PER_CASE_S} s: {c}")
            finally:
                signal.alarm(0)
            assert time.perf_counter() - start < PER_CASE_S
            err = capsys.readouterr().err
            assert "Traceback" not in err, (c, err)
    finally:
        signal.signal(signal.SIGALRM, previous)
