"""A finding whose cited test scores the scorer all withheld (`metrics: null`): it is recorded,
stored, listed, shown, searched and exported as "withheld", never as a number; and a finding
written before feedback could be withheld still reads unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from memory_support import minimal, run, write
from pydantic import ValidationError
from typer.testing import CliRunner

from aar.config import get_settings
from aar.memory import Finding, FindingFilter, FindingsStore

OLD_FINDING = (
    '{"schema_version": 1, "id": "f-old000000001", "session_id": "s-old", "round": 1, '
    '"summary": "logconf vs naive on digits-ge5", "hypothesis": "logconf overrules weak errors", '
    '"method": "logconf", "tasks": ["digits-ge5"], "metrics": {"pgr_acc_mean": 0.31, '
    '"pgr_acc_se": 0.02, "pgr_acc_ci": [0.29, 0.33], "pgr_auroc_mean": null, '
    '"pgr_auroc_se": null, "pgr_auroc_ci": null, "accuracy_mean": 0.9, "accuracy_se": 0.01, '
    '"seeds": [42, 43]}, "final_metrics": null, "eval_record_ids": ["ev-1", "ev-2"], '
    '"verdict": "supported", "claimed_verdict": null, "verdict_basis": null, '
    '"review": {"status": "approved", "reviewer": "bo", "comment": null, "reviewed_at": null}, '
    '"git_commit": null, "created_at": "2026-11-01T12:00:00Z", "tags": [], "duplicate_of": null}'
)
"""A finding exactly as the code before withheld feedback wrote it (metrics required)."""


def withheld(**overrides: object) -> dict:
    return minimal(
        summary="bootstrap vs naive on sentiment: the scorer showed no score on any seed",
        method="bootstrap",
        metrics=None,
        **overrides,
    )


def test_an_old_finding_still_reads_and_round_trips() -> None:
    old = Finding.model_validate_json(OLD_FINDING)
    assert old.metrics is not None and old.metrics.pgr_acc_mean == 0.31
    assert old.metrics.seeds == [42, 43]
    assert json.loads(old.model_dump_json()) == json.loads(OLD_FINDING)


def test_withheld_is_null_never_a_forgotten_key() -> None:
    finding = Finding.model_validate(withheld())
    assert finding.metrics is None
    assert Finding.model_validate_json(finding.model_dump_json()) == finding
    record = minimal()
    del record["metrics"]
    with pytest.raises(ValidationError, match="metrics"):
        Finding.model_validate(record)  # a missing key is an error, not "withheld"


def test_a_withheld_finding_is_stored_listed_and_searched(local_store: FindingsStore) -> None:
    local_store.add(Finding.model_validate(withheld(id="f-withheld")))
    local_store.add(Finding.model_validate(minimal(id="f-shown")))
    assert local_store.get("f-withheld").metrics is None
    assert {f.id for f in local_store.list_findings(FindingFilter(task="sentiment"))} == {
        "f-withheld",
        "f-shown",
    }
    hits = local_store.search("bootstrap on sentiment", k=5)
    assert "f-withheld" in {h.finding.id for h in hits}
    assert next(h for h in hits if h.finding.id == "f-withheld").finding.metrics is None


def test_cli_shows_withheld_and_round_trips_it(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = run(cli, "add", write(tmp_path / "w.json", withheld(id="f-withheld")))
    assert added.exit_code == 0, added.output
    listed = run(cli, "list")
    assert listed.exit_code == 0 and "withheld" in listed.stdout
    shown = run(cli, "show", "f-withheld")
    assert shown.exit_code == 0, shown.output
    pgr_line = next(line for line in shown.stdout.splitlines() if "PGR accuracy" in line)
    assert "withheld" in pgr_line and not any(c.isdigit() for c in pgr_line)
    queried = run(cli, "query", "bootstrap sentiment")
    assert "withheld" in queried.stdout
    as_json = json.loads(run(cli, "query", "bootstrap sentiment", "--json").stdout)
    assert as_json[0]["metrics"] is None

    out = tmp_path / "all.jsonl"
    assert run(cli, "export", str(out)).exit_code == 0
    monkeypatch.setenv("AAR_MEMORY_PATH", str(tmp_path / "second"))
    get_settings.cache_clear()
    assert "imported 1" in run(cli, "import", str(out)).stdout
    again = json.loads(run(cli, "show", "f-withheld", "--json").stdout)
    assert again["metrics"] is None
