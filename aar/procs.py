"""Child processes that must not outlive the aar process that started them."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child gets SIGKILL when its parent dies.

    A `kill -9` of the parent runs no cleanup, so without this a team's Chroma server or a
    researcher's process (and its sandboxes) would keep running, holding the session's lock.
    Linux only, like the bubblewrap sandbox."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
