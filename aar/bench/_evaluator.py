"""The evaluator: holds test and holdout ground truth outside any sandbox.

`export_public` writes the only files an experiment may see (no weak_train rows, no labels
of any split); `Evaluator.evaluate` scores a submission of test (or holdout) probabilities.
Exact scores with unlimited queries leak labels (flip one prediction, watch the score), so
test feedback is rounded, evaluations are budgeted, near-duplicate submissions are flagged,
and holdout is never scored during a session.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from aar.bench._errors import (
    BudgetExceededError,
    HoldoutRefusedError,
    InvalidPredictionsError,
    OutputDirError,
)
from aar.bench._evallog import EvalLog, EvalRecord, Split
from aar.bench._predictions import (
    PREDICTION_FORMAT,
    Submission,
    check_label,
    load_predictions,
    predictions_sha256,
)
from aar.bench._protocol import PUBLIC_SPLITS, SeedSetup, setup_seed
from aar.bench._stats import accuracy, auroc, pgr
from aar.bench._task import Task

FORMAT_VERSION = 1


def _round(value: float, step: float) -> float:
    if not math.isfinite(value):
        return value
    return round(round(value / step) * step, 10)


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
    from aar.bench._public_ids import remember_public_ids

    # Whoever exported a pair may submit for it next: its ids let a submission that cannot
    # match be refused before the task loads (`aar bench evaluate`).
    remember_public_ids(task.name, setup.seed, setup.public.ids, task.n_classes)
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


def export_public_many(
    pairs: Iterable[tuple[Task | str, int]],
    directory: str | os.PathLike[str],
    *,
    export: Callable[[Task, int, Path], object] | None = None,
) -> Path:
    """One directory holding the public files of several (task, seed) pairs, so one
    experiment's code covers them all: `<task>/seed-<seed>/` each, as `export_public` writes
    it, plus `index.json` listing the pairs. `aar_kernel.load_task(task, seed)` reads it.

    `export` writes one pair's directory (default `export_public`, from the labels here; a
    scorer service's client fetches it instead, in a process that has no labels)."""
    from aar.bench._runner import resolve_task

    directory = Path(directory)
    _check_export_dir(directory)
    index = []
    for task, seed in pairs:
        resolved = resolve_task(task)
        name = resolved.name
        (export or export_public)(resolved, seed, directory / name / f"seed-{seed}")
        index.append({"task": name, "seed": seed, "path": f"{name}/seed-{seed}"})
    try:
        (directory / "index.json").write_text(json.dumps({"exports": index}, indent=2))
    except OSError as exc:
        raise OutputDirError(f"cannot write to export directory {directory}: {exc}") from None
    return directory


# ---------------------------------------------------------------- evaluator


