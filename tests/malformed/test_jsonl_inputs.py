"""`aar.jsonl` logs under malformed files: foreign files are refused untouched, a torn last
line is survived, damage elsewhere is named, concurrent appends never interleave."""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from aar.errors import AarError, PathError
from aar.jsonl import JsonlLog, LogCorruptError, LogFormatError

KIND = "test-records"
HEADER = b'{"aar_log": "test-records", "version": 1}\n'


class Rec(BaseModel):
    n: int
    text: str = ""


def _log(path: Path, **kw: bool) -> JsonlLog[Rec]:
    return JsonlLog(path, KIND, Rec, **kw)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FOREIGN = {
    "text": b"dear diary\n",
    "binary": bytes(range(256)),
    "json-array": b"[1, 2]\n",
    "json-object-without-header": b'{"n": 1}\n',
    "other-kind": b'{"aar_log": "session-events", "version": 1}\n{"n": 1}\n',
    "newer-version": b'{"aar_log": "test-records", "version": 9}\n',
    "header-not-first": b'{"n": 1}\n' + HEADER,
    "blank-first-line": b'\n{"n": 1}\n',
    "blank-line-then-header": b"\n" + HEADER,
    "utf16": "\ufeff{}\n".encode("utf-16"),
    "long-first-line": b"x" * (2 << 20),
}


@pytest.mark.parametrize("name", FOREIGN)
def test_a_foreign_file_is_refused_and_untouched(tmp_path: Path, name: str) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(FOREIGN[name])
    before = _sha(path)
    with pytest.raises(LogFormatError) as info:
        _log(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert _sha(path) == before and sorted(os.listdir(tmp_path)) == ["log.jsonl"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.symlink_to(p.parent / "nowhere"), "dangling"),
        (lambda p: Path(str(p) + ".lock").mkdir(), "lock .* is not a regular file"),
    ],
    ids=["directory", "fifo", "dangling-symlink", "lock-is-a-directory"],
)
def test_paths_that_are_not_files(tmp_path: Path, make, match: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "log.jsonl"
    make(path)
    with pytest.raises(PathError, match=match):
        _log(path)


@pytest.mark.parametrize(
    "where", ["afile/log.jsonl", "missing/log.jsonl", "/proc/log.jsonl"], ids=str
)
def test_unwritable_places(tmp_path: Path, where: str) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PathError):
        _log(tmp_path / where)
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_a_torn_last_line_is_skipped_then_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = _log(path)
    log.append(Rec(n=1))
    with path.open("ab") as fh:
        fh.write(b'{"n": 2, "te')  # a crash mid-write
    assert [r.n for r in log.read()] == [1] and log.torn_tail == b'{"n": 2, "te'
    log.append(Rec(n=3))
    assert [r.n for r in _log(path).read()] == [1, 3]
    assert (tmp_path / "log.jsonl.torn").read_bytes() == b'{"n": 2, "te\n'


def test_a_whole_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(HEADER + b'{"n": 1}')
    log = _log(path)
    assert [r.n for r in log.read()] == [1]
    log.append(Rec(n=2))
    assert path.read_bytes() == HEADER + b'{"n": 1}\n{"n":2,"text":""}\n'


