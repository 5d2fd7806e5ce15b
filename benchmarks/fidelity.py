"""Fidelity: published on-board measurements beside accelplan's predictions, before and after calibration.

    python benchmarks/fidelity.py [--time-limit 30]

Rows (each a :class:`Fidelity` record; a family adds its own with a function in ``ROW_SOURCES``):
- the square fp32 GEMMs of ``specs/measurements/vck190.csv`` (CHARM, FPGA 2023), each a one-GEMM model
  planned on the VCK190 (sequential execution, least latency): TFLOPS = 2 * MACs / latency;
- CHARM's BERT and ViT workloads (the layer shapes of the repository's host code), planned with
  hybrid execution for the best throughput: TFLOPS = 2 * MACs * throughput, beside CHARM's measured
  end-to-end throughput (abstract of arXiv:2301.02359: BERT 1.46, ViT 1.61 TFLOPS).
- Simba's published ResNet-50 figures and Stream's Simba example on the mcm family (:func:`chiplet_rows`, from
  ``benchmarks/fidelity_mcm.py``), with the spec as shipped only.
Three predictions per VCK190 row: "profile" is specs/hardware/vck190.yaml with ``ddr.efficiency: 1`` (CHARM's DDR
profile as measured, nothing fitted); "vck190" the spec as shipped (``ddr.efficiency`` fitted to these GEMMs);
"calibrated" that spec after ``accelplan calibrate specs/measurements/vck190.csv --fit
ddr.efficiency,launch_overhead`` (the square GEMMs are all DDR-bound, so they cannot determine
aie.array_efficiency: calibrate refuses to fit it from them).
Prints a table and writes benchmarks/results/fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accelplan import api  # noqa: E402
from accelplan.calibrate import read_measurements  # noqa: E402
from accelplan.families.versal_aie import calibration as versal_calibration  # noqa: E402
from accelplan.outputs import write_atomic  # noqa: E402
from accelplan.specs.study import load_hardware  # noqa: E402

MEASUREMENTS = ROOT / "specs" / "measurements" / "vck190.csv"
VCK190 = ROOT / "specs" / "hardware" / "vck190.yaml"
FIT = ("ddr.efficiency", "launch_overhead")
CHARM_ABSTRACT = "CHARM (Zhuang et al., FPGA 2023), abstract of arXiv:2301.02359"
CHARM_REPO = "arc-research-lab/CHARM"


@dataclass(frozen=True)
class Fidelity:
    """One published measurement beside accelplan's prediction before and after calibration."""

    name: str
    hardware: str
    metric: str
    measured: float
    profile: float | None  # predicted with the raw DDR profile (nothing fitted)
    shipped: float | None  # predicted with the hardware spec as shipped
    calibrated: float | None  # predicted after calibration
    source: str
    note: str = ""

    def ratios(self) -> dict[str, float | None]:
        """Each prediction over the measurement."""
        return {k: None if v is None else v / self.measured
                for k, v in (("profile", self.profile), ("shipped", self.shipped), ("calibrated", self.calibrated))}


@dataclass(frozen=True)
class Context:
    """What row sources share: a scratch folder, the solve time limit, the three VCK190 specs."""

    scratch: Path
    time_limit_s: float
    vck190_profile: Path
    vck190_calibrated: Path

    @property
    def vck190_specs(self) -> tuple[Path, Path, Path]:
        return self.vck190_profile, VCK190, self.vck190_calibrated


#: CHARM's workloads: (name, measured TFLOPS, layers (m, k, n, count, weight), host file with the shapes)
CHARM_WORKLOADS = (
    ("charm-bert", 1.46,
     [(3072, 1024, 1024, 1, True)] * 4 + [(3072, 1024, 4096, 1, True), (3072, 4096, 1024, 1, True),
                                          (512, 512, 64, 96, False), (512, 64, 512, 96, False)],
     "example/BERT/two_diverse/host/host.cpp (layer table; 6 x 16 attention heads of 512 tokens)"),
    ("charm-vit", 1.61,
     [(3072, 3072, 1024, 1, True), (3072, 1024, 1024, 1, True), (3072, 1024, 4096, 1, True),
      (3072, 4096, 1024, 1, True), (3072, 1024, 3072, 1, True), (64, 64, 64, 768, False), (64, 64, 64, 768, False)],
     "example/ViT/two_diverse/host/host.cpp (layer_in table; README errata: the fifth layer is 3072x1024x3072)"),
)


def _model_file(folder: Path, name: str, layers: list[tuple[int, int, int, int, bool]]) -> tuple[Path, int]:
    """A one-inference fp32 model spec of ``layers``; returns its path and its MACs."""
    ops = [{"name": f"l{i}", "kind": "linear" if w else "matmul", "m": m, "k": k, "n": n, "heads": c, "weight": w}
           for i, (m, k, n, c, w) in enumerate(layers)]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "dtype": "fp32", "batch": 1, "operators": ops}, sort_keys=False))
    return path, sum(m * k * n * c for m, k, n, c, _ in layers)


