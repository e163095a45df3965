"""Box-prompted teachers: frozen segmenters that turn coarse boxes into pseudo-masks.

Backends (``build_teacher(name, **options)``, see :mod:`.registry`):

=============  ==================================================================
``box``        the box itself (baseline)
``grabcut``    OpenCV GrabCut initialised from the box
``u2netp``     U²-Netp salient-object model (ONNX) on the box crop
``sam``        Segment Anything, box-prompted (user checkpoint; ``sam`` extra)
``ensemble``   per-box vote of U²-Netp, GrabCut, a colour model and the box prior
               (the default offline teacher)
=============  ==================================================================

``NAME+grabcut`` / ``NAME+colour`` refine a teacher's maps with the image.
The contract (shapes, frames, guards) is in :mod:`.base`; the dataset pipeline
(:func:`pseudo_label`, :func:`pseudo_quality`) in :mod:`.pseudo` and :mod:`.quality`.
"""

from __future__ import annotations

from boxpromptiml.teachers.base import BoxMap, Teacher, TeacherInfo, TeacherOutput
from boxpromptiml.teachers.pseudo import PseudoResult, pseudo_label
from boxpromptiml.teachers.quality import QualityReport, pseudo_quality
from boxpromptiml.teachers.registry import (
    DEFAULT_TEACHER,
    TEACHERS,
    available_teachers,
    build_teacher,
    teacher_options,
)

__all__ = [
    "DEFAULT_TEACHER",
    "TEACHERS",
    "BoxMap",
    "PseudoResult",
    "QualityReport",
    "Teacher",
    "TeacherInfo",
    "TeacherOutput",
    "available_teachers",
    "build_teacher",
    "pseudo_label",
    "pseudo_quality",
    "teacher_options",
]
