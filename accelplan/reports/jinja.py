"""The one Jinja2 environment of the reports: the templates under ``templates/`` (the HTML report and its SVG
figures), every value escaped (``.html``, ``.svg`` and ``.j2`` names), an undefined name an error."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment, Template

TEMPLATES = Path(__file__).parent / "templates"


def number(value: float) -> str:
    """A coordinate as SVG writes it: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@functools.lru_cache(maxsize=1)
def environment() -> "Environment":
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["html", "svg", "j2"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["n"] = number
    return env


def template(name: str) -> "Template":
    """The template ``name`` (a path under ``templates/``), compiled once."""
    return environment().get_template(name)
