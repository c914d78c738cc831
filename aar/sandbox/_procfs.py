"""What the host reads about a sandbox's processes from /proc (Linux only)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def processes_of_uid(uid: int) -> list[int]:
    """Host pids of processes whose real uid is `uid` (used to prove nothing outlives a kill)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry.name))
                        break
        except (OSError, ValueError):
            continue
    return pids


def process_alive(pid: int) -> bool:
    """True if `pid` exists (also when another user owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def children(pid: int) -> list[int]:
    """Direct children of `pid`."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def find_python(root: int, uid: int | None) -> int | None:
    """Host pid of the kernel's Python process at or below `root` (owned by `uid` if given)."""
    todo = [root]
    while todo:
        pid = todo.pop(0)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        name = status.split("\n", 1)[0].split()[-1]
        owner = int(status.split("Uid:")[1].split()[0])
        if name.startswith("python") and (uid is None or owner == uid):
            return pid
        todo.extend(children(pid))
    return None


def peak_memory_mb(pid: int) -> float | None:
    """Peak resident memory of `pid` since the last call (VmHWM), then reset.

    Resetting (`clear_refs`) costs ~1 ms, so it is done only when the peak is above the
    current resident size, i.e. when this peak would hide the next one.
    """
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if line.startswith("Vm"))
        hwm, rss = (int(fields[k].split()[0]) for k in ("VmHWM", "VmRSS"))
    except (OSError, KeyError, ValueError):
        return None
    if hwm > rss + 1024:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
    return hwm / 1024


def cpu_seconds(pid: int) -> float | None:
    """CPU time `pid` and its waited-for children have used (user + system), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")
