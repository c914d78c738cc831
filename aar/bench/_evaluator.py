"""The evaluator: holds test and holdout ground truth outside any sandbox.

`export_public` writes the only files an experiment may see (no weak_train rows, no labels
of any split); `Evaluator.evaluate` scores a submission of test (or holdout) probabilities.
Exact scores with unlimited queries leak labels (flip one prediction, watch the score), so
test feedback is rounded, evaluations are budgeted, near-duplicate submissions are flagged,
and holdout is never scored during a session.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from aar.bench._errors import (
    BudgetExceededError,
    HoldoutRefusedError,
    InvalidPredictionsError,
    OutputDirError,
)
from aar.bench._protocol import PUBLIC_SPLITS, SeedSetup, setup_seed
from aar.bench._stats import accuracy, auroc, pgr
from aar.bench._task import Task

FORMAT_VERSION = 1
Split = Literal["test", "holdout"]
PREDICTION_FORMAT = {
    "align_with": "<split>_ids.npy (test_ids.npy for split 'test')",
    "binary": "float array [n] of P(class=1), or [n, 2] rows summing to 1",
    "multiclass": "float array [n, n_classes], rows summing to 1",
    "files": {
        ".npy": "the array above, in id order",
        ".csv": "header id,prob (binary) or id,p0,...,p<k-1>; one row per id, any order",
        ".json": '{"ids": [...], "probs": [...]} with probs as in the array form',
    },
    "range": "every probability finite and in [0, 1]",
}


class EvalRecord(BaseModel):
    """One scored submission: what was scored, by which code, and the (maybe rounded) result."""

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


def _round(value: float, step: float) -> float:
    if not math.isfinite(value):
        return value
    return round(round(value / step) * step, 10)


def _hash_array(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _check_export_dir(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise OutputDirError(f"export path {directory} exists and is not a directory")
        if any(directory.iterdir()):
            raise OutputDirError(f"export directory {directory} is not empty; choose a new one")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(
            f"cannot create export directory {directory}: {exc.strerror}"
        ) from None
    if not os.access(directory, os.W_OK):
        raise OutputDirError(f"export directory {directory} is not writable")


def write_public(setup: SeedSetup, directory: str | os.PathLike[str]) -> Path:
    """Write the public task directory for one seed (see `export_public`)."""
    directory = Path(directory)
    _check_export_dir(directory)
    task, data, splits = setup.task, setup.data, setup.splits
    arrays: dict[str, np.ndarray] = {}
    for split in PUBLIC_SPLITS:
        rows = setup.public_rows(split)
        if split == "transfer":
            arrays["transfer_inputs.npy"] = data.x_strong[rows].astype(np.float32)
        else:
            arrays[f"{split}_inputs.npy"] = data.x_strong[rows].astype(np.float32)
        arrays[f"{split}_weak_inputs.npy"] = data.x_weak[rows].astype(np.float32)
        arrays[f"{split}_ids.npy"] = setup.public.ids[split].astype(np.int64)
    for split in ("transfer", "test"):
        weak = setup.to_public(split, setup.weak_probs[split])
        arrays[f"{split}_weak_labels.npy"] = weak.astype(np.float32)
    arrays["transfer_is_val.npy"] = setup.to_public("transfer", splits.transfer_is_val)
    files = sorted(arrays)
    try:
        for name, arr in arrays.items():
            np.save(directory / name, arr, allow_pickle=False)
        if data.texts is not None:
            for split in PUBLIC_SPLITS:
                texts = [data.texts[i] for i in setup.public_rows(split)]
                (directory / f"{split}_texts.json").write_text(json.dumps(texts))
                files.append(f"{split}_texts.json")
        sizes = {s: len(splits.rows(s)) for s in PUBLIC_SPLITS}
        sizes["transfer_val"] = int(splits.transfer_is_val.sum())
        manifest = {
            "format_version": FORMAT_VERSION,
            "task": task.name,
            "seed": setup.seed,
            "n_classes": task.n_classes,
            "description": task.description,
            "weak_description": task.weak_description,
            "strong_description": task.strong_description,
            "student": task.student.model_dump(mode="json"),
            "split_sizes": sizes,
            "files": sorted([*files, "manifest.json"]),
            "prediction_format": PREDICTION_FORMAT,
        }
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    except OSError as exc:
        raise OutputDirError(f"cannot write to export directory {directory}: {exc}") from None
    return directory


def export_public(task: Task | str, seed: int, directory: str | os.PathLike[str]) -> Path:
    """Write what an experiment may see for `task` and `seed` into a new or empty directory.

    Files: manifest.json; transfer/test/holdout `_inputs.npy` (strong features, float32),
    `_weak_inputs.npy`, `_ids.npy` and, for text tasks, `_texts.json`;
    transfer_weak_labels.npy (weak soft labels), transfer_is_val.npy, test_weak_labels.npy.
    Never weak_train rows and never any ground truth.
    """
    from aar.bench._runner import load_data, resolve_task

    task = resolve_task(task)
    return write_public(setup_seed(task, load_data(task), seed), directory)


# ---------------------------------------------------------------- predictions


def _bad(msg: str) -> InvalidPredictionsError:
    return InvalidPredictionsError(f"invalid predictions: {msg}")


def _parse_ids(raw: list[Any], where: str) -> np.ndarray:
    try:
        ids = np.array([int(str(v).strip()) for v in raw], dtype=np.int64)
    except (TypeError, ValueError):
        raise _bad(f"{where}: ids must be integers (from <split>_ids.npy)") from None
    return ids


def _read_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities as read, ids or None) from a .npy, .csv or .json file."""
    if not path.is_file():
        raise _bad(f"file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if suffix == ".csv":
            with path.open(newline="") as fh:
                rows = list(csv.reader(fh))
            if not rows or not rows[0] or rows[0][0].strip() != "id":
                raise _bad(f"{path.name}: the CSV header must be 'id,prob' or 'id,p0,...'")
            body = [r for r in rows[1:] if r]
            if any(len(r) != len(rows[0]) for r in body):
                raise _bad(f"{path.name}: every CSV row needs {len(rows[0])} columns")
            ids = _parse_ids([r[0] for r in body], path.name)
            try:
                probs = np.array([[float(v) for v in r[1:]] for r in body], dtype=np.float64)
            except ValueError:
                raise _bad(f"{path.name}: probabilities must be numbers") from None
            if len(rows[0]) == 2:
                probs = probs.reshape(-1)
            return probs, ids
        if suffix == ".json":
            obj = json.loads(path.read_text())
            if not isinstance(obj, dict) or "ids" not in obj or "probs" not in obj:
                raise _bad(f'{path.name}: expected {{"ids": [...], "probs": [...]}}')
            ids = _parse_ids(list(obj["ids"]), path.name)
            try:
                probs = np.array(obj["probs"], dtype=np.float64)
            except (TypeError, ValueError):
                raise _bad(
                    f"{path.name}: probs must be numbers (a list or list of lists)"
                ) from None
            return probs, ids
    except InvalidPredictionsError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"cannot read {path}: {exc}") from None
    raise _bad(f"{path.name}: use a .npy, .csv or .json file")


