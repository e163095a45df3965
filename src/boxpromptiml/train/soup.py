"""Model soups: one student whose weights are the average of several fine-tuned ones.

Students that start from the same weights and train apart (other seeds, or other
augmentations on one seed) usually stay in one basin of the loss, and the uniform average
of their weights tends to score better than each of them, at the cost of one model at
inference (Wortsman et al., "Model soups", ICML 2022). Two runs start from the same
weights when they fine-tune one ``init_from`` checkpoint, or when neither has one and
they share the seed and the pretrained backbone (training seeds torch before it builds
the student, so the random head is the same). Students trained from different random
heads do not share a basin; averaging them is refused unless forced.

Floating-point tensors (weights, BatchNorm statistics, the MGFM memory) are averaged in
float32 and stored in the first ingredient's dtype; integer buffers (BatchNorm's batch
counters) take the largest value. The average is uniform unless ``weights`` are given: a
soup of two runs and one more run, weighted 2 and 1, is the uniform soup of the three.

Packaged models (``recipe``/``package_model``: fp16, with ``inference`` settings and
provenance) average into a packaged model: the ``inference`` settings on which all
ingredients agree (a setting they differ on is left out, so the predictor's default
applies), the data ``manifest_sha256`` when they share it, and every ingredient's recipe,
data manifest and sha256.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from boxpromptiml.errors import CheckpointError
from boxpromptiml.student.checkpoint import read_checkpoint, save_checkpoint
from boxpromptiml.weights import sha256_file

__all__ = ["average_checkpoints"]

PathLike = str | os.PathLike[str]


def _seed_start(settings: dict[str, Any]) -> str | None:
    """The seed and pretrained backbone a training config or packaged recipe records, or,
    for a packaged soup's recipe (``{"soup_of": [recipe, ...]}``), the start all its
    ingredients share; None when it does not say or they differ."""
    if "soup_of" in settings:
        starts = {_seed_start(r or {}) for r in settings["soup_of"]}
        return starts.pop() if len(starts) == 1 else None
    if "seed" not in settings:
        return None
    return f"seed {settings['seed']}, pretrained {settings.get('pretrained')}"


def _start(ckpt: dict[str, Any]) -> str | None:
    """Where a run's weights started, as a comparable text: its ``init_from`` checkpoint,
    else its seed and pretrained backbone (from the training config, or from the recipe
    of a packaged model or packaged soup); None when the file does not say."""
    config = ckpt.get("config") or {}
    if config.get("init_from") is not None:
        return f"init_from {Path(config['init_from']).resolve()}"
    return _seed_start(config if "seed" in config else ckpt.get("recipe") or {})


def _agreed(ckpts: Sequence[dict[str, Any]], key: str) -> Any:
    """``key``'s value when every checkpoint holds the same one, else None."""
    values = [c.get(key) for c in ckpts]
    return values[0] if all(v == values[0] for v in values[1:]) else None


def _shares(weights: Sequence[float] | None, n: int) -> torch.Tensor | None:
    """``weights`` normalised to sum to 1 (float32, shape ``(n,)``); None when None."""
    if weights is None:
        return None
    values = [float(w) for w in weights]
    if len(values) != n:
        raise CheckpointError(f"{len(values)} soup weights for {n} checkpoints; give one each")
    if not all(math.isfinite(w) and w > 0 for w in values):
        raise CheckpointError(f"soup weights must be positive numbers, got {values}")
    total = sum(values)
    return torch.tensor([w / total for w in values])


def average_checkpoints(
    paths: Sequence[PathLike],
    out: PathLike,
    force: bool = False,
    weights: Sequence[float] | None = None,
) -> Path:
    """Write to ``out`` a student checkpoint whose weights average those of ``paths``.

    Args:
        paths: two or more ``best.pt``/``last.pt``, packaged (``model.pt``) or soup
            checkpoints of one architecture (same ``model_args``) and input size.
        out: the new checkpoint (written atomically; kind ``"soup"``, with ``soup_of``
            listing the sources). It loads like any student (``Localizer``, ``export``).
        force: average even when the runs did not start from the same weights
            (independently initialised students rarely average well).
        weights: one positive weight per checkpoint (normalised to sum to 1), e.g. the
            number of runs each one averages; ``None``: the uniform average.

    Raises :class:`CheckpointError` naming the first file that does not fit.
    """
    files = [Path(p) for p in paths]
    if len(files) < 2:
        raise CheckpointError("a soup needs at least two checkpoints")
    share = _shares(weights, len(files))
    out_path = Path(out)
    if out_path.resolve() in {f.resolve() for f in files}:
        raise CheckpointError(f"{out_path}: the soup would overwrite one of its ingredients")
    ckpts = [read_checkpoint(f) for f in files]
    first, ref = files[0], ckpts[0]
    size = (ref.get("config") or {}).get("input_size")
    for f, c in zip(files[1:], ckpts[1:], strict=True):
        if c.get("model_args") != ref.get("model_args"):
            raise CheckpointError(f"{f}: another architecture than {first} (model_args differ)")
        if (c.get("config") or {}).get("input_size") != size:
            raise CheckpointError(f"{f}: trained at another input size than {first}")
        if set(c["state_dict"]) != set(ref["state_dict"]):
            raise CheckpointError(f"{f}: holds other tensors than {first}")
    starts = {_start(c) for c in ckpts}
    if not force and (None in starts or len(starts) > 1):
        raise CheckpointError(
            f"{first}: the runs did not all start from the same weights (one init_from "
            "checkpoint, or one seed and pretrained backbone; found "
            f"{sorted(str(s) for s in starts)}); their average is unlikely to work "
            "(force=True / --force to average anyway)"
        )
    state: dict[str, torch.Tensor] = {}
    for key, value in ref["state_dict"].items():
        tensors = [c["state_dict"][key] for c in ckpts]
        if any(t.shape != value.shape for t in tensors):
            bad = next(f for f, t in zip(files, tensors, strict=True) if t.shape != value.shape)
            raise CheckpointError(f"{bad}: tensor {key!r} has another shape than in {first}")
        if value.is_floating_point():
            stacked = torch.stack([t.float() for t in tensors])
            mixed = stacked.mean(0) if share is None else torch.tensordot(share, stacked, dims=1)
            state[key] = mixed.to(value.dtype)
        else:
            state[key] = torch.stack(tensors).amax(0)
    payload: dict[str, Any] = {
        "kind": "soup",
        "model_args": ref["model_args"],
        "config": ref.get("config"),
        "state_dict": state,
        "soup_of": [str(f) for f in files],
        "soup_sha256": [sha256_file(f) for f in files],
        "soup_weights": [1 / len(files)] * len(files) if share is None else share.tolist(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": ref.get("versions"),
    }
    if any(c.get("recipe") for c in ckpts):  # packaged models: keep what they agree on
        payload["recipe"] = {"soup_of": [c.get("recipe") for c in ckpts]}
        payload["manifest_sha256"] = _agreed(ckpts, "manifest_sha256")
        # each ingredient's data, also when they differ (runs of other data seeds)
        payload["soup_manifest_sha256"] = [c.get("manifest_sha256") for c in ckpts]
        settings = [c.get("inference") or {} for c in ckpts]
        payload["inference"] = {
            k: v for k, v in settings[0].items() if all(k in o and o[k] == v for o in settings)
        }
    return save_checkpoint(out_path, payload)
