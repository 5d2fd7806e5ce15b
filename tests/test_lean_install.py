"""A lean core install (issue 25, item 10): the cluster parts (Dask, psycopg) are the extra accelplan[cluster]; a
command that needs one that is missing says which extra installs it (exit 2, no traceback)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

#: runs the CLI with the named top-level packages unimportable, as in an install without the extra
WITHOUT = ("import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
           "from accelplan.cli import main\nsys.exit(main({argv!r}))\n")


def _run(root: Path, blocked: tuple[str, ...], argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT.format(blocked=blocked, argv=argv)], capture_output=True,
                          text=True, cwd=root, timeout=120)


def test_the_core_leaves_the_cluster_parts_to_an_extra(root: Path) -> None:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    assert "dask" not in core and "psycopg" not in core
    cluster = " ".join(project["optional-dependencies"]["cluster"])
    assert "dask[distributed]" in cluster and "psycopg" in cluster
    test = " ".join(project["optional-dependencies"]["test"])
    assert "dask[distributed]" in test and "psycopg" in test  # the README's test command runs every test


def test_sweep_without_dask_names_the_extra(root: Path, tmp_path: Path) -> None:
    res = _run(root, ("distributed", "dask"), ["sweep", "specs/sweeps/bert-base_vck190.yaml", "-o", str(tmp_path)])
    assert res.returncode == 2, res.stderr
    assert "accelplan sweep (Dask) needs the Python package 'distributed'" in res.stderr
    assert "pip install 'accelplan[cluster]'" in res.stderr and "Traceback" not in res.stderr


def test_a_postgresql_storage_without_psycopg_names_the_extra(root: Path, tmp_path: Path) -> None:
    res = _run(root, ("psycopg",), ["solve", "--model", "deit-tiny", "--hardware", "vck190", "--execution", "spatial",
                                   "--strategy", "optuna-tpe", "--storage", "postgresql://u:pw@127.0.0.1:1/x",
                                   "--study-name", "s", "--time-limit", "5", "-o", str(tmp_path), "--quiet"])
    assert res.returncode == 2, res.stderr
    assert "needs the Python package 'psycopg'" in res.stderr and "accelplan[cluster]" in res.stderr
    assert "pw" not in res.stderr.replace("pip", "") and "Traceback" not in res.stderr


def test_commands_of_the_core_run_without_the_cluster_parts(root: Path, tmp_path: Path) -> None:
    res = _run(root, ("distributed", "dask", "psycopg"),
               ["solve", "--model", "deit-tiny", "--hardware", "vck190", "--execution", "spatial", "-o", str(tmp_path),
                "--quiet"])
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "solve" / "plan.yaml").is_file()
