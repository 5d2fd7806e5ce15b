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
