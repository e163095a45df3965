"""The pipeline engine: named, resumable stages keyed by their inputs and settings.

See :mod:`boxpromptiml.pipeline.engine` for the stages and
:mod:`boxpromptiml.pipeline.cache` for the records.
"""

from boxpromptiml.pipeline.cache import StageCache, digest, file_digest, fingerprint
from boxpromptiml.pipeline.engine import (
    Boxes,
    Evaluated,
    Pipeline,
    Predicted,
    PseudoLabels,
    Trained,
)

__all__ = [
    "Boxes",
    "Evaluated",
    "Pipeline",
    "Predicted",
    "PseudoLabels",
    "StageCache",
    "Trained",
    "digest",
    "file_digest",
    "fingerprint",
]
