"""Each task's seed-42 weak-to-ceiling gap, as `aar bench list` shows it: measured once, cached.

The cache (`bench_gaps.json` under `settings.bench.cache_dir`) maps a key made of the task's
name, its student config, its data token and the source of its module to what `task_gap_row`
measured, so editing a task invalidates its entry. The cache is rebuilt, never trusted: a file
or an entry that cannot be read is measured again, and a cache that cannot be written is only
a note (`GapTable.cache_problem`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from aar.errors import PathError
from aar.files import write_atomic

if TYPE_CHECKING:
    from aar.bench._task import Task

GAP_CACHE = "bench_gaps.json"
GAP_SEED = 42
SIZE_SPLITS = ("weak_train", "transfer", "test", "holdout")


class TaskGap(BaseModel):
    """One task's row: its split sizes and accuracy on holdout, weak and ceiling, seed 42."""

    task: str
    n_classes: int
    sizes: dict[str, int] = Field(description="Rows of weak_train, transfer, test, holdout.")
    weak_acc: float
    ceiling_acc: float
    gap_acc: float = Field(description="ceiling_acc - weak_acc, as measured.")
    source: Literal["cache", "measured"]


class GapTable(BaseModel):
    """The rows of `aar bench list`, in the order the tasks were given."""

    gaps: list[TaskGap]
    cache_problem: str | None = Field(
        default=None, description="Why the cache could not be written (the rows still hold)."
    )


def gap_table(
    tasks: Sequence[Task],
    device: str,
    *,
    refresh: bool = False,
    cache_path: Path | None = None,
    measuring: Callable[[Task], AbstractContextManager[Any]] | None = None,
) -> GapTable:
    """The gap of every task, from the cache or measured now (weak + ceiling, seed 42).

    Args:
        tasks: the tasks, in the order of the rows.
        device: where a measurement trains ('cpu', 'cuda', ...).
        refresh: measure every task again instead of reading the cache.
        cache_path: the cache file (default `settings.bench.cache_dir / bench_gaps.json`).
        measuring: a context around each measurement (e.g. a spinner naming the task).
    """
    path = cache_path or _default_cache_path()
    cache = _read_cache(path)
    gaps, changed = [], False
    for task in tasks:
        key = _cache_key(task)
        row = None if refresh else cache.get(key)
        source: Literal["cache", "measured"] = "cache"
        if not _usable_row(row):
            with (measuring or _quiet)(task):
                row = _measure(task, device)
            cache[key], changed, source = row, True, "measured"
        assert isinstance(row, dict)
        gaps.append(
            TaskGap(
                task=task.name,
                n_classes=task.n_classes,
                sizes={s: row["sizes"][s] for s in SIZE_SPLITS},
                weak_acc=row["weak_acc"],
                ceiling_acc=row["ceiling_acc"],
                gap_acc=row["gap_acc"],
                source=source,
            )
        )
    problem = _write_cache(path, cache) if changed else None
    return GapTable(gaps=gaps, cache_problem=problem)


def _quiet(task: Task) -> AbstractContextManager[None]:
    return nullcontext()


def _default_cache_path() -> Path:
    from aar.config import get_settings

    return get_settings().bench.cache_dir / GAP_CACHE


def _measure(task: Task, device: str) -> dict[str, object]:
    from aar.bench._report import task_gap_row
    from aar.bench._runner import run_task

    return task_gap_row(run_task(task, [], [GAP_SEED], device))


def _cache_key(task: Task) -> str:
    """Name, student config and the source of the task's module: edits invalidate the entry."""
    try:
        source = Path(inspect.getsourcefile(type(task)) or "").read_bytes()
    except (OSError, TypeError):
        source = b""
    extra = (task.student.model_dump_json() + task.data_token()).encode()  # e.g. the task key
    digest = hashlib.sha256(source + extra).hexdigest()
    return f"{task.name}:{digest[:16]}"


def _read_cache(path: Path) -> dict[str, Any]:
    """The gap cache, or {} when it is missing or unreadable (it is rebuilt, never trusted)."""
    try:
        cache = json.loads(path.read_bytes().decode())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _usable_row(row: object) -> bool:
    if not isinstance(row, dict) or not isinstance(row.get("sizes"), dict):
        return False
    numbers = (row.get(k) for k in ("weak_acc", "ceiling_acc", "gap_acc"))
    return all(isinstance(row["sizes"].get(s), int) for s in SIZE_SPLITS) and all(
        isinstance(v, int | float) for v in numbers
    )


def _write_cache(path: Path, cache: dict[str, Any]) -> str | None:
    """None once written, else why not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(cache, indent=2))
    except (OSError, PathError) as exc:
        return str(exc)
    return None
