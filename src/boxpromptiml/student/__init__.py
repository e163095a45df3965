"""The student: a small localizer (timm backbone + MGFM) that learns from pseudo-masks.

Files, one family of parts each::

    mgfm.py     the Memory-Guided Gated Fusion Module (PAPER.md §2)
    corr.py     optional self-correlation cue for copy-move (our addition)
    model.py    Student: normalisation, padding, backbone -> MGFM -> logits at input size
    build.py    StudentArgs (saved in checkpoints), presets, build_student()
    weights.py  pretrained backbone weights from local files (by name or by order)

Typical use::

    from boxpromptiml.student import build_student
    model = build_student("tinyvit5m")              # random init
    logits = model(images)                          # (B,3,H,W) in [0,1] -> (B,1,H,W)

Trained students are loaded with :func:`boxpromptiml.train.load_student`.
"""

from __future__ import annotations

from boxpromptiml.student.build import (
    STUDENTS,
    StudentArgs,
    build_student,
    resolve_student_args,
)
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
