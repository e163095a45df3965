"""The protocol configuration's structure, checked by pydantic: keys, types and ranges.

:func:`parse` validates the raw JSON object (comment keys, ``_...``, dropped at every
level) against :class:`ProtocolModel` and turns the first problem into one
:class:`~boxpromptiml.errors.ConfigError` line naming where it is, with the closest known
key for a misspelt one. What needs more than a schema (paths, teacher options, training
values) is checked by :mod:`boxpromptiml.protocol.config`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES
from boxpromptiml.errors import ConfigError, did_you_mean

__all__ = ["ProtocolModel", "parse"]


class _Strict(BaseModel):
    """Unknown keys are errors; no type coercion (a string is not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class TestSet(_Strict):
    """A test dataset (see :class:`~boxpromptiml.protocol.config.DatasetSpec`)."""

    path: str
    name: str | None = None
    masks: str | None = None
    mask_suffixes: list[str] = Field(default_factory=lambda: list(DEFAULT_MASK_SUFFIXES))
    invert_masks: bool = False
    on_size_mismatch: Literal["error", "skip", "resize"] = "skip"
    authentic: bool | None = None
    expected_images: int | None = Field(default=None, ge=1)


class TrainSet(TestSet):
    """A training dataset: a test dataset that may name its COCO ``boxes`` file."""

    boxes: str | None = None


def _as_objects(value: Any) -> Any:
    """A dataset given as a plain path string becomes ``{"path": ...}``."""
    if isinstance(value, list):
        return [{"path": v} if isinstance(v, str) else v for v in value]
    return value


class TestSets(_Strict):
    id: list[TestSet] = Field(default_factory=list)
    ood: list[TestSet] = Field(default_factory=list)

    _objects = field_validator("id", "ood", mode="before")(_as_objects)


class TeacherSection(_Strict):
    name: str
    checkpoint: str | None = None
    variant: str | None = None
    device: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    workers: int = Field(default=1, ge=1)
    batch_size: int = Field(default=1, ge=1)
    binary: bool = False


class PredictSection(_Strict):
    device: str = "auto"
    batch_size: int = Field(default=8, ge=1)
    tile: bool = False
    overlap: float = Field(default=0.25, ge=0.0, lt=1.0)
    threads: int | None = Field(default=None, ge=1)


class EvaluateSection(_Strict):
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class ProtocolModel(_Strict):
    """The whole configuration (``docs/paper-protocol.md`` documents every key)."""

    name: str | None = None
    data_root: str | None = None
    train_sets: list[TrainSet]
    test_sets: TestSets
    annotator: dict[str, Any] = Field(default_factory=dict)
    teacher: TeacherSection
    train: dict[str, Any] = Field(default_factory=dict)
    predict: PredictSection = Field(default_factory=PredictSection)
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)

    _objects = field_validator("train_sets", mode="before")(_as_objects)


def _strip_comments(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_comments(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [_strip_comments(v) for v in value]
    return value


def _fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys known at ``loc`` (the location of an unknown key, without the key)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if info is None:
            return []
        ann = info.annotation
        args = getattr(ann, "__args__", ())
        inner = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if inner is None:
            return []
        current = inner
    return list(current.model_fields) if hasattr(current, "model_fields") else []


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(raw: Any, where: str) -> ProtocolModel:
    """Validate ``raw`` (the parsed JSON); the first problem raises :class:`ConfigError`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    try:
        return ProtocolModel.model_validate(_strip_comments(raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            known = _fields(ProtocolModel, loc[:-1])
            hint = did_you_mean(key, known)
            at = f"{_where(loc[:-1])}: " if loc[:-1] else ""
            raise ConfigError(
                f"{where}: {at}unknown key {key!r}{hint} (known: {', '.join(known)})"
            ) from None
        if err["type"] == "missing":
            at = f"{_where(loc[:-1])}: " if loc[:-1] else ""
            raise ConfigError(f"{where}: {at}missing required key {str(loc[-1])!r}") from None
        raise ConfigError(
            f"{where}: {_where(loc)}: {err['msg']} (got {err.get('input')!r})"
        ) from None
