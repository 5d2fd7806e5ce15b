"""Finished sweep points, stored by what they solve, so that a repeated or killed sweep recomputes none of them.

A point's key is the SHA-256 of its resolved study (the model's operators and the hardware's
fields, not the files they came from; the execution model, objective and constraints), its
strategy, time limit and seed, and the accelplan version. Each finished point is one JSON file
``<cache>/<key[:2]>/<key>.json`` written atomically (:func:`accelplan.outputs.write_atomic`): a
sweep killed at any moment leaves every entry whole or absent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..families import HardwareCost, plan_form
from ..outputs import write_atomic
from ..plan import Plan
from ..plan_file import RunFacts

if TYPE_CHECKING:
    from ..specs.study import Study

CACHE_FORMAT = 1
MAX_ENTRY_BYTES = 256 * 2**20  # an entry larger than this is not one accelplan wrote


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


#: the JSON text of recently keyed models, by identity (a sweep's points share a few models): (model, text)
_MODEL_TEXT: dict[int, tuple[Any, str]] = {}


def _model_text(network: Any) -> str:
    hit = _MODEL_TEXT.get(id(network))
    if hit is not None and hit[0] is network:
        return hit[1]
    text = _json({"name": network.name, "dtype": network.dtype, "batch": network.batch,
                  "ops": [[o.name, o.op.model_dump(mode="json"), list(o.inputs)] for o in network.ops]})
    if len(_MODEL_TEXT) >= 16:
        _MODEL_TEXT.clear()
    _MODEL_TEXT[id(network)] = (network, text)  # the model is kept, so its id is not reused while cached
    return text


def point_key(study: "Study", strategy: str, time_limit_s: float, seed: int) -> str:
    """The cache key of solving ``study`` with ``strategy``, ``time_limit_s`` and ``seed`` (hex SHA-256).

    The SHA-256 of the payload's JSON text with sorted keys; the model's part (the same for most points of a
    sweep) is rendered once per model and spliced in where ``json.dumps(payload, sort_keys=True)`` puts it."""
    payload = {
        "format": CACHE_FORMAT, "accelplan": __version__, "strategy": strategy, "time_limit_s": float(time_limit_s),
        "seed": seed, "execution": study.execution, "batch": study.batch,
        "study": study.spec.model_dump(mode="json", include={"objective", "constraints"}),
        "model": None,
        "hardware": study.hardware.model_dump(mode="json"),
    }
    text = "{" + ",".join(f"{json.dumps(k)}:{_model_text(study.model) if k == 'model' else _json(payload[k])}"
                          for k in sorted(payload)) + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What solving one point gave: its plan (None when the strategy refused it), why not, its hardware cost, and
    the plan's ``plan.yaml`` text for the run facts ``run`` (rendered on the worker)."""

    plan: Plan | None
    message: str
    cost: HardwareCost | None
    wall_s: float
    plan_yaml: str | None = None
    run: RunFacts | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.to_dict() if self.plan is not None else None, "message": self.message,
                "cost": asdict(self.cost) if self.cost is not None else None, "wall_s": self.wall_s,
                "plan_yaml": self.plan_yaml, "run": asdict(self.run) if self.run is not None else None}

    @property
    def load_decided(self) -> bool:
        """The solve stopped at its time limit without a plan: what the machine's load decided, not the point (on an
        idle machine, or another try, the same point can be solved)."""
        return self.plan is not None and not self.plan.feasible and self.plan.solver.status == "time_limit"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        plan = Plan.from_dict(data["plan"], plan_form(data["plan"]).model.accelerator) if data["plan"] is not None else None
        cost = HardwareCost(**data["cost"]) if data["cost"] is not None else None
        run = RunFacts(**data["run"]) if data.get("run") is not None else None
        return cls(plan, data["message"], cost, float(data["wall_s"]), data.get("plan_yaml"), run)


class PointCache:
    """Finished points under ``folder``, one atomically written JSON file each.

    An entry that does not read back as an outcome (a folder or other non-file where the entry belongs, text
    that is not JSON, JSON of another shape, a plan that does not load) is ignored: counted in ``ignored``
    (key -> why), recomputed, and replaced when the point's new outcome is stored."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.ignored: dict[str, str] = {}
        self.unstored: dict[str, str] = {}  # key -> why its outcome could not be stored

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` is (or would be) stored."""
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Outcome | None:
        """The stored outcome of ``key``; None when absent or unreadable (an unreadable entry is counted in
        ``ignored``; an entry of another format or accelplan version is ignored silently)."""
        path = self.path(key)
        try:
            if not path.exists() and not path.is_symlink():
                return None
            if not path.is_file():
                raise ValueError("not a regular file")
            if path.stat().st_size > MAX_ENTRY_BYTES:
                raise ValueError(f"larger than {MAX_ENTRY_BYTES:,} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            if data.get("format") != CACHE_FORMAT or data.get("accelplan", __version__) != __version__:
                return None
            if data.get("key") != key:
                raise ValueError("stored under another key")
            if not isinstance(data.get("outcome"), dict):
                raise ValueError("no outcome object")
            return Outcome.from_dict(data["outcome"])
        except RecursionError:
            self.ignored[key] = "nested too deeply"
        except Exception as exc:  # noqa: BLE001 - any entry that does not read back is recomputed, whatever it holds
            self.ignored[key] = f"{type(exc).__name__}: {exc}"[:200]
        return None

    def put(self, key: str, outcome: Outcome) -> Path | None:
        """Store ``outcome`` under ``key`` (atomically), replacing whatever unreadable entry stands there; None (and
        the reason in ``unstored``) when it cannot be written."""
        data = {"format": CACHE_FORMAT, "key": key, "accelplan": __version__, "outcome": outcome.to_dict()}
        path = self.path(key)
        try:
            for place in (path.parent, path):
                if place.is_symlink() or (place.exists() and place.is_dir() != (place == path.parent)):
                    _remove(place)
            return write_atomic(path, json.dumps(data))
        except OSError as exc:
            self.unstored[key] = f"cannot write {path}: {exc.strerror or exc}"
            return None

    def keep(self, key: str, outcome: Outcome) -> Path | None:
        """:meth:`put`, unless the outcome is :attr:`~Outcome.load_decided` (then None, and nothing is stored: the
        point is solved again next time instead of repeating a busy machine's miss)."""
        return None if outcome.load_decided else self.put(key, outcome)

    def keys(self) -> set[str]:
        """Keys of every stored entry."""
        return {p.stem for p in self.folder.glob("*/*.json") if p.is_file()}


def _remove(path: Path) -> None:
    """Remove what stands where a cache entry or its folder belongs (a folder, a file, a link)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
