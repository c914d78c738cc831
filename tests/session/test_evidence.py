"""The fabrication guard: numbers in prose must be ones the cited records support."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aar.bench import EvalRecord
from aar.errors import AarError
from aar.session import UnbackedNumberError
from aar.session._evidence import check_numbers, evidence, feedback_metrics, pgr_metrics


def _record(method: str, seed: int, pgr: float, acc: float = 0.8, task: str = "digits-ge5"):
    return EvalRecord(
        id=f"{method}-{seed}",
        task=task,
        seed=seed,
        split="test",
        method=method,
        metrics={
            "acc": acc,
            "auroc": 0.9,
            "pgr_acc": pgr,
            "pgr_auroc": pgr,
            "weak_acc": 0.75,
            "ceiling_acc": 0.95,
            "n": 269.0,
        },
        code_sha256="x",
        timestamp=datetime.now(UTC),
        rounded=True,
        rounding=0.01,
        predictions_sha256="y",
        budget_used=1,
        budget_total=10,
    )


RECORDS = [
    _record("logconf", 42, 0.40),
    _record("logconf", 43, 0.50),
    _record("naive", 42, 0.20),
    _record("naive", 43, 0.30),
]


def test_backed_numbers_pass_at_their_precision() -> None:
    backing = evidence(RECORDS, extra=[0.5])
    text = (
        "logconf (aux 0.5) vs naive on digits-ge5 over 2 seeds: PGR 0.450 vs 0.25; paired "
        "difference +0.200, 95 % CI [0.200, 0.200]; accuracy 80%; seed 42 gave 0.4."
    )
    check_numbers(text, backing, where="summary", names=["digits-ge5", "logconf"])


@pytest.mark.parametrize("claim", ["PGR 0.99", "an edge of 0.31", "12%", "7 seeds", "-0.7"])
def test_made_up_numbers_are_refused(claim: str) -> None:
    with pytest.raises(UnbackedNumberError, match="no cited evaluator record supports"):
        check_numbers(f"logconf reached {claim}.", evidence(RECORDS), where="summary")


def test_digits_inside_names_are_not_claims() -> None:
    records = [_record("m", 42, 0.1, task="digits-10"), _record("m", 43, 0.2, task="digits-10")]
    check_numbers("m on digits-10 looks flat", evidence(records), where="s", names=["digits-10"])
    with pytest.raises(UnbackedNumberError):
        check_numbers("m on digits-10 looks flat", evidence(records), where="s")


def test_metrics_come_from_records() -> None:
    m = pgr_metrics([r for r in RECORDS if r.method == "logconf"])
    assert m.pgr_acc_mean == pytest.approx(0.45) and m.seeds == [42, 43]
    assert m.pgr_acc_ci is not None and m.accuracy_mean == pytest.approx(0.8)


def _withheld(record: EvalRecord) -> EvalRecord:
    """`record` as the scorer's ladder answers "not better": acc, AUROC and PGR withheld."""
    nan = float("nan")
    hidden = {"acc": nan, "auroc": nan, "pgr_acc": nan, "pgr_auroc": nan}
    return record.model_copy(update={"metrics": {**record.metrics, **hidden}})


def test_withheld_feedback_gives_no_metrics_never_a_number() -> None:
    logconf = [r for r in RECORDS if r.method == "logconf"]
    assert feedback_metrics([_withheld(r) for r in logconf]) is None
    with pytest.raises(AarError, match="no PGR"):
        pgr_metrics([_withheld(r) for r in logconf])
    shown = feedback_metrics(logconf)
    assert shown is not None and shown.pgr_acc_mean == pytest.approx(0.45)


def test_partly_withheld_feedback_summarises_the_shown_seeds_only() -> None:
    logconf = [r for r in RECORDS if r.method == "logconf"]
    m = feedback_metrics([logconf[0], _withheld(logconf[1])])
    assert m is not None and m.seeds == [42]
    assert m.pgr_acc_mean == pytest.approx(0.40) and m.accuracy_mean == pytest.approx(0.8)
    assert m.pgr_auroc_mean == pytest.approx(0.40)


def test_a_number_must_be_of_the_kind_it_is_called() -> None:
    """The ceiling's accuracy (0.95 in every record) is not a PGR anyone reached."""
    backing = evidence(RECORDS)
    check_numbers("the ceiling's accuracy is 0.95", backing, where="s")
    with pytest.raises(UnbackedNumberError, match=r"0\.95"):
        check_numbers("logconf reached a PGR of 0.95", backing, where="s")
    check_numbers("PGR on accuracy: 0.45", backing, where="s")
