"""A finding's `config` (its method's full `MethodConfig`) survives the memory: chromadb's
metadata and aar's index (local and server stores), export and import, `aar memory show`.
Findings without one keep the JSON they always had, byte for byte, and old records still read.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from memory_support import minimal, run
from typer.testing import CliRunner

from aar.bench._train import method_space
from aar.memory import Finding, FindingFilter, FindingsStore, InvalidFindingError, parse_findings
from aar.memory._records import decode_record


def _config() -> dict:
    """A real point of the method space: label propagation with a swept weight."""
    dump = method_space().FAMILY_CONFIGS["label_propagation"].model_dump()
    dump["geometry"]["weight"] = 0.8
    return dump


def _finding(fid: str = "f-config", **overrides: object) -> Finding:
    return Finding.model_validate(
        minimal(id=fid, method="label_propagation (geometry.weight=0.8)", **overrides)
    )


def test_a_config_round_trips_through_the_store_and_its_search(store: FindingsStore) -> None:
    finding = _finding(config=_config())
    store.add(finding)
    got = store.get(finding.id)
    assert got.config == _config() and got == finding
    (hit,) = store.search("label propagation", FindingFilter(task="sentiment"), k=1)
    assert hit.finding.config == _config()
    ints = got.config["geometry"] if got.config else {}
    assert type(ints["neighbours"]) is int and type(ints["weight"]) is float  # as written


def test_a_finding_without_config_keeps_its_json_and_old_records_read(
    local_store: FindingsStore,
) -> None:
    finding = _finding()
    assert "config" not in json.loads(finding.model_dump_json())  # as before the field
    local_store.add(finding)
    assert local_store.get(finding.id).config is None
    old_json = finding.model_dump_json()  # what an older aar stored: no config key
    decoded = decode_record(finding.id, {"finding_json": old_json})
    assert isinstance(decoded, Finding) and decoded.config is None


def test_export_and_import_keep_the_config(local_store: FindingsStore, tmp_path: Path) -> None:
    from memory_support import local_settings

    from aar.memory import open_store

    local_store.add_many([_finding(config=_config()), _finding("f-plain")])
    out = io.StringIO()
    local_store.export_jsonl(out)
    text = out.getvalue()
    lines = [json.loads(x) for x in text.splitlines()[1:]]
    assert [("config" in x["finding"]) for x in lines] == [True, False]
    second = open_store(local_settings(tmp_path / "second"))
    assert second.import_jsonl(text.splitlines()).added == 2
    assert second.get("f-config").config == _config()
    assert second.get("f-plain").config is None
    again = io.StringIO()
    second.export_jsonl(again)
    assert again.getvalue() == text  # export -> import -> export is byte for byte


@pytest.mark.parametrize(
    "config",
    [
        {"geometry": {"weight": float("nan")}},
        {"geometry": {"weight": [0.8]}},
        {"geometry": 0.8},
        {"labels": {"kind": "x" * 201}},
    ],
)
def test_a_config_that_is_not_a_configuration_is_refused(config: object) -> None:
    with pytest.raises(InvalidFindingError, match="config"):
        parse_findings([minimal(config=config)])


def test_memory_show_prints_the_configuration(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(_finding(config=_config()).model_dump_json())
    assert run(cli, "add", str(path)).exit_code == 0
    shown = run(cli, "show", "f-config")
    assert shown.exit_code == 0, shown.output
    words = " ".join(shown.stdout.replace("│", " ").split())  # the panel wraps long rows
    assert "configuration geometry.neighbours=10, geometry.weight=0.8," in words
    assert "geometry.steps=10" in words
    assert json.loads(run(cli, "show", "f-config", "--json").stdout)["config"] == _config()
    plain = tmp_path / "g.json"
    plain.write_text(_finding("f-plain").model_dump_json())
    run(cli, "add", str(plain))
    assert "configuration" not in run(cli, "show", "f-plain").stdout
