"""The search inside a hypothesis: successive halving over a family's configurations.

A hypothesis is a family (an idea); the search tries its configurations, the key parameter's
grid with the default first, in one script that trains each on every mounted (task, seed). All
are screened on the test feedback of the first `SCREEN_SEEDS` seeds; per task, the better half
(by the paired difference from naive on the seeds the scorer showed) is promoted and scored on
every seed (the screened seeds again, free: an unchanged prediction is not charged twice). Every
configuration scored gets a finding per task (the memory learns what was tried), the best
promoted one first. Everything here reads test
feedback only, through `evaluate`, under the scorer's ladder and the session's budget; the
session confirms each verdict on fresh seeds' holdout and corrects across every configuration
scored (each is a comparison), so trying more configurations costs power, not honesty.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from aar.agent._compare import compare, record_verdicts
from aar.agent._config_families import family_config, with_params
from aar.agent._experiments import Family, experiment_code, method_name

Call = tuple[str, dict[str, Any]]
SCREEN_SEEDS = 3
"""Seeds a configuration is screened on (the verdict rule's minimum for a paired test)."""


def search_family(
    spec: Family, tasks: list[str], seeds: list[int], naive: dict[str, Any]
) -> Generator[Call, Any, list[dict[str, Any]]]:
    """Propose `spec` as a hypothesis and search its key parameter's grid."""
    variants = configurations(spec)
    args = _hypothesis_args(spec, tasks, variants, _screen(seeds))
    return (yield from search(spec, args, variants, tasks, seeds, naive))


def continue_search(
    spec: Family,
    params: dict[str, float],
    tasks: list[str],
    seeds: list[int],
    naive: dict[str, Any],
) -> Generator[Call, Any, list[dict[str, Any]]]:
    """Take a configuration an earlier session confirmed further: propose its compositions
    with one more component each (`compositions`) as one hypothesis and search them."""
    variants = compositions(spec, params, limit=4)
    base = method_name(spec.name, params)
    added = "; ".join(
        f"+ {k} = {v:g}" for _, p in variants for k, v in p.items() if k not in params
    )
    args = {
        "statement": f"{spec.hypothesis(tasks, _key_value(spec, params))[:-1]}, and adding "
        "one more component to it recovers more still.",
        "method": variants[0][0],
        "rationale": f"An earlier session confirmed {base} better than naive (the memory's "
        f"finding); this continues the search from it with one more component each: {added}.",
        "family": spec.name,
        "params": variants[0][1],
    }
    return (yield from search(spec, args, variants, tasks, seeds, naive))


def search(
    spec: Family,
    hypothesis_args: dict[str, Any],
    variants: list[tuple[str, dict[str, float]]],
    tasks: list[str],
    seeds: list[int],
    naive: dict[str, Any],
) -> Generator[Call, Any, list[dict[str, Any]]]:
    """Propose the hypothesis, train every configuration of `variants` in one script, screen,
    promote, and record a finding per task for each configuration scored, the search's choice
    first; the outcomes feed the round's summary and follow-up."""
    from aar.sandbox import split_cells

    screen = _screen(seeds)
    hypothesis = yield ("propose_hypothesis", hypothesis_args)
    if "error" in hypothesis:
        return []
    code = "".join(experiment_code(spec.name, method=m, params=p) for m, p in variants)
    for cell in split_cells(code):
        result = yield ("run_cell", {"code": cell})
        if result.get("status") != "ok":
            return [{"family": spec.name, "task": t, "verdict": "failed"} for t in tasks]
    methods = [m for m, _ in variants]
    promoted = {task: methods for task in tasks}
    screened: dict[str, dict[str, Any]] = {}
    if screen is not None:
        screened = yield from _scores(methods, screen)
        promoted = {t: _better_half(t, methods, screened, naive) for t in tasks}
    full = yield from _scores(
        sorted({m for ms in promoted.values() for m in ms}, key=methods.index)
    )
    params = dict(variants)
    outcomes = []
    for task in tasks:
        for method in _ranked(task, methods, promoted[task], full, screened, naive):
            tested = {task: (full if method in full else screened)[method][task]}
            found = yield from record_verdicts(hypothesis["id"], spec.name, method, tested, naive)
            outcomes += [o | {"params": params[method]} for o in found]
    return outcomes


EXTENSIONS: tuple[tuple[str, float], ...] = (
    ("loss.aux_coef", 0.25),
    ("training.self_training_rounds", 1),
    ("ensemble.members", 4),
    ("training.bootstrap_stages", 1),
    ("selection.keep_fraction", 0.8),
)
"""One more component at a modest setting: the next region around a winning configuration
(the same list for every task; which helps is for the feedback to say)."""


def compositions(
    spec: Family, params: dict[str, float], limit: int
) -> list[tuple[str, dict[str, float]]]:
    """(method name, parameters) of `spec` at `params` with one more component each, for the
    components `EXTENSIONS` names that its configuration leaves at naive's setting."""
    assert spec.config is not None
    base = with_params(spec.config, params)
    naive = family_config("naive")
    added = [(p, v) for p, v in EXTENSIONS if _field(base, p) == _field(naive, p)][:limit]
    return [(method_name(spec.name, params | {p: v}), params | {p: v}) for p, v in added]


def changes_text(variants: list[tuple[str, dict[str, float]]], params: dict[str, float]) -> str:
    """What each composition adds to `params`, as a reviewer reads it: `+ loss.aux_coef =
    0.25; + ensemble.members = 4`."""
    return "; ".join(f"+ {k} = {v:g}" for _, p in variants for k, v in p.items() if k not in params)


def _field(config: dict[str, Any], path: str) -> Any:
    part, name = path.split(".", 1)
    return config[part][name]


def _key_value(spec: Family, params: dict[str, float]) -> float | None:
    return params.get(spec.param.name) if spec.param else None


def configurations(spec: Family) -> list[tuple[str, dict[str, float]]]:
    """(method name, parameters) of each configuration the search tries: the default first,
    then the rest of the key parameter's grid."""
    if spec.param is None:
        return [(spec.name, {})]
    p = spec.param
    values = [p.default, *(v for v in p.grid if v != p.default)]
    return [(method_name(spec.name, {p.name: v}), {p.name: v}) for v in values]


def _screen(seeds: list[int]) -> list[int] | None:
    """The seeds configurations are screened on; None when there are too few to screen."""
    return seeds[:SCREEN_SEEDS] if len(seeds) > SCREEN_SEEDS else None


def _hypothesis_args(
    spec: Family, tasks: list[str], variants: list[tuple[str, dict]], screen: list[int] | None
) -> dict[str, Any]:
    method, params = variants[0]
    rationale = spec.method
    if len(variants) > 1 and spec.param is not None:
        values = ", ".join(f"{next(iter(p.values())):g}" for _, p in variants)
        how = (
            f"screened on seeds {', '.join(map(str, screen))}, the better half per task "
            "promoted to every seed"
            if screen
            else "each on every seed"
        )
        rationale += f" The search tries {spec.param.name} = {values} ({how})."
    return {
        "statement": spec.hypothesis(tasks),
        "method": method,
        "rationale": rationale,
        "family": spec.name,
        "params": params,
    }


def _scores(
    methods: list[str], seeds: list[int] | None = None
) -> Generator[Call, Any, dict[str, dict[str, Any]]]:
    """Each method's per-task test feedback (on `seeds`, or all); a failed evaluation is
    left out."""
    out = {}
    for method in methods:
        args: dict[str, Any] = {"method": method}
        if seeds is not None:
            args["seeds"] = seeds
        evaluation = yield ("evaluate", args)
        if "error" not in evaluation:
            out[method] = evaluation["tasks"]
    return out


def _edge(task: str, method: str, scores: dict[str, Any], naive: dict[str, Any]) -> float:
    """The paired test-feedback difference from naive on `task` (-inf: none shown)."""
    claim = compare("", method, task, scores.get(method, {}).get(task), naive.get(task))
    diff = None if claim is None else claim.get("diff")
    return float(diff) if diff is not None and math.isfinite(diff) else -math.inf


def _better_half(
    task: str, methods: list[str], screened: dict[str, Any], naive: dict[str, Any]
) -> list[str]:
    """The ceil(half) of `methods` with the largest screened edge on `task` (ties: earlier
    first, so the default wins a tie)."""
    ranked = sorted(methods, key=lambda m: (-_edge(task, m, screened, naive), methods.index(m)))
    return ranked[: math.ceil(len(methods) / 2)]


def _ranked(
    task: str,
    methods: list[str],
    promoted: list[str],
    full: dict[str, Any],
    screened: dict[str, Any],
    naive: dict[str, Any],
) -> list[str]:
    """Every configuration scored on `task`, best first: the promoted ones by their edge on
    every seed, then the rest by their screened edge. Each gets a finding (the memory learns
    what was tried, and the first is the search's choice)."""
    kept = [m for m in promoted if m in full]
    kept.sort(key=lambda m: (-_edge(task, m, full, naive), methods.index(m)))
    rest = [m for m in methods if m not in kept and m in screened]
    rest.sort(key=lambda m: (-_edge(task, m, screened, naive), methods.index(m)))
    return kept + rest