def _tflops(model: Path, hardware: Path, macs: int, execution: str, objective: str, strategy: str,
            time_limit_s: float) -> float | None:
    """2 * MACs per inference over the planned time per inference [TFLOPS] (None when no plan is found)."""
    study = api.make_study(model=str(model), hardware=str(hardware), execution=execution, objective=objective)
    plan = api.plan_study(study, strategy, time_limit_s).plan
    if plan is None or not plan.feasible:
        return None
    seconds = plan.latency_ms / 1e3 if objective == "latency" else 1 / plan.throughput
    return 2 * macs / seconds / 1e12


def square_gemm_rows(ctx: Context) -> list[Fidelity]:
    """The square GEMMs of the measurement CSV, each planned alone on the VCK190 (sequential, least latency)."""
    rows = read_measurements(MEASUREMENTS, versal_calibration, load_hardware(VCK190))
    out = []
    for row in rows:
        layers = [(row.m, row.k, row.n, row.count, True)]
        model, macs = _model_file(ctx.scratch, row.name, layers)
        measured = 2 * macs * row.batch / row.measured_s / 1e12
        predicted = [_tflops(model, hw, macs, "sequential", "latency", "dp", ctx.time_limit_s)
                     for hw in ctx.vck190_specs]
        out.append(Fidelity(row.name, "vck190", "TFLOPS", measured, *predicted, row.source))
    return out


def charm_end_to_end_rows(ctx: Context) -> list[Fidelity]:
    """CHARM's BERT and ViT, planned by accelplan (hybrid execution, best throughput)."""
    out = []
    for name, measured, layers, host in CHARM_WORKLOADS:
        model, macs = _model_file(ctx.scratch, name, layers)
        predicted = [_tflops(model, hw, macs, "hybrid", "throughput", "colgen", ctx.time_limit_s)
                     for hw in ctx.vck190_specs]
        out.append(Fidelity(name, "vck190", "TFLOPS", measured, *predicted,
                            f"{CHARM_ABSTRACT} ({measured} TFLOPS); shapes: {CHARM_REPO} {host}",
                            "accelplan's own plan, not CHARM's two-accelerator design"))
    return out


def chiplet_rows(ctx: Context) -> list[Fidelity]:
    """Simba's published figures and Stream's Simba example on the mcm family (``benchmarks/fidelity_mcm.py``):
    one prediction each, with the spec as shipped (nothing is calibrated on that family)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fidelity_mcm import mcm_rows

    return [Fidelity(r.what, "simba-36", r.unit, r.measured, None, r.predicted, None, r.source, r.note)
            for r in mcm_rows(ctx.time_limit_s)]


#: every row source; another family's rows join with one more function here, returning Fidelity records
#: (a prediction it has no spec for stays None and prints as "—")
ROW_SOURCES: list[Callable[[Context], list[Fidelity]]] = [square_gemm_rows, charm_end_to_end_rows, chiplet_rows]


def _fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def table(rows: list[Fidelity]) -> str:
    """The rows as a Markdown table."""
    lines = ["| measurement | measured | profile | ratio | vck190 | ratio | calibrated | ratio | source |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r.ratios()
        cells = [f"{_fmt(getattr(r, k), '.3g')} | {_fmt(ratio[k], '.2f')}" for k in ("profile", "shipped", "calibrated")]
        lines.append(f"| {r.name} ({r.metric}) | {r.measured:.3g} | {' | '.join(cells)} | "
                     f"{r.source}{'; ' + r.note if r.note else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve (default: %(default)s)")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "benchmarks" / "results" / "fidelity.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        calibrated = scratch / "vck190-calibrated.yaml"
        calibration, _ = api.calibrate(MEASUREMENTS, str(VCK190), calibrated, FIT)
        profile = scratch / "vck190-profile.yaml"
        data = yaml.safe_load(VCK190.read_text())
        data["ddr"]["efficiency"] = 1.0
        profile.write_text(yaml.safe_dump(data, sort_keys=False))
        ctx = Context(scratch, args.time_limit, profile, calibrated)
        rows = [row for source in ROW_SOURCES for row in source(ctx)]
    print(table(rows))
    print("calibrated: " + ", ".join(f"{k} {calibration.before[k]:.4g} -> {v:.4g}" for k, v in calibration.after.items()))
    payload = {"calibrated": calibration.after,
               "rows": [asdict(r) | {"ratios": r.ratios()} for r in rows]}
    write_atomic(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
