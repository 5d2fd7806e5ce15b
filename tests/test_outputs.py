"""Outputs a user can rely on: a folder per command, all old or all new after SIGKILL, the output path checked
before solving, strict JSON on stdout, --execution honoured, self-describing plan.yaml, the CLI's loose ends."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from accelplan import __version__
from accelplan.cli import _parser, main
from accelplan.outputs import OutputError, json_text, staged_folder, write_atomic
from accelplan.plan_file import plan_to_yaml, read_plan
from conftest import require_tool

CLI = [sys.executable, "-m", "accelplan.cli"]
FAST = ["--strategy", "dp", "--execution", "spatial"]  # the small study in well under a second


def _strict(text: str):
    """``json.loads`` that refuses NaN and Infinity (they are not JSON)."""
    def refuse(constant: str):
        raise ValueError(f"non-JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _is_complete_set(folder: Path, batch: int) -> bool:
    """plan.yaml, report.md and report.html of one run at ``batch``, each whole and agreeing with the others."""
    if sorted(p.name for p in folder.iterdir()) != ["plan.yaml", "report.html", "report.md"]:
        return False
    plan = read_plan(folder / "plan.yaml")
    html = re.sub(r"<[^>]+>", " ", (folder / "report.html").read_text())
    return (plan.batch == batch and f"| batch | {batch} |" in (folder / "report.md").read_text()
            and re.search(rf"batch\s+{batch}\s", html) is not None
            and (folder / "report.html").read_text().rstrip().endswith("</html>"))


def _kill_when(cmd: list[str], out: Path, ready, delay_s: float = 0.0) -> int:
    """Start ``cmd``, SIGKILL it once ``ready(out)`` holds (then after ``delay_s``), or when it ends; its return code."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if ready(out):
            time.sleep(delay_s)
            break
        time.sleep(0.0005)
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _changed(folder: Path, old: dict[str, bytes]) -> bool:
    try:
        return (folder / "plan.yaml").read_bytes() != old["plan.yaml"]
    except OSError:
        return False


def _staging(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if p.name.startswith(".solve.accelplan-")] if out.is_dir() else []


def _staged_file(name: str):
    return lambda out: any((s / name).exists() for s in _staging(out))


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_all_old_or_all_new(study_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["solve", str(study_file), *FAST, "--batch", "2", "-o", str(out), "--quiet"]) == 0
    old = _files(out / "solve")
    cmd = [*CLI, "solve", str(study_file), *FAST, "--batch", "4", "-o", str(out), "--quiet"]
    moments = [("while starting", lambda o: True, 0.3),
               ("as the staging folder appears", lambda o: bool(_staging(o)), 0.0),
               ("after plan.yaml is staged", _staged_file("plan.yaml"), 0.0),
               ("after report.md is staged", _staged_file("report.md"), 0.0),
               ("while report.html is written", _staged_file("report.md"), 0.01),
               ("as the new set appears (the old one being removed)", lambda o: _changed(o / "solve", old), 0.0)]
    seen = set()
    for what, ready, delay in moments:
        _kill_when(cmd, out, ready, delay)
        folder = out / "solve"
        assert folder.is_dir(), what
        now = _files(folder)
        if now == old:
            seen.add("old")
        else:  # never a mix: a complete new set
            assert _is_complete_set(folder, 4), f"killed {what}: mixed set {sorted(now)}"
            seen.add("new")
            write_atomic(folder / "plan.yaml", old["plan.yaml"])  # back to the old set for the next moment
            for name in ("report.md", "report.html"):
                write_atomic(folder / name, old[name])
        assert not [p for p in folder.rglob(".*")], f"killed {what}: hidden files in the output folder"
    assert seen == {"old", "new"}  # a kill before the swap kept the old set, one after it left the new one
    # a staging folder a killed run left beside the output folder is removed by the next run
    assert main(["solve", str(study_file), *FAST, "--batch", "4", "-o", str(out), "--quiet"]) == 0
    assert [p.name for p in out.iterdir()] == ["solve"] and _is_complete_set(out / "solve", 4)
    capsys.readouterr()


