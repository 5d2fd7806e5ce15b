"""Every network wait bounded by the run's time limit, with a clear exit 2 (issue 25, item 12): a PostgreSQL storage
or a Dask scheduler at an address that accepts connections and never answers, a scheduler with no worker, an
unknown address scheme."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accelplan.cli import main


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _sweep(tmp_path: Path, study_file: Path, limit: float) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: net\nmodel: {study_file.parent.parent / 'models' / 'tiny.yaml'}\nhardware: vck190\n"
                    f"execution: spatial\nstrategy: dp\ntime_limit_s: {limit}\n"
                    "grid:\n  hardware:\n    aie.units: [100, 400]\n")
    return path


def test_a_postgresql_storage_that_never_answers_exits_2_within_the_limit(silent_port, study_file, tmp_path,
                                                                          capsys) -> None:
    pytest.importorskip("psycopg")
    limit = 4.0
    start = time.perf_counter()
    code = main(["solve", str(study_file), "--strategy", "optuna-tpe", "--time-limit", str(limit),
                 "--storage", f"postgresql://u:secret@127.0.0.1:{silent_port}/x", "--study-name", "s",
                 "-o", str(tmp_path / "out"), "--quiet"])
    took = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no answer from the database server within 2 s" in err and f"127.0.0.1:{silent_port}" in err
    assert "secret" not in err
    assert took <= 1.1 * limit + 1 + 1.5, took  # 1.5 s: importing Optuna and SQLAlchemy, tabulating


def test_a_scheduler_address_that_never_answers_exits_2(silent_port, study_file, tmp_path, capsys) -> None:
    start = time.perf_counter()
    code = main(["sweep", str(_sweep(tmp_path, study_file, 2)), "--scheduler", f"tcp://127.0.0.1:{silent_port}",
                 "-o", str(tmp_path / "out")])
    took = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and "no Dask scheduler answered" in err and "within 2 s" in err, err
    assert took < 2 * 1.1 + 1 + 2, took


def test_an_unknown_scheduler_scheme_is_named(study_file, tmp_path, capsys) -> None:
    code = main(["sweep", str(_sweep(tmp_path, study_file, 2)), "--scheduler", "foo://bar", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown address scheme 'foo'" in err and "tcp://" in err and "within" not in err


def test_a_refused_scheduler_address_is_named(study_file, tmp_path, capsys) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    code = main(["sweep", str(_sweep(tmp_path, study_file, 2)), "--scheduler", f"tcp://127.0.0.1:{port}",
                 "-o", str(tmp_path / "o")])
    assert code == 2 and "cannot reach a Dask scheduler" in capsys.readouterr().err


def test_a_scheduler_without_workers_exits_2(study_file, tmp_path, capsys) -> None:
    import logging

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        start = time.perf_counter()
        code = main(["sweep", str(_sweep(tmp_path, study_file, 1)), "--scheduler", cluster.scheduler_address,
                     "-o", str(tmp_path / "out")])
        took = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and "has no worker (none joined within 1 s)" in err, err
    assert took < 1 * 1.1 + 1 + 2, took
