"""A finding is about one task: `record_finding` refuses records of its method on several
tasks, naming each task's records, so no pooled number (a mean of 0.17 and 0.75 that no task
has) reaches the memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from records_support import SEEDS, TASK, entries

from aar.session import SessionConfig
from aar.session._claims import ClaimError, build_finding
from aar.session._models import Hypothesis, RoundInfo, SessionState

OTHER = "digits-10"


def _state() -> SessionState:
    config = SessionConfig(tasks=[TASK, OTHER], seeds=SEEDS, hypotheses=1)
    state = SessionState(id="s-test", config=config)
    state.rounds.append(RoundInfo(number=1, kind="research", started_at=datetime.now(UTC)))
    state.hypotheses = {
        "h1-1": Hypothesis(id="h1-1", round=1, statement="it helps", method="m", family="m")
    }
    mine = entries("m", "e-02", [0.1] * 5, "test")
    other = [
        e.model_copy(
            update={"record": e.record.model_copy(update={"task": OTHER, "id": f"o-{e.record.id}"})}
        )
        for e in entries("m", "e-02", [0.3] * 5, "test")
    ]
    state.evaluations = [*entries("naive", "e-01", [0.0] * 5, "test"), *mine, *other]
    return state


def _build(state: SessionState, ids: list[str]):
    return build_finding(
        state,
        hypothesis_id="h1-1",
        summary="m vs naive",
        verdict="inconclusive",
        eval_record_ids=ids,
        git_commit="c" * 40,
    )


def test_records_of_two_tasks_are_refused_naming_each_tasks_records() -> None:
    state = _state()
    ids = [e.record.id for e in state.evaluations if e.record.method == "m"]
    with pytest.raises(ClaimError) as caught:
        _build(state, ids)
    message = str(caught.value)
    assert "one task" in message and TASK in message and OTHER in message
    assert "o-m-test-42" in message and "m-test-42" in message and "\n" not in message


def test_one_tasks_records_make_a_finding_about_that_task() -> None:
    state = _state()
    ids = [e.record.id for e in state.evaluations if e.record.task == TASK]
    finding = _build(state, ids)
    assert finding.tasks == [TASK]
    assert finding.metrics is not None
    assert finding.metrics.pgr_acc_mean == pytest.approx(
        sum(
            e.record.metrics["pgr_acc"]
            for e in state.evaluations
            if e.record.method == "m" and e.record.task == TASK
        )
        / 5
    )
