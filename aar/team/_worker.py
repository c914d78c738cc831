"""What runs on a Dask worker: one researcher's session, as `aar resume ID` in a child process.

A child process, not the worker's own interpreter, because:
- its environment points it at the team's scorer service and memory server, and carries no
  task key, so the bench refuses to load labels there (`aar.bench.LabelsElsewhereError`);
- a stop is the SIGTERM `aar resume` already turns into a logged, resumable interruption;
- it dies with the worker (`PR_SET_PDEATHSIG`), and so do its sandboxes (bubblewrap's
  `--die-with-parent`): a worker killed with `kill -9` leaves nothing running, and the
  session's own resume finishes its work on another worker without charging anything twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from aar.procs import die_with_parent

STOP_FILE = "STOP"
"""Created in the team directory by `aar team stop`; every researcher's process sees it."""
POLL_S = 0.2


class ResearcherJob(BaseModel):
    """Everything a worker needs to run one researcher (it shares the runs directory)."""

    model_config = ConfigDict(extra="forbid")

    team_dir: Path
    runs_dir: Path
    index: int
    session_id: str
    scorer_url: str
    token_file: Path
    memory_url: str | None
    attempt: int = 0


class ResearcherResult(BaseModel):
    """How the researcher's process ended, and where it ran."""

    model_config = ConfigDict(extra="forbid")

    index: int
    session_id: str
    exit_code: int
    worker: str
    stopped: bool
    skipped: bool = False
    """The session had nothing left to run (another process ended its round first)."""


def run_researcher(job: ResearcherJob) -> ResearcherResult:
    """Run the session's next round (or finish a killed one) until it ends or a stop comes.

    A session another process still runs (a researcher process orphaned by a lead that died,
    on a cluster that outlived it) is waited for first; if that process ended the round, there
    is nothing left to run and the result says so (`skipped`)."""
    from aar.team._status import can_continue

    stop_file = job.team_dir / STOP_FILE
    if _wait_while_busy(job.runs_dir / job.session_id, stop_file):
        return _result(job, exit_code=143, stopped=True)
    if not can_continue(job.runs_dir, job.session_id):
        return _result(job, exit_code=0, skipped=True)
    log_dir = job.team_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"researcher-{job.index}.log", "ab") as log:
        log.write(f"--- attempt {job.attempt} on pid {os.getpid()}\n".encode())
        log.flush()
        child = subprocess.Popen(
            [sys.executable, "-m", "aar", "resume", job.session_id],
            env=researcher_env(job),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        stopped = _wait(child, stop_file)
    return _result(job, exit_code=child.returncode, stopped=stopped)


def _result(
    job: ResearcherJob, *, exit_code: int, stopped: bool = False, skipped: bool = False
) -> ResearcherResult:
    return ResearcherResult(
        index=job.index,
        session_id=job.session_id,
        exit_code=exit_code,
        worker=_worker_address(),
        stopped=stopped,
        skipped=skipped,
    )


def _wait_while_busy(root: Path, stop_file: Path) -> bool:
    """Wait while another process holds the session's writer lock; True if a stop came."""
    from aar.session import writer_running

    while writer_running(root):
        if stop_file.exists():
            return True
        time.sleep(POLL_S * 5)
    return False


def researcher_env(job: ResearcherJob) -> dict[str, str]:
    """The child's environment: the team's services, and no task key or scorer ledger (the
    bench refuses both where `AAR_SCORER__URL` is set; leaving them out is belt and braces)."""
    env = {k: v for k, v in os.environ.items() if k not in _LABEL_SIDE}
    env |= {
        "AAR_RUNS_DIR": str(job.runs_dir),
        "AAR_SCORER__URL": job.scorer_url,
        "AAR_SCORER__TOKEN_FILE": str(job.token_file),
    }
    if job.memory_url is not None:
        env["AAR_MEMORY_URL"] = job.memory_url
    return env


_LABEL_SIDE = ("AAR_BENCH__KEY_FILE", "AAR_SCORER__DIR")


def _wait(child: subprocess.Popen[bytes], stop_file: Path) -> bool:
    """Wait for the child; on a stop request, SIGTERM it once and wait for its clean end."""
    stopped = False
    while child.poll() is None:
        if not stopped and stop_file.exists():
            child.send_signal(signal.SIGTERM)
            stopped = True
        time.sleep(POLL_S)
    return stopped


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except ValueError:  # not on a worker (a direct call)
        return f"pid {os.getpid()}"
