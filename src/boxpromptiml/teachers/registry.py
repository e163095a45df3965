"""The teacher registry: names to classes, options checked, availability reported.

``build_teacher(name, **options)`` builds a teacher; ``name`` may carry a refinement,
``"u2netp+grabcut"`` meaning U²-Netp refined by GrabCut (``refine="grabcut"``). Options
are the keyword arguments of the teacher's class (and of
:class:`~boxpromptiml.teachers.base.Teacher`); an unknown option raises
:class:`~boxpromptiml.errors.ConfigError` with a suggestion. For ensembles, an option
``"MEMBER.KEY"`` goes to that member (``"u2netp.input_size": 224``).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from typing import Any

from boxpromptiml.errors import BoxPromptError, ConfigError
from boxpromptiml.teachers.base import Teacher

#: name -> "module:Class"; modules are imported on first use (sam imports torch).
TEACHERS: dict[str, str] = {
    "box": "boxpromptiml.teachers.box:BoxTeacher",
    "grabcut": "boxpromptiml.teachers.grabcut:GrabCutTeacher",
    "u2netp": "boxpromptiml.teachers.u2netp:U2NetpTeacher",
    "sam": "boxpromptiml.teachers.sam:SamTeacher",
    "mobile_sam": "boxpromptiml.teachers.mobile_sam:MobileSamTeacher",
    "ensemble": "boxpromptiml.teachers.ensemble:EnsembleTeacher",
}

#: The default offline teacher: U²-Netp + GrabCut + colour model + box prior, voting.
DEFAULT_TEACHER = "ensemble"

REFINERS = ("grabcut", "colour")


def teacher_class(name: str) -> type[Teacher]:
    """The class registered under ``name`` (without a ``+refiner`` suffix)."""
    if name not in TEACHERS:
        close = difflib.get_close_matches(name, TEACHERS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown teacher '{name}'{hint}; choose from {', '.join(TEACHERS)}")
    module, cls = TEACHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def teacher_options(name: str) -> list[str]:
    """The option names ``build_teacher(name, ...)`` accepts."""
    cls = teacher_class(name)
    params = inspect.signature(cls.__init__).parameters
    names = [
        p for p, v in params.items() if p != "self" and v.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    if any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values()):
        base = inspect.signature(Teacher.__init__).parameters
        names += [p for p in base if p != "self" and p not in names]
    return names


def split_name(name: str) -> tuple[str, str | None]:
    """``"u2netp+grabcut"`` -> ``("u2netp", "grabcut")``; ``"box"`` -> ``("box", None)``."""
    base, _, refine = name.partition("+")
    if refine and refine not in REFINERS:
        raise ConfigError(
            f"unknown refinement '{refine}' in '{name}'; choose from {', '.join(REFINERS)}"
        )
    return base, refine or None


def build_teacher(name: str = DEFAULT_TEACHER, **options: Any) -> Teacher:
    """Build the teacher ``name`` (``"box"``, ``"grabcut"``, ``"u2netp"``, ``"sam"``,
    ``"mobile_sam"``, ``"ensemble"``, optionally ``+grabcut`` / ``+colour``) with ``options``."""
    base, refine = split_name(name)
    allowed = teacher_options(base)
    if refine is not None:
        if "refine" not in allowed:
            raise ConfigError(f"teacher '{base}' cannot be refined")
        options = {**options, "refine": refine}
    members: dict[str, dict[str, Any]] = {}
    plain: dict[str, Any] = {}
    for key, value in options.items():
        if "." in key and base == "ensemble":
            member, _, sub = key.partition(".")
            members.setdefault(member, {})[sub] = value
        else:
            plain[key] = value
    unknown = [k for k in plain if k not in allowed]
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"teacher '{base}' has no option '{unknown[0]}'{hint}; options: {', '.join(allowed)}"
        )
    if members:
        plain["member_options"] = {**members, **plain.get("member_options", {})}
    return teacher_class(base)(**plain)


@dataclass(frozen=True)
class Availability:
    """Whether a teacher can be built here, and if not, why (one line)."""

    name: str
    available: bool
    reason: str = ""


def available_teachers() -> list[Availability]:
    """Each registered teacher with whether it can run on this machine.

    ``sam`` and ``mobile_sam`` are listed as available when ``segment_anything`` and ``torch`` are installed (it
    still needs a checkpoint; neither is imported here); ``u2netp`` and ``ensemble`` when the U²-Netp file is cached.
    """
    out = [Availability("box", True), Availability("grabcut", True)]
    try:
        from boxpromptiml.weights import require

        require("u2netp")
        out += [Availability("u2netp", True), Availability("ensemble", True)]
    except BoxPromptError as exc:
        out += [Availability("u2netp", False, str(exc)), Availability("ensemble", False, str(exc))]
    lacking = [m for m in ("segment_anything", "torch") if importlib.util.find_spec(m) is None]
    for name in ("sam", "mobile_sam"):
        if lacking:
            why = f"pip install 'boxpromptiml[sam]' ({lacking[0]} missing)"
            out.append(Availability(name, False, why))
        else:
            out.append(Availability(name, True, "needs a checkpoint"))
    return out


# fallback teachers given by name are built here (the base class imports no subclass)
Teacher.fallback_factory = build_teacher