def load_predictions(
    predictions: np.ndarray | str | os.PathLike[str], ids: np.ndarray, n_classes: int
) -> np.ndarray:
    """Validate a submission and return probabilities [n, n_classes] aligned with `ids`.

    Raises `InvalidPredictionsError` (one line) for anything it cannot score.
    """
    file_ids = None
    if isinstance(predictions, str | os.PathLike):
        probs, file_ids = _read_file(Path(predictions))
    else:
        probs = predictions
    if not isinstance(probs, np.ndarray):
        try:
            probs = np.asarray(probs)
        except (TypeError, ValueError):
            raise _bad("predictions must be an array of probabilities") from None
    if probs.dtype == bool or not (
        np.issubdtype(probs.dtype, np.floating) or np.issubdtype(probs.dtype, np.integer)
    ):
        raise _bad(f"dtype {probs.dtype} is not a real number type; use float probabilities")
    probs = probs.astype(np.float64)
    n = len(ids)
    if file_ids is not None:
        if len(file_ids) != n or len(np.unique(file_ids)) != len(file_ids):
            raise _bad(
                f"expected {n} distinct ids, got {len(file_ids)} "
                f"({len(np.unique(file_ids))} distinct)"
            )
        position = {int(v): i for i, v in enumerate(file_ids)}
        missing = [int(v) for v in ids if int(v) not in position]
        if missing:
            raise _bad(
                f"{len(missing)} ids of the split are missing (e.g. {missing[0]}); "
                "ids must match <split>_ids.npy"
            )
        probs = probs[[position[int(v)] for v in ids]]
    if probs.ndim == 2 and n_classes == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1 and n_classes == 2:
        shape_ok = len(probs) == n
    else:
        shape_ok = probs.ndim == 2 and probs.shape == (n, n_classes)
    if not shape_ok:
        want = f"[{n}] or [{n}, 2]" if n_classes == 2 else f"[{n}, {n_classes}]"
        raise _bad(f"shape {list(probs.shape)} does not match the split; expected {want}")
    if not np.isfinite(probs).all():
        raise _bad("NaN or infinite values")
    if probs.min() < 0 or probs.max() > 1:
        raise _bad(f"values outside [0, 1] (min {probs.min():.4g}, max {probs.max():.4g})")
    if probs.ndim == 2:
        sums = probs.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-3):
            worst = float(sums[np.argmax(np.abs(sums - 1))])
            raise _bad(f"rows must sum to 1 (one sums to {worst:.4g})")
        return probs
    return np.stack([1 - probs, probs], axis=1)


