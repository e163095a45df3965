"""HTML building blocks of the report: escaping, number formatting, tables, the page shell.

Everything is plain strings built with the standard :mod:`html` module: no template
engine, no external CSS, JavaScript or fonts. The page carries a little inline JavaScript
for sortable tables and for a render check: once the page has loaded, ``<body>`` gets
``data-images-decoded="OK/TOTAL"`` and ``data-render="ok"`` when every ``<img>`` decoded
(``naturalWidth > 0``), which a headless browser can read back with ``--dump-dom``.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Shown for a missing or NaN value (JSON ``null`` in results files).
MISSING = "–"


def esc(value: object) -> str:
    """``str(value)`` with ``& < > " '`` escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def is_missing(value: object) -> bool:
    """True for ``None`` and float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_value(value: object, digits: int | None = 3) -> str:
    """Human text of a table cell: NaN/None as ``–``, floats with ``digits`` decimals
    (``None``: 4 significant digits, e.g. ``0.71``, ``3e-05``); other values as ``str``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if digits is None else f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def sort_key(value: object) -> str:
    """The ``data-v`` attribute of a sortable cell: the number, or empty for NaN/text."""
    if isinstance(value, bool) or is_missing(value):
        return ""
    if isinstance(value, int | float):
        return repr(float(value))
    return ""


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for embedding ``data`` in an ``src`` attribute."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def img_tag(
    data: bytes,
    mime: str,
    alt: str,
    *,
    width: int | None = None,
    height: int | None = None,
    cls: str = "",
) -> str:
    """An ``<img>`` embedding ``data`` (PNG or JPEG bytes) as base64."""
    attrs = [f'src="{data_uri(data, mime)}"', f'alt="{esc(alt)}"']
    if width:
        attrs.append(f'width="{int(width)}"')
    if height:
        attrs.append(f'height="{int(height)}"')
    if cls:
        attrs.append(f'class="{esc(cls)}"')
    return f"<img {' '.join(attrs)}>"


