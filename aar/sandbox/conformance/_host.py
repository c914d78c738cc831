"""The host a hostile cell attacks: planted files, planted secrets, a loopback server.

Every battery case runs against these stand-ins and then checks they are unharmed, so an
escape shows up as a changed digest, a marker file or a connection the server saw.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import aar

REPO = Path(aar.__file__).resolve().parent.parent
SECRET = "sk-aar-planted-secret-4f1c9e"
GT_MARKER = "GROUND-TRUTH-MARKER-93d7"
MARKERS = (REPO / "PWNED_BY_SANDBOX", Path("/etc/PWNED_BY_SANDBOX"))


class ConformanceError(AssertionError):
    """A backend failed a battery case (raised by the battery's checks)."""


def fail(message: str) -> None:
    """Raise `ConformanceError(message)`: a check that did not hold."""
    raise ConformanceError(message)


def fake_public_task(directory: Path) -> Path:
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
    """Host paths a hostile cell must not reach, and what they held before the case."""

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
        for marker in MARKERS:
            out[str(marker)] = str(marker.exists())
        return out

    def check_unharmed(self) -> None:
        """Planted files unchanged, no marker written, no connection reached the server."""
        if self.snapshot() != self.digests:
            fail("a planted host file changed or an escape marker appeared")
        if self.server_hits:
            fail(f"the host's loopback server was reached: {self.server_hits}")


@contextlib.contextmanager
def planted_host(root: Path) -> Iterator[HostPlaces]:
    """Stand-ins for the repo, another session's runs/, memory/, ground truth next to the run,
    planted secrets in the host environment, and a TCP server on the host's 127.0.0.1 that
    records any connection."""
    runs = root / "runs"
    places = HostPlaces(
        root=root,
        run_dir=runs / "this-session" / "exp",
        task_dir=fake_public_task(root / "public-task"),
        ground_truth=runs / "this-session" / "ground_truth_labels.txt",
        other_run=runs / "other-session",
        memory=root / "memory",
        repo_standin=root / "repo",
        server_port=0,
    )
    places.ground_truth.parent.mkdir(parents=True)
    places.ground_truth.write_text(GT_MARKER)
    for d in (places.other_run, places.memory, places.repo_standin):
        d.mkdir(parents=True)
        (d / "keep.txt").write_text(f"{d.name} content")
    with _loopback_server(places), _planted_secrets():
        places.digests = places.snapshot()
        yield places


@contextlib.contextmanager
def _loopback_server(places: HostPlaces) -> Iterator[None]:
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
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@contextlib.contextmanager
def _planted_secrets() -> Iterator[None]:
    planted = {
        "OPENAI_API_KEY": SECRET,
        "ANTHROPIC_API_KEY": SECRET,
        "AAR_SECRET_TOKEN": SECRET,
        "HTTPS_PROXY": f"http://{SECRET}@proxy:1",
    }
    old = {k: os.environ.get(k) for k in planted}
    os.environ.update(planted)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
