"""Two real processes write one local store at once; a fresh reader sees everything."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from memory_support import local_settings

from aar.memory import FindingFilter, open_store

WRITER = textwrap.dedent(
    """
    import sys
    from aar.config import MemorySettings, Settings
    from aar.memory import Finding, open_store

    path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_store(Settings(memory=MemorySettings(path=path)))
    for i in range(n):
        store.add(Finding(
            id=f"{who}-{i:03d}", session_id=who,
            summary=f"{who} finding number {i} about topic {i}",
            hypothesis=f"hypothesis {i} of writer {who}", method=f"method-{who}-{i}",
            tasks=["sentiment"], verdict="supported",
            metrics={"pgr_acc_mean": i / 100, "pgr_acc_se": 0.01},
        ))
    """
)

READER = textwrap.dedent(
    """
    import json, sys
    from aar.config import MemorySettings, Settings
    from aar.memory import FindingFilter, open_store

    store = open_store(Settings(memory=MemorySettings(path=sys.argv[1])))
    hits = {
        who: [h.finding.id for h in store.search("finding about topic",
                                                 FindingFilter(session_id=who), k=1000)]
        for who in ("a", "b")
    }
    ids = [f.id for f in store.list_findings()]
    print(json.dumps({"count": store.count(), "ids": ids, "hits": hits}))
    """
)


@pytest.mark.slow
def test_two_writers_then_fresh_reader(tmp_path: Path, embedder) -> None:
    path = tmp_path / "shared"
    n = 60
    # A long-lived reader opened before the writers: it must see their vectors too.
    early = open_store(local_settings(path), embedder=embedder)
    assert early.count() == 0
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), who, str(n)], stderr=subprocess.PIPE
        )
        for who in ("a", "b")
    ]
    for proc in writers:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    out = subprocess.run(
        [sys.executable, "-c", READER, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(out.stdout)
    expected = {f"{who}-{i:03d}" for who in ("a", "b") for i in range(n)}
    assert seen["count"] == 2 * n
    assert set(seen["ids"]) == expected
    assert set(seen["hits"]["a"]) | set(seen["hits"]["b"]) == expected
    hits = early.search("finding about topic", FindingFilter(session_id="b"), k=1000)
    assert {h.finding.id for h in hits} == {f"b-{i:03d}" for i in range(n)}
    assert len(early.search("finding about topic", k=1000)) == 2 * n
