"""Fuzz the CLI with hostile inputs of every surface and count the answers by class.

    python benchmarks/fuzz.py [--cases 3000] [--first 0] [--workers 2] [--timeout 60] [--memory-gib 8]
                              [--kinds spec,sweep,cache,csv,gpu,chain,plan,names] [--out benchmarks/results/fuzz.json]

Each case is generated from its seed (``random.Random(seed)``; the same seed gives the same case) and
run as subprocesses of the CLI (``python -m accelplan.cli ...``, this checkout first on ``PYTHONPATH``)
in a fresh folder, each command under a wall-clock limit (``--timeout``: the process group is killed)
and an address-space limit (``--memory-gib``, ``resource.setrlimit(RLIMIT_AS)`` in ``preexec_fn``). Kinds:

- ``spec``: a built-in model, hardware or study mutated (``tests/spec_mutations.py``): validate, then solve;
- ``sweep``: sweep files whose hardware axes cross shapes earlier axes change, extreme values, grids
  around the point limit: validate, or a small sweep run on one worker;
- ``cache``: a small sweep run, its cache entries damaged (a folder, another JSON shape, garbage), run again;
- ``csv``: measurement files for ``calibrate`` (extreme, malformed, huge, /dev/zero);
- ``gpu`` and ``chain``: GPU and device-chain hardware specs mutated: validate, then solve (or simulate the plan);
- ``plan``: plan.yaml files (every family's form) mutated, fed to validate, every emit target or simulate;
- ``names``: hostile arguments to show, list, validate and solve.

Classes: ``ok`` (exit 0 or 1), ``clean error`` (exit 2, no traceback), ``traceback`` (an exception escaped),
``hang`` (no answer by ``--timeout``), ``memory`` (MemoryError, or killed by the limit), ``other`` (another exit).
Prints the counts per kind and every distinct traceback cause, and writes JSON with every case.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from spec_mutations import EXTREMES, _mutate_data, _mutate_text, case as spec_case  # noqa: E402

SPECS = ROOT / "specs"
KINDS = ("spec", "sweep", "cache", "csv", "gpu", "chain", "plan", "names")
WEIGHTS = {"spec": 3, "sweep": 3, "cache": 1, "csv": 3, "gpu": 2, "chain": 2, "plan": 6, "names": 2}
SOLVE_LIMIT = "3"  # --time-limit of a solve a case runs [s]
MEMORY_WORDS = ("MemoryError", "Unable to allocate", "std::bad_alloc", "Cannot allocate memory")


# ------------------------------------------------------------------------------------------------ running
def _limits(memory_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    return apply


def run_cli(argv: list[str], cwd: Path, timeout: float, memory_bytes: int) -> dict[str, Any]:
    """Run ``python -m accelplan.cli argv`` in ``cwd``: its class, exit status, time and the last lines of stderr."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep),
               PYTHONHASHSEED="0", MPLBACKEND="Agg")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "accelplan.cli", *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_limits(memory_bytes))
    try:
        _, err_bytes = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return {"argv": argv, "class": "hang", "seconds": time.perf_counter() - start}
    finally:
        _kill_group(proc)
    err = err_bytes[-20_000:].decode("utf-8", "replace")
    status = proc.returncode
    if any(word in err for word in MEMORY_WORDS) or status in (-signal.SIGKILL, -signal.SIGSEGV):
        kind = "memory"
    elif "Traceback (most recent call last)" in err:
        kind = "traceback"
    elif status in (0, 1):
        kind = "ok"
    elif status == 2:
        kind = "clean error"
    else:
        kind = "other"
    row = {"argv": argv, "class": kind, "status": status, "seconds": time.perf_counter() - start}
    if kind in ("traceback", "memory", "other"):
        row["cause"] = _cause(err) if kind == "traceback" else err.strip().splitlines()[-1][:200] if err.strip() else ""
        row["stderr"] = err[-3000:]
    return row


