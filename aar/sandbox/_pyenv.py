"""The kernel's Python: an allow-listed view of the host environment, bound entry by entry.

Binding the host venv whole gave a cell every label (measured: `load_digits()` plus row
matching scored accuracy 1.00), because that venv holds aar itself, the packages that ship
task data and scikit-learn's bundled data sets. The kernel instead sees only the
distributions in `[python] allow` of `sandbox/policy.toml` plus their dependency closure,
computed from installed metadata when a kernel starts, each bound one top-level entry at a
time. Inside them, `[python] hide` and the tasks' label sources are masked by empty,
read-only mounts. Anything not bound does not exist in the kernel.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.markers import Marker, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ConfigDict, Field

from aar.sandbox._errors import SandboxUnavailableError


class HideRule(BaseModel):
    """Something the kernel must not read (the shape of `aar.bench.LabelSource`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    distribution: str | None = None
    module: str | None = None
    path: str | None = None
    task_key: bool = False
    why: str


class PythonRules(BaseModel):
    """`[python]` of the policy: what the kernel's Python environment is made of."""

    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    hide: list[HideRule] = Field(default_factory=list)


@dataclass(frozen=True)
class Hidden:
    """One hidden thing and how: masked inside a bound path, or never bound at all."""

    path: str
    why: str
    how: Literal["masked", "not bound"]
    is_dir: bool = True


@dataclass(frozen=True)
class PythonView:
    """What of the host's Python the kernel sees."""

    binds: tuple[str, ...]
    """Host paths bound read-only at the same path (files or directories)."""
    site_dirs: tuple[str, ...]
    """Directories that hold the bound distributions, in host `sys.path` order."""
    extra_site_dirs: tuple[str, ...]
    """Those of `site_dirs` the interpreter does not add by itself (they go on PYTHONPATH)."""
    distributions: tuple[str, ...]
    """Normalised names of the bound distributions."""
    hidden: tuple[Hidden, ...]
    """Everything hidden, with the reason; `how` as seen from the view's own binds (the policy
    re-decides it against all bound paths, see `placed`)."""


def placed(hidden: Sequence[Hidden], bound: Sequence[str]) -> list[Hidden]:
    """`hidden` with `how` decided against everything the kernel gets bound (a label source
    inside any bound path, not only the Python view's, needs a mask)."""
    out = []
    for h in hidden:
        inside = _inside(h.path, bound) and os.path.exists(h.path)
        out.append(dataclasses.replace(h, how="masked" if inside else "not bound"))
    return out


def masks(hidden: Sequence[Hidden]) -> list[Hidden]:
    """The mounts to put over masked paths, outermost first, none inside another mask."""
    masked = sorted({h.path: h for h in hidden if h.how == "masked"}.values(), key=_depth)
    out: list[Hidden] = []
    for h in masked:
        if not _inside(h.path, [m.path for m in out if m.is_dir]):
            out.append(h)
    return out


def _depth(hidden: Hidden) -> tuple[int, str]:
    return (hidden.path.count("/"), hidden.path)


def normalise(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


_cache: dict[tuple[Any, ...], PythonView] = {}
_cache_lock = threading.Lock()


def python_view(rules: PythonRules, extra: Sequence[HideRule] = ()) -> PythonView:
    """The allow-listed view for `rules` plus `extra` hide rules (e.g. tasks' label sources).

    Cached per process: the key covers `sys.path`, the rules and the modification times of
    the site directories, so installing or removing a package is noticed.
    Raises `SandboxUnavailableError` when an allowed distribution depends on a denied one.
    """
    secrets = _host_secrets()
    key = (tuple(sys.path), rules.model_dump_json(), tuple(extra), secrets, _site_mtimes())
    with _cache_lock:
        view = _cache.get(key)
        if view is None:
            view = _cache[key] = _build_view(rules, [*extra, *secrets])
        return view


def _host_secrets() -> tuple[HideRule, ...]:
    """The installation's keys: always hidden, whatever the caller passes (fail closed)."""
    from aar.config import get_settings

    settings = get_settings()
    return (
        HideRule(task_key=True, why="the installation's task key (orders exports, seeds pools)"),
        HideRule(
            path=str(settings.review.key_file.expanduser().resolve()),
            why="the review key (signs the audit log's chain of decisions)",
        ),
        HideRule(
            path=str(settings.scorer.dir.expanduser().resolve()),
            why="the scorer's ledger (every submission's exact accuracy)",
        ),
    )


def _site_mtimes() -> tuple[tuple[str, int], ...]:
    out = []
    for entry in sys.path:
        try:
            out.append((entry, os.stat(entry).st_mtime_ns))
        except OSError:
            continue
    return tuple(out)


def _build_view(rules: PythonRules, extra: list[HideRule]) -> PythonView:
    installed = _installed()
    hide = [*rules.hide, *extra]
    deny = {normalise(n) for n in rules.deny}
    deny |= {normalise(r.distribution) for r in hide if r.distribution and not r.path}
    names = _closure(rules.allow, installed, deny)
    binds: list[str] = []
    for name in names:
        binds.extend(_entries(installed[name]))
    binds.extend(_interpreter_paths())
    stdlib = os.path.dirname(os.__file__)
    binds.append(stdlib)
    site_dirs = _site_dirs(installed[n] for n in names)
    hidden = [*_resolve_hides(hide, installed, binds), *_stray_site_dirs(stdlib, site_dirs)]
    hidden.extend(_unbound_denied(deny, installed, names))
    return PythonView(
        binds=tuple(dict.fromkeys(binds)),
        site_dirs=tuple(site_dirs),
        extra_site_dirs=tuple(d for d in site_dirs if d not in _default_site_dirs()),
        distributions=tuple(names),
        hidden=tuple({h.path: h for h in reversed(hidden)}.values())[::-1],  # first reason wins
    )


def _installed() -> dict[str, md.Distribution]:
    """Installed distributions by normalised name; the first on `sys.path` wins, as in import.

    Names come from the `<name>-<version>.dist-info` directory names, as importlib.metadata
    itself matches them: parsing every METADATA file cost ~0.1 s of each kernel start.
    """
    found: dict[str, md.Distribution] = {}
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            stem, dot, kind = name.rpartition(".")
            if dot and kind in ("dist-info", "egg-info"):
                dist_name = normalise(stem.split("-")[0])
                found.setdefault(dist_name, md.PathDistribution(Path(entry or ".", name)))
    return found


def _closure(
    allow: Iterable[str], installed: dict[str, md.Distribution], deny: set[str]
) -> list[str]:
    """Allowed distributions that are installed, plus everything they need (markers honoured)."""
    # Every marker variable is a string; "extra" is empty, so `extra == "..."` requirements
    # (optional features) are not followed.
    env = {name: str(value) for name, value in default_environment().items()} | {"extra": ""}
    seen: dict[str, str] = {}  # name -> who needed it
    todo = [(normalise(n), "the allow list") for n in allow]
    while todo:
        name, needed_by = todo.pop()
        if name in seen or name not in installed:
            continue
        if name in deny:
            raise SandboxUnavailableError(
                f"sandbox unavailable: {needed_by} needs {name}, which sandbox/policy.toml "
                "denies (it could carry labels); refusing to start the kernel"
            )
        seen[name] = needed_by
        for raw in installed[name].requires or []:
            try:
                req = Requirement(raw)
            except InvalidRequirement:
                continue
            if req.marker is None or Marker(str(req.marker)).evaluate(env):
                todo.append((normalise(req.name), name))
    return sorted(seen)


def _record_paths(dist: md.Distribution) -> list[str]:
    """The files a distribution installed, relative to its site directory.

    RECORD is read as text and split by hand: torch lists ~15,000 files, and building a
    `PackagePath` for each took most of a kernel's start.
    """
    text = dist.read_text("RECORD") or ""
    return [line.rsplit(",", 2)[0] for line in text.splitlines() if line.strip()]


def _first_parts(dist: md.Distribution) -> dict[str, set[str]]:
    """Top-level entries of a distribution -> the second-level names (or pyc files) below.

    Paths leaving site-packages (scripts in bin/, `../`) and absolute ones are dropped.
    """
    firsts: dict[str, set[str]] = {}
    for rel in _record_paths(dist):
        first, _, rest = rel.partition("/")
        if not first or first == ".." or rel.startswith("/"):
            continue
        seconds = firsts.setdefault(first, set())
        if rest:
            seconds.add(rel if first == "__pycache__" else rest.partition("/")[0])
    return firsts


def _entries(dist: md.Distribution) -> list[str]:
    """Host paths to bind for one distribution: its top-level entries in site-packages.

    A directory without `__init__.py` may be shared with other distributions (a namespace
    package), so it is bound one level down, only where this distribution installed files.
    """
    site = Path(str(dist.locate_file("")))
    out: list[str] = []
    for first, seconds in sorted(_first_parts(dist).items()):
        top = site / first
        if not top.exists():
            continue
        if first == "__pycache__":  # shared by every single-module distribution
            out.extend(str(site / rel) for rel in sorted(seconds) if (site / rel).exists())
        elif (
            top.is_dir()
            and not first.endswith((".dist-info", ".egg-info"))
            and not (top / "__init__.py").exists()
        ):
            out.extend(str(top / s) for s in sorted(seconds) if (top / s).exists())
        else:
            out.append(str(top))
    return out


def _interpreter_paths() -> list[str]:
    """The interpreter the kernel runs (and every link to it) and the venv's `pyvenv.cfg`."""
    paths = []
    exe = Path(sys.executable)
    while True:
        paths.append(str(exe))
        if not exe.is_symlink():
            break
        exe = (exe.parent / os.readlink(exe)).absolute()
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    if cfg.exists():
        paths.append(str(cfg))
    return paths


def _site_dirs(dists: Iterable[md.Distribution]) -> list[str]:
    dirs = {os.path.realpath(str(d.locate_file(""))) for d in dists}
    ordered = [p for p in map(os.path.realpath, sys.path) if p in dirs]
    return list(dict.fromkeys([*ordered, *sorted(dirs)]))


def _default_site_dirs() -> set[str]:
    """The site directories `site.py` adds for this interpreter (the venv's own)."""
    import site

    return {os.path.realpath(p) for p in site.getsitepackages()}


def _inside(path: str, binds: Iterable[str]) -> bool:
    return any(path == b or path.startswith(b.rstrip("/") + "/") for b in binds)


def _resolve_hides(
    rules: list[HideRule], installed: dict[str, md.Distribution], binds: list[str]
) -> list[Hidden]:
    """Each rule's host paths: masked when they lie inside a bound path, else never bound."""
    out = []
    for rule in rules:
        for path in _rule_paths(rule, installed):
            real = os.path.realpath(path)
            how: Literal["masked", "not bound"] = (
                "masked" if _inside(real, binds) and os.path.exists(real) else "not bound"
            )
            out.append(Hidden(real, rule.why, how, os.path.isdir(real)))
    return out


def _rule_paths(rule: HideRule, installed: dict[str, md.Distribution]) -> list[str]:
    if rule.task_key:
        from aar.config import get_settings

        return [str(get_settings().bench.key_file.expanduser())]
    if rule.distribution and rule.path:
        dist = installed.get(normalise(rule.distribution))
        return [str(dist.locate_file(rule.path))] if dist is not None else []
    if rule.path:
        return [rule.path]
    if rule.module:
        return _module_paths(rule.module)
    dist = installed.get(normalise(rule.distribution or ""))
    return [] if dist is None else [str(Path(str(dist.locate_file(""))) / e) for e in _tops(dist)]


def _tops(dist: md.Distribution) -> list[str]:
    return sorted(t for t in _first_parts(dist) if t != "__pycache__")


def _module_paths(module: str) -> list[str]:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [spec.origin] if spec.origin else []


def _stray_site_dirs(stdlib: str, site_dirs: list[str]) -> list[Hidden]:
    """A Python home's own site-packages inside the bound stdlib (e.g. a pyenv build)."""
    out = []
    for name in ("site-packages", "dist-packages"):
        path = os.path.join(stdlib, name)
        if os.path.isdir(path) and os.path.realpath(path) not in site_dirs:
            out.append(
                Hidden(path, "the interpreter's own site-packages (not allow-listed)", "masked")
            )
    return out


def _unbound_denied(
    deny: set[str], installed: dict[str, md.Distribution], bound: list[str]
) -> list[Hidden]:
    """Denied distributions that are installed (their files and importable top-level code),
    listed so `aar sandbox check` can show, and its probe test, that none is visible."""
    out: list[Hidden] = []
    for name in sorted(deny & installed.keys() - set(bound)):
        dist = installed[name]
        site = Path(str(dist.locate_file("")))
        paths = [str(site / top) for top in _tops(dist)]
        paths += _module_paths(name.replace("-", "_"))  # e.g. an editable install's source
        why = f"denied distribution {name}"
        out.extend(Hidden(os.path.realpath(p), why, "not bound", os.path.isdir(p)) for p in paths)
    return out
