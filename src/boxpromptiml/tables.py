"""Plain result tables: JSON-safe values and CSV text from lists of row dicts."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that :func:`json.dumps` accepts as standard JSON: NaN becomes
    ``null``, NumPy scalars become Python numbers, tuples become lists."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    return obj


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV text of ``rows``; columns in order of first appearance, NaN as an empty cell."""
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    return buf.getvalue()