class Evaluator:
    """Scores submissions for one task and seed; the ground truth never leaves it.

    Args:
        task: a `Task` or a registered task name.
        seed: the protocol seed (fixes splits, weak supervisor and ceiling).
        session: inside a research session holdout is refused.
        budget: scored evaluations allowed (default `settings.bench.eval_budget`); records
            already in `log_path` count against it, so a resumed session keeps its count.
        log_path: `aar.jsonl` log every `EvalRecord` is appended to (a sidecar
            `<log>.hard.jsonl` keeps hardened predictions for near-duplicate checks); an
            existing file that is not an evaluator log is refused and left untouched.
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
        from aar.bench._runner import check_seed, load_data, resolve_task
        from aar.config import get_settings

        settings = get_settings().bench
        self.seed = check_seed(seed)
        self.log = None if log_path is None else EvalLog(log_path)
        self.task = resolve_task(task)
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
        self._trained: dict[str, dict[str, np.ndarray]] = {}
        self._baseline_metrics: dict[str, dict[str, float]] = {}
        self._history: list[tuple[str, str, np.ndarray]] = []  # (record id, split, hardened)
        self.used = 0
        if self.log is not None:
            self.used = len(self.log.records)
            self._history = self.log.history(self.task.name, self.seed)

    @property
    def remaining(self) -> int:
        """Scored evaluations left in the budget."""
        return max(self.budget - self.used, 0)

    def predictions_sha256(
        self, predictions: Submission | np.ndarray | str | os.PathLike[str], split: Split = "test"
    ) -> str:
        """The `predictions_sha256` a submission's record would carry (validated, no score)."""
        probs = load_predictions(predictions, self.ids(split), self.task.n_classes)
        return predictions_sha256(probs)

    def ids(self, split: Split = "test") -> np.ndarray:
        """The opaque ids predictions must align with."""
        return self._setup.public.ids[split]

    def export_public(self, directory: str | os.PathLike[str]) -> Path:
        """Write the public task directory (see the module function `export_public`)."""
        return write_public(self._setup, directory)

    def evaluate(
        self,
        predictions: Submission | np.ndarray | str | os.PathLike[str],
        *,
        method: str,
        code_sha256: str,
        split: Split = "test",
        git_commit: str | None = None,
    ) -> EvalRecord:
        """Score a submission with plain rounding; invalid ones raise `InvalidPredictionsError`
        and cost nothing.

        This is the harness's own scoring for trusted host code (replays, tests, the sandbox
        battery). It is not a feedback mechanism: rounded scores with a budget of 200 give
        away every label of a small split (single-row flips). Sessions and
        `aar bench evaluate` score through `aar.scorer`, whose ladder bounds what feedback
        reveals per task pool.
        """
        if split not in ("test", "holdout"):
            raise InvalidPredictionsError(f"split must be 'test' or 'holdout', got {split!r}")
        check_label(method)
        if split == "holdout" and self.session:
            raise HoldoutRefusedError(
                "holdout is never scored during a research session; submit to 'test'"
            )
        probs = load_predictions(predictions, self.ids(split), self.task.n_classes)
        if self.used >= self.budget:
            raise BudgetExceededError(
                f"evaluation budget of {self.budget} used up (settings bench.eval_budget)"
            )
        metrics = self.exact_metrics(probs, split)
        rounded = split == "test"
        if rounded:
            metrics = {k: _round(v, self.rounding) for k, v in metrics.items()}
        metrics["n"] = float(len(probs))

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
            predictions_sha256=predictions_sha256(probs),
            budget_used=self.used,
            budget_total=self.budget,
        )
        self._history.append((record.id, split, hard))
        if self.log is not None:
            self.log.append(record, hard)
        return record

    def exact_metrics(
        self, probs: np.ndarray, split: Split, *, with_auroc: bool = True
    ) -> dict[str, float]:
        """Exact metrics of validated probabilities (rows in the exported order of `split`),
        with the weak and ceiling baselines on the same rows. Never shown to an experiment as
        they are: `aar.scorer` decides what feedback they become. `with_auroc=False` leaves
        the submission's AUROC (and its PGR) NaN, for an answer that will not show it."""
        y = self._setup.to_public(split, self._setup.labels(split))  # exported order
        metrics = {"acc": accuracy(y, probs), "auroc": auroc(y, probs) if with_auroc else math.nan}
        metrics.update(self._baselines(split, y))
        metrics["pgr_acc"] = pgr(metrics["acc"], metrics["weak_acc"], metrics["ceiling_acc"])
        metrics["pgr_auroc"] = pgr(
            metrics["auroc"], metrics["weak_auroc"], metrics["ceiling_auroc"]
        )
        return metrics

    def exact_auroc(self, probs: np.ndarray, split: Split) -> float:
        """The submission's exact AUROC on `split` (see `exact_metrics`)."""
        return auroc(self._setup.to_public(split, self._setup.labels(split)), probs)

    def _baselines(self, split: Split, y: np.ndarray) -> dict[str, float]:
        """Weak and ceiling metrics of a split (fixed per seed: computed once)."""
        if split not in self._baseline_metrics:
            setup, found = self._setup, {}
            weak = setup.to_public(split, setup.weak_probs[split])
            ceiling = setup.to_public(split, self._ceiling_probs()[split])
            for name, p in (("weak", weak), ("ceiling", ceiling)):
                found[f"{name}_acc"] = accuracy(y, p)
                found[f"{name}_auroc"] = auroc(y, p)
            self._baseline_metrics[split] = found
        return self._baseline_metrics[split]

    def load(
        self, predictions: Submission | np.ndarray | str | os.PathLike[str], split: Split
    ) -> np.ndarray:
        """Validated probabilities [n, n_classes] of a submission for `split` (no score)."""
        return load_predictions(predictions, self.ids(split), self.task.n_classes)

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
        return self._students(naive=False)["ceiling"]

    def _students(self, *, naive: bool = True) -> dict[str, dict[str, np.ndarray]]:
        """The ceiling (and, when asked, the naive student) of this seed, trained once."""
        if "ceiling" not in self._trained or (naive and "naive" not in self._trained):
            from aar.bench._method_spec import parse_methods
            from aar.bench._methods import train_students

            methods = parse_methods(["naive"]) if naive else []
            preds = train_students([self._setup], methods, device=self.device)
            self._trained.update({name: preds[name][self.seed] for name in preds})
        return self._trained

    def reference_probs(self, split: Split) -> np.ndarray:
        """The harness's naive student's probabilities on `split`, in exported order (what
        `aar bench run` and a session's naive baseline submit)."""
        return self._setup.to_public(split, self._students()["naive"][split])

    def reference_acc(self, split: Split) -> float:
        """Exact accuracy of the harness's naive student on `split`: the honest level the
        scorer's ladder starts from (a submission below it is never shown a number)."""
        y = self._setup.to_public(split, self._setup.labels(split))
        return accuracy(y, self.reference_probs(split))
