"""Helpers shared by the memory tests (imported as a plain module, pytest's prepend mode)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aar.cli import app
from aar.config import MemorySettings, Settings
from aar.memory import Finding

DATA = Path(__file__).parent / "data"
AAR = Path(sys.executable).parent / "aar"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_heartbeat(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"Chroma server at {url} did not answer within {timeout} s")


HELDOUT = "heldout"  # second set, paraphrase-heavy, written blind to the embedders


def labelled_findings(subset: str = "") -> list[Finding]:
    with (DATA / subset / "findings.jsonl").open() as fh:
        return [Finding.model_validate_json(line) for line in fh if line.strip()]


def labelled_queries(subset: str = "") -> list[dict[str, Any]]:
    return json.loads((DATA / subset / "queries.json").read_text())


def minimal(**overrides: Any) -> dict[str, Any]:
    """The smallest hand-written finding the issue allows."""
    record: dict[str, Any] = {
        "summary": "logconf raised PGR on sentiment",
        "hypothesis": "the student can overrule weak label errors",
        "method": "logconf",
        "task": "sentiment",
        "verdict": "supported",
        "session_id": "s-test",
        "metrics": {"pgr_acc_mean": 0.4, "pgr_acc_se": 0.05},
    }
    record.update(overrides)
    return record


def local_settings(path: Path, **memory: Any) -> Settings:
    return Settings(memory=MemorySettings(path=path, url=None, **memory))


def clear_server(url: str) -> None:
    """Drop aar's collection so each server test starts from an empty store."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from aar.memory._collection import COLLECTION

    port = int(url.rsplit(":", 1)[1])
    client = chromadb.HttpClient(
        host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
    )
    if COLLECTION in [getattr(c, "name", c) for c in client.list_collections()]:
        client.delete_collection(COLLECTION)


class MemoEmbedder:
    """The real embedder, computing each distinct text once per test session (speed only)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._memo: dict[str, Any] = {}

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            self._memo.update(zip(missing, self.inner.embed(missing), strict=True))
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> Result:
    """Call the real app object as the console script does (typer's `invoke` would bypass
    the app's own `AarError` handling), with stdin/stdout/stderr captured by click."""
    code = 0
    with runner.isolation(input=stdin) as streams:
        try:
            app(["memory", *args], prog_name="aar")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Result(code, out.decode(), err.decode() if err is not None else "")


def write(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def count(runner: CliRunner) -> int:
    result = run(runner, "list", "--json", "--duplicates")
    assert result.exit_code == 0, result.output
    return len(json.loads(result.stdout))


def aar_memory(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (`aar memory ...`)."""
    return subprocess.run(
        [str(AAR), "memory", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
