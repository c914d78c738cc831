"""The task registry: built-in tasks, entry-point plug-ins and `bench.plugins` modules.

Tasks register themselves next to their definitions (`@register_task`), as in
openai/weak-to-strong's dataset registry. Sources beyond the built-ins are imported lazily,
on the first lookup, so `aar --help` and modules that only define tasks stay cheap:

1. built-ins: the modules of `aar.bench.tasks`;
2. the entry-point group `aar.tasks` (value `module:object`, where the object is a `Task`
   instance or subclass, or `module` alone when importing it registers its tasks);
3. the modules named in `settings.bench.plugins` (`aar.toml` or `AAR_BENCH__PLUGINS`).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TypeVar, overload

from aar.bench._task import LabelSource, Task
from aar.errors import AarError

ENTRY_POINT_GROUP = "aar.tasks"
BUILTIN_TASK_NAMES = (
    "breast-cancer",
    "digits-10",
    "digits-ge5",
    "rt-sentiment",
    "synthetic-gap-large",
    "synthetic-gap-medium",
    "synthetic-gap-small",
)
"""What `aar.bench.tasks` registers (a test keeps this equal): names are checked against it
without importing the tasks' modules (scikit-learn, seconds), so a typo fails at once."""
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

_T = TypeVar("_T", bound=Task)


class UnknownTaskError(AarError):
    """A task name that no registered task has."""


class DuplicateTaskError(AarError):
    """Two different tasks claim the same name."""


class InvalidTaskError(AarError):
    """Something registered as a task that is not a usable `Task`."""


class TaskPluginError(AarError):
    """A plug-in module or entry point that could not be imported."""


