"""The paper's protocol in one call: boxes → pseudo-masks → student → predict → evaluate.

:func:`run_protocol` reads a JSON configuration (``configs/paper-protocol.json`` is the
paper's; ``docs/paper-protocol.md`` documents every key), checks every path in it, then
runs the stages and writes a table of per-dataset pixel F1 with the **in-distribution (ID)
and out-of-distribution (OOD) averages** (unweighted means of the per-dataset F1s, as the
paper reports them), next to the paper's BoxPromptIML row.

Stages, each resumable (a finished stage is skipped when the run is started again)::

    boxes     per training set: the COCO box file given in the config, or boxes simulated
              from the ground-truth masks (simulated annotator, recorded as such)
    pseudo    per training set: pseudo-masks from the frozen teacher (pseudo_label)
    train     one student on the pseudo-masks of every training set (fit)
    predict   per test set: probability maps (Localizer + predict_to_folder)
    evaluate  per test set: pixel metrics against the ground-truth masks (evaluate)

Output folder (``runs/protocol/<name>`` unless given)::

    OUT/protocol.json              the resolved configuration (absolute paths)
    OUT/boxes/<train set>.json     simulated boxes (COCO), when the config gives no box file
    OUT/pseudo/<train set>/        <stem>.png pseudo-masks, manifest.json, quality.json
    OUT/train/                     the student run: config.json, log.csv, last.pt
    OUT/predict/<test set>/maps/   <stem>.png probability maps (0-255)
    OUT/eval/<test set>/           results.json, summary.csv, per_image.csv
    OUT/stages/<stage>.json        one record per finished stage: its settings and result
    OUT/summary.json|csv|md        the table (written atomically)

A stage record holds the settings the stage ran with. Re-running with changed settings
redoes the cheap stages (predict, evaluate) and refuses to reuse the costly ones (boxes,
pseudo-masks, training) with a :class:`~boxpromptiml.errors.ConfigError` naming what to
delete. Missing datasets, box files or checkpoints raise before any stage starts.
"""

from boxpromptiml.protocol.config import (
    DatasetSpec,
    ProtocolConfig,
    TeacherSpec,
    load_protocol_config,
)
from boxpromptiml.protocol.result import PAPER_AVERAGES, PAPER_F1, ProtocolResult
from boxpromptiml.protocol.run import STAGES, run_protocol

__all__ = [
    "PAPER_AVERAGES",
    "PAPER_F1",
    "STAGES",
    "DatasetSpec",
    "ProtocolConfig",
    "ProtocolResult",
    "TeacherSpec",
    "load_protocol_config",
    "run_protocol",
]
