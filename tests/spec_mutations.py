"""Seeded mutations of the built-in specs, for fuzzing (``tests/test_fuzz.py``, ``benchmarks/fuzz.py``).

A case is one spec file written to a folder, with the study that uses it (the mutated spec replaces
the built-in one of its kind in a copy of a built-in study). Mutations act on the parsed document:
delete a field, replace a value by an extreme or a wrong-typed one, duplicate a list item, wrap a
value in a list; or on the text: truncate it, insert a character, add an alias bomb or a duplicate key.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXTREMES: list[Any] = [0, -1, 1, 2**31, 2**63, 10**400, 1e-320, float("inf"), float("nan"), "abc", "", "0 GHz",
                       "1e400 s", "1e-320 B/s", "-5 GB/s", "16", True, None, [], {}, [1, 2], {"a": 1}, 0.5]


@dataclass(frozen=True)
class Case:
    """A mutated spec: what was done, the file written and the study that reads it."""

    seed: int
    kind: str
    mutation: str
    spec: Path
    study: Path


def _paths(node: Any, at: tuple = ()) -> list[tuple]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, at + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, at + (i,))
    return out


def _get(node: Any, at: tuple) -> Any:
    for step in at:
        node = node[step]
    return node


def _mutate_data(rng: random.Random, data: Any) -> tuple[Any, str]:
    paths = [p for p in _paths(data) if p]
    at = rng.choice(paths)
    parent, last = _get(data, at[:-1]), at[-1]
    what = rng.choice(["delete", "extreme", "extreme", "extreme", "duplicate", "wrap"])
    if what == "delete":
        del parent[last]
    elif what == "extreme":
        parent[last] = rng.choice(EXTREMES)
    elif what == "duplicate" and isinstance(parent, list):
        parent.insert(last, parent[last])
    else:
        parent[last] = [parent[last]]
    return data, f"{what} {'.'.join(map(str, at))}"


def _mutate_text(rng: random.Random, text: str) -> tuple[str, str]:
    what = rng.choice(["truncate", "insert", "bomb", "duplicate key", "deep"])
    if what == "truncate":
        return text[:rng.randrange(len(text))], what
    if what == "insert":
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(["\t", ":", "[", "&a", "*a", "\x00", "{", "- ", "'"]) + text[i:], what
    if what == "bomb":
        lines = ['z0: &z0 ["x","x","x","x","x","x","x","x","x","x"]']
        lines += [f"z{i}: &z{i} [{', '.join([f'*z{i - 1}'] * 10)}]" for i in range(1, 8)]
        return text + "\n".join(lines) + "\n", what
    if what == "duplicate key":
        first = text.splitlines()[0] if text.strip() else "name: x"
        return text + "\n" + first + "\n", what
    return text + "deep: " + "[" * 300 + "]" * 300 + "\n", what


def case(seed: int, folder: Path) -> Case:
    """The ``seed``-th mutated spec, written under ``folder`` with a study that reads it."""
    rng = random.Random(seed)
    study_src = rng.choice(sorted((SPECS / "studies").glob("*.yaml")))
    study = yaml.safe_load(study_src.read_text())
    kind = rng.choice(["model", "hardware", "study"])
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "study":
        source_text = study_src.read_text()
    else:
        source_text = (SPECS / ("models" if kind == "model" else "hardware") / f"{study[kind]}.yaml").read_text()
    if rng.random() < 0.75:
        data, mutation = _mutate_data(rng, yaml.safe_load(source_text))
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text, mutation = _mutate_text(rng, source_text)
    spec = folder / f"{kind}.yaml"
    spec.write_text(text)
    study_path = spec
    if kind != "study":
        study[kind] = spec.name
        study["time_limit_s"] = 5
        study_path = folder / "study.yaml"
        study_path.write_text(yaml.safe_dump(study, sort_keys=False))
    return Case(seed, kind, mutation, spec, study_path)
