"""Prediction with a trained student: the Python API behind ``boxprompt predict``.

Files, one concern each::

    preprocess.py   torch-free resize / batching / image-source handling, shared by backends
    backends.py     TorchBackend (a .pt checkpoint) and OnnxBackend (an exported .onnx)
    tiling.py       sliding-window inference with blended overlaps, for full-resolution maps
    result.py       Prediction: map, mask, score, timings; .save() and .plot()
    localizer.py    Localizer: from_checkpoint(), predict(), stream()
    runner.py       predict_to_folder(): a whole folder into runs/predict/<name>, streaming

Nothing here imports torch at module level; an ``.onnx`` model runs with onnxruntime alone::

    from boxpromptiml.predict import Localizer
    loc = Localizer.from_checkpoint("model.onnx")
    [r] = loc.predict("photo.jpg")
    r.prob, r.mask, r.score, r.timings
"""

from __future__ import annotations

from boxpromptiml.predict.backends import Backend, OnnxBackend, TorchBackend, load_backend
from boxpromptiml.predict.localizer import Localizer, Skipped, expand_sources
from boxpromptiml.predict.preprocess import as_image, images_to_batch, resize_image, resize_prob
from boxpromptiml.predict.result import Prediction, heatmap_overlay
from boxpromptiml.predict.runner import PredictRun, predict_to_folder
from boxpromptiml.predict.tiling import predict_tiled

__all__ = [
    "Backend",
    "Localizer",
    "OnnxBackend",
    "PredictRun",
    "Prediction",
    "Skipped",
    "TorchBackend",
    "as_image",
    "expand_sources",
    "heatmap_overlay",
    "images_to_batch",
    "load_backend",
    "predict_tiled",
    "predict_to_folder",
    "resize_image",
    "resize_prob",
]
