"""Errors a user can act on: they name the file, line, field and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpecIssue:
    """One problem found in a spec file."""

    message: str
    field: str = ""
    line: int | None = None

    def render(self, file: str) -> str:
        where = file if self.line is None else f"{file}:{self.line}"
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.message}"


class AccelplanError(Exception):
    """Base class for errors reported to users without a traceback."""


@dataclass
class SpecError(AccelplanError):
    """A spec (model, hardware or study) that cannot be used, with every problem found."""

    file: str
    issues: list[SpecIssue] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(i.render(self.file) for i in self.issues)


class SolveError(AccelplanError):
    """A strategy that cannot handle the problem it was given (and says why)."""


#: the optional dependencies of each extra (pyproject.toml's [project.optional-dependencies]), by module
EXTRAS: dict[str, str] = {"distributed": "cluster", "dask": "cluster", "psycopg": "cluster"}


class MissingExtra(AccelplanError):
    """A command that needs a package of an extra that is not installed (a lean install leaves them out)."""

    def __init__(self, module: str, what: str) -> None:
        extra = EXTRAS.get(module, module)
        super().__init__(f"{what} needs the Python package {module!r}, which is not installed: "
                         f"pip install 'accelplan[{extra}]' (or pip install -e '.[{extra}]' in a clone)")


def need(module: str, what: str):
    """``module`` imported, or a :class:`MissingExtra` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the package is there but broken: not a missing extra
        raise MissingExtra(module.split(".")[0], what) from None
