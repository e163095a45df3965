"""Browser-based box annotation: a local web app that writes COCO box files.

:class:`AnnotationSession` holds the state (images of a folder, their boxes, time spent)
and saves every change at once with an atomic write; :func:`create_app` wraps it in a
FastAPI application serving a canvas page. ``boxprompt annotate`` starts it with uvicorn.
"""

from __future__ import annotations

from boxpromptiml.annotate.session import AnnotationSession, ImageState

__all__ = ["AnnotationSession", "ImageState", "create_app"]


def __getattr__(name: str) -> object:
    # create_app imports FastAPI; load it only when asked for.
    if name == "create_app":
        from boxpromptiml.annotate.server import create_app

        return create_app
    raise AttributeError(name)
