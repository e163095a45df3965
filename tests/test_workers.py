"""Spawned workers end with the process that started them (boxpromptiml.workers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import json, multiprocessing, os, sys, time
from boxpromptiml.workers import spawn_executor, spawn_pool

def pid(_=None):
    return os.getpid()

def nap(_):
    time.sleep(120)

if __name__ == "__main__":
    pool = spawn_pool(2)
    pool.map_async(nap, range(6), chunksize=1)  # the workers hold queued work
    executor = spawn_executor(1)
    child = executor.submit(pid).result()
    workers = [p.pid for p in multiprocessing.active_children() if p.pid != child]
    print(json.dumps({"pool": workers, "executor": child}), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie that no one reaped counts as gone)."""
    if Path("/proc/self").exists():  # Linux: the state field of /proc/PID/stat
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_workers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        children = [*pids["pool"], pids["executor"]]
        assert len(pids["pool"]) == 2 and all(_alive(p) for p in children)
        time.sleep(1.5)  # a live parent: the watchdogs leave the workers alone
        assert all(_alive(p) for p in children)
        parent.send_signal(signal.SIGKILL)  # no cleanup in the parent at all
        parent.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in children if _alive(p)]
    finally:
        if parent.poll() is None:
            parent.kill()