@pytest.mark.slow
def test_two_solves_into_one_folder_at_once_leave_one_complete_set(study_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    procs = [subprocess.Popen([*CLI, "solve", str(study_file), *FAST, "--batch", str(b), "-o", str(out), "--quiet"])
             for b in (2, 4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert [p.name for p in out.iterdir()] == ["solve"]
    assert _is_complete_set(out / "solve", 2) or _is_complete_set(out / "solve", 4)


def test_a_failing_write_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    with staged_folder(folder) as d:
        write_atomic(d / "a.txt", "old a")
        write_atomic(d / "b.txt", "old b")
    with pytest.raises(RuntimeError):
        with staged_folder(folder) as d:
            write_atomic(d / "a.txt", "new a")
            raise RuntimeError("a report failed half-way")
    assert _files(folder) == {"a.txt": b"old a", "b.txt": b"old b"}
    with pytest.raises(OutputError, match="No space left on device"):  # an OSError is a clear error, exit 2
        with staged_folder(folder) as d:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _files(folder) == {"a.txt": b"old a", "b.txt": b"old b"}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_each_command_writes_its_own_folder_and_no_plan_never_replaces_a_good_one(study_file: Path, tmp_path: Path,
                                                                                  capsys) -> None:
    out = tmp_path / "out"
    assert main(["solve", str(study_file), *FAST, "-o", str(out), "--quiet"]) == 0
    good = _files(out / "solve")
    assert main(["compare", str(study_file), "--execution", "spatial", "--strategies", "dp", "-o", str(out),
                 "--quiet"]) == 0
    assert _files(out / "solve") == good  # compare did not replace solve's plan
    assert {"compare.md", "compare.csv", "anytime.csv", "anytime.png", "plan.yaml", "report.md", "report.html"} == set(_files(out / "compare"))
    code = main(["solve", str(study_file), *FAST, "--latency-max", "0.00001", "-o", str(out)])
    assert code == 1 and "kept as it was: no plan found" in capsys.readouterr().out
    assert _files(out / "solve") == good  # the infeasible run left the good plan
    assert sorted(p.name for p in out.iterdir()) == ["compare", "solve"]


@pytest.mark.parametrize("make,expect", [
    (lambda t: (t / "file").write_text("x") and t / "file", "is an existing file"),
    (lambda t: (t / "file").write_text("x") and t / "file" / "sub", "which is a file"),
    (lambda t: t / ("n" * 300), "this file system allows"),
])
def test_a_bad_output_folder_is_refused_before_solving(make, expect, tmp_path: Path, capsys) -> None:
    out = make(tmp_path)
    started = time.monotonic()
    # a study that takes a minute to solve: refused at once, so the check came first
    code = main(["solve", "--model", "gpt2-small", "--hardware", "vck190", "--time-limit", "60", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and expect in err and "output folder (-o)" in err and "Traceback" not in err
    assert time.monotonic() - started < 10


def test_a_read_only_output_folder_is_refused_before_solving(capsys) -> None:
    base = Path(tempfile.mkdtemp(prefix="accelplan-ro-"))
    try:
        os.chmod(base, 0o755)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        os.chmod(locked, 0o555)
        as_root = os.geteuid() == 0  # root writes through permission bits: check as an ordinary user
        if as_root:
            os.seteuid(65534)
        try:
            code = main(["solve", "--model", "gpt2-small", "--hardware", "vck190", "-o", str(locked / "out")])
        finally:
            if as_root:
                os.seteuid(0)
        err = capsys.readouterr().err
        assert code == 2 and "cannot write into" in err and "Permission denied" in err
        assert list(locked.iterdir()) == []
    finally:
        os.chmod(base / "locked", 0o755)
        (base / "locked").rmdir()
        base.rmdir()


@pytest.mark.slow
def test_json_stdout_is_strict_json_and_nothing_else(study_file: Path, tmp_path: Path, capfd) -> None:
    runs = [["solve", str(study_file), *FAST],
            ["solve", str(study_file), *FAST, "--latency-max", "0.00001"],  # infeasible: no objective, no bound
            ["compare", str(study_file), "--strategies", "milp,dp", "--execution", "spatial"],
            ["pareto", str(study_file), "--execution", "spatial", "--batch", "2", "--points", "2"],
            ["compare-execution", str(study_file), "--execution", "sequential"]]
    for argv in runs:  # capfd: what C libraries write to file descriptor 1 counts too
        assert main([*argv, "-o", str(tmp_path / "o"), "--json"]) in (0, 1)
        data = _strict(capfd.readouterr().out)  # the whole of stdout is one JSON document
        assert data, argv
    assert _strict(json_text({"bound": float("inf"), "gap": [float("nan"), 1.5]})) == {"bound": None, "gap": [None, 1.5]}


def test_output_of_c_libraries_goes_to_stderr_under_json(tmp_path: Path) -> None:
    # what a solver's C library prints (printf to file descriptor 1) must not reach stdout
    probe = ("import ctypes, os, sys\n"
             "from accelplan.outputs import stdout_to_stderr\n"
             "with stdout_to_stderr():\n"
             "    ctypes.CDLL(None).printf(b'Running HiGHS 1.12 log line\\n')\n"
             "    os.write(1, b'raw fd 1 line\\n')\n"
             "    print('python print')\n"
             "print('{\"ok\": true}')\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and _strict(proc.stdout) == {"ok": True}
    assert "HiGHS" in proc.stderr and "raw fd 1 line" in proc.stderr and "python print" in proc.stderr


@pytest.mark.slow
def test_pareto_and_compare_execution_honour_execution(study_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["pareto", str(study_file), "--execution", "spatial", "--batch", "2", "--points", "2",
                 "-o", str(tmp_path), "--json"]) == 0
    rows = _strict(capsys.readouterr().out)
    assert rows and {r["execution"] for r in rows} == {"spatial"}
    assert main(["compare-execution", str(study_file), "--execution", "sequential,spatial", "-o", str(tmp_path),
                 "--json"]) == 0
    rows = _strict(capsys.readouterr().out)
    assert [r["execution"] for r in rows] == ["sequential", "spatial"]
    assert sorted(p.name for p in (tmp_path / "compare-execution").iterdir()) == [
        "compare-execution.csv", "compare-execution.md", "sequential", "spatial"]
    for command in ("pareto", "compare-execution"):
        assert main([command, str(study_file), "--execution", "spatial,pipelined", "-o", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "'pipelined' not an execution model of versal-aie; valid: sequential, spatial, replicated, hybrid" in err


def test_plan_yaml_describes_itself_and_validates_as_a_plan(study_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["solve", str(study_file), *FAST, "--seed", "7", "--time-limit", "20", "-o", str(tmp_path), "--quiet"]) == 0
    path = tmp_path / "solve" / "plan.yaml"
    data = yaml.safe_load(path.read_text())
    assert data["format"] == 2 and data["accelplan_version"] == __version__
    assert data["run"]["seed"] == 7 and data["run"]["time_limit_s"] == 20 and data["run"]["strategy"] == "dp"
    assert data["run"]["constraints"] == {"latency_max_ms": 5, "batch": 4, "max_accelerators": 3}
    assert data["units"]["throughput"] == "inferences/s" and "energy_mj" in data["units"]
    for acc in data["accelerators"]:
        assert all(set(g) == {"layer", "m", "k", "n", "count"} for g in acc["gemms"])
        assert [g["layer"] for g in acc["gemms"]] == acc["layers"]
        assert not {"partitions", "layer_tiles", "placements", "part"} & set(acc)  # no other family's empty fields
    assert main(["validate", str(path)]) == 0
    assert "valid plan (tiny on vck190" in capsys.readouterr().out
    data["accelerators"][0]["gemms"][0] = {"layer": "fc1", "m": 128}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "accelerators[0].gemms[0]: a GEMM is {layer, m, k, n, count}: missing k, n, count" in err
    assert "hardware" not in err.split(":", 2)[-1]
    # format 1 (GEMMs as lists, every field written) still reads back
    plan = read_plan(path)
    old = yaml.safe_load(plan_to_yaml(plan))
    old = {"format": 1, **{k: v for k, v in old.items() if k not in ("format", "accelplan_version", "run", "units")}}
    for acc in old["accelerators"]:
        acc["gemms"] = [[g["m"], g["k"], g["n"], g["count"]] for g in acc["gemms"]]
    (tmp_path / "v1.yaml").write_text(yaml.safe_dump(old))
    assert read_plan(tmp_path / "v1.yaml") == plan


def test_vitis_header_and_sv_package_list_fused_operators(study_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["solve", str(study_file), *FAST, "-o", str(tmp_path), "--quiet"]) == 0
    plan_file = tmp_path / "solve" / "plan.yaml"
    plan = read_plan(plan_file)
    fused = {op for acc in plan.accelerators for op in acc.ops if op not in acc.layers}
    assert fused == {"act", "sm"}
    assert main(["emit", str(plan_file), "--target", "vitis", "-o", str(tmp_path / "v")]) == 0
    assert main(["emit", str(plan_file), "--target", "sv", "-o", str(tmp_path / "s")]) == 0
    header, package = (tmp_path / "v" / "accelplan_plan.hpp").read_text(), (tmp_path / "s" / "accelplan_plan_pkg.sv").read_text()
    acc = next(a for a in plan.accelerators if "act" in a.ops)
    gemm = acc.layers.index(acc.ops[acc.ops.index("act") - 1])  # gelu follows fc1 and is fused into it
    assert f'Fused{{"act", {gemm}}}' in header and '"act"' in package
    checks = [f"static_assert(accelplan::acc{a.index}::kNumFused == {sum(op not in a.layers for op in a.ops)});"
              for a in plan.accelerators]
    (tmp_path / "v" / "check.cpp").write_text('#include "accelplan_plan.hpp"\n' + "\n".join(checks) + "\nint main() {}\n")
    run = subprocess.run([require_tool("g++"), "-std=c++17", "-fsyntax-only", "-Wall", "-Werror",
                          str(tmp_path / "v" / "check.cpp")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_verilator_lints_the_package_with_fused_operators(study_file: Path, tmp_path: Path) -> None:
    assert main(["solve", str(study_file), *FAST, "-o", str(tmp_path), "--quiet"]) == 0
    assert main(["emit", str(tmp_path / "solve" / "plan.yaml"), "--target", "sv", "-o", str(tmp_path / "s")]) == 0
    (tmp_path / "s" / "top.sv").write_text("module top;\n  import accelplan_plan_pkg::*;\n"
                                           "  initial $display(\"%s %0d\", ACC0_FUSED_NAME[0], ACC0_NUM_FUSED);\nendmodule\n")
    package = tmp_path / "s" / "accelplan_plan_pkg.sv"
    assert "ACC0_FUSED_NAME" in package.read_text()
    run = subprocess.run([require_tool("verilator"), "--lint-only", "-Wall", "-Wno-UNUSEDPARAM", str(package),
                          str(tmp_path / "s" / "top.sv")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_dimensions_beyond_int_are_refused_naming_layer_and_field(study_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["solve", str(study_file), *FAST, "-o", str(tmp_path), "--quiet"]) == 0
    data = yaml.safe_load((tmp_path / "solve" / "plan.yaml").read_text())
    data["accelerators"][0]["gemms"][0]["k"] = 2**31
    (tmp_path / "huge.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    layer = data["accelerators"][0]["gemms"][0]["layer"]
    for target in ("vitis", "sv"):
        assert main(["emit", str(tmp_path / "huge.yaml"), "--target", target, "-o", str(tmp_path / target)]) == 2
        err = capsys.readouterr().err
        assert f"layer {layer!r}: k = 2147483648: a GEMM's k is an integer from 0 to 2,147,483,647" in err
        assert "accelerators[0].gemms[0]" in err and "Traceback" not in err
        assert not (tmp_path / target).exists()


def test_version_show_list_and_help_defaults(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"accelplan {__version__}"
    assert main(["show", "vck190"]) == 0
    shown = capsys.readouterr().out
    assert yaml.safe_load(shown)["name"] == "vck190" and shown.startswith("# built-in hardware vck190")
    assert main(["show", "no-such-spec"]) == 2 and "built-in: " in capsys.readouterr().err
    (tmp_path / "mine.yaml").write_text("name: mine\noperators:\n  - {name: a, kind: linear, m: 1, k: 2, n: 3}\n")
    (tmp_path / "notes.yaml").write_text("hello: 1\n")
    assert main(["list", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert "built-in" in listed and "bert-base_vck190" in listed
    assert f"model: {tmp_path / 'mine.yaml'}" in listed and "notes.yaml" not in listed
    parser = _parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict)).choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help" and not action.required:
                assert action.help and "default" in action.help, f"{name} {action.option_strings}: no default in help"
    assert "(default: out)" in subparsers["solve"].format_help()
