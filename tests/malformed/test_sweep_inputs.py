"""Issue 18's 683-case sweep: each input it found mishandled, now one clear line and nothing lost.

Memory, settings and `aar run` cases; the CSV header case is in test_bench_inputs.py and the
session-log cases in test_session_log_inputs.py. Every case here failed on the code before
the fix (a traceback, a silent wrong result, or a replaced file).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from malformed_support import (
    BAD_PATH_FILES,
    Case,
    case_id,
    check,
    check_outcome,
    run_cli,
)

GOOD = {
    "summary": "logconf raised PGR on sentiment",
    "hypothesis": "the student can overrule weak label errors",
    "method": "logconf",
    "task": "sentiment",
    "verdict": "supported",
    "session_id": "s-sweep",
    "metrics": {"pgr_acc_mean": 0.4, "pgr_acc_se": 0.05},
}


def finding(**metrics: object) -> dict:
    record = json.loads(json.dumps(GOOD))
    record["metrics"].update(metrics)
    return record


def _add(name: str, record: object, match: str) -> Case:
    return Case(
        name, ("memory", "add", "{ws}/in.json"), match, files={"in.json": json.dumps(record)}
    )


DEEP = "[" * 100_000 + "]" * 100_000
APPROVED = {**GOOD, "review": {"status": "approved", "reviewer": "mallory"}}
# SQLite's magic, then garbage: passes the header check, fails any real read
CORRUPT_SQLITE = b"SQLite format 3\x00" + bytes(range(256)) * 64

MEMORY_CASES = [
    _add("add-pgr-true", finding(pgr_acc_mean=True), r"metrics\.pgr_acc_mean"),
    _add("add-pgr-string-number", finding(pgr_acc_mean="0.4"), r"metrics\.pgr_acc_mean"),
    _add("add-se-false", finding(pgr_acc_se=False), r"metrics\.pgr_acc_se"),
    _add("add-seeds-bool", finding(seeds=[True, 43]), r"metrics\.seeds"),
    _add("add-round-true", {**GOOD, "round": True}, "round"),
    _add("add-review-approved", APPROVED, "only the review gate"),
    _add("add-review-rejected", {**GOOD, "review": {"status": "rejected"}}, "only the review gate"),
    _add("add-review-reviewer", {**GOOD, "review": {"reviewer": "mallory"}}, "review gate"),
    _add(
        "add-verdict-basis",
        {
            **GOOD,
            "verdict_basis": {
                "split": "holdout",
                "seeds": list(range(1000, 1010)),
                "fresh_seeds": True,
                "test": "paired t-test (two-sided)",
                "level": 0.05,
                "correction": "holm",
                "family_size": 1,
            },
        },
        "only a session's end of round decides",
    ),
    Case(
        "add-deeply-nested",
        ("memory", "add", "{ws}/in.json"),
        "nested too deeply",
        files={"in.json": DEEP},
    ),
    Case(
        "import-deeply-nested",
        ("memory", "import", "{ws}/in.jsonl"),
        "line 1: not JSON",
        files={"in.jsonl": DEEP},
    ),
    Case(
        "import-empty-file", ("memory", "import", "{ws}/in.jsonl"), "empty", files={"in.jsonl": b""}
    ),
    Case(
        "import-blank-file",
        ("memory", "import", "{ws}/in.jsonl"),
        "empty",
        files={"in.jsonl": "\n  \n"},
    ),
    Case("query-stray-bytes", ("memory", "query", "\udcff\udcfe"), "not valid UTF-8"),
    Case(
        "process-query-stray-bytes",
        ("memory", "query", "\udcff\udcfe"),
        "not valid UTF-8",
        process=True,
    ),
    Case(
        "lock-is-a-directory",
        ("memory", "list"),
        r"\.aar-memory\.lock .*not a regular file",
        files={"mem/.aar-memory.lock/x": ""},
        env={"AAR_MEMORY_PATH": "{ws}/mem"},
    ),
    Case(
        "index-is-a-directory",
        ("memory", "query", "x"),
        r"aar-index\.sqlite3 .*not a regular file",
        files={"mem/aar-index.sqlite3/x": ""},
        env={"AAR_MEMORY_PATH": "{ws}/mem"},
    ),
    Case(
        "export-force-over-a-link-to-a-device",
        ("memory", "export", "--force", "{ws}/out.jsonl"),
        "character device, not a regular file",
        links={"out.jsonl": "/dev/null"},
    ),
    Case(
        "export-force-over-a-dangling-link",
        ("memory", "export", "--force", "{ws}/out.jsonl"),
        "dangling",
        links={"out.jsonl": "{ws}/nowhere"},
    ),
]

RUN = ("run", "-t", "digits-ge5", "--seeds", "1", "--hypotheses", "1")
RUN_CASES = [
    Case(
        "run-memory-path-is-a-file",
        RUN,
        "memory path .*afile is a file",
        files=BAD_PATH_FILES,
        env={"AAR_MEMORY_PATH": "{ws}/afile", "AAR_RUNS_DIR": "{ws}/runs"},
    ),
    Case(
        "run-memory-store-corrupt",
        RUN,
        "findings memory .*mem is corrupt",
        files={"mem/chroma.sqlite3": CORRUPT_SQLITE},
        env={"AAR_MEMORY_PATH": "{ws}/mem", "AAR_RUNS_DIR": "{ws}/runs"},
    ),
    Case(
        "resume-memory-store-corrupt",
        ("resume", "s-nothing"),
        "findings memory .*mem is corrupt",
        files={"mem/chroma.sqlite3": CORRUPT_SQLITE},
        env={"AAR_MEMORY_PATH": "{ws}/mem", "AAR_RUNS_DIR": "{ws}/runs"},
    ),
]

# `sessions list` reads the settings and nothing else
SETTINGS_CASES = [
    Case(
        "env-runs-dir-empty", ("sessions", "list"), "AAR_RUNS_DIR.*empty", env={"AAR_RUNS_DIR": ""}
    ),
    Case(
        "toml-runs-dir-empty",
        ("sessions", "list"),
        r"aar\.toml: runs_dir: is empty",
        files={"aar.toml": 'runs_dir = ""\n'},
    ),
    Case(
        "toml-memory-cache-dir-empty",
        ("sessions", "list"),
        r"memory\.cache_dir: is empty",
        files={"aar.toml": '[memory]\ncache_dir = " "\n'},
    ),
    Case(
        "env-memory-path-empty",
        ("memory", "stats"),
        "AAR_MEMORY_PATH: memory.path: is empty",
        env={"AAR_MEMORY_PATH": ""},
    ),
    Case(
        "env-cache-dir-empty",
        ("sessions", "list"),
        "AAR_BENCH__CACHE_DIR.*empty",
        env={"AAR_BENCH__CACHE_DIR": ""},
    ),
    Case(
        "env-cache-dir-in-proc",
        ("bench", "run", "-t", "digits-ge5"),
        "AAR_BENCH__CACHE_DIR: bench.cache_dir: is under /proc",
        env={"AAR_BENCH__CACHE_DIR": "/proc/aar-x"},
    ),
    Case(
        "env-key-file-in-proc",
        ("bench", "run", "-t", "digits-ge5"),
        "AAR_BENCH__KEY_FILE: bench.key_file: is under /proc",
        env={"AAR_BENCH__KEY_FILE": "/proc/aar-x/key"},
    ),
    Case(
        "env-key-file-in-sys",
        ("sessions", "list"),
        "AAR_REVIEW__KEY_FILE: review.key_file: is under /sys",
        env={"AAR_REVIEW__KEY_FILE": "/sys/kernel/aar-key"},
    ),
    Case(
        "env-section-typo",
        ("sessions", "list"),
        "AAR_SANDBOXX__ISOLATION: unknown setting section 'sandboxx'; did you mean "
        "AAR_SANDBOX__ISOLATION",
        env={"AAR_SANDBOXX__ISOLATION": "none"},
    ),
    Case(
        "env-unknown-section",
        ("sessions", "list"),
        "AAR_CLUSTER__NODES: unknown setting section",
        env={"AAR_CLUSTER__NODES": "3"},
    ),
    Case(
        "env-top-level-typo",
        ("sessions", "list"),
        "AAR_RUNS_DIRR is not a setting; did you mean AAR_RUNS_DIR",
        env={"AAR_RUNS_DIRR": "elsewhere"},
    ),
]


@pytest.mark.parametrize("case", MEMORY_CASES + RUN_CASES + SETTINGS_CASES, ids=case_id)
def test_sweep_inputs(case: Case, workspace: Path) -> None:
    check(case, workspace)


def test_names_that_are_not_settings_are_left_alone(workspace: Path) -> None:
    outcome = run_cli(
        ("sessions", "list", "--json"),
        env={"AAR_PYTHON": "/usr/bin/python3", "AAR_SECRET_TOKEN": "x", "AAR_REVIEWER": "ana"},
    )
    assert outcome.exit_code == 0, outcome.stderr


def test_export_force_never_replaces_a_fifo(workspace: Path, tmp_path: Path) -> None:
    """`--force` renamed a temporary file over whatever the path was (it replaced /dev/full).
    A FIFO stands in for the device: it must still be a FIFO afterwards."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    check_outcome(
        workspace,
        lambda: run_cli(("memory", "export", "--force", str(fifo))),
        2,
        r"FIFO \(named pipe\), not a regular file",
    )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    link = workspace / "link"
    link.symlink_to(fifo)
    check_outcome(workspace, lambda: run_cli(("memory", "export", "--force", str(link))), 2, "FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()


def test_write_atomic_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    from aar.errors import PathError
    from aar.files import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(PathError, match="FIFO"):
        write_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # no temporary file left


def test_export_force_through_a_link_replaces_the_file_it_names(workspace: Path) -> None:
    (workspace / "real.jsonl").write_text("old\n")
    (workspace / "link.jsonl").symlink_to(workspace / "real.jsonl")
    outcome = run_cli(("memory", "export", "--force", str(workspace / "link.jsonl")))
    assert outcome.exit_code == 0, outcome.stderr
    assert (workspace / "link.jsonl").is_symlink()
    assert json.loads((workspace / "real.jsonl").read_text().splitlines()[0])["count"] == 0


def _stored(workspace: Path, record: dict) -> None:
    (workspace / "good.json").write_text(json.dumps(record))
    outcome = run_cli(("memory", "add", str(workspace / "good.json")))
    assert outcome.exit_code == 0, outcome.stderr


def test_query_refuses_a_corrupt_store_as_stats_does(workspace: Path) -> None:
    """The search index answered `query` from its copy while chromadb's file was corrupt."""
    _stored(workspace, {**GOOD, "id": "f-one"})
    assert run_cli(("memory", "query", "logconf")).exit_code == 0
    store = workspace.parent / "memory" / "chroma.sqlite3"
    with store.open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xde\xad" * 20_000)
    for args in (("stats",), ("query", "logconf")):
        check_outcome(
            workspace, lambda a=args: run_cli(("memory", *a)), 2, "cannot open the store|corrupt"
        )


def test_import_turns_review_decisions_into_pending(workspace: Path) -> None:
    """An export carries its installation's decisions, which no audit record here backs: the
    import stores them as pending, says so in one warning, and keeps the decision as a note."""
    lines = [
        json.dumps({**APPROVED, "id": "f-approved"}),
        json.dumps({**GOOD, "id": "f-rejected", "review": {"status": "rejected"}}),
        json.dumps({**GOOD, "id": "f-pending", "summary": "bootstrap did nothing on wine"}),
    ]
    (workspace / "in.jsonl").write_text("\n".join(lines) + "\n")
    outcome = run_cli(("memory", "import", str(workspace / "in.jsonl")))
    assert outcome.exit_code == 0, outcome.stderr
    (warning,) = outcome.stderr.strip().splitlines()
    assert warning.startswith("warning: 2 imported finding(s) carried review decisions")
    assert "approved 1, rejected 1" in warning
    listed = run_cli(("memory", "list", "--json", "--duplicates"))
    reviews = {f["id"]: f["review"] for f in json.loads(listed.stdout)}
    assert {r["status"] for r in reviews.values()} == {"pending"}
    assert "approved by mallory" in reviews["f-approved"]["comment"]
    assert reviews["f-approved"]["reviewer"] is None
    approved = run_cli(("memory", "list", "--json", "--status", "approved"))
    assert json.loads(approved.stdout) == []


def test_a_stray_byte_query_is_refused_by_the_store_too(workspace: Path) -> None:
    """The agent's `search_memory` reaches the store without the CLI's check."""
    from aar.config import get_settings
    from aar.memory import InvalidQueryError, open_store

    _stored(workspace, {**GOOD, "id": "f-one"})
    store = open_store(get_settings())
    with pytest.raises(InvalidQueryError, match="UTF-8"):
        store.search("\udcff\udcfe")


def test_strict_numbers_still_take_integers(workspace: Path) -> None:
    _stored(workspace, finding(pgr_acc_mean=1, pgr_acc_se=0))
    listed = json.loads(run_cli(("memory", "list", "--json")).stdout)
    assert listed[0]["metrics"]["pgr_acc_mean"] == 1.0
