"""Review decisions through `FindingsStore.update_review`, and the holdout `final_metrics`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from memory_support import labelled_findings, minimal

from aar.memory import (
    Finding,
    FindingFilter,
    FindingNotFoundError,
    FindingsStore,
    InvalidFindingError,
    Metrics,
)


def test_update_review_is_seen_by_get_list_search_and_stats(store: FindingsStore) -> None:
    store.add(Finding.model_validate(minimal(id="f-rev")))
    before = datetime.now(UTC)
    updated = store.update_review("f-rev", status="approved", reviewer="ana", comment="checked")
    assert updated.review.status == "approved" and updated.review.reviewer == "ana"
    assert updated.review.comment == "checked"
    assert updated.review.reviewed_at is not None and updated.review.reviewed_at >= before
    assert store.get("f-rev") == updated
    assert [f.id for f in store.list_findings(FindingFilter(status="approved"))] == ["f-rev"]
    assert not store.list_findings(FindingFilter(status="pending"))
    hits = store.search("logconf sentiment", FindingFilter(status="approved"))
    assert [h.finding.id for h in hits] == ["f-rev"]
    assert store.stats().by_status == {"approved": 1}
    again = store.update_review("f-rev", status="rejected")
    assert (again.review.status, again.review.reviewer, again.review.comment) == (
        "rejected",
        None,
        None,
    )
    assert store.search("logconf", FindingFilter(status="rejected"))[0].finding.id == "f-rev"


def test_update_review_errors(store: FindingsStore) -> None:
    with pytest.raises(FindingNotFoundError, match="f-missing"):
        store.update_review("f-missing", status="approved")
    store.add(Finding.model_validate(minimal(id="f-x")))
    with pytest.raises(InvalidFindingError, match="review"):
        store.update_review("f-x", status="done")  # type: ignore[arg-type]
    assert store.get("f-x").review.status == "pending"


def test_final_metrics_are_optional_and_round_trip(store: FindingsStore) -> None:
    old = labelled_findings()[0]  # written before final_metrics existed
    assert old.final_metrics is None
    final = Metrics(pgr_acc_mean=0.41, pgr_acc_se=0.05, seeds=[42, 43])
    finding = Finding.model_validate(minimal(id="f-final")).model_copy(
        update={"final_metrics": final}
    )
    store.add_many([old, finding])
    assert store.get("f-final").final_metrics == final
    assert store.get(old.id) == old
