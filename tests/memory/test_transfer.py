"""Export files carry vectors: the same embedders re-use them, others re-embed or refuse."""

from __future__ import annotations

import base64
import gc
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from memory_support import labelled_findings, local_settings, minimal

from aar.memory import (
    EmbeddingMismatchError,
    Finding,
    FindingsStore,
    InvalidFindingError,
    Review,
    open_store,
)


class Counting:
    """Wraps an embedder and counts the texts it embeds."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, 0

    def embed(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.inner.embed(texts)


def exported(store: FindingsStore) -> str:
    out = io.StringIO()
    store.export_jsonl(out)
    return out.getvalue()


@pytest.fixture
def source(local_store: FindingsStore) -> FindingsStore:
    """20 findings, undecided: an import keeps a pending review as it is (decisions in a file
    become pending, see test_store.py), so the round trip is byte for byte."""
    local_store.add_many(
        [f.model_copy(update={"review": Review()}) for f in labelled_findings()[:20]]
    )
    return local_store


def test_export_carries_vectors_and_the_round_trip_is_exact(
    source: FindingsStore, tmp_path: Path, embedder
) -> None:
    text = exported(source)
    header = json.loads(text.splitlines()[0])
    assert header["aar_memory_export"] == 2 and header["count"] == 20
    assert header["embedders"][0]["name"] == embedder.name
    line = json.loads(text.splitlines()[1])
    vec = np.frombuffer(base64.b64decode(line["vectors"][0]), dtype="<f4")
    assert vec.shape == (384,) and np.isclose(vec @ vec, 1, atol=1e-5)
    counting = Counting(embedder)
    target = open_store(local_settings(tmp_path / "copy"), embedder=counting)
    result = target.import_jsonl(text.splitlines(), reembed=False)
    assert (result.added, result.vectors_reused, result.embedded) == (20, 20, 0)
    assert counting.texts == 0  # nothing was embedded again
    assert gc.isenabled()  # paused over the bulk read and write only
    assert exported(target) == text  # byte-identical
    query = "early stopping on weak labels"
    assert [h.finding.id for h in target.search(query)] == [
        h.finding.id for h in source.search(query)
    ]


def test_other_embedder_re_embeds_or_refuses(source: FindingsStore, tmp_path: Path) -> None:
    from test_store import _Fake

    text = exported(source)
    other = _Fake(384, "another-model")
    with pytest.raises(EmbeddingMismatchError, match="--no-reembed"):
        open_store(local_settings(tmp_path / "o1"), embedder=other).import_jsonl(
            text.splitlines(), reembed=False
        )
    target = open_store(local_settings(tmp_path / "o2"), embedder=Counting(other))
    result = target.import_jsonl(text.splitlines())
    assert (result.added, result.vectors_reused, result.embedded) == (20, 0, 20)
    assert target.count() == 20


def test_plain_findings_lines_still_import(tmp_path: Path, embedder) -> None:
    lines = [f.model_dump_json() for f in labelled_findings()[:5]]
    store = open_store(local_settings(tmp_path / "s"), embedder=embedder)
    assert store.import_jsonl(lines).embedded == 5
    with pytest.raises(EmbeddingMismatchError, match="no vectors"):
        open_store(local_settings(tmp_path / "t"), embedder=embedder).import_jsonl(
            lines, reembed=False
        )


def _tamper(text: str, n: int, vector: bytes | str) -> list[str]:
    lines = text.splitlines()
    line = json.loads(lines[n])
    line["vectors"][0] = vector if isinstance(vector, str) else base64.b64encode(vector).decode()
    lines[n] = json.dumps(line)
    return lines


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.splitlines()[:-1], "truncated or padded: its header says 20"),
        (lambda t: [*t.splitlines()[:-1], '{"finding": {"id": "x"'], "line 21: not JSON"),
        (lambda t: _tamper(t, 3, np.full(384, np.nan, "<f4").tobytes()), "line 4: .*NaN"),
        (lambda t: _tamper(t, 3, np.ones(384, "<f4").tobytes()), "line 4: .*unit-length"),
        (lambda t: _tamper(t, 3, np.ones(10, "<f4").tobytes()), "line 4: .*has 10 values"),
        (lambda t: _tamper(t, 3, "@@not base64@@"), "line 4: .*base64"),
        (lambda t: ["{" + t.splitlines()[0][1:].replace('"count":20', '"count":"x"')], "header"),
        (
            lambda t: re.sub(r'"dim":\d+', '"dim":-1', t, count=1).splitlines(),
            r"dim: Input should be gre",
        ),
        (
            lambda t: re.sub(r'"dim":\d+', '"dim":0', t, count=1).splitlines(),
            r"dim: Input should be gre",
        ),
    ],
)
def test_bad_export_files_write_nothing(
    source: FindingsStore, tmp_path, embedder, change, message
) -> None:  # type: ignore[no-untyped-def]
    lines = change(exported(source))
    target = open_store(local_settings(tmp_path / "t"), embedder=embedder)
    with pytest.raises(InvalidFindingError, match=message):
        target.import_jsonl(lines)
    assert target.count() == 0
    assert gc.isenabled()  # the import pauses the collector and gives it back on error


def test_every_bad_line_is_named_in_file_order(source: FindingsStore, tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    lines = _tamper(exported(source), 9, np.ones(384, "<f4").tobytes())  # values: checked last
    lines = _tamper("\n".join(lines), 2, np.full(384, np.inf, "<f4").tobytes())
    lines[5] = '{"finding": 3, "vectors": []}'  # a per-line problem between the two
    target = open_store(local_settings(tmp_path / "t"), embedder=embedder)
    with pytest.raises(InvalidFindingError) as info:
        target.import_jsonl(lines)
    assert info.value.problems == [
        "line 3: a vector holds NaN or infinity",
        "line 6: expected a JSON object, got int",
        "line 10: a vector is not unit-length (not written by aar)",
    ]
    assert target.count() == 0


def test_links_must_resolve(local_store: FindingsStore) -> None:
    dangling = Finding.model_validate(minimal(duplicate_of="f-nowhere"))
    with pytest.raises(InvalidFindingError, match="duplicate_of 'f-nowhere' is not a stored"):
        local_store.add(dangling)
    with pytest.raises(InvalidFindingError, match="f-nowhere"):
        local_store.import_jsonl([dangling.model_dump_json()])
    assert local_store.count() == 0
    original = Finding.model_validate(minimal(id="f-orig"))
    linked = Finding.model_validate(minimal(id="f-copy", duplicate_of="f-orig"))
    assert (
        local_store.import_jsonl([linked.model_dump_json(), original.model_dump_json()]).added == 2
    )
    assert local_store.get("f-copy").duplicate_of == "f-orig"


def test_a_failure_part_way_takes_back_what_was_written(
    source: FindingsStore, tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chromadb failing on the second page (a full disk, Ctrl-C) leaves nothing imported."""
    from aar.memory import _collection

    text = exported(source)
    monkeypatch.setattr(_collection, "PAGE", 8)  # 20 findings: pages of 8, 8, 4
    real_add, calls = _collection.Writer.add, []

    def failing_add(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        calls.append(len(kwargs["ids"]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_add(self, **kwargs)

    monkeypatch.setattr(_collection.Writer, "add", failing_add)
    target = open_store(local_settings(tmp_path / "t"), embedder=embedder)
    with pytest.raises(KeyboardInterrupt):
        target.import_jsonl(text.splitlines())
    assert calls == [8, 8]
    monkeypatch.setattr(_collection.Writer, "add", real_add)
    reopened = open_store(local_settings(tmp_path / "t"), embedder=embedder)
    assert reopened.count() == 0 and reopened.search("early stopping") == []
    assert reopened.import_jsonl(text.splitlines()).added == 20  # and a retry imports it all
    assert exported(reopened) == text
