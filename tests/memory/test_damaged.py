"""A store that already holds a damaged record (the old NaN bug) opens, reads, exports, repairs.

The damaged record is written the way aar before the fix wrote a NaN metric: chromadb metadata
with the finding's JSON, where NaN became null, so the JSON no longer validates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from memory_support import local_settings, minimal, run
from typer.testing import CliRunner

from aar.memory import (
    DamagedRecordError,
    Finding,
    FindingFilter,
    FindingsStore,
    InvalidFindingError,
    open_store,
    parse_findings,
)

BAD_ID = "f-nan"


def make(**overrides: object) -> Finding:
    return Finding.model_validate(minimal(**overrides))


def write_nan_record(path: Path, vector: list[float]) -> None:
    """What the old `aar memory add` stored for `"pgr_acc_mean": NaN` (directly via chromadb)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    record = make(id=BAD_ID, summary="a run whose gap was zero").model_dump(mode="json")
    record["metrics"]["pgr_acc_mean"] = None  # how pydantic wrote NaN into JSON
    client = chromadb.PersistentClient(
        str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.get_collection("aar_findings").add(
        ids=[BAD_ID],
        embeddings=[vector],
        metadatas=[{"finding_json": json.dumps(record), "pgr_acc_mean": float("nan")}],
    )


@pytest.fixture
def damaged(tmp_path: Path, embedder) -> Path:
    path = tmp_path / "store"
    store = open_store(local_settings(path), embedder=embedder)
    store.add_many(
        [
            make(id="f-good", summary="logconf raised PGR on sentiment to 0.46"),
            make(id="f-other", summary="bootstrapping hurt on news", method="bootstrap"),
        ]
    )
    write_nan_record(path, embedder.embed(["a run whose gap was zero"])[0].tolist())
    return path


def test_non_finite_numbers_are_refused_at_the_boundary() -> None:
    for bad in ("NaN", "Infinity", "-Infinity"):
        raw = json.loads(
            json.dumps(minimal()).replace('"pgr_acc_mean": 0.4', f'"pgr_acc_mean": {bad}')
        )
        with pytest.raises(InvalidFindingError, match=r"metrics\.pgr_acc_mean: .*finite"):
            parse_findings([raw])
    ci = minimal(metrics={"pgr_acc_mean": 0.1, "pgr_acc_se": 0.1, "pgr_acc_ci": [0, float("inf")]})
    with pytest.raises(InvalidFindingError, match=r"metrics\.pgr_acc_ci\[1\]: .*finite"):
        parse_findings([ci])
    final = minimal(final_metrics={"pgr_acc_mean": float("nan"), "pgr_acc_se": 0.1})
    with pytest.raises(InvalidFindingError, match=r"final_metrics\.pgr_acc_mean"):
        parse_findings([final])


def test_reads_skip_and_name_the_damaged_record(damaged: Path, embedder) -> None:
    store = open_store(local_settings(damaged), embedder=embedder)
    assert {f.id for f in store.list_findings()} == {"f-good", "f-other"}
    assert set(store.bad_records) == {BAD_ID}
    assert "metrics.pgr_acc_mean" in store.bad_records[BAD_ID].problem
    stats = store.stats()
    assert (stats.findings, stats.bad_records) == (2, 1)
    hits = store.search("a run whose gap was zero", k=10)
    assert {h.finding.id for h in hits} == {"f-good", "f-other"}
    with pytest.raises(DamagedRecordError, match=f"{BAD_ID} is damaged.*repair --drop-bad"):
        store.get(BAD_ID)
    assert store.get("f-good").id == "f-good"
    assert store.list_findings(FindingFilter(task="sentiment"), limit=1)


def test_export_skips_it_and_the_rest_round_trips(damaged: Path, tmp_path: Path, embedder) -> None:
    import io

    out = io.StringIO()
    store = open_store(local_settings(damaged), embedder=embedder)
    assert store.export_jsonl(out) == 2
    copy = open_store(local_settings(tmp_path / "copy"), embedder=embedder)
    assert copy.import_jsonl(out.getvalue().splitlines()).added == 2
    assert not copy.bad_records


def test_repair_names_then_drops_and_saves(damaged: Path, tmp_path: Path, embedder) -> None:
    store = open_store(local_settings(damaged), embedder=embedder)
    report = store.repair()
    assert [b.id for b in report.bad] == [BAD_ID] and not report.dropped
    assert store.count() == 3  # naming only; nothing removed
    saved = tmp_path / "damaged.jsonl"
    done = store.repair(drop_bad=True, save_to=saved)
    assert done.dropped == [BAD_ID] and done.saved_to == str(saved)
    (line,) = saved.read_text().splitlines()
    kept = json.loads(line)
    assert kept["id"] == BAD_ID and '"pgr_acc_mean": null' in kept["metadata"]["finding_json"]
    fresh = open_store(local_settings(damaged), embedder=embedder)
    assert fresh.count() == 2 and not fresh.repair().bad and not fresh.bad_records


def test_delete_removes_a_damaged_record(damaged: Path, embedder) -> None:
    store = open_store(local_settings(damaged), embedder=embedder)
    assert store.delete(BAD_ID) == []
    assert store.count() == 2 and not store.bad_records
    assert not open_store(local_settings(damaged), embedder=embedder).stats().bad_records


def test_delete_relinks_near_duplicates(local_store: FindingsStore) -> None:
    base = "Early stopping on weak labels improved PGR by 0.0{} on sentiment."
    results = local_store.add_many([make(summary=base.format(i)) for i in range(3)])
    original, first, second = (r.id for r in results)
    assert results[1].duplicate_of == results[2].duplicate_of == original
    assert local_store.delete(original) == [first, second]
    assert local_store.get(first).duplicate_of is None
    assert local_store.get(second).duplicate_of == first
    assert [h.finding.id for h in local_store.search(base.format(1), k=5)] == [first]


def test_cli_on_a_damaged_store(damaged: Path, cli: CliRunner, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AAR_MEMORY_PATH", str(damaged))
    from aar.config import get_settings

    get_settings.cache_clear()
    for args in (
        ("stats",),
        ("list",),
        ("query", "a run whose gap was zero"),
        ("show", "f-good"),
        ("export", str(tmp_path / "out.jsonl")),
    ):
        result = run(cli, *args)
        assert result.exit_code == 0, (args, result.output)
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and BAD_ID in warnings[0], (args, result.stderr)
        assert "Traceback" not in result.output
    shown = run(cli, "show", BAD_ID)
    assert shown.exit_code == 1 and "is damaged" in shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1
    listed = run(cli, "repair")
    assert listed.exit_code == 0 and f"damaged {BAD_ID}" in listed.stdout
    saved = tmp_path / "saved.jsonl"
    dropped = run(cli, "repair", "--drop-bad", "--save", str(saved))
    assert dropped.exit_code == 0 and "dropped 1 record(s)" in dropped.stdout
    assert saved.is_file()
    clean = run(cli, "stats")
    assert clean.exit_code == 0 and "warning" not in clean.stderr
