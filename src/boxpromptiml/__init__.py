"""boxpromptiml: weakly supervised image manipulation localization from coarse boxes.

The pipeline, one sub-package or module per stage::

    data/       images, masks, dataset sources, COCO boxes, simulated annotator
    teachers/   box-prompted segmenters that turn boxes into pseudo-masks
    student/    the small localizer (backbone + MGFM) that learns from pseudo-masks
    train       distillation training
    predict     inference with a trained student
    metrics     pixel- and image-level scores
    evaluate    scoring any method's predicted maps against ground truth
    cli         the ``boxprompt`` command, a thin layer over the Python API
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
