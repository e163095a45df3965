"""Matplotlib figures of the report, rendered to PNG bytes.

Figures are built with :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so no
global backend or figure state is touched and nothing needs closing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from boxpromptiml.report.curves import Curve


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _new_figure(n_panels: int, width: float = 3.9, height: float = 3.1) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, list(axes)


def dataset_figure(
    name: str,
    f1_values: Sequence[float],
    pr: Curve | None,
    roc: Curve | None,
    *,
    operating_point: tuple[float, float] | None = None,
    threshold: float = 0.5,
    show_roc: bool = True,
    n_pixels: int = 0,
) -> bytes:
    """Per-image F1 histogram, pooled precision-recall curve and (optionally) ROC curve.

    ``operating_point`` is ``(recall, precision)`` at ``threshold`` (micro scores of the
    run), marked on the PR curve. ``n_pixels`` (sampled pixels) goes into the titles.
    """
    fig, axes = _new_figure(3 if show_roc else 2)
    ax = axes[0]
    vals = np.asarray([v for v in f1_values if v is not None and not math.isnan(v)], float)
    ax.hist(vals, bins=np.linspace(0, 1, 21), color="#4c72b0", edgecolor="white")
    if vals.size:
        ax.axvline(float(vals.mean()), color="#c44e52", ls="--", lw=1.2)
        ax.text(
            float(vals.mean()),
            ax.get_ylim()[1] * 0.95,
            f" mean {vals.mean():.3f}",
            color="#c44e52",
            fontsize=8,
            va="top",
        )
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"pixel F1 at {threshold:g}")
    ax.set_ylabel("images")
    ax.set_title(f"{name}: per-image F1 (n={vals.size})", fontsize=10)
    ax.grid(alpha=0.3)

    px = f"{n_pixels:,} px" if n_pixels else "pooled pixels"
    ax = axes[1]
    if pr is not None:
        ax.plot(pr.x, pr.y, color="#4c72b0", lw=1.6, label=f"AP {pr.area:.3f}")
        if operating_point is not None and not any(math.isnan(v) for v in operating_point):
            ax.plot(*operating_point, "o", color="#c44e52", ms=6, label=f"t={threshold:g}")
        ax.legend(fontsize=8, loc="lower left")
    else:
        ax.text(0.5, 0.5, "no manipulated pixels", ha="center", va="center", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"precision-recall ({px})", fontsize=10)
    ax.grid(alpha=0.3)

    if show_roc:
        ax = axes[2]
        if roc is not None:
            ax.plot(roc.x, roc.y, color="#4c72b0", lw=1.6, label=f"AUC {roc.area:.3f}")
            ax.legend(fontsize=8, loc="lower right")
        else:
            ax.text(0.5, 0.5, "needs both classes", ha="center", va="center", fontsize=9)
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        ax.set_title(f"ROC ({px})", fontsize=10)
        ax.grid(alpha=0.3)
    return figure_png(fig)


def history_figure(
    rows: Sequence[Mapping[str, Any]],
    x_key: str | None,
    groups: Mapping[str, Sequence[str]],
) -> bytes:
    """A training history (e.g. ``log.csv`` rows): one small panel per group of columns,
    each column of ``groups[title]`` drawn against ``x_key`` (the row number if ``None``).
    Non-numeric and NaN cells are left out."""
    from matplotlib.figure import Figure

    n = max(1, len(groups))
    cols = min(n, 3)
    n_rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.9 * cols, 2.8 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, cols, squeeze=False).ravel()
    xs = [r.get(x_key) if x_key else i + 1 for i, r in enumerate(rows)]
    for ax, (title, keys) in zip(axes, groups.items(), strict=False):
        for k in keys:
            pts = [
                (x, float(r[k]))
                for x, r in zip(xs, rows, strict=True)
                if _is_number(r.get(k)) and _is_number(x)
            ]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, lw=1.3, label=k)
        ax.set_xlabel(x_key or "row")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    return figure_png(fig)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(float(v))
