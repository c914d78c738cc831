"""The label sentinel: a team's workers never hold ground truth, in memory or in files.

A plug-in task (written into the test's directory) reads its labels from a file whose bytes
begin with a random 32-byte sentinel. While a real 2-researcher team runs on it, every process
the lead started (Dask workers, each `aar resume` researcher, its sandboxes, the Chroma server)
has its memory scanned for the sentinel; afterwards every file the team wrote is. A child that
loads the task itself is the positive control: the same scan finds the sentinel there.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pytest

from aar.config import get_settings
from aar.session import EventLog, SessionConfig
from aar.team import TeamConfig, drive_team, start_team, team_status

N_POINTS = 600
CHUNK = 16 << 20
RESCAN_S = 3.0
"""A process is scanned again at most this often (a scan reads all its writable memory)."""

_TASK_SOURCE = '''
"""A plug-in task whose labels come from {labels!r}, sentinel first (written by a test)."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from aar.bench import LabelSource, StudentConfig, Task, TaskData, register_task

LABELS = {labels!r}
SENTINEL_BYTES = 32


class SentinelTask(Task):
    name = {name!r}
    description = "synthetic: two shifted Gaussian classes, labels from a sentinel file"
    weak_description = "logistic regression on 2 noisy features"
    strong_description = "MLP on all 8 features"
    student = StudentConfig(hidden=(16,), epochs=4, lr=3e-3, batch_size=64)
    label_sources = (LabelSource(path=LABELS, why="the labels file"),)

    def load(self) -> TaskData:
        with open(LABELS, "rb") as f:
            self.raw = f.read()  # held, as an evaluator holds its labels
        y = np.frombuffer(self.raw[SENTINEL_BYTES:], dtype=np.uint8).astype(np.int64)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(len(y), 8)).astype(np.float32) + 0.9 * y[:, None]
        x_weak = x[:, :2] + rng.normal(scale=1.5, size=(len(y), 2))
        return TaskData(x_strong=x, x_weak=x_weak.astype(np.float32), y=y)

    def make_weak_model(self, seed: int) -> LogisticRegression:
        return LogisticRegression(max_iter=200)


