"""Helpers for sandbox tests: a small-limit policy, stand-ins for host places, backends.

`SANDBOX_FACTORIES` is the list every conformance test is parametrised over (like Inspect
AI's sandbox self_check): a new backend (remote kernel gateway, Ray worker) adds a factory
here and must pass the same battery.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import aar
from aar.sandbox import KernelPool, KernelSandbox, SandboxPolicy, load_policy
from aar.sandbox._procfs import processes_of_uid

REPO = Path(aar.__file__).resolve().parent.parent
SECRET = "sk-aar-planted-secret-4f1c9e"
GT_MARKER = "GROUND-TRUTH-MARKER-93d7"


def small_policy(**limits: float) -> SandboxPolicy:
    """The shipped policy (not the user's settings) with small, fast limits."""
    base = dict(
        memory_mb=1536,
        cpu_seconds=300,
        max_processes=64,
        max_file_mb=16,
        scratch_mb=64,
        tmp_mb=32,
        cell_timeout_s=15,
        interrupt_grace_s=1.5,
        experiment_timeout_s=600,
        output_limit_chars=20_000,
        watchdog_interval_s=0.1,
    )
    return load_policy(use_settings=False).with_limits(**(base | limits))


def make_public_task(directory: Path) -> Path:
    """A fabricated public task directory in the layout `aar.bench.export_public` writes."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    (directory / "manifest.json").write_text('{"task": "fake", "seed": 42, "n_classes": 2}')
    np.save(directory / "transfer_inputs.npy", rng.normal(size=(40, 4)).astype(np.float32))
    np.save(directory / "transfer_weak_labels.npy", rng.uniform(size=(40, 2)))
    np.save(directory / "transfer_is_val.npy", np.arange(40) % 5 == 0)
    np.save(directory / "test_inputs.npy", rng.normal(size=(20, 4)).astype(np.float32))
    np.save(directory / "test_weak_labels.npy", rng.uniform(size=(20, 2)))
    np.save(directory / "holdout_inputs.npy", rng.normal(size=(10, 4)).astype(np.float32))
    np.save(directory / "test_ids.npy", np.arange(20))
    (directory / "test_texts.json").write_text('["a", "b"]')
    return directory


@dataclass
class HostPlaces:
    """Host paths a hostile cell must not reach, and what they held before the test."""

    root: Path
    run_dir: Path
    task_dir: Path
    ground_truth: Path
    other_run: Path
    memory: Path
    repo_standin: Path
    server_port: int
    server_hits: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict[str, str]:
        """sha256 of every file under the stand-ins, plus which escape markers exist."""
        out = {}
        for base in (self.other_run, self.memory, self.repo_standin, self.ground_truth.parent):
            for path in sorted(base.rglob("*")):
                if path.is_file() and self.run_dir not in path.parents:
                    out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        for marker in (REPO / "PWNED_BY_SANDBOX", Path("/etc/PWNED_BY_SANDBOX")):
            out[str(marker)] = str(marker.exists())
        return out


@contextlib.contextmanager
def planted_host(tmp_path: Path) -> Iterator[HostPlaces]:
    """Stand-ins for the repo, another session's runs/, memory/, ground truth next to the run,
    planted secrets in the host environment, and a TCP server on the host's 127.0.0.1 that
    records any connection."""
    runs = tmp_path / "runs"
    places = HostPlaces(
        root=tmp_path,
        run_dir=runs / "this-session" / "exp",
        task_dir=make_public_task(tmp_path / "public-task"),
        ground_truth=runs / "this-session" / "ground_truth_labels.txt",
        other_run=runs / "other-session",
        memory=tmp_path / "memory",
        repo_standin=tmp_path / "repo",
        server_port=0,
    )
    places.ground_truth.parent.mkdir(parents=True)
    places.ground_truth.write_text(GT_MARKER)
    for d in (places.other_run, places.memory, places.repo_standin):
        d.mkdir(parents=True)
        (d / "keep.txt").write_text(f"{d.name} content")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    places.server_port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, addr = server.accept()
                places.server_hits.append(str(addr))
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    places.digests = places.snapshot()
    old = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "AAR_SECRET_TOKEN", "HTTPS_PROXY")}
    os.environ.update(
        OPENAI_API_KEY=SECRET, AAR_SECRET_TOKEN=SECRET, HTTPS_PROXY=f"http://{SECRET}@proxy:1"
    )
    try:
        yield places
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop.set()
        thread.join(timeout=2)
        server.close()


@dataclass(frozen=True)
class SandboxFactory:
    """How a backend makes a started sandbox for an experiment directory, and finds its
    processes on the host (to prove none outlive a kill)."""

    name: str
    open: Callable[[Path, Path, SandboxPolicy], contextlib.AbstractContextManager[KernelSandbox]]
    processes: Callable[[KernelSandbox, int | None], list[int]]


@contextlib.contextmanager
def _cold(exp: Path, task: Path, policy: SandboxPolicy) -> Iterator[KernelSandbox]:
    with KernelSandbox(exp, task_dir=task, policy=policy) as sandbox:
        yield sandbox


@contextlib.contextmanager
def _pooled(exp: Path, task: Path, policy: SandboxPolicy) -> Iterator[KernelSandbox]:
    with KernelPool(1, root=exp.parent.parent / ".pool", policy=policy) as pool:
        pool.wait_ready(60)
        assert pool.ready == 1, pool.last_error
        with pool.acquire(exp, task_dir=task) as sandbox:
            yield sandbox


def _bwrap_processes(sandbox: KernelSandbox, uid: int | None) -> list[int]:
    return processes_of_uid(uid) if uid is not None else []


SANDBOX_FACTORIES = [
    SandboxFactory("bwrap", _cold, _bwrap_processes),
    SandboxFactory("bwrap-pool", _pooled, _bwrap_processes),
]


@dataclass
class Shared:
    """One started sandbox per backend, shared by the cheap escape cases of a module."""

    factory: SandboxFactory
    places: HostPlaces
    sandbox: KernelSandbox
