"""The README a newcomer reads in five minutes, the reference in docs/ as a site (issue 25): links that resolve, every
page in the site's navigation, examples that use what a user should use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def _readme(root: Path) -> str:
    return (root / "README.md").read_text()


def test_the_readme_is_short_and_starts_with_the_two_commands(root: Path) -> None:
    text = _readme(root)
    assert len(text.splitlines()) <= 90  # five minutes: the reference lives in docs/
    first = text.split("```sh\n", 1)[1].splitlines()[:2]
    assert first == ["pip install -e . && accelplan solve specs/studies/bert-base_vck190.yaml -o out/",
                     'pip install -e ".[test]" && python -m pytest -n 2']
    assert first[1] in (root / ".ci" / "run").read_text()


def test_readme_links_reach_docs_pages_and_every_page_is_in_the_site(root: Path) -> None:
    links = re.findall(r"\]\((docs/[^)#]+)", _readme(root))
    assert links and all((root / link).is_file() for link in links), links
    nav = yaml.safe_load((root / "mkdocs.yml").read_text())["nav"]
    pages = {next(iter(item.values())) for item in nav}
    assert pages == {p.name for p in (root / "docs").glob("*.md")}
    assert "ARCHITECTURE.md" in pages


def test_the_readme_tours_every_hardware_family(root: Path) -> None:
    from accelplan import api
    from accelplan.families import every

    text = _readme(root)
    studies = re.findall(r"accelplan solve (specs/studies/\S+\.yaml)", text)
    hardware = re.findall(r"accelplan solve --model \S+ --hardware (\S+)", text)
    families = {api.make_study(root / s).hardware.family for s in studies}
    families |= {api.make_study(None, model="bert-base", hardware=h).hardware.family for h in hardware}
    assert families == {f.name for f in every()}


def test_the_compare_example_names_strategies_that_cover_its_study(root: Path) -> None:
    from accelplan import api
    from accelplan.families import build_problem
    from accelplan.solvers.registry import STRATEGIES, covering

    for page in (_readme(root), (root / "docs" / "usage.md").read_text()):
        study, names = re.search(r"accelplan compare (\S+)\s*\\?\s*--strategies (\S+)", page).groups()
        problem = build_problem(api.make_study(root / study))
        assert set(names.split(",")) <= {s.name for s in covering(problem)}
        assert "colgen" in names.split(",")  # auto's pick for it
    assert "--strategy milp" not in (root / "docs" / "usage.md").read_text()


@pytest.mark.slow
def test_the_site_builds_strictly(root: Path, tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None:
        pytest.skip("mkdocs not installed (pip install -e '.[docs]')")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "site" / "ARCHITECTURE" / "index.html").is_file()