def _kill(proc: subprocess.Popen) -> None:
    _kill_group(proc)
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the case's own session: Dask workers included
    except (ProcessLookupError, PermissionError):
        pass


def _cause(err: str) -> str:
    """``ExcType at file.py:line (function)`` of the innermost accelplan frame of a traceback."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', err)
    ours = [f for f in frames if "accelplan" in f[0]] or frames
    last = err.strip().splitlines()[-1] if err.strip() else "?"
    exc = last.split(":")[0][:80]
    if not ours:
        return exc
    path, line, func = ours[-1]
    return f"{exc} at {Path(path).name}:{line} ({func})"


# ------------------------------------------------------------------------------------------------ cases
def _dump(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _hardware_paths(data: Any, at: tuple = ()) -> list[str]:
    out = [".".join(map(str, at))] if at else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _hardware_paths(v, at + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data[:3]):
            out += _hardware_paths(v, at + (i,))
    return out


def _value(rng: random.Random, data: Any) -> Any:
    """A value for a hardware axis: an extreme, a shape change, or the current value scaled."""
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(EXTREMES)
    if pick < 0.55:
        return rng.choice([[], {}, [[]], [1, 2], {"units": 1}, 3, "x", None])
    if isinstance(data, bool):
        return not data
    if isinstance(data, int):
        return max(1, data * rng.choice([1, 2, 4])) if rng.random() < 0.7 else rng.choice([0, -1, 10**9, 10**40])
    return data


def _sweep_base(rng: random.Random) -> tuple[str, str, str, str]:
    """(model, hardware, execution, strategy) of a quick base study."""
    return rng.choice([("deit-tiny", "vck190", "spatial", "dp"), ("deit-tiny", "u250-x4-pcie", "device-pipeline", "dp"),
                       ("resnet50", "simba-36", "segmented-pipeline", "dp"), ("deit-tiny", "vck190", "hybrid", "auto")])


def sweep_case(rng: random.Random, folder: Path) -> tuple[str, list[list[str]]]:
    model, hardware, execution, strategy = _sweep_base(rng)
    hw = yaml.safe_load((SPECS / "hardware" / f"{hardware}.yaml").read_text())
    paths = [p for p in _hardware_paths(hw) if p not in ("name", "family", "description")]
    axes: dict[str, list] = {}
    what = rng.choice(["crossing", "crossing", "extreme", "big grid", "points", "small"])
    if what == "crossing":  # an outer field replaced, then a path through it
        inner = rng.choice([p for p in paths if "." in p])
        outer = ".".join(inner.split(".")[:rng.randrange(1, inner.count(".") + 1)])
        axes[outer] = [rng.choice([[], [[]], 3, "x", [1, 2], {}, None, {"other": 1}])]
        axes[inner] = [_value(rng, None) if rng.random() < 0.5 else 2]
        if rng.random() < 0.5:
            axes = dict(reversed(list(axes.items())))
    elif what == "extreme":
        for p in rng.sample(paths, min(len(paths), rng.randint(1, 3))):
            node: Any = hw
            for part in p.split("."):
                node = node[int(part)] if isinstance(node, list) else node[part]
            axes[p] = [_value(rng, node) for _ in range(rng.randint(1, 2))]
    elif what == "big grid":
        n = rng.choice([10, 22, 100, 101, 1000])
        axes = {p: list(range(1, n + 1)) for p in rng.sample(paths, 2)}
    grid: dict[str, Any] = {"hardware": axes} if axes else {}
    if what in ("small", "big grid") or rng.random() < 0.3:
        grid["batch"] = rng.choice([[1, 2], [0], [2**21], ["8"], [1.5], [None]])
    sweep: dict[str, Any] = {"name": "fuzz", "model": model, "hardware": hardware, "execution": execution,
                             "strategy": strategy, "time_limit_s": 2, "grid": grid}
    if what == "points":
        sweep["points"] = [{"hardware": {rng.choice(paths): _value(rng, None)}, "batch": rng.choice([1, 2, 0])}
                           for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.5:
            del sweep["grid"]
    if rng.random() < 0.1:
        sweep["grid"] = rng.choice([[], "x", {"nope": [1]}])
    path = _dump(folder / "sweep.yaml", sweep)
    commands = [["validate", path.name]]
    points = 1
    for values in list(axes.values()) + [grid.get("batch") or [1]]:
        points *= len(values) if isinstance(values, list) else 1
    if what in ("crossing", "small", "extreme") and points <= 4 and rng.random() < 0.5:
        workers = rng.choice(["1", "1", "0", "-1", "x"])
        commands.append(["sweep", path.name, "--workers", workers, "-o", "out", "--quiet"])
    return f"sweep {what}", commands


def cache_case(rng: random.Random, folder: Path) -> tuple[str, list[list[str]]]:
    sweep = {"name": "fuzz", "model": "deit-tiny", "hardware": "vck190", "execution": "spatial", "strategy": "dp",
             "time_limit_s": 2, "grid": {"hardware": {"aie.units": [100, 200]}}}
    _dump(folder / "sweep.yaml", sweep)
    damage = rng.choice(["folder", "list", "string", "garbage", "empty", "wrong outcome", "shard file", "deep",
                         "huge number", "symlink"])
    script = folder / "damage.py"
    script.write_text(f"""\
