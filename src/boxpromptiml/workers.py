"""Spawned worker processes that end with the process that started them.

A ``multiprocessing`` pool worker (or a ``ProcessPoolExecutor`` one) goes on with the tasks
already queued to it when its parent dies without a chance to clean up (SIGTERM, SIGKILL,
an out-of-memory kill): a killed ``boxprompt recipe`` left its synthesis workers writing
files and holding the cores. Every pool here is made by :func:`spawn_pool` or
:func:`spawn_executor`: their processes start a watchdog thread that compares the parent's
pid with the one they were started by, once a second, and when the parent is gone stops
the worker's own children and exits the worker.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["exit_with_parent", "spawn_executor", "spawn_pool"]

#: seconds between two looks at the parent's pid
POLL_S = 1.0


def _watch(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    for child in multiprocessing.active_children():
        child.terminate()
    os._exit(1)  # no cleanup: the tasks' own files are written atomically


def exit_with_parent(parent: int, poll_s: float = POLL_S) -> None:
    """End this process (and the processes it started) once its parent, pid ``parent``,
    is gone; a daemon thread checks every ``poll_s`` seconds. Call it first thing in a
    worker, with the pid its parent passed down (so a parent that died before the worker
    started is noticed too)."""
    watchdog = threading.Thread(
        target=_watch, args=(parent, poll_s), name="exit-with-parent", daemon=True
    )
    watchdog.start()


def _start(parent: int, initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    exit_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(
    workers: int,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> multiprocessing.pool.Pool:
    """A ``multiprocessing`` pool of ``workers`` spawned processes (safe with threads in
    this process, the same on every platform) that end when this process does; each runs
    ``initializer(*initargs)`` first."""
    ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(workers, initializer=_start, initargs=(os.getpid(), initializer, initargs))


def spawn_executor(workers: int = 1) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of spawned processes that end when this process does."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(os.getpid(), None, ()),
    )
