"""Which kind a YAML document is (model, hardware, study, sweep, co-design or plan), told by its top-level keys.

The one rule ``accelplan validate``, ``accelplan list`` and the loaders share; it reads keys only,
so a file whose fields are wrong is still told its kind (and then why it is not valid).
"""

from __future__ import annotations

from collections.abc import Iterable

#: every kind a user's YAML file can be, in the order they are told apart
FILE_KINDS = ("plan", "hardware", "sweep", "codesign", "model", "study")


def spec_kind(keys: Iterable[str]) -> str | None:
    """The kind of a document with these top-level keys: a plan has ``format`` and ``accelerators``, a hardware
    ``family``, a sweep ``grid`` or ``points`` (it names a base study too), a co-design ``space`` (a base study too),
    a model ``operators``, a study ``model`` or ``hardware``; None when it is none of them."""
    keys = set(keys)
    if {"format", "accelerators"} <= keys:
        return "plan"
    if "family" in keys:
        return "hardware"
    if "grid" in keys or "points" in keys:
        return "sweep"
    if "space" in keys:
        return "codesign"
    if "operators" in keys:
        return "model"
    if "model" in keys or "hardware" in keys:
        return "study"
    return None


def data_kind(data: object) -> str | None:
    """The kind of a loaded YAML document (None when it is not a mapping or not a known kind)."""
    return spec_kind(data) if isinstance(data, dict) else None