def table_html(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | Mapping[str, str] | None = None,
    *,
    sortable: bool = False,
    digits: int | None = 3,
    raw_columns: Iterable[str] = (),
    cls: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """A ``<table>`` of ``rows`` (one dict per row).

    ``columns`` picks and orders the keys (a mapping gives ``key -> title``); by default
    every key, in order of first appearance. Values are escaped and formatted with
    :func:`fmt_value` (NaN and ``None`` as ``–``), except keys in ``raw_columns``, whose
    values are trusted HTML fragments (e.g. an ``<img>``). ``sortable`` adds click-to-sort
    headers (inline script of the page).
    """
    if columns is None:
        keys: list[str] = []
        for r in rows:
            keys.extend(k for k in r if k not in keys)
        titles = {k: k for k in keys}
    elif isinstance(columns, Mapping):
        titles = dict(columns)
    else:
        titles = {k: k for k in columns}
    raw = set(raw_columns)
    classes = ["data"] + (["sortable"] if sortable else []) + ([cls] if cls else [])
    head = "".join(
        f'<th title="{esc(k)}">{esc(t)}</th>' if t != k else f"<th>{esc(t)}</th>"
        for k, t in titles.items()
    )
    body: list[str] = []
    for i, r in enumerate(rows):
        cells = []
        for k in titles:
            v = r.get(k)
            if k in raw:
                cells.append(f"<td>{'' if v is None else v}</td>")
                continue
            num = isinstance(v, int | float) and not isinstance(v, bool)
            attr = f' data-v="{sort_key(v)}"' if sortable else ""
            cls_attr = ' class="num"' if num or is_missing(v) else ""
            cells.append(f"<td{cls_attr}{attr}>{esc(fmt_value(v, digits))}</td>")
        rc = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{rc}>{''.join(cells)}</tr>")
    return (
        f'<div class="table-wrap"><table class="{" ".join(classes)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def kv_table(items: Mapping[str, Any], *, key_title: str = "setting") -> str:
    """A two-column table ``key | value`` (lists joined with commas, dicts as ``k=v``)."""
    rows = []
    for k, v in items.items():
        if isinstance(v, Mapping):
            v = "; ".join(f"{a}={_plain(b)}" for a, b in v.items())
        rows.append({"key": k, "value": _plain(v)})
    return table_html(rows, {"key": key_title, "value": "value"}, cls="kv", digits=4)


def _plain(value: object) -> object:
    """Settings-style text: floats in shortest form (``0.5``, ``1e-05``), lists joined."""
    if isinstance(value, float) and not is_missing(value):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(_plain(v)) for v in value)
    return value


def section(anchor: str, title: str, body: str, level: int = 2) -> str:
    """A ``<section>`` with an anchored heading."""
    return f'<section id="{esc(anchor)}"><h{level}>{esc(title)}</h{level}>\n{body}\n</section>'


def note(text: str) -> str:
    """A muted paragraph (text is escaped)."""
    return f'<p class="note">{esc(text)}</p>'


def details(summary: str, body: str) -> str:
    """A collapsed ``<details>`` block; ``body`` is trusted HTML."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def bullet_list(items: Iterable[str]) -> str:
    """An escaped ``<ul>``."""
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


CSS = """
:root { --fg:#1d2330; --muted:#667085; --line:#e3e7ee; --bg:#f6f7fb; --card:#fff;
  --accent:#2f5fd0; --thumb:168px; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  "DejaVu Sans", Arial, sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1d2a4d; color:#fff; padding:18px 28px 14px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header .meta { color:#c9d3ee; font-size:12.5px; word-break:break-all; }
nav { background:#fff; border-bottom:1px solid var(--line); padding:8px 28px;
  position:sticky; top:0; z-index:5; font-size:13px; }
nav a { color:var(--accent); text-decoration:none; margin-right:16px; white-space:nowrap; }
nav a:hover { text-decoration:underline; }
main { padding:8px 28px 40px; max-width:1400px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:6px 20px 16px; margin:18px 0; }
h2 { font-size:19px; margin:14px 0 10px; }
h3 { font-size:15.5px; margin:18px 0 8px; }
.cols { display:flex; gap:40px; flex-wrap:wrap; align-items:flex-start; }
.note { color:var(--muted); font-size:12.5px; margin:6px 0; }
.table-wrap { overflow-x:auto; margin:6px 0 10px; }
table.data { border-collapse:collapse; font-size:13px; }
table.data th, table.data td { border-bottom:1px solid var(--line); padding:4px 10px;
  text-align:left; vertical-align:middle; }
table.data th { background:#f0f2f7; font-weight:600; white-space:nowrap; }
table.data td.num { text-align:right; font-variant-numeric:tabular-nums; }
table.data tr.avg td { font-weight:600; background:#fafbfd; }
table.kv td:first-child { color:var(--muted); }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th:hover { background:#e4e8f1; }
table.sortable th[data-dir=asc]::after { content:" \\25B2"; font-size:10px; }
table.sortable th[data-dir=desc]::after { content:" \\25BC"; font-size:10px; }
table.images td img { display:block; width:auto; height:auto; max-width:96px;
  max-height:72px; border-radius:3px; }
.plot { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px;
  background:#fff; }
.cases { display:flex; flex-direction:column; gap:10px; }
.case { display:flex; gap:10px; align-items:flex-start; border:1px solid var(--line);
  border-radius:6px; padding:8px; background:#fcfcfe; }
.case .info { width:150px; flex:none; font-size:12.5px; }
.case .info .name { font-weight:600; word-break:break-all; font-size:13px; }
.case .info .big { font-size:20px; font-weight:600; }
.case .info table td { padding:0 6px 0 0; }
.panels { display:flex; gap:8px; flex-wrap:wrap; }
figure.panel { margin:0; width:var(--thumb); }
figure.panel img { width:100%; height:auto; display:block; border-radius:3px;
  background:#000; }
figure.panel img.mask { image-rendering:pixelated; }
figure.panel figcaption { font-size:11.5px; color:var(--muted); text-align:center; }
.missing { width:var(--thumb); height:96px; display:flex; align-items:center;
  justify-content:center; color:var(--muted); background:#eef0f4; border-radius:3px;
  font-size:11.5px; text-align:center; padding:4px; }
.legend span { display:inline-block; width:11px; height:11px; border-radius:2px;
  vertical-align:-1px; margin:0 3px 0 10px; }
.warn { color:#9a5b00; }
details { margin:6px 0; } summary { cursor:pointer; color:var(--accent); }
footer { color:var(--muted); font-size:12px; padding:0 28px 30px; }
"""

SCRIPT = """
(function () {
  function val(cell) {
    var v = cell.getAttribute('data-v');
    if (v !== null) { return v === '' ? null : parseFloat(v); }
    return cell.textContent.trim().toLowerCase();
  }
  document.querySelectorAll('table.sortable th').forEach(function (th) {
    th.addEventListener('click', function () {
      var table = th.closest('table'), body = table.tBodies[0];
      var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
      var asc = th.getAttribute('data-dir') !== 'asc';
      th.parentNode.querySelectorAll('th').forEach(function (h) {
        h.removeAttribute('data-dir');
      });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = val(a.cells[idx]), y = val(b.cells[idx]);
        if (x === null && y === null) { return 0; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        var c = x < y ? -1 : (x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  window.addEventListener('load', function () {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) {
      if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
    }
    document.body.setAttribute('data-images-decoded', ok + '/' + imgs.length);
    document.body.setAttribute('data-render', ok === imgs.length ? 'ok' : 'broken');
  });
})();
"""


def page(title: str, meta: str, nav: Sequence[tuple[str, str]], body: str, footer: str = "") -> str:
    """The whole HTML document. ``nav`` is ``(anchor, title)`` pairs; ``body`` trusted HTML."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f'<body><header><h1>{esc(title)}</h1><div class="meta">{meta}</div></header>\n'
        f"<nav>{links}</nav>\n<main>\n{body}\n</main>\n"
        f"<footer>{footer}</footer>\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
