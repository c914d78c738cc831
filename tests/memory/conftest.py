"""Fixtures: the real offline embedder, local stores in tmp dirs, a real Chroma server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from memory_support import MemoEmbedder, clear_server, free_port, local_settings, wait_heartbeat
from typer.testing import CliRunner

from aar.config import MemorySettings, Settings, get_settings
from aar.memory import FindingsStore, load_embedder, open_store

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture(scope="session", autouse=True)
def embedder() -> Iterator[MemoEmbedder]:
    """The default (MiniLM) embedder, shared by every store the tests open in this process,
    the CLI's included. Artefacts are built once per machine (cache dir)."""
    from aar.memory import _open

    settings = get_settings().memory
    memo = MemoEmbedder(load_embedder("minilm", settings.cache_dir))
    real = _open.load_embedder
    _open.load_embedder = lambda kind, cache_dir: (
        memo if kind == "minilm" else real(kind, cache_dir)
    )
    yield memo
    _open.load_embedder = real


@pytest.fixture
def local_store(tmp_path: Path, embedder: MemoEmbedder) -> FindingsStore:
    return open_store(local_settings(tmp_path / "store"), embedder=embedder)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1 for the whole session, stopped at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data.parent / "chroma-server.log").open("w")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        wait_heartbeat(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def server_store(chroma_server: str, embedder: MemoEmbedder) -> FindingsStore:
    clear_server(chroma_server)
    return open_store(Settings(memory=MemorySettings(url=chroma_server)), embedder=embedder)


@pytest.fixture(params=["local", "server"])
def store(request: pytest.FixtureRequest) -> FindingsStore:
    """The same tests run against both modes."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder) -> Iterator[CliRunner]:
    """A runner whose store is a fresh local directory (settings re-read per test)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AAR_MEMORY_URL", raising=False)
    monkeypatch.setenv("AAR_MEMORY_PATH", str(tmp_path / "store"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