# ---------------------------------------------------------------- evaluator


class Evaluator:
    """Scores submissions for one task and seed; the ground truth never leaves it.

    Args:
        task: a `Task` or a registered task name.
        seed: the protocol seed (fixes splits, weak supervisor and ceiling).
        session: inside a research session holdout is refused.
        budget: scored evaluations allowed (default `settings.bench.eval_budget`); records
            already in `log_path` count against it, so a resumed session keeps its count.
        log_path: JSONL file every `EvalRecord` is appended to (a sidecar
            `<log>.hard.jsonl` keeps hardened predictions for near-duplicate checks).
        rounding / near_duplicate_max_diff / min_gap: default from `settings.bench`.
        device: where the ceiling student trains.
    """

    def __init__(
        self,
        task: Task | str,
        seed: int,
        *,
        session: bool = False,
        budget: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        rounding: float | None = None,
        near_duplicate_max_diff: int | None = None,
        min_gap: float | None = None,
        device: str = "auto",
    ) -> None:
        from aar.bench._runner import load_data, resolve_task
        from aar.config import get_settings

        settings = get_settings().bench
        self.task = resolve_task(task)
        self.seed = seed
        self.session = session
        self.budget = settings.eval_budget if budget is None else budget
        self.rounding = settings.feedback_rounding if rounding is None else rounding
        self.max_diff = (
            settings.near_duplicate_max_diff
            if near_duplicate_max_diff is None
            else near_duplicate_max_diff
        )
        self.min_gap = settings.min_gap if min_gap is None else min_gap
        self.device = device
        self.log_path = None if log_path is None else Path(log_path)
        self._setup = setup_seed(self.task, load_data(self.task), seed)
        self._ceiling: dict[str, np.ndarray] | None = None
        self._history: list[tuple[str, str, np.ndarray]] = []  # (record id, split, hardened)
        self.used = 0
        if self.log_path is not None:
            self._load_log()

    @property
    def remaining(self) -> int:
        """Scored evaluations left in the budget."""
        return max(self.budget - self.used, 0)

    def ids(self, split: Split = "test") -> np.ndarray:
        """The opaque ids predictions must align with."""
        return self._setup.public.ids[split]

    def export_public(self, directory: str | os.PathLike[str]) -> Path:
        """Write the public task directory (see the module function `export_public`)."""
        return write_public(self._setup, directory)

    def evaluate(
        self,
        predictions: np.ndarray | str | os.PathLike[str],
        *,
        method: str,
        code_sha256: str,
        split: Split = "test",
        git_commit: str | None = None,
    ) -> EvalRecord:
        """Score a submission; invalid ones raise `InvalidPredictionsError` and cost nothing."""
        if split not in ("test", "holdout"):
            raise InvalidPredictionsError(f"split must be 'test' or 'holdout', got {split!r}")
        if split == "holdout" and self.session:
            raise HoldoutRefusedError(
                "holdout is never scored during a research session; submit to 'test'"
            )
        probs = load_predictions(predictions, self.ids(split), self.task.n_classes)
        if self.used >= self.budget:
            raise BudgetExceededError(
                f"evaluation budget of {self.budget} used up (settings bench.eval_budget)"
            )
        setup = self._setup  # every array below in the exported order of `split`
        y = setup.to_public(split, setup.labels(split))
        weak = setup.to_public(split, setup.weak_probs[split])
        ceiling = setup.to_public(split, self._ceiling_probs()[split])
        metrics = {"acc": accuracy(y, probs), "auroc": auroc(y, probs)}
        for name, p in (("weak", weak), ("ceiling", ceiling)):
            metrics[f"{name}_acc"] = accuracy(y, p)
            metrics[f"{name}_auroc"] = auroc(y, p)
        metrics["pgr_acc"] = pgr(metrics["acc"], metrics["weak_acc"], metrics["ceiling_acc"])
        metrics["pgr_auroc"] = pgr(
            metrics["auroc"], metrics["weak_auroc"], metrics["ceiling_auroc"]
        )
        rounded = split == "test"
        if rounded:
            metrics = {k: _round(v, self.rounding) for k, v in metrics.items()}
        metrics["n"] = float(len(y))

        hard = probs.argmax(axis=1).astype(np.uint8)
        flags = self._flags(split, hard, metrics)
        self.used += 1
        record = EvalRecord(
            id=uuid.uuid4().hex,
            task=self.task.name,
            seed=self.seed,
            split=split,
            method=method,
            metrics=metrics,
            code_sha256=code_sha256,
            git_commit=git_commit,
            timestamp=datetime.now(UTC),
            rounded=rounded,
            rounding=self.rounding if rounded else None,
            flags=flags,
            predictions_sha256=_hash_array(probs),
            budget_used=self.used,
            budget_total=self.budget,
        )
        self._history.append((record.id, split, hard))
        if self.log_path is not None:
            self._append(record, hard)
        return record

    def _flags(self, split: str, hard: np.ndarray, metrics: dict[str, float]) -> list[str]:
        flags = []
        closest: tuple[int, str] | None = None
        for rid, s, prev in self._history:
            if s == split and len(prev) == len(hard):
                diff = int((prev != hard).sum())
                if closest is None or diff < closest[0]:
                    closest = (diff, rid)
        if closest is not None and closest[0] <= self.max_diff:
            diff, rid = closest
            kind = "duplicate" if diff == 0 else "near_duplicate"
            flags.append(f"{kind}: {diff} hardened predictions differ from record {rid}")
        gap = metrics["ceiling_acc"] - metrics["weak_acc"]
        if not gap >= self.min_gap:
            flags.append(f"small_gap: ceiling - weak accuracy {gap:.3f} < {self.min_gap}")
        return flags

    def _ceiling_probs(self) -> dict[str, np.ndarray]:
        """The strong model trained on transfer ground truth (the same as `run_task`'s)."""
        if self._ceiling is None:
            from aar.bench._methods import train_students

            preds = train_students([self._setup], [], device=self.device)
            self._ceiling = preds["ceiling"][self.seed]
        return self._ceiling

    def _sidecar(self) -> Path:
        assert self.log_path is not None
        return self.log_path.with_name(self.log_path.name + ".hard.jsonl")

    def _load_log(self) -> None:
        assert self.log_path is not None
        if self.log_path.exists():
            for line in self.log_path.read_text().splitlines():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict) and "predictions_sha256" in obj and "metrics" in obj:
                    self.used += 1
        if self._sidecar().exists():
            for line in self._sidecar().read_text().splitlines():
                try:
                    obj = json.loads(line)
                    if obj["task"] == self.task.name and obj["seed"] == self.seed:
                        hard = np.frombuffer(base64.b64decode(obj["hard"]), dtype=np.uint8)
                        self._history.append((obj["id"], obj["split"], hard))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash: skip it, keep the rest

    def _append(self, record: EvalRecord, hard: np.ndarray) -> None:
        from filelock import FileLock

        assert self.log_path is not None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        side = {
            "id": record.id,
            "task": record.task,
            "seed": record.seed,
            "split": record.split,
            "hard": base64.b64encode(hard.tobytes()).decode(),
        }
        with FileLock(str(self.log_path) + ".lock", timeout=30):
            with self.log_path.open("a") as fh:
                fh.write(record.model_dump_json() + "\n")
            with self._sidecar().open("a") as fh:
                fh.write(json.dumps(side) + "\n")