import json, os, shutil, sys
from pathlib import Path
entries = sorted(Path('out/.sweep-cache').glob('*/*.json'))
key = entries[0].stem if entries else 'ab' + '0' * 62
e = entries[0] if entries else Path('out/.sweep-cache/ab') / (key + '.json')
e.parent.mkdir(parents=True, exist_ok=True)
d = {damage!r}
if e.exists(): e.unlink()
if d == 'folder': (e / 'x').mkdir(parents=True)
elif d == 'list': e.write_text('[1, 2]')
elif d == 'string': e.write_text('"s"')
elif d == 'garbage': e.write_bytes(os.urandom(300))
elif d == 'empty': e.write_text('')
elif d == 'wrong outcome': e.write_text(json.dumps({{'format': 1, 'key': key, 'outcome': {{'plan': {{'x': [1]}}, 'message': 1,
                                                     'cost': 'c', 'wall_s': None}}}}))
elif d == 'shard file': shutil.rmtree(e.parent); e.parent.write_text('x')
elif d == 'deep': e.write_text('[' * 200000 + ']' * 200000)
elif d == 'huge number': e.write_text('{{"format": 1, "key": "%s", "outcome": {{"wall_s": 1e999999}}}}' % key)
elif d == 'symlink': e.symlink_to('/dev/zero')
""")
    run = ["sweep", "sweep.yaml", "--workers", "1", "-o", "out", "--quiet"]
    return f"cache {damage}", [run, ["!python", "damage.py"], run]


CSV_HEADER = ["name", "m", "k", "n", "count", "dtype", "batch", "array", "engine_tile", "measured_ms", "source"]
CSV_GOOD = [["a", "1024", "1024", "1024", "1", "fp32", "1", "6x4x16", "32x32x32", "1.94614", "CHARM"],
            ["b", "4096", "4096", "4096", "1", "fp32", "1", "6x4x16", "32x32x32", "50.5584", "CHARM"],
            ["c", "6144", "6144", "6144", "1", "fp32", "1", "6x4x16", "32x32x32", "141.506", "CHARM"]]
CSV_VALUES = ["0", "-1", "1e-300", "1e300", "inf", "nan", "", " ", "abc", "1e39", "10" + "0" * 38, "²", "1.5",
              "99999999999999999999", "6x4", "0x0x0", "1000000x1x1", "fp64", "int8", "\x00", '"', "a" * 40,
              "a" * 5000, "1_000", "0x10", "١٢", "-0", "+5", "1e-7", "100000000000"]


def csv_case(rng: random.Random, folder: Path) -> tuple[str, list[list[str]]]:
    what = rng.choice(["values", "values", "values", "rows", "long line", "dev/zero", "header", "bytes", "many rows"])
    rows = [list(r) for r in rng.sample(CSV_GOOD, rng.randint(1, 3))]
    header = list(CSV_HEADER)
    text: str | bytes
    if what == "values":
        for _ in range(rng.randint(1, 3)):
            rows[rng.randrange(len(rows))][rng.randrange(len(header))] = rng.choice(CSV_VALUES)
    elif what == "rows":
        rows = [r + ["extra"] if rng.random() < 0.3 else r[:rng.randrange(len(r))] for r in rows]
    elif what == "header":
        header = rng.choice([header[:-1], header + ["x"] * 3, [h.upper() for h in header], ["a" * 300] + header, []])
    elif what == "many rows":
        rows = rows * rng.choice([30, 34, 40, 1000, 100_000])
    import csv
    import io
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if what == "long line":
        text = text + "a," * rng.choice([10**5, 5 * 10**6])
    elif what == "bytes":
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 5)):
            raw.insert(rng.randrange(len(raw)), rng.randrange(256))
        text = bytes(raw)
    path = folder / "m.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    file = "/dev/zero" if what == "dev/zero" else path.name
    fit = rng.choice([None, "ddr.efficiency", "ddr.efficiency,launch_overhead", "x", "ddr.efficiency,ddr.efficiency",
                      ""])
    argv = ["calibrate", file, "--hardware", rng.choice(["vck190", "vck190", "simba-36", "nope"]), "-o", "cal.yaml"]
    return f"csv {what}", [argv + (["--fit", fit] if fit is not None else [])]


def hardware_case(rng: random.Random, folder: Path, names: list[str], kind: str) -> tuple[str, list[list[str]]]:
    name = rng.choice(names)
    text = (SPECS / "hardware" / f"{name}.yaml").read_text()
    if rng.random() < 0.85:
        data, mutation = _mutate_data(rng, yaml.safe_load(text))
        if rng.random() < 0.4:  # and a second one
            try:
                data, second = _mutate_data(rng, data)
                mutation += f"; {second}"
            except (IndexError, KeyError, TypeError, ValueError):
                pass
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text, mutation = _mutate_text(rng, text)
    (folder / "hw.yaml").write_text(text)
    model = rng.choice(["deit-tiny", "bert-base", "gpt2-small"] + (["llama-7b-decode"] if kind == "chain" else []))
    solve = ["solve", "--model", model, "--hardware", "hw.yaml", "--time-limit", SOLVE_LIMIT, "--quiet", "-o", "out"]
    commands = [["validate", "hw.yaml"], ["?solve"] + solve]
    if rng.random() < 0.3:
        commands.append(["?simulate", "simulate", "out/solve/plan.yaml", "-o", "out", "--quiet"])
    return f"{kind} {name}: {mutation}", commands


PLAN_TARGETED = [
    ("gemm row of 2", lambda a, d: a["gemms"].__setitem__(0, [1, 2])),
    ("gemm row of 5", lambda a, d: a["gemms"].__setitem__(0, [1, 2, 3, 4, 5])),
    ("gemm 10^12 rows", lambda a, d: a["gemms"][0].__setitem__("m", 10**12)),
    ("gemm count 2^31", lambda a, d: a["gemms"][0].__setitem__("count", 2**31 - 1)),
    ("float ports", lambda a, d: a.__setitem__("ports_in", 2.5)),
    ("string ports", lambda a, d: a.__setitem__("ports_out", "8")),
    ("huge ports", lambda a, d: a.__setitem__("ports_in", 4096)),
    ("list for number", lambda a, d: a.__setitem__("busy_ms", [1])),
    ("list for array", lambda a, d: a.__setitem__("array", [[1], 2, 3])),
    ("empty accelerators", lambda a, d: d.__setitem__("accelerators", [])),
    ("dict for name", lambda a, d: a["layers"].__setitem__(0, {"x": 1})),
    ("string position", lambda a, d: a.__setitem__("index", "1")),
    ("huge index", lambda a, d: a.__setitem__("index", 10**9)),
    ("10^9 inputs", lambda a, d: d.__setitem__("batch", 10**9)),
    ("run batch 2^20", lambda a, d: d.setdefault("run", {}).setdefault("constraints", {}).__setitem__("batch", 2**20)),
    ("run batch 10^9", lambda a, d: d.setdefault("run", {}).setdefault("constraints", {}).__setitem__("batch", 10**9)),
    ("units 2^31", lambda a, d: a.__setitem__("units", 2**31 - 1)),
    ("layer_tiles huge", lambda a, d: a.__setitem__("layer_tiles", [[2**31 - 1] * 3] * len(a["layers"]))),
    ("no family", lambda a, d: d.pop("family")),
    ("form unknown", lambda a, d: d.__setitem__("form", "warp")),
    ("feasible string", lambda a, d: d.__setitem__("feasible", "yes")),
    ("many accelerators", lambda a, d: d.__setitem__("accelerators", [dict(a, index=i) for i in range(5000)])),
    ("many layers", lambda a, d: a.update(layers=[f"l{i}" for i in range(20000)],
                                          gemms=[[1, 1, 1, 1]] * 20000, ops=[f"l{i}" for i in range(20000)])),
    ("run study elsewhere", lambda a, d: d.setdefault("run", {}).__setitem__("study", "/nonexistent/" + "x" * 300)),
]


def plan_case(rng: random.Random, folder: Path, plans: dict[str, Path]) -> tuple[str, list[list[str]]]:
    name = rng.choice(sorted(plans))
    text = plans[name].read_text()
    if rng.random() < 0.45:
        data = yaml.safe_load(text)
        what, change = rng.choice(PLAN_TARGETED)
        if data["accelerators"]:
            change(data["accelerators"][0], data)
        mutation = what
        text = yaml.safe_dump(data, sort_keys=False)
    elif rng.random() < 0.8:
        data, mutation = _mutate_data(rng, yaml.safe_load(text))
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text, mutation = _mutate_text(rng, text)
    (folder / "plan.yaml").write_text(text)
    command = rng.choice(["validate", "emit json", "emit vitis", "emit sv", "emit rtl", "simulate"])
    if command == "validate":
        argv = ["validate", "plan.yaml"]
    elif command == "simulate":
        argv = ["simulate", "plan.yaml", "-o", "out", "--quiet"]
    else:
        argv = ["emit", "plan.yaml", "--target", command.split()[1], "-o", "out"]
    return f"plan {name}: {mutation} -> {command}", [argv]


NAMES = ["abcdefghijklmnopqrstuvwxyz0123", "x" * 300, "é" * 200, "a\x01b", "..", "/", "-", "models/bert-base", "",
         "vck190.yaml", "~", "*", "$(reboot)", "a" * 5000, "\u202e", "%s%n", "/dev/zero", "/proc/self/mem", ".yaml",
         "con", "bert-base\n", " vck190"]


def names_case(rng: random.Random, folder: Path) -> tuple[str, list[list[str]]]:
    name = rng.choice(NAMES)
    if rng.random() < 0.3:
        name = "".join(rng.choice("ab/._-\\é:* ") for _ in range(rng.randint(1, 60)))
    name = name.replace("\x00", "")
    argv = rng.choice([["show", name], ["show", "--kind", rng.choice(["model", "hardware", "study"]), name],
                       ["list", name], ["validate", name], ["solve", "--model", name, "--hardware", "vck190",
                                                            "--time-limit", "1", "--quiet", "-o", "out"],
                       ["solve", "--model", "deit-tiny", "--hardware", name, "--quiet", "-o", "out"],
                       ["schema", name]])
    return f"names {argv[0]} {name[:40]!r}", [argv]


def make_case(seed: int, folder: Path, plans: dict[str, Path], kinds: tuple[str, ...]) -> tuple[str, str, list]:
    rng = random.Random(seed)
    kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
    if kind == "spec":
        c = spec_case(seed, folder)
        return kind, f"spec {c.kind}: {c.mutation}", [["validate", str(c.study)],
                                                      ["?solve", "solve", str(c.study), "--time-limit", SOLVE_LIMIT,
                                                       "--quiet", "-o", "out"]]
    if kind == "sweep":
        return (kind, *sweep_case(rng, folder))
    if kind == "cache":
        return (kind, *cache_case(rng, folder))
    if kind == "csv":
        return (kind, *csv_case(rng, folder))
    if kind == "gpu":
        return (kind, *hardware_case(rng, folder, [p.stem for p in (SPECS / "hardware").glob("*.yaml")
                                                   if "family: gpu" in p.read_text()] or ["a100"], "gpu"))
    if kind == "chain":
        return (kind, *hardware_case(rng, folder, ["u250-x4-pcie", "u55c-x128", "u250-x32"], "chain"))
    if kind == "plan":
        return (kind, *plan_case(rng, folder, plans))
    return (kind, *names_case(rng, folder))


def run_case(task: tuple) -> dict[str, Any]:
    seed, plans, kinds, timeout, memory_bytes, keep = task
    folder = Path(tempfile.mkdtemp(prefix=f"accelplan-fuzz-{seed}-"))
    try:
        try:
            kind, what, commands = make_case(seed, folder, plans, kinds)
        except Exception as exc:  # noqa: BLE001 - a generator that cannot build this case: skip it, say so
            return {"seed": seed, "kind": "?", "what": f"generator: {type(exc).__name__}: {exc}", "class": "skipped",
                    "runs": [], "seconds": 0.0}
        row: dict[str, Any] = {"seed": seed, "kind": kind, "what": what, "runs": []}
        start = time.perf_counter()
        for argv in commands:
            if argv[0] == "!python":  # a helper step of the case (damaging a cache), not a CLI run
                subprocess.run([sys.executable, *argv[1:]], cwd=folder, timeout=60, capture_output=True)
                continue
            if argv[0].startswith("?"):  # only when the previous command succeeded
                if not row["runs"] or row["runs"][-1]["class"] != "ok" or row["runs"][-1].get("status") != 0:
                    continue
                argv = argv[1:]
            result = run_cli(argv, folder, timeout, memory_bytes)
            result["argv"] = [a if len(a) <= 80 else a[:77] + "..." for a in result["argv"]]
            row["runs"].append(result)
            if result["class"] in ("traceback", "hang", "memory", "other"):
                break
        order = ["hang", "memory", "traceback", "other", "clean error", "ok"]
        row["class"] = min((r["class"] for r in row["runs"]), key=order.index, default="ok")
        row["seconds"] = time.perf_counter() - start
        cause = next((r.get("cause") for r in row["runs"] if r["class"] == row["class"] and r.get("cause")), None)
        if cause:
            row["cause"] = cause
        return row
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ base plans
BASE_PLANS = {
    "versal spatial": ["--model", "deit-tiny", "--hardware", "vck190", "--execution", "spatial", "--strategy", "dp"],
    "versal hybrid": ["--model", "deit-tiny", "--hardware", "vck190", "--execution", "hybrid"],
    "versal replicated": ["--model", "deit-tiny", "--hardware", "vck190", "--execution", "replicated"],
    "mcm segments": ["--model", "resnet50", "--hardware", "simba-36", "--execution", "segmented-pipeline"],
    "device chain": ["--model", "bert-base", "--hardware", "u250-x4-pcie"],
    "gpu": ["--model", "deit-tiny", "--hardware", "a100"],
    "infeasible": ["--model", "deit-tiny", "--hardware", "vck190", "--latency-max", "0.001"],
}


def base_plans(folder: Path, timeout: float, memory_bytes: int) -> dict[str, Path]:
    """Solve each base plan once (the ones a family of this checkout cannot solve are left out)."""
    plans = {}
    for name, argv in BASE_PLANS.items():
        out = folder / name.replace(" ", "-")
        result = run_cli(["solve", *argv, "--batch", "2", "--time-limit", "20", "--quiet", "-o", str(out)], ROOT,
                         timeout, memory_bytes)
        plan = out / "solve" / "plan.yaml"
        if plan.is_file():
            plans[name] = plan
        else:
            print(f"base plan {name}: not solved ({result['class']}, {result.get('cause', '')})", file=sys.stderr)
    return plans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--first", type=int, default=0, help="seed of the first case")
    ap.add_argument("--workers", type=int, default=2, help="cases run at once")
    ap.add_argument("--timeout", type=float, default=60, help="a command with no answer by then is a hang [s]")
    ap.add_argument("--memory-gib", type=float, default=8.0, help="address-space limit of each command [GiB]")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"kinds of case (default: all: {', '.join(KINDS)})")
    ap.add_argument("--keep", action="store_true", help="keep each case's folder (printed in the JSON as its seed)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz.json")
    args = ap.parse_args()
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or args.cases < 1 or args.workers < 1:
        ap.error(f"--kinds from {', '.join(KINDS)}; --cases and --workers at least 1 (unknown: {', '.join(unknown)})")
    memory_bytes = int(args.memory_gib * 2**30)
    work = Path(tempfile.mkdtemp(prefix="accelplan-fuzz-plans-"))
    start = time.perf_counter()
    plans = base_plans(work, args.timeout, memory_bytes)
    if "plan" in kinds and not plans:
        kinds = tuple(k for k in kinds if k != "plan")
    tasks = [(seed, plans, kinds, args.timeout, memory_bytes, args.keep)
             for seed in range(args.first, args.first + args.cases)]
    rows = []
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for i, row in enumerate(pool.imap_unordered(run_case, tasks), start=1):
            rows.append(row)
            if row["class"] in ("traceback", "hang", "memory", "other"):
                print(f"[{i}/{len(tasks)}] seed {row['seed']} {row['class']}: {row['what'][:100]} "
                      f"({row.get('cause', '')})", file=sys.stderr, flush=True)
            elif i % 100 == 0:
                print(f"[{i}/{len(tasks)}] {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    rows.sort(key=lambda r: r["seed"])
    classes = ("ok", "clean error", "traceback", "hang", "memory", "other", "skipped")
    per_kind = {k: Counter(r["class"] for r in rows if r["kind"] == k) for k in sorted({r["kind"] for r in rows})}
    counts = Counter(r["class"] for r in rows)
    runs = sum(len(r["runs"]) for r in rows)
    print(f"{len(rows)} cases ({runs} CLI runs) in {time.perf_counter() - start:.0f} s, seeds {args.first}.."
          f"{args.first + args.cases - 1}, timeout {args.timeout:g} s, memory {args.memory_gib:g} GiB\n")
    print("| kind | " + " | ".join(classes) + " |\n|---|" + "---|" * len(classes))
    for kind, c in per_kind.items():
        print(f"| {kind} | " + " | ".join(str(c.get(k, 0)) for k in classes) + " |")
    print("| **all** | " + " | ".join(str(counts.get(k, 0)) for k in classes) + " |")
    causes = Counter(r["cause"] for r in rows if r["class"] in ("traceback", "memory", "other") and r.get("cause"))
    for cause, n in causes.most_common():
        print(f"- {n} x {cause}")
    for r in rows:
        if r["class"] == "hang":
            print(f"- hang: seed {r['seed']} {r['what'][:120]}")
    slow = max(rows, key=lambda r: r.get("seconds", 0))
    print(f"\nslowest case: seed {slow['seed']} ({slow['what'][:80]}), {slow.get('seconds', 0):.1f} s")
    meta = {"machine": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "base_plans": sorted(plans), **{k: v for k, v in vars(args).items() if k != "out"}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from accelplan.outputs import write_atomic
    write_atomic(args.out, json.dumps({"meta": meta, "counts": dict(counts), "per_kind": {k: dict(v) for k, v in
                                                                                         per_kind.items()},
                                       "causes": dict(causes), "rows": rows}, indent=1, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
