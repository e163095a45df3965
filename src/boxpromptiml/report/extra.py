"""Extra sections supplied by the caller (training curves, pseudo-label quality, ...).

An extra section's content may be any of:

* ``str``: a trusted HTML fragment, inserted as is (escape plain text with
  :func:`html.escape`, or build it with :func:`boxpromptiml.report.page.table_html`);
* a mapping: a two-column ``key | value`` table;
* a sequence of mappings: a table, one row per mapping (NaN and ``None`` shown as ``–``);
* a path: ``.csv`` (a table), ``.png``/``.jpg``/``.jpeg`` (an embedded picture) or
  ``.html``/``.htm`` (a fragment, inserted as is);
* ``bytes``: PNG or JPEG data, embedded;
* a matplotlib figure (anything with ``savefig``): embedded as PNG;
* a list or tuple mixing the above: rendered one after the other.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from boxpromptiml.errors import DataError
from boxpromptiml.report.page import img_tag, kv_table, table_html
from boxpromptiml.report.plots import figure_png, history_figure

PathLike = str | os.PathLike[str]

#: What :func:`render_extra` accepts (see the module docstring).
Extra = Any

JPEG_SIGNATURE = b"\xff\xd8\xff"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _number(text: str) -> Any:
    """A CSV cell as int, float or the original text (empty -> ``None``)."""
    t = text.strip()
    if t == "":
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return text


def read_csv_rows(path: PathLike) -> list[dict[str, Any]]:
    """Rows of a CSV file with a header, numbers parsed (empty cells become ``None``)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: CSV file not found")
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            return [{k: _number(v or "") for k, v in r.items() if k} for r in csv.DictReader(fh)]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: unreadable CSV ({exc})") from exc


def image_html(source: PathLike | bytes, alt: str = "figure") -> str:
    """An embedded ``<img>`` of a PNG or JPEG file (or bytes)."""
    if isinstance(source, bytes):
        data, where = source, "image bytes"
    else:
        p = Path(source)
        if not p.is_file():
            raise DataError(f"{p}: image not found")
        data, where = p.read_bytes(), str(p)
    if data.startswith(PNG_SIGNATURE):
        mime = "image/png"
    elif data.startswith(JPEG_SIGNATURE):
        mime = "image/jpeg"
    else:
        raise DataError(f"{where}: only PNG and JPEG pictures can be embedded")
    return img_tag(data, mime, alt, cls="plot")


def figure_html(fig: Any, alt: str = "figure", dpi: int = 100) -> str:
    """An embedded ``<img>`` of a matplotlib figure."""
    return img_tag(figure_png(fig, dpi), "image/png", alt, cls="plot")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(float(v))


def history_html(
    history: PathLike | Sequence[Mapping[str, Any]],
    *,
    x: str | None = None,
    columns: Sequence[str] | None = None,
    max_rows: int = 30,
) -> str:
    """Training curves and a table from a training history (e.g. ``train``'s ``log.csv``).

    ``x`` is the column on the horizontal axis (default ``epoch``, else ``step``, else the
    row number); ``columns`` the columns plotted (default: every numeric column but
    ``epoch`` and ``step``). Losses
    (``*loss*``, ``train_*``) share a panel, so do validation scores in ``[0, 1]``
    (``val_*``); other columns get a panel each. The table shows the last ``max_rows`` rows.
    """
    rows = read_csv_rows(history) if isinstance(history, str | os.PathLike) else list(history)
    if not rows:
        return '<p class="note">empty training history</p>'
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    if x is None:
        x = next((k for k in ("epoch", "step") if k in keys), None)
    counters = {x, "epoch", "step"}  # plotted against each other they say nothing
    numeric = [k for k in keys if k not in counters and any(_is_number(r.get(k)) for r in rows)]
    wanted = list(columns) if columns is not None else numeric
    groups: dict[str, list[str]] = {}
    for k in wanted:
        vals = [float(r[k]) for r in rows if _is_number(r.get(k))]
        if "loss" in k or k.startswith("train_"):
            title = "losses"
        elif k.startswith("val_") and vals and min(vals) >= 0 and max(vals) <= 1:
            title = "validation scores"
        else:
            title = k
        groups.setdefault(title, []).append(k)
    parts = [figure_html_bytes(history_figure(rows, x, groups), "training curves")]
    shown = rows[-max_rows:]
    if len(shown) < len(rows):
        parts.append(f'<p class="note">last {len(shown)} of {len(rows)} rows</p>')
    parts.append(table_html(shown, sortable=True, digits=None))
    return "\n".join(parts)


def figure_html_bytes(png: bytes, alt: str) -> str:
    """An embedded ``<img>`` of PNG bytes with the plot style."""
    return img_tag(png, "image/png", alt, cls="plot")


def render_extra(content: Extra) -> str:
    """Trusted HTML for one extra section's content (see the module docstring)."""
    if isinstance(content, str):
        return content
    if isinstance(content, bytes):
        return image_html(content)
    if isinstance(content, os.PathLike):
        p = Path(content)
        suffix = p.suffix.lower()
        if suffix == ".csv":
            return table_html(read_csv_rows(p), sortable=True, digits=None)
        if suffix in (".png", ".jpg", ".jpeg"):
            return image_html(p, alt=p.stem)
        if suffix in (".html", ".htm"):
            if not p.is_file():
                raise DataError(f"{p}: HTML fragment not found")
            return p.read_text(encoding="utf-8")
        raise DataError(f"{p}: extra section files must be .csv, .png, .jpg or .html")
    if hasattr(content, "savefig"):
        return figure_html(content)
    if isinstance(content, Mapping):
        return kv_table(content, key_title="")
    if isinstance(content, list | tuple):
        if content and all(isinstance(r, Mapping) for r in content):
            return table_html(content, sortable=True, digits=None)
        return "\n".join(render_extra(c) for c in content)
    raise TypeError(f"cannot render an extra section from {type(content).__name__}")
