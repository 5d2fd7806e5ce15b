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


def point_key(study: "Study", strategy: str, time_limit_s: float, seed: int) -> str:
    """The cache key of solving ``study`` with ``strategy``, ``time_limit_s`` and ``seed`` (hex SHA-256)."""
    network = study.model
    payload = {
        "format": CACHE_FORMAT, "accelplan": __version__, "strategy": strategy, "time_limit_s": float(time_limit_s),
        "seed": seed, "execution": study.execution, "batch": study.batch,
        "study": study.spec.model_dump(mode="json", include={"objective", "constraints"}),
        "model": {"name": network.name, "dtype": network.dtype, "batch": network.batch,
                  "ops": [[o.name, o.op.model_dump(mode="json"), list(o.inputs)] for o in network.ops]},
        "hardware": study.hardware.model_dump(mode="json"),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        plan = Plan.from_dict(data["plan"], plan_form(data["plan"]).model.accelerator) if data["plan"] is not None else None
        cost = HardwareCost(**data["cost"]) if data["cost"] is not None else None
        run = RunFacts(**data["run"]) if data.get("run") is not None else None
        return cls(plan, data["message"], cost, float(data["wall_s"]), data.get("plan_yaml"), run)


class PointCache:
    """Finished points under ``folder``, one atomically written JSON file each."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` is (or would be) stored."""
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Outcome | None:
        """The stored outcome of ``key``; None when absent or unreadable (an entry of another format is ignored)."""
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
            if data.get("format") != CACHE_FORMAT or data.get("key") != key:
                return None
            return Outcome.from_dict(data["outcome"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, outcome: Outcome) -> Path:
        """Store ``outcome`` under ``key`` (atomically)."""
        data = {"format": CACHE_FORMAT, "key": key, "accelplan": __version__, "outcome": outcome.to_dict()}
        return write_atomic(self.path(key), json.dumps(data))

    def keys(self) -> set[str]:
        """Keys of every stored entry."""
        return {p.stem for p in self.folder.glob("*/*.json")}
