"""Evaluator-shaped records for tests that build a session state without a kernel (verdicts,
reports): one task, five seeds, naive's PGR per seed, and a method's gains over it."""

from __future__ import annotations

from datetime import UTC, datetime

from aar.bench import EvalRecord
from aar.session._models import EvalEntry

TASK = "digits-ge5"
SEEDS = [42, 43, 44, 45, 46]
NAIVE_PGR = [0.20, 0.35, 0.10, 0.30, 0.25]


def record(method: str, seed: int, pgr: float, split: str) -> EvalRecord:
    return EvalRecord(
        id=f"{method}-{split}-{seed}",
        task=TASK,
        seed=seed,
        split=split,  # type: ignore[arg-type]
        method=method,
        metrics={"acc": 0.8, "auroc": 0.9, "pgr_acc": pgr, "pgr_auroc": pgr, "n": 269.0},
        code_sha256="c" * 64,
        timestamp=datetime.now(UTC),
        rounded=split == "test",
        rounding=0.01 if split == "test" else None,
        predictions_sha256="p",
        budget_used=1,
        budget_total=200,
    )


def entries(method: str, experiment: str, gains: list[float], split: str) -> list[EvalEntry]:
    """`method`'s records on every seed: naive's PGR plus `gains`."""
    return [
        EvalEntry(record=record(method, s, b + g, split), experiment=experiment, round=1)
        for s, b, g in zip(SEEDS, NAIVE_PGR, gains, strict=True)
    ]
