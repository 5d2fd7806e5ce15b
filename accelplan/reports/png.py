"""Matplotlib figures as PNG bytes, finished the one way the reports that write ``.png`` files draw them (Pareto
fronts, anytime curves, sweeps); a plan's own figures are SVG (:mod:`.figures`)."""

from __future__ import annotations

import io
from typing import Any


def png_bytes(fig: Any, ax: Any = None, dpi: float | None = None) -> bytes:
    """``fig`` as PNG (closed afterwards); with ``ax``, first a light grid and the legend outside the axes, on the
    right, where it never hides a point."""
    import matplotlib.pyplot as plt

    if ax is not None:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", bbox_inches="tight", **({"dpi": dpi} if dpi else {}))  # no label clipped
    plt.close(fig)
    return buf.getvalue()