def test_a_torn_header_is_a_new_log(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(HEADER[:9])  # the process died while creating the log
    log = _log(path)
    assert log.read() == []
    log.append(Rec(n=1))
    assert path.read_bytes() == HEADER + b'{"n":1,"text":""}\n'


def test_damage_before_the_last_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(HEADER + b'{"n": 1}\n{"n": "one"}\n{"n": 3}\n')
    before = _sha(path)
    with pytest.raises(LogCorruptError, match="line 3 is damaged"):
        _log(path).read()
    assert _sha(path) == before


def test_a_headerless_legacy_log_is_read_then_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    old = b'{"n": 1}\n{"n":2, "text": "x"}\n'
    path.write_bytes(old + b'{"n": 3, "t')  # and a torn last line
    with pytest.raises(LogFormatError):
        _log(path)  # without legacy=True a headerless file is foreign
    log = _log(path, legacy=True)
    assert log.state == "legacy" and [r.n for r in log.read()] == [1, 2]
    log.append(Rec(n=4))
    assert path.read_bytes() == HEADER + old + b'{"n":4,"text":""}\n'
    assert (tmp_path / "log.jsonl.torn").read_bytes() == b'{"n": 3, "t\n'
    assert _log(path).state == "log"


def test_an_empty_file_becomes_a_log(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.touch()
    _log(path).append(Rec(n=1))
    assert path.read_bytes() == HEADER + b'{"n":1,"text":""}\n'


def test_nan_metrics_survive_the_evaluator_log(tmp_path: Path) -> None:
    """An undefined PGR (zero gap) is NaN: it must read back, not turn into an unreadable null."""
    import numpy as np

    from aar.bench import EvalLog, EvalRecord

    record = EvalRecord(
        id="r", task="t", seed=1, split="test", method="m",
        metrics={"pgr_acc": math.nan, "acc": 0.5}, code_sha256="x",
        timestamp="2026-12-01T00:00:00Z", rounded=True, predictions_sha256="p",
        budget_used=1, budget_total=2,
    )  # fmt: skip
    EvalLog(tmp_path / "e.jsonl").append(record, np.zeros(3, dtype=np.uint8))
    (back,) = EvalLog(tmp_path / "e.jsonl").records
    assert math.isnan(back.metrics["pgr_acc"]) and back.metrics["acc"] == 0.5


def test_legacy_evaluator_log_with_null_metrics_opens(tmp_path: Path) -> None:
    """Logs from before the header (and before NaN was kept) still count against the budget."""
    from aar.bench import EvalLog

    line = (
        '{"id":"r","task":"t","seed":1,"split":"test","method":"m","metrics":{"pgr_acc":null},'
        '"code_sha256":"x","timestamp":"2026-12-01T00:00:00Z","rounded":true,'
        '"predictions_sha256":"p","budget_used":1,"budget_total":2}\n'
    )
    (tmp_path / "e.jsonl").write_text(line * 2)
    log = EvalLog(tmp_path / "e.jsonl")
    assert len(log.records) == 2 and math.isnan(log.records[0].metrics["pgr_acc"])


def _append_many(path: str, start: int) -> None:
    log = JsonlLog(path, KIND, Rec, fsync=False)
    for i in range(start, start + 60):
        log.append(Rec(n=i, text="x" * 500))


def test_two_processes_append_without_interleaving(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), s)) for s in (0, 1000)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    records = _log(path).read()
    assert sorted(r.n for r in records) == [*range(60), *range(1000, 1060)]
    assert path.read_bytes().count(HEADER) == 1


@given(raw=st.binary(max_size=300))
def test_any_existing_bytes_open_cleanly_or_are_refused_untouched(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    path.write_bytes(raw)
    try:
        log = _log(path, legacy=True)
        log.read()
    except AarError as exc:
        assert "\n" not in str(exc)
        assert path.read_bytes() == raw
        return
    log.append(Rec(n=7))
    after = path.read_bytes()
    kept = raw.rsplit(b"\n", 1)[0] if not raw.endswith(b"\n") else raw
    assert kept.strip() == b"" or kept.rstrip(b"\n") in after  # earlier lines survive
    assert [r.n for r in _log(path).read()][-1] == 7


_LINES = st.sampled_from(
    [b"", b"   ", HEADER.rstrip(), b'{"aar_log": "other", "version": 1}', b'{"n": 1}',
     b'{"n": 2, "text": "a\\nb"}', b'{"n": "x"}', b"garbage", b'{"n": 3, "te', b"\xff\xfe", b"[]"]
)  # fmt: skip


@given(lines=st.lists(_LINES, max_size=6), newline_at_end=st.booleans())
def test_any_log_shaped_file_keeps_every_line_or_is_refused_untouched(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], newline_at_end: bool
) -> None:
    """Built from log-like lines (headers, records, damage, blanks, a torn tail): either
    the file is refused and unchanged, or after an append every earlier line is still there,
    in order (a torn tail in `<log>.torn`)."""
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    raw = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    path.write_bytes(raw)
    try:
        log = _log(path, legacy=True)
        log.read()
        log.append(Rec(n=7))
    except AarError as exc:
        assert "\n" not in str(exc) and path.read_bytes() == raw
        return
    after = path.read_bytes().split(b"\n")
    torn = path.with_name("log.jsonl.torn")
    kept = raw.split(b"\n")
    if torn.exists():
        kept = kept[:-1]
    position = 0
    for line in (x for x in kept if x.strip()):
        position = after.index(line, position) + 1  # ValueError if a line was lost
    assert [r.n for r in _log(path).read()][-1] == 7


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@given(texts=st.lists(_TEXT, min_size=1, max_size=5))
def test_records_with_any_text_round_trip(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> None:
    """Newlines, U+2028, NUL and friends inside a record never split a line."""
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    log = _log(path, fsync=False)
    for i, text in enumerate(texts):
        log.append(Rec(n=i, text=text))
    assert [r.text for r in _log(path).read()] == texts