register_task(SentinelTask())
'''


@dataclass
class Planted:
    """The plug-in's module and task name, its labels file, and what must never leak."""

    module: str
    task: str
    labels_file: Path
    sentinel: bytes
    sequences: list[bytes]
    """The label sequence as the file holds it (uint8) and as numpy would save it (int64)."""


def _plant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Planted:
    """Write the labels and the plug-in, register it for this process and every child."""
    tag = secrets.token_hex(4)
    sentinel = secrets.token_bytes(32)
    y = np.random.default_rng(int.from_bytes(sentinel[:4], "little")).integers(0, 2, N_POINTS)
    labels = tmp_path / "labels" / "labels.bin"
    labels.parent.mkdir()
    labels.write_bytes(sentinel + y.astype(np.uint8).tobytes())
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    module = f"aar_sentinel_{tag}"
    source = _TASK_SOURCE.format(labels=str(labels), name=f"sentinel-{tag}")
    (plugin_dir / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.setenv("AAR_BENCH__PLUGINS", json.dumps([module]))
    paths = [str(plugin_dir), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.syspath_prepend(str(plugin_dir))
    get_settings.cache_clear()
    importlib.import_module(module)  # the lead's registry may have loaded its plug-ins already
    sequences = [y.astype(np.uint8).tobytes(), y.astype(np.int64).tobytes()]
    return Planted(module, f"sentinel-{tag}", labels, sentinel, sequences)


def scan_memory(pid: int, needle: bytes) -> tuple[bool, int]:
    """(needle found, bytes read) over the process's readable, writable mappings (where data a
    process loaded lives: heap, anonymous memory, stacks). Unreadable regions are skipped."""
    found, scanned = False, 0
    try:
        maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)  # noqa: SIM115
    except OSError:
        return False, 0
    with mem:
        for line in maps:
            fields = line.split()
            perms = fields[1]
            if perms[:2] != "rw" or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(a, 16) for a in fields[0].split("-"))
            tail = b""
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(CHUNK, end - at))
                except (OSError, ValueError, OverflowError):
                    break
                scanned += len(chunk)
                if needle in tail + chunk:
                    return True, scanned
                tail = chunk[-(len(needle) - 1) :]
    return found, scanned


@dataclass
class Scanned:
    """What the scans during the run saw, per process."""

    bytes_by_pid: dict[int, int] = field(default_factory=dict)
    kind: dict[int, str] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    env_problems: list[str] = field(default_factory=list)
    last: dict[int, float] = field(default_factory=dict)


def _kind(proc: psutil.Process) -> str:
    cmd = " ".join(proc.cmdline())
    if " -m aar resume " in f" {cmd} ":
        return "researcher"
    if "multiprocessing" in cmd or "distributed" in cmd:
        return "dask"
    return proc.name()


def _check_env(pid: int, seen: Scanned) -> None:
    """A researcher's environment: the scorer's address, no task key, no scorer ledger."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return
    env = dict(e.split(b"=", 1) for e in raw.split(b"\0") if b"=" in e)
    for name in (b"AAR_BENCH__KEY_FILE", b"AAR_SCORER__DIR"):
        if name in env:
            seen.env_problems.append(f"researcher {pid} has {name.decode()}")
    if b"AAR_SCORER__URL" not in env:
        seen.env_problems.append(f"researcher {pid} has no AAR_SCORER__URL")


def _scan_descendants(sentinel: bytes, seen: Scanned, skip: set[int]) -> None:
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in skip or time.monotonic() - seen.last.get(proc.pid, -1e9) < RESCAN_S:
            continue
        try:
            kind = seen.kind.setdefault(proc.pid, _kind(proc))
        except psutil.Error:
            continue
        if kind == "researcher" and proc.pid not in seen.last:
            _check_env(proc.pid, seen)
        seen.last[proc.pid] = time.monotonic()
        found, scanned = scan_memory(proc.pid, sentinel)
        seen.bytes_by_pid[proc.pid] = seen.bytes_by_pid.get(proc.pid, 0) + scanned
        if found:
            seen.hits.append(f"{kind} pid {proc.pid}")


def _loader(planted: Planted) -> subprocess.Popen[str]:
    """The positive control: a child that loads the task's data (labels here) and waits."""
    code = (
        "import sys; from aar.bench import get_task, load_data; "
        f"load_data(get_task({planted.task!r})); print('loaded', flush=True); sys.stdin.read()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _files_with(root: Path, needles: list[bytes], skip: set[Path]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in skip:
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)}" for n in needles if n in data]
    return hits


@pytest.mark.slow
def test_no_worker_holds_the_labels_in_memory_or_files(
    team_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = _plant(team_workspace, monkeypatch)
    control = _loader(planted)
    try:
        assert control.stdout is not None and control.stdout.readline().strip() == "loaded"
        found, scanned = scan_memory(control.pid, planted.sentinel)
        assert found and scanned > 10 << 20, scanned  # the scan finds labels where they are
    finally:
        control.kill()
        control.wait()

    runs = team_workspace / "runs"
    session = SessionConfig(tasks=[planted.task], seeds=[42, 43], hypotheses=1)
    team = start_team(runs, TeamConfig(researchers=2, session=session))
    # the lead loaded the labels (it exported the researchers' public data, and will score)
    assert scan_memory(os.getpid(), planted.sentinel)[0]
    failure: list[BaseException] = []

    def lead() -> None:
        try:
            drive_team(team, runs)
        except BaseException as exc:  # reported by the assertion below
            failure.append(exc)

    thread = threading.Thread(target=lead, daemon=True)
    thread.start()
    seen = Scanned()
    while thread.is_alive():
        _scan_descendants(planted.sentinel, seen, skip={control.pid})
        thread.join(timeout=0.5)
    assert not failure, failure

    status = team_status(team, runs)
    assert [r.outcome for r in status.researchers] == ["round_ended", "round_ended"], status
    for r in team.record.researchers:
        assert EventLog(runs / r.session_id).state().usage.evals > 0  # scored via the service
    assert not seen.hits, seen.hits
    assert not seen.env_problems, seen.env_problems
    researchers = [p for p, k in seen.kind.items() if k == "researcher"]
    assert len(researchers) >= 2, seen.kind  # both researchers' processes were scanned
    assert all(seen.bytes_by_pid[p] > 20 << 20 for p in researchers), seen.bytes_by_pid
    assert any(k == "dask" for k in seen.kind.values()), seen.kind
    needles = [planted.sentinel, *planted.sequences]
    skip = {planted.labels_file}
    assert _files_with(planted.labels_file.parent, needles, set())  # the file scan finds them
    assert not _files_with(team_workspace, needles, skip), "labels in the team's files"
    assert get_settings().scorer.dir.resolve() not in runs.resolve().parents


def test_a_label_free_process_refuses_data_and_key(tmp_path: Path) -> None:
    """Where `scorer.url` is set, the bench refuses the task data and the task key with one
    line, and `aar bench run` exits with a one-line error, not a traceback."""
    token = tmp_path / "token"
    token.write_text("t" * 43)
    env = dict(os.environ) | {
        "AAR_SCORER__URL": "http://127.0.0.1:9",
        "AAR_SCORER__TOKEN_FILE": str(token),
        "COLUMNS": "300",
    }
    code = textwrap.dedent(
        """
        from aar.bench import LabelsElsewhereError, get_task, key_id, load_data
        for call in (lambda: load_data(get_task("digits-ge5")), key_id):
            try:
                call()
            except LabelsElsewhereError as exc:
                print(str(exc).replace("\\n", " | "))
            else:
                print("NOT REFUSED")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2, done.stdout + done.stderr
    assert "it never reads task digits-ge5's data" in lines[0]
    assert "it never reads the task key" in lines[1]
    assert all("http://127.0.0.1:9" in line and " | " not in line for line in lines)

    cli = subprocess.run(
        [sys.executable, "-m", "aar", "bench", "run", "-t", "digits-ge5", "-m", "naive"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode != 0
    err = cli.stderr.strip().splitlines()
    assert len(err) == 1 and "scorer service" in err[0], cli.stderr
    assert "Traceback" not in cli.stdout + cli.stderr
