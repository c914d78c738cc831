"""`aar memory ...` as a user calls it: typer's CliRunner, and real processes for `serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from memory_support import (
    AAR,
    DATA,
    aar_memory,
    clear_server,
    count,
    free_port,
    minimal,
    run,
    wait_heartbeat,
    write,
)
from typer.testing import CliRunner

from aar.config import get_settings


def test_add_file_and_stdin(cli: CliRunner, tmp_path: Path) -> None:
    result = run(cli, "add", write(tmp_path / "one.json", minimal(id="f-one")))
    assert result.exit_code == 0, result.output
    assert "added f-one" in result.stdout
    many = [minimal(summary="bootstrap on news", method="bootstrap"), minimal(summary="other")]
    result = run(cli, "add", "-", stdin=json.dumps(many))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("added f-") == 2
    assert count(cli) == 3


def test_add_links_near_duplicate(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "add", write(tmp_path / "a.json", minimal(id="f-a", summary="PGR rose to 0.46")))
    result = run(cli, "add", write(tmp_path / "b.json", minimal(summary="PGR rose to 0.47")))
    assert result.exit_code == 0
    assert "near-duplicate of f-a" in result.stdout
    shown = json.loads(run(cli, "show", "f-a", "--json").stdout)
    assert len(shown["duplicates"]) == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("{not json", "not valid JSON (line 1"),
        ("[1]", "record 1: expected a JSON object"),
        (json.dumps([minimal(), minimal(verdict="maybe")]), "record 2: verdict"),
        (json.dumps(minimal(metrics={"pgr_acc_mean": 1})), "metrics.pgr_acc_se: Field required"),
        (json.dumps({**minimal(), "task": None}), "record 1: task"),
        (json.dumps([minimal(id="f-x"), minimal(id="f-x")]), "id f-x appears twice"),
    ],
)
def test_add_bad_input_is_one_line_each_and_writes_nothing(
    cli: CliRunner, payload: str, expected: str
) -> None:
    result = run(cli, "add", "-", stdin=payload)
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output
    assert count(cli) == 0


def test_add_reports_every_problem(cli: CliRunner) -> None:
    bad = [{"summary": "x"}, minimal(verdict="maybe")]
    result = run(cli, "add", "-", stdin=json.dumps(bad))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()  # one line, every problem in it
    assert line.startswith("error: 7 problems") and line.count("record ") == 7
    # six missing fields of record 1, the verdict of record 2


def test_add_missing_file(cli: CliRunner) -> None:
    result = run(cli, "add", "nope.json")
    assert result.exit_code == 2 and "no such file" in result.output


@pytest.fixture
def filled(cli: CliRunner) -> CliRunner:
    result = run(cli, "import", str(DATA / "findings.jsonl"))
    assert result.exit_code == 0, result.output
    assert "imported 57" in result.stdout
    return cli


def test_query_table_and_json(filled: CliRunner) -> None:
    table = run(filled, "query", "mixup interpolation of inputs", "-k", "3")
    assert table.exit_code == 0, table.output
    assert "f56" in table.stdout and "±" in table.stdout and "score" in table.stdout
    result = run(filled, "query", "confidence loss", "--task", "sentiment", "-k", "4", "--json")
    hits = json.loads(result.stdout)
    assert len(hits) == 4
    assert all("sentiment" in h["tasks"] and isinstance(h["score"], float) for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    result = run(
        filled,
        *("query", "weak labels", "--verdict", "refuted", "--status", "pending"),
        *("--session", "s-2026-11-01-gamma", "--json"),
    )
    # f03 is approved in the file: an import stores every decision as pending (only this
    # installation's review gate sets a status)
    assert {h["id"] for h in json.loads(result.stdout)} == {"f03", "f07"}


def test_query_no_hits_and_bad_filters(filled: CliRunner) -> None:
    result = run(filled, "query", "anything", "--task", "no-such-task")
    assert result.exit_code == 0 and "no matching findings" in result.stdout
    for args, expected in [
        (("--verdict", "great"), "--verdict"),
        (("--status", "done"), "--status"),
        (("--since", "yesterday-ish"), "--since"),
        (("-k", "0"), "'-k': Input should be greater than or equal to 1"),
    ]:
        result = run(filled, "query", "x", *args)
        assert result.exit_code == 2, args
        assert expected in result.output and "Traceback" not in result.output
    assert run(filled, "query", "  ").exit_code == 2


def test_show(filled: CliRunner) -> None:
    result = run(filled, "show", "f01")
    assert result.exit_code == 0
    for text in ("Rotten Tomatoes", "+0.460 ± 0.040", "approved", "ev-", "s-2026-11-01-alpha"):
        assert text in result.stdout
    assert json.loads(run(filled, "show", "f01", "--json").stdout)["id"] == "f01"
    missing = run(filled, "show", "f-missing")
    assert missing.exit_code == 2 and "no finding with id 'f-missing'" in missing.output


def test_list_filters(filled: CliRunner) -> None:
    rows = json.loads(run(filled, "list", "--task", "wine", "--json").stdout)
    assert [r["id"] for r in rows] == ["f35", "f15", "f08"]
    rows = json.loads(run(filled, "list", "--since", "2026-11-12", "--json", "-n", "2").stdout)
    assert len(rows) == 2 and rows[0]["created_at"] >= "2026-11-12"
    assert "3 finding(s)" in run(filled, "list", "--task", "wine").stdout


def test_export_import_round_trip(filled: CliRunner, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "all.jsonl"
    result = run(filled, "export", str(out))
    assert result.exit_code == 0
    assert out.read_text().count("\n") == 58  # the header, then one line per finding
    monkeypatch.setenv("AAR_MEMORY_PATH", str(tmp_path / "second"))
    get_settings.cache_clear()
    assert "imported 57" in run(filled, "import", str(out)).stdout
    again = tmp_path / "again.jsonl"
    run(filled, "export", str(again))
    assert again.read_text() == out.read_text()
    assert "skipped 57" in run(filled, "import", str(out)).stdout


def test_import_bad_files(cli: CliRunner, tmp_path: Path) -> None:
    assert run(cli, "import", str(tmp_path / "missing.jsonl")).exit_code == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(minimal()) + "\n{oops\n")
    result = run(cli, "import", str(bad))
    assert result.exit_code == 2 and "line 2: not JSON" in result.output
    assert count(cli) == 0


def test_stats(filled: CliRunner) -> None:
    result = run(filled, "stats")
    assert result.exit_code == 0
    assert "57 (0 linked" in result.stdout and "all-MiniLM-L6-v2-onnx-int8" in result.stdout
    data = json.loads(run(filled, "stats", "--json").stdout)
    assert data["findings"] == 57 and data["mode"] == "local"


def test_foreign_store_directory(cli: CliRunner, tmp_path: Path, monkeypatch) -> None:
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    monkeypatch.setenv("AAR_MEMORY_PATH", str(foreign))
    get_settings.cache_clear()
    result = run(cli, "stats")
    assert result.exit_code == 2 and "not an aar findings store" in result.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_server_mode_via_env(cli: CliRunner, chroma_server: str, monkeypatch, tmp_path) -> None:
    clear_server(chroma_server)
    monkeypatch.setenv("AAR_MEMORY_URL", chroma_server)
    get_settings.cache_clear()
    assert run(cli, "add", write(tmp_path / "f.json", minimal(id="f-srv"))).exit_code == 0
    hits = json.loads(run(cli, "query", "logconf sentiment", "--json").stdout)
    assert [h["id"] for h in hits] == ["f-srv"]
    assert json.loads(run(cli, "stats", "--json").stdout)["mode"] == "server"
    assert not (tmp_path / "store").exists()


def test_bad_server_url(cli: CliRunner, monkeypatch) -> None:
    monkeypatch.setenv("AAR_MEMORY_URL", "ftp://example")
    get_settings.cache_clear()
    result = run(cli, "stats")
    assert result.exit_code == 2 and "http://HOST:PORT" in result.output
    monkeypatch.setenv("AAR_MEMORY_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    result = run(cli, "stats")
    assert result.exit_code == 2 and "Chroma server" in result.output


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts `aar memory serve &`


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_serve_then_commands_against_it(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "AAR_MEMORY_PATH": str(tmp_path / "unused")}
    server = subprocess.Popen(
        [str(AAR), "memory", "serve", "--path", str(tmp_path / "team"), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_ignore_sigint,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_heartbeat(url)
        client_env = {**env, "AAR_MEMORY_URL": url}
        finding = json.dumps(minimal(id="f-team"))
        added = aar_memory("add", "-", env=client_env, stdin=finding, timeout=60)
        assert added.returncode == 0, added.stderr
        queried = aar_memory("query", "logconf", "--json", env=client_env, timeout=60)
        assert [h["id"] for h in json.loads(queried.stdout)] == ["f-team"]
    finally:
        server.send_signal(stop)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0  # stderr is not read: an orphaned Chroma server would hold it open
    with pytest.raises(RuntimeError, match="did not answer"):
        wait_heartbeat(url, timeout=1)  # the Chroma server stopped with aar
    assert (tmp_path / "team" / "chroma.sqlite3").exists()
    assert not (tmp_path / "unused").exists()


def test_serve_refuses_foreign_directory(cli: CliRunner, tmp_path: Path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    result = run(cli, "serve", "--path", str(foreign), "--port", str(free_port()))
    assert result.exit_code == 2 and "not an aar findings store" in result.output


def test_warmup(cli: CliRunner) -> None:
    result = run(cli, "warmup", "--embedding", "minilm")
    assert (
        result.exit_code == 0 and "all-MiniLM-L6-v2-onnx-int8-v1 (dim 384) ready" in result.stdout
    )
    bad = run(cli, "warmup", "--embedding", "glove")
    assert bad.exit_code == 2 and "unknown memory.embedding 'glove'" in bad.output


def test_real_process_query_and_error(tmp_path: Path) -> None:
    """The console script itself: a table on stdout; a bad filter is one red line, exit 2."""
    env = {**os.environ, "AAR_MEMORY_PATH": str(tmp_path / "store"), "COLUMNS": "120"}
    env.pop("AAR_MEMORY_URL", None)
    imported = aar_memory("import", str(DATA / "findings.jsonl"), env=env)
    assert imported.returncode == 0, imported.stderr
    query = aar_memory("query", "mixup of inputs and soft labels", "-k", "3", env=env)
    assert query.returncode == 0 and "f56" in query.stdout and "±" in query.stdout
    bad = aar_memory("query", "x", "--verdict", "great", env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "--verdict" in bad.stderr


def test_export_overwrites_only_with_force(filled: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "notes.jsonl"
    target.write_text("not an export\n")
    refused = run(filled, "export", str(target))
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert target.read_text() == "not an export\n"
    replaced = run(filled, "export", str(target), "--force")
    assert replaced.exit_code == 0 and target.read_text().count("\n") == 58
    assert sorted(p.name for p in tmp_path.iterdir() if "notes" in p.name) == ["notes.jsonl"]


def test_usage_errors_come_before_heavy_imports(tmp_path: Path) -> None:
    """A mistake in the arguments is reported before chromadb or onnxruntime is imported
    (each costs ~0.3-1.2 s), so the line comes at once."""
    script = (
        "import sys\n"
        "from aar.cli import app\n"
        "try:\n"
        "    app(sys.argv[1:], prog_name='aar')\n"
        "except SystemExit as exc:\n"
        "    heavy = sorted({m.split('.')[0] for m in sys.modules} & {'chromadb', 'onnxruntime'})\n"
        "    print(exc.code, heavy)\n"
    )
    env = {**os.environ, "AAR_MEMORY_PATH": str(tmp_path / "store")}
    env.pop("AAR_MEMORY_URL", None)
    for args in (
        ["memory", "list", "-n", "-1"],
        ["memory", "query", "x", "-k", "0"],
        ["memory", "export", str(tmp_path)],
        ["memory", "import", str(tmp_path / "missing.jsonl")],
        ["memory", "add", "-"],
    ):
        out = subprocess.run(
            [sys.executable, "-c", script, *args],
            input="{oops",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.stdout.strip() == "2 []", (args, out.stdout, out.stderr)
    assert not (tmp_path / "store").exists()
