"""Self-contained HTML reports of evaluation runs.

:func:`build_report` turns an evaluation run folder (``results.json`` of
``boxprompt evaluate``) into one HTML file with every picture embedded: summary and
per-dataset tables, thumbnails of image / ground truth / pseudo-mask / map / error
overlay, best and worst cases, a sortable per-image table, F1 histograms and pooled
precision-recall and ROC curves, an optional robustness section and caller-supplied
sections (training curves with :func:`history_html`, tables, figures).
"""

from __future__ import annotations

from boxpromptiml.report.build import ReportOptions, build_report, load_results
from boxpromptiml.report.extra import figure_html, history_html, image_html, render_extra
from boxpromptiml.report.page import kv_table, table_html

__all__ = [
    "ReportOptions",
    "build_report",
    "figure_html",
    "history_html",
    "image_html",
    "kv_table",
    "load_results",
    "render_extra",
    "table_html",
]
