"""`aar memory ...` with malformed input: one clear line, the right exit code, nothing lost.

Classes: non-finite numbers (in every numeric field, in findings and in export files' vectors),
wrong types (per field, and arbitrary JSON from hypothesis), truncated, empty and non-UTF-8
files, paths that are directories, missing, under a regular file or in /proc, overwrites,
bad server URLs, listen addresses and numeric options, links to findings that do not exist,
and a store that already holds a damaged record. Cases that fail before the store is opened
also prove the store directory was never created.
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from malformed_support import (
    BAD_PATH_FILES,
    BAD_PATHS,
    Case,
    assert_one_error_line,
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
    "session_id": "s-battery",
    "metrics": {"pgr_acc_mean": 0.4, "pgr_acc_se": 0.05},
}


def finding(**changes: object) -> dict:
    record = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = record
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return record


def dumps(record: object) -> str:
    return json.dumps(record, allow_nan=True)  # NaN / Infinity as a careless writer emits them


def add_case(name: str, record: object, match: str, exit_code: int = 2) -> Case:
    return Case(
        name, ("memory", "add", "{ws}/in.json"), match, exit_code, files={"in.json": dumps(record)}
    )


NUMBER_FIELDS = [
    "metrics__pgr_acc_mean",
    "metrics__pgr_acc_se",
    "metrics__pgr_auroc_mean",
    "metrics__accuracy_mean",
    "final_metrics__pgr_acc_mean",
]


def _non_finite_cases() -> list[Case]:
    cases = []
    for field in NUMBER_FIELDS:
        for label, value in (("nan", float("nan")), ("inf", float("inf")), ("-inf", -float("inf"))):
            record = finding(**{field: value})
            if field.startswith("final_"):
                record["final_metrics"].setdefault("pgr_acc_se", 0.1)
            where = field.replace("__", r"\.")
            cases.append(add_case(f"add-{field}-{label}", record, f"{where}: .*finite"))
    ci = finding(metrics__pgr_acc_ci=[0.1, float("inf")])
    cases.append(add_case("add-ci-inf", ci, r"pgr_acc_ci\[1\]: .*finite"))
    cases.append(
        Case(
            "import-nan-line",
            ("memory", "import", "{ws}/in.jsonl"),
            r"line 2: metrics\.pgr_acc_mean: .*finite",
            files={
                "in.jsonl": dumps(GOOD) + "\n" + dumps(finding(metrics__pgr_acc_mean=float("nan")))
            },
        )
    )
    return cases


WRONG_TYPES = {
    "pgr-string": (finding(metrics__pgr_acc_mean="high"), r"metrics\.pgr_acc_mean"),
    "pgr-null": (finding(metrics__pgr_acc_mean=None), r"metrics\.pgr_acc_mean"),
    "pgr-list": (finding(metrics__pgr_acc_mean=[0.4]), r"metrics\.pgr_acc_mean"),
    "se-negative": (finding(metrics__pgr_acc_se=-0.1), r"metrics\.pgr_acc_se"),
    "accuracy-above-one": (finding(metrics__accuracy_mean=1.5), r"metrics\.accuracy_mean"),
    "metrics-list": (finding(metrics=[0.4, 0.05]), "metrics"),
    "ci-reversed": (finding(metrics__pgr_acc_ci=[0.9, 0.1]), "pgr_acc_ci"),
    "ci-three": (finding(metrics__pgr_acc_ci=[0.1, 0.2, 0.3]), "pgr_acc_ci"),
    "verdict-number": (finding(verdict=1), "verdict"),
    "verdict-unknown": (finding(verdict="maybe"), "verdict"),
    "task-number": (finding(task=5), "task"),
    "task-empty-list": (finding(task=[]), "task"),
    "task-comma": (finding(task="a,b"), "task"),
    "round-negative": (finding(round=-1), "round"),
    "round-fraction": (finding(round=1.5), "round"),
    "created-garbage": (finding(created_at="yesterday-ish"), "created_at"),
    "review-string": (finding(review="approved"), "review"),
    "review-status": (finding(review={"status": "done"}), r"review\.status"),
    "tags-string": (finding(tags="loss"), "tags"),
    "id-spaces": (finding(id="has spaces"), "id"),
    "unknown-key": (finding(colour="red"), "colour"),
    "summary-empty": (finding(summary=""), "summary"),
    "schema-version": (finding(schema_version=99), "schema_version"),
    "top-level-number": (42, "expected a JSON object"),
    "list-of-strings": (["a finding"], "expected a JSON object"),
    "duplicate-ids": ([finding(id="f-a"), finding(id="f-a")], "appears twice"),
}

FILE_CASES = [
    Case(
        "add-truncated-json",
        ("memory", "add", "{ws}/in.json"),
        "not valid JSON",
        files={"in.json": dumps(GOOD)[:-7]},
    ),
    Case(
        "add-empty-file",
        ("memory", "add", "{ws}/in.json"),
        "not valid JSON",
        files={"in.json": b""},
    ),
    Case(
        "add-latin1",
        ("memory", "add", "{ws}/in.json"),
        "not UTF-8",
        files={
            "in.json": json.dumps(finding(summary="café"), ensure_ascii=False).encode("latin-1")
        },
    ),
    Case(
        "import-utf16",
        ("memory", "import", "{ws}/in.jsonl"),
        "not UTF-8",
        files={"in.jsonl": dumps(GOOD).encode("utf-16")},
    ),
    Case(
        "import-binary",
        ("memory", "import", "{ws}/in.jsonl"),
        "not UTF-8",
        files={"in.jsonl": bytes(range(256)) * 4},
    ),
    Case(
        "import-truncated-line",
        ("memory", "import", "{ws}/in.jsonl"),
        "line 2: not JSON",
        files={"in.jsonl": dumps(GOOD) + "\n" + dumps(finding(summary="x"))[:40]},
    ),
    Case("import-missing", ("memory", "import", "{ws}/nope.jsonl"), "no such file"),
    Case("import-directory", ("memory", "import", "{ws}/adir"), "directory", files=BAD_PATH_FILES),
    Case("add-directory", ("memory", "add", "{ws}/adir"), "directory", files=BAD_PATH_FILES),
    Case("add-missing", ("memory", "add", "{ws}/nope.json"), "no such file"),
]


def _export_file(count: int, vector: str | None = None, lines: int | None = None) -> str:
    header = {
        "aar_memory_export": 2,
        "schema_version": 1,
        "count": count,
        "embedders": [{"name": "all-MiniLM-L6-v2-onnx-int8-v1", "dim": 384}],
        "vector_encoding": "float32-le-base64",
    }
    unit = base64.b64encode(bytes(4 * 383) + b"\x00\x00\x80\x3f").decode()  # (0, ..., 0, 1)
    body = [
        json.dumps({"finding": finding(id=f"f-{i}", summary=f"s {i}"), "vectors": [vector or unit]})
        for i in range(count if lines is None else lines)
    ]
    return "\n".join([json.dumps(header), *body]) + "\n"


NAN_VECTOR = base64.b64encode(b"\x00\x00\xc0\x7f" * 384).decode()
EXPORT_FILE_CASES = [
    Case(
        "import-export-cut-at-a-line",
        ("memory", "import", "{ws}/in.jsonl"),
        "truncated or padded",
        files={"in.jsonl": _export_file(3, lines=2)},
    ),
    Case(
        "import-export-nan-vector",
        ("memory", "import", "{ws}/in.jsonl"),
        "line 2: a vector holds NaN",
        files={"in.jsonl": _export_file(1, vector=NAN_VECTOR)},
    ),
    Case(
        "import-export-short-vector",
        ("memory", "import", "{ws}/in.jsonl"),
        "has 2 values",
        files={"in.jsonl": _export_file(1, vector=base64.b64encode(bytes(8)).decode())},
    ),
    Case(
        "import-export-bad-header",
        ("memory", "import", "{ws}/in.jsonl"),
        "header",
        files={"in.jsonl": '{"aar_memory_export": 2, "count": "many"}\n'},
    ),
]

PATH_CASES = [
    Case(
        f"export-{label.replace(' ', '-')}",
        ("memory", "export", path),
        match,
        files=BAD_PATH_FILES,
    )
    for label, (path, match) in BAD_PATHS.items()
] + [
    Case(
        "export-over-existing-file",
        ("memory", "export", "{ws}/notes.txt"),
        "already exists.*--force",
        files={"notes.txt": "my precious notes\n"},
    ),
    Case(
        "repair-save-over-existing-file",
        ("memory", "repair", "--drop-bad", "--save", "{ws}/notes.txt"),
        "already exists",
        files={"notes.txt": "my precious notes\n"},
    ),
    Case(
        "repair-save-missing-parent",
        ("memory", "repair", "--drop-bad", "--save", "{ws}/no/such/x.jsonl"),
        "does not exist",
    ),
    Case("repair-save-without-drop", ("memory", "repair", "--save", "{ws}/x.jsonl"), "--drop-bad"),
    Case(
        "serve-path-is-a-file",
        ("memory", "serve", "--path", "{ws}/afile"),
        "is a file",
        files=BAD_PATH_FILES,
    ),
    Case(
        "store-path-is-a-file",
        ("memory", "stats"),
        "is a file",
        files=BAD_PATH_FILES,
        env={"AAR_MEMORY_PATH": "{ws}/afile"},
    ),
    Case(
        "store-path-foreign",
        ("memory", "list"),
        "not an aar findings store",
        files=BAD_PATH_FILES,
        env={"AAR_MEMORY_PATH": "{ws}/adir"},
    ),
]

OPTION_CASES = [
    Case("list-negative-limit", ("memory", "list", "-n", "-1"), "--limit"),
    Case("query-k-zero", ("memory", "query", "x", "-k", "0"), r"'-k'.*greater than.* 1\b"),
    Case("query-k-huge", ("memory", "query", "x", "-k", "100000"), "'-k'.*less than.* 1000"),
    Case("query-empty-text", ("memory", "query", "   "), "empty"),
    Case("query-bad-verdict", ("memory", "query", "x", "--verdict", "great"), "--verdict"),
    Case("list-bad-status", ("memory", "list", "--status", "done"), "--status"),
    Case("list-bad-since", ("memory", "list", "--since", "last tuesday"), "--since"),
    Case("serve-port-zero", ("memory", "serve", "--port", "0"), "--port"),
    Case("serve-port-huge", ("memory", "serve", "--port", "70000"), "--port"),
    Case(
        "serve-host-not-local",
        ("memory", "serve", "--host", "192.0.2.1", "--port", "8765"),
        "cannot listen",
    ),
]

URL_CASES = [
    Case(f"url-{name}", ("memory", "stats"), match, env={"AAR_MEMORY_URL": url})
    for name, url, match in [
        ("port-99999", "http://127.0.0.1:99999", "AAR_MEMORY_URL.*port"),
        ("port-zero", "http://127.0.0.1:0", "AAR_MEMORY_URL.*port"),
        ("port-text", "http://127.0.0.1:eighty", "AAR_MEMORY_URL.*port"),
        ("ftp", "ftp://127.0.0.1:8000", "AAR_MEMORY_URL.*URL|HOST:PORT"),
        ("no-host", "http://", "AAR_MEMORY_URL.*URL|HOST:PORT"),
    ]
]

PROCESS_CASES = [  # a real interpreter: the console script and its exit codes
    Case("process-list-negative-limit", ("memory", "list", "-n", "-1"), "--limit", process=True),
    Case(
        "process-url-port",
        ("memory", "query", "x"),
        "AAR_MEMORY_URL.*port",
        env={"AAR_MEMORY_URL": "http://127.0.0.1:99999"},
        process=True,
    ),
    Case(
        "process-import-latin1",
        ("memory", "import", "{ws}/in.jsonl"),
        "not UTF-8",
        files={"in.jsonl": "caf\xe9\n".encode("latin-1")},
        process=True,
    ),
]

CASES = [
    *_non_finite_cases(),
    *(add_case(f"add-{name}", rec, match) for name, (rec, match) in WRONG_TYPES.items()),
    *FILE_CASES,
    *EXPORT_FILE_CASES,
    *PATH_CASES,
    *OPTION_CASES,
    *URL_CASES,
    *PROCESS_CASES,
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_memory_inputs(case: Case, workspace: Path) -> None:
    check(case, workspace)
    store = Path(workspace.parent / "memory")
    assert not store.exists(), "refused before the store was opened"


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(value=JSON)
def test_arbitrary_json_is_refused_in_one_line(value: object, workspace: Path) -> None:
    (workspace / "in.json").write_text(dumps(value))
    check_outcome(
        workspace,
        lambda: run_cli(("memory", "add", str(workspace / "in.json"))),
        2,
        "expected a JSON object|record 1|problems in the input|no findings to add",
    )


@given(
    field=st.sampled_from(sorted({*GOOD, *(f"metrics__{k}" for k in GOOD["metrics"])})), value=JSON
)
def test_a_wrong_value_in_any_field_names_it(field: str, value: object, workspace: Path) -> None:
    """A random JSON value in one field: refused naming that field, or (if it happens to be
    valid there) accepted; never a traceback."""
    (workspace / "in.json").write_text(dumps(finding(**{field: value})))
    outcome = run_cli(("memory", "add", str(workspace / "in.json")))
    if outcome.exit_code != 0:
        name = field.split("__")[-1]
        assert_one_error_line(outcome, 2, name if name != "task" else "task")


def test_duplicate_of_must_exist(workspace: Path) -> None:
    (workspace / "in.json").write_text(dumps(finding(duplicate_of="f-nowhere")))
    check_outcome(
        workspace,
        lambda: run_cli(("memory", "add", str(workspace / "in.json"))),
        2,
        "duplicate_of 'f-nowhere' is not a stored finding",
    )
    listed = run_cli(("memory", "list", "--json", "--duplicates"))
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def test_serve_on_a_port_in_use(workspace: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        check_outcome(
            workspace,
            lambda: run_cli(
                ("memory", "serve", "--path", str(workspace / "srv"), "--port", str(port))
            ),
            2,
            "cannot listen on 127.0.0.1:.*in use",
        )


def test_a_damaged_store_is_named_not_fatal(workspace: Path) -> None:
    """A store with one record the old NaN bug wrote: reads work and name it, `show` of it is
    one line (exit 1), `repair --drop-bad` saves it before removing it."""
    (workspace / "good.json").write_text(dumps(finding(id="f-good")))
    assert run_cli(("memory", "add", str(workspace / "good.json"))).exit_code == 0
    _write_nan_record(workspace.parent / "memory")
    for args in (("stats",), ("list",), ("export", str(workspace / "out.jsonl"))):
        outcome = run_cli(("memory", *args))
        assert outcome.exit_code == 0, outcome
        (warning,) = [ln for ln in outcome.stderr.splitlines() if "f-nan" in ln]
        assert warning.startswith("warning:")
    check_outcome(workspace, lambda: run_cli(("memory", "show", "f-nan")), 1, "f-nan is damaged")
    repaired = run_cli(("memory", "repair", "--drop-bad", "--save", str(workspace / "bad.jsonl")))
    assert repaired.exit_code == 0 and "dropped 1" in repaired.stdout
    assert json.loads((workspace / "bad.jsonl").read_text())["id"] == "f-nan"


def _write_nan_record(path: Path) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    record = finding(id="f-nan", summary="zero gap")
    record["metrics"]["pgr_acc_mean"] = None
    record["tasks"] = [record.pop("task")]
    client = chromadb.PersistentClient(
        str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.get_collection("aar_findings").add(
        ids=["f-nan"],
        embeddings=[[1.0] + [0.0] * 383],
        metadatas=[{"finding_json": json.dumps(record), "pgr_acc_mean": float("nan")}],
    )
