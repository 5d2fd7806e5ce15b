"""The built-in spec library (``specs/`` in the repository, ``accelplan/_library`` when installed)."""

from __future__ import annotations

from pathlib import Path

KINDS = ("models", "hardware", "studies")


def library_dirs() -> list[Path]:
    """Folders searched for built-in specs, first match wins."""
    here = Path(__file__).resolve().parent.parent
    return [p for p in (here / "_library", here.parent / "specs") if p.is_dir()]


def builtin_names(kind: str) -> list[str]:
    """Names of built-in specs of ``kind`` (``models``, ``hardware`` or ``studies``)."""
    names: set[str] = set()
    for root in library_dirs():
        names.update(p.stem for p in (root / kind).glob("*.yaml"))
    return sorted(names)


def builtin_path(kind: str, name: str) -> Path | None:
    """Path of the built-in spec ``name`` of ``kind``, or None (also for a name no file could have: a path, a NUL, a
    name longer than a file name may be; such a name is never looked up in the file system)."""
    if not name or "/" in name or "\0" in name or name in (".", "..") or len(name.encode("utf-8", "replace")) > 250:
        return None
    for root in library_dirs():
        path = root / kind / f"{name}.yaml"
        if path.is_file():
            return path
    return None
