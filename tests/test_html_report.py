"""report.html is one self-contained file whose every figure (inline SVG, or a PNG data URI for Pareto fronts) a real
browser renders; progress bars only on a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from accelplan.cli import main

from conftest import require_tool


CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const svgs = Array.from(document.querySelectorAll("figure > svg"));
  const shown = (box) => box.width > 0 && box.height > 0;
  const scaled = (s, box = s.getBoundingClientRect(), view = s.viewBox.baseVal) =>  // at the viewBox's aspect
    view && view.width > 0 && Math.abs(box.height / box.width - view.height / view.width) < 0.01;
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length
    + svgs.filter(s => shown(s.getBoundingClientRect()) && scaled(s) && shown(s.getBBox())
                       && s.querySelectorAll("rect, circle, polyline, text").length > 0).length;
  document.title = "IMAGES " + ok + "/" + (imgs.length + svgs.length) + " SVG " + svgs.length;
});
</script>"""


def images_loaded(report: Path, tmp: Path, svgs: int = 4) -> tuple[int, int]:
    """(shown, total) figures of ``report`` as headless Chromium renders it: images loaded, and SVG figures with a
    non-zero box on the page at their viewBox's aspect and drawn content of a non-zero box; ``svgs`` of them must be
    SVG."""
    chromium = require_tool("chromium", "chromium-browser")
    page = tmp / "check.html"
    page.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp / 'profile'}",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    match = re.search(r"<title>IMAGES (\d+)/(\d+) SVG (\d+)</title>", run.stdout)
    assert match, (run.returncode, run.stderr[-2000:])
    assert int(match.group(3)) == svgs
    return int(match.group(1)), int(match.group(2))


def _self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]+)"', html))
    assert all(re.fullmatch(r"0 0 [\d.]+ [\d.]+", box) for box in re.findall(r'<svg [^>]*viewBox="([^"]+)"', html))


@pytest.mark.slow
def test_solve_report_html_images_load(study_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "solve"  # each command writes <-o>/<command>/
    assert main(["solve", str(study_file), "-o", str(tmp_path), "--quiet"]) == 0
    html = (out / "report.html").read_text()
    _self_contained(html)
    for heading in ("The plan", "Schedule of one batch", "Utilisation", "Accelerators", "Layers: time and what sets it",
                    "Roofline", "Model"):
        assert f"<h2>{heading}</h2>" in html
    loaded, total = images_loaded(out / "report.html", tmp_path)  # plan, Gantt, utilisation, roofline: SVG
    assert total == 4 and loaded == total and "<img " not in html


@pytest.mark.slow
def test_compare_and_pareto_reports_show_their_sections(study_file: Path, tmp_path: Path) -> None:
    cmp_out, par_out = tmp_path / "compare", tmp_path / "pareto"  # each command writes <-o>/<command>/
    assert main(["compare", str(study_file), "--strategies", "milp,dp", "--time-limit", "5", "-o", str(tmp_path), "--quiet"]) == 0
    html = (cmp_out / "report.html").read_text()
    assert "<h2>Strategies compared</h2>" in html and "unsupported" in html
    # 2 s a solve: the hybrid front's colgen runs to its limit; every front has its first point in well under that
    assert main(["pareto", str(study_file), "--batch", "2", "--time-limit", "2", "-o", str(tmp_path), "--quiet"]) == 0
    html = (par_out / "report.html").read_text()
    _self_contained(html)
    assert "Pareto fronts</h2>" in html
    loaded, total = images_loaded(par_out / "report.html", tmp_path)  # the plan's four (SVG) and the fronts (PNG)
    assert total == 5 and loaded == total


def _run_cli(args: list[str], tty: bool) -> str:
    """Run the CLI in a subprocess with stderr on a pseudo-terminal or a pipe; return what stderr received."""
    cmd = [sys.executable, "-m", "accelplan.cli", *args]
    if not tty:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300).stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, env={**os.environ, "COLUMNS": "120"})
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=300)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.slow
def test_progress_bar_only_on_a_terminal(study_file: Path, tmp_path: Path, tty: bool) -> None:
    args = ["compare", str(study_file), "--strategies", "milp,dp", "--time-limit", "3", "-o", str(tmp_path / "o")]
    err = _run_cli(args, tty)
    assert ("strategies:" in err) == tty, err[-500:]
    if tty:  # --quiet silences it on a terminal too (one run: the same check under either parameter)
        assert "strategies:" not in _run_cli(args + ["--quiet"], tty=True)


@pytest.mark.slow
def test_mcm_report_html_images_load(tmp_path: Path, root: Path) -> None:
    """A chiplet-package plan: clusters by segment, the segment-by-segment pipeline, every image loads."""
    out = tmp_path / "solve"  # each command writes <-o>/<command>/
    assert main(["solve", "--model", "resnet50", "--hardware", "mcm-16", "--batch", "4", "-o", str(tmp_path), "--quiet"]) == 0
    html = (out / "report.html").read_text()
    _self_contained(html)
    assert "<h2>Clusters</h2>" in html and "segment" in html and "ws" in html
    loaded, total = images_loaded(out / "report.html", tmp_path)
    assert total == 4 and loaded == total
