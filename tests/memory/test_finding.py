"""The `Finding` schema: minimal hand-written input, defaults, validation."""

from __future__ import annotations

import pytest
from memory_support import labelled_findings, minimal
from pydantic import ValidationError

from aar.memory import SCHEMA_VERSION, Finding


def test_minimal_input_gets_defaults() -> None:
    finding = Finding.model_validate(minimal())
    assert finding.id.startswith("f-") and len(finding.id) == 14
    assert finding.tasks == ["sentiment"]
    assert finding.review.status == "pending"
    assert finding.schema_version == SCHEMA_VERSION
    assert finding.created_at.tzinfo is not None
    assert finding.eval_record_ids == []
    assert finding.duplicate_of is None


def test_ids_are_unique() -> None:
    assert len({Finding.model_validate(minimal()).id for _ in range(200)}) == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"metrics": {"pgr_acc_mean": 0.1}}, "pgr_acc_se"),
        ({"metrics": {"pgr_acc_mean": 0.1, "pgr_acc_se": -1}}, "pgr_acc_se"),
        ({"metrics": {"pgr_acc_mean": 0.1, "pgr_acc_se": 0.1, "pgr_acc_ci": [1, 0]}}, "pgr_acc_ci"),
        ({"summary": ""}, "summary"),
        ({"task": []}, "tasks"),
        ({"task": "a,b"}, "tasks"),
        ({"colour": "red"}, "colour"),
        ({"id": "has space"}, "id"),
        ({"review": {"status": "done"}}, "status"),
        ({"tasks": ["x"]}, "task"),
    ],
)
def test_invalid_input_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Finding.model_validate(minimal(**change))
    assert field in str(info.value)


def test_json_round_trip_is_exact() -> None:
    for finding in labelled_findings():
        assert Finding.model_validate_json(finding.model_dump_json()) == finding


def test_method_key_normalises_whitespace_and_case() -> None:
    a = Finding.model_validate(minimal(method="LogConf  warm-up\n20%"))
    b = Finding.model_validate(minimal(method="logconf warm-up 20%"))
    assert a.method_key == b.method_key
