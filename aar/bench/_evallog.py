"""Evaluation records and the evaluator's log (an `aar.jsonl` log, kind "eval-records").

The log is the budget's ledger: every record in it counts, so a resumed session keeps its
count. A sidecar `<log>.hard.jsonl` (kind "eval-hard-predictions") keeps each submission's
hardened predictions, so near-duplicate submissions are flagged across processes.

Logs written before logs had headers (lines of `EvalRecord`s only, and a sidecar of
hardened predictions) are read as they are; the next append puts the header in front of the
same lines. Any other existing file is refused and left untouched.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aar.jsonl import JsonlLog

Split = Literal["test", "holdout"]
EVAL_LOG_KIND = "eval-records"
HARD_LOG_KIND = "eval-hard-predictions"


class EvalRecord(BaseModel):
    """One scored submission: what was scored, by which code, and the (maybe rounded) result."""

    # An undefined PGR (zero gap) is NaN: written as the string "NaN" so it reads back as NaN
    # (pydantic's default writes null, which a float field then refuses).
    model_config = ConfigDict(ser_json_inf_nan="strings")

    id: str = Field(description="Unique id; findings cite it.")
    task: str
    seed: int
    split: Split
    method: str = Field(description="The experiment's name for what it submitted.")
    metrics: dict[str, float] = Field(
        description="acc, auroc, pgr_acc, pgr_auroc, weak_*, ceiling_*, n."
    )
    code_sha256: str = Field(description="Hash of the code that produced the predictions.")
    git_commit: str | None = None
    timestamp: datetime
    rounded: bool = Field(description="True for test feedback (rounded to feedback_rounding).")
    rounding: float | None = None
    flags: list[str] = Field(default_factory=list, description="e.g. near_duplicate, small_gap.")
    predictions_sha256: str
    budget_used: int
    budget_total: int
    answer: Literal["improved", "not_better", "repeat", "exhausted"] | None = Field(
        default=None,
        description="The scorer's answer to test feedback (None: plain rounding, or holdout). "
        "Only 'improved' (and a 'repeat' of identical predictions) shows acc and PGR; the "
        "others leave them NaN and say why.",
    )
    threshold_acc: float | None = Field(
        default=None,
        description="'not_better': the test accuracy is below this (the best shown so far on "
        "this split plus the ladder step); 'improved': the step it beat.",
    )
    repeat_of: str | None = Field(
        default=None, description="'repeat': the earlier record this submission repeats."
    )

    @field_validator("metrics", mode="before")
    @classmethod
    def _null_is_nan(cls, metrics: object) -> object:
        """Logs written before NaN was kept hold null for an undefined metric."""
        if isinstance(metrics, dict):
            return {k: math.nan if v is None else v for k, v in metrics.items()}
        return metrics


class HardPredictions(BaseModel):
    """A record's hardened predictions (argmax per row, base64 of uint8), for duplicate checks."""

    id: str
    task: str
    seed: int
    split: Split
    hard: str

    @field_validator("hard")
    @classmethod
    def _is_base64(cls, hard: str) -> str:
        try:
            base64.b64decode(hard, validate=True)
        except binascii.Error:
            raise ValueError("not base64") from None
        return hard

    def array(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.hard), dtype=np.uint8)


class EvalLog:
    """An evaluator's log and its sidecar, checked and read when opened; nothing is written
    until `append`. Open it early to refuse a bad `--log` before any scoring work."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self._records = JsonlLog(self.path, EVAL_LOG_KIND, EvalRecord, legacy=True, fsync=fsync)
        self._hard = JsonlLog(
            self.path.with_name(self.path.name + ".hard.jsonl"),
            HARD_LOG_KIND,
            HardPredictions,
            legacy=True,
            fsync=fsync,
        )
        self.records = self._records.read()
        self.hardened = self._hard.read()

    @property
    def sidecar(self) -> Path:
        return self._hard.path

    def history(self, task: str, seed: int) -> list[tuple[str, str, np.ndarray]]:
        """(record id, split, hardened predictions) of earlier submissions for task and seed."""
        return [
            (h.id, h.split, h.array()) for h in self.hardened if h.task == task and h.seed == seed
        ]

    def append(self, record: EvalRecord, hard: np.ndarray) -> None:
        """The sidecar first: a crash between the two leaves a record-less sidecar line, which
        costs nothing, never a record whose duplicate check would be missing."""
        side = HardPredictions(
            id=record.id,
            task=record.task,
            seed=record.seed,
            split=record.split,
            hard=base64.b64encode(hard.astype(np.uint8).tobytes()).decode(),
        )
        self._hard.append(side)
        self._records.append(record)
        self.hardened.append(side)
        self.records.append(record)