class TaskRegistry:
    """Tasks by name, filled by registration and, on first lookup, by the plug-in sources.

    Holds its own state so tests (and embedders) can build an isolated registry; the
    module-level functions use one process-wide default instance.
    """

    def __init__(
        self,
        builtin_modules: Iterable[str] = ("aar.bench.tasks",),
        entry_point_group: str | None = ENTRY_POINT_GROUP,
        plugins: Iterable[str] | None = None,
        builtin_names: Iterable[str] | None = None,
    ) -> None:
        """`plugins=None` reads `settings.bench.plugins` at load time; `builtin_names`, if
        known, lets `check_names` skip importing the built-in modules."""
        self._tasks: dict[str, Task] = {}
        self._builtin_modules = tuple(builtin_modules)
        self._builtin_names = None if builtin_names is None else frozenset(builtin_names)
        self._group = entry_point_group
        self._plugins = None if plugins is None else tuple(plugins)
        self._loaded = False
        self._lock = threading.RLock()

    def register(self, task: Task) -> Task:
        """Add one task instance. Re-registering the same object is a no-op."""
        if not isinstance(task, Task):
            raise InvalidTaskError(
                f"register_task expects a Task subclass or instance, got {type(task).__name__}"
            )
        name = getattr(task, "name", None)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise InvalidTaskError(
                f"task {type(task).__name__} has an invalid name {name!r}: use 1-64 characters "
                "of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
            )
        for attr in ("description", "weak_description", "strong_description"):
            if not isinstance(getattr(task, attr, None), str):
                raise InvalidTaskError(f"task {name!r} needs a string attribute {attr!r}")
        if not isinstance(task.n_classes, int) or task.n_classes < 2:
            raise InvalidTaskError(f"task {name!r} needs n_classes >= 2, got {task.n_classes!r}")
        with self._lock:
            existing = self._tasks.get(name)
            if existing is task:
                return task
            if existing is not None:
                raise DuplicateTaskError(
                    f"two tasks are named {name!r}: {_origin(existing)} and {_origin(task)}; "
                    "rename one of them"
                )
            self._tasks[name] = task
        return task

    def get(self, name: str) -> Task:
        """The task called `name`; an unknown name lists the valid ones."""
        self._ensure_loaded()
        try:
            return self._tasks[name]
        except KeyError:
            valid = ", ".join(sorted(self._tasks)) or "(none)"
            raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {valid}") from None

    def check_names(self, names: Iterable[str]) -> None:
        """`UnknownTaskError` for a name no task has, importing tasks only when it must.

        A name that is registered or built in passes at once; any other is looked up after
        loading every source, unless there is no plug-in source that could define it.
        """
        known = set(self._tasks) | (self._builtin_names or set())
        unknown = [name for name in names if name not in known]
        if not unknown:
            return
        if self._loaded or self._builtin_names is None or self._has_plugin_sources():
            for name in unknown:
                self.get(name)
            return
        valid = ", ".join(sorted(known))
        raise UnknownTaskError(f"unknown task {unknown[0]!r}; valid tasks: {valid}")

    def _has_plugin_sources(self) -> bool:
        if self._group is not None and entry_points(group=self._group):
            return True
        return bool(self._plugin_modules())

    def tasks(self) -> list[Task]:
        """All tasks, sorted by name."""
        self._ensure_loaded()
        return [self._tasks[name] for name in sorted(self._tasks)]

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for module in self._builtin_modules:
                importlib.import_module(module)
            if self._group is not None:
                for ep in entry_points(group=self._group):
                    self._load_entry_point(ep)
            for module in self._plugin_modules():
                self._import_plugin(module)
            self._loaded = True

    def _plugin_modules(self) -> tuple[str, ...]:
        if self._plugins is not None:
            return self._plugins
        from aar.config import get_settings

        return tuple(get_settings().bench.plugins)

    def _load_entry_point(self, ep: EntryPoint) -> None:
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        where = f"entry point {ep.name!r} = {ep.value!r} (group {self._group}, from {dist})"
        try:
            obj = ep.load()
        except Exception as exc:
            raise TaskPluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        if isinstance(obj, ModuleType):
            return  # importing it registered its tasks
        if isinstance(obj, type) and issubclass(obj, Task):
            if any(type(task) is obj for task in self._tasks.values()):
                return  # the class was decorated with @register_task
            obj = obj()
        if not isinstance(obj, Task):
            raise TaskPluginError(
                f"{where} points to a {type(obj).__name__}, not a Task subclass or instance"
            )
        self.register(obj)

    def _import_plugin(self, module: str) -> None:
        try:
            importlib.import_module(module)
        except AarError:
            raise
        except Exception as exc:
            raise TaskPluginError(
                f"task plug-in module {module!r} (settings bench.plugins) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def _origin(task: Task) -> str:
    cls = type(task)
    return f"{cls.__module__}.{cls.__qualname__}"


_default = TaskRegistry(builtin_names=BUILTIN_TASK_NAMES)


@overload
def register_task(task: type[_T]) -> type[_T]: ...


@overload
def register_task(task: _T) -> _T: ...


def register_task(task: type[_T] | _T) -> type[_T] | _T:
    """Register a task instance, or a `Task` subclass (as a class decorator).

    A class is instantiated with no arguments and returned unchanged, so
    `@register_task` works above a class definition. Returns its argument.
    """
    if isinstance(task, type):
        if not issubclass(task, Task):
            raise InvalidTaskError(f"register_task expects a Task subclass, got {task.__name__}")
        try:
            instance = task()
        except TypeError as exc:
            raise InvalidTaskError(
                f"register_task could not build {task.__name__}() ({exc}); a class it decorates "
                "must take no arguments, otherwise register an instance"
            ) from None
        _default.register(instance)
        return task
    _default.register(task)
    return task


def get_task(name: str) -> Task:
    """The registered task called `name` (`UnknownTaskError` lists the valid names)."""
    return _default.get(name)


def check_task_names(names: Iterable[str]) -> None:
    """Fail fast on an unknown task name (see `TaskRegistry.check_names`)."""
    _default.check_names(names)


def list_tasks() -> list[Task]:
    """Every registered task (built-in and plug-in), sorted by name."""
    return _default.tasks()


TASK_KEY_SOURCE = LabelSource(
    task_key=True,
    why="the key orders each exported split and draws its ids (with the public seed alone, "
    "the order reveals each row's class)",
)


def label_sources(tasks: Iterable[Task] | None = None) -> list[LabelSource]:
    """What the sandbox must hide for `tasks` (default: every registered task).

    Identical sources of several tasks are merged, their reasons naming every task; the task
    key is always included, since every export depends on it.
    """
    merged: dict[tuple[object, ...], tuple[LabelSource, dict[str, list[str]]]] = {}

    def add(source: LabelSource, owner: str) -> None:
        key = (source.distribution, source.module, source.path, source.task_key)
        _, reasons = merged.setdefault(key, (source, {}))
        reasons.setdefault(source.why, []).append(owner)

    add(TASK_KEY_SOURCE, "every task")
    for task in list_tasks() if tasks is None else tasks:
        for source in task.label_sources:
            add(source, task.name)
    return [
        source.model_copy(
            update={"why": "; ".join(f"{', '.join(o)}: {why}" for why, o in reasons.items())}
        )
        for source, reasons in merged.values()
    ]
