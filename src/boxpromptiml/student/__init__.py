"""The student: a small localizer (timm backbone + MGFM) that learns from pseudo-masks.

Files, one family of parts each::

    mgfm.py     the Memory-Guided Gated Fusion Module (PAPER.md §2)
    corr.py     optional self-correlation cue for copy-move (our addition)
    model.py    Student: normalisation, padding, backbone -> MGFM -> logits at input size
    args.py     StudentArgs (saved in checkpoints) and the presets (no torch needed)
    build.py    build_student()
    checkpoint.py  the checkpoint format: save, read, load_student()
    weights.py  pretrained backbone weights from local files (by name or by order)

Typical use::

    from boxpromptiml.student import build_student
    model = build_student("tinyvit5m")              # random init
    logits = model(images)                          # (B,3,H,W) in [0,1] -> (B,1,H,W)

Trained students are loaded with :func:`boxpromptiml.student.checkpoint.load_student`.
Names are imported on first use: the presets and args need no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boxpromptiml.student.args import STUDENTS, StudentArgs, resolve_student_args
    from boxpromptiml.student.build import build_student
    from boxpromptiml.student.corr import SelfCorrelation
    from boxpromptiml.student.mgfm import MGFM
    from boxpromptiml.student.model import Student, image_to_tensor, resize_image
    from boxpromptiml.student.weights import (
        efficientnet_lite0_package_file,
        load_backbone_weights,
        load_efficientnet_lite0,
        map_state_dict_by_order,
        read_state_dict,
        resolve_pretrained,
        shipped_pretrained,
    )

_EXPORTS: dict[str, str] = {
    "STUDENTS": "args",
    "StudentArgs": "args",
    "resolve_student_args": "args",
    "build_student": "build",
    "SelfCorrelation": "corr",
    "MGFM": "mgfm",
    "Student": "model",
    "image_to_tensor": "model",
    "resize_image": "model",
    "efficientnet_lite0_package_file": "weights",
    "load_backbone_weights": "weights",
    "load_efficientnet_lite0": "weights",
    "map_state_dict_by_order": "weights",
    "read_state_dict": "weights",
    "resolve_pretrained": "weights",
    "shipped_pretrained": "weights",
}

__all__ = [
    "MGFM",
    "STUDENTS",
    "SelfCorrelation",
    "Student",
    "StudentArgs",
    "build_student",
    "efficientnet_lite0_package_file",
    "image_to_tensor",
    "load_backbone_weights",
    "load_efficientnet_lite0",
    "map_state_dict_by_order",
    "read_state_dict",
    "resize_image",
    "resolve_pretrained",
    "resolve_student_args",
    "shipped_pretrained",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"boxpromptiml.student.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'boxpromptiml.student' has no attribute {name!r}")
