"""The scripted researcher's follow-ups: the next region of the method space.

A follow-up is code the reviewer approves byte for byte, so it is written here from the
families' declarations, and its method names (`family-param-value[-param-value]`) are parsed
back when the approved follow-up runs. The round already searched the key parameter of every
family it tested but logconf (the session's own baseline), so:
- when a method-space family won, the follow-up composes its best configuration with one more
  component each (`aar.agent._search.EXTENSIONS`), shown to the reviewer as parameter changes
  from it;
- when logconf won, it sweeps logconf's coefficient (the round tried only the default).
"""

from __future__ import annotations

import math
from typing import Any

from aar.agent._experiments import FAMILIES, experiment_code, method_name
from aar.agent._search import changes_text, compositions

FOLLOWUP_VARIANTS = 3
"""Configurations a follow-up tries (the plan's `FOLLOWUP_VALUES`)."""


def followup_proposal(outcomes: list[dict[str, Any]], seeds: list[int]) -> dict[str, str] | None:
    """Sweep the best family's key hyper-parameter. The sweep runs on every mounted (task,
    seed), so the session can re-run it, byte for byte, on fresh seeds to confirm it."""
    tunable = [o for o in outcomes if o["verdict"] != "failed" and _extendable(o["family"])]
    helped = [o for o in tunable if o["verdict"] == "supported"]
    if not helped:
        helped = [o for o in tunable if (o.get("diff") or 0) > 0]
    if not helped:
        return _exploratory_sweep(tunable)
    best = max(helped, key=lambda o: o["diff"])
    family = best["family"]
    if FAMILIES[family].config is not None:
        return _composition(best, helped)
    param = FAMILIES[family].param
    assert param is not None
    tasks = sorted({o["task"] for o in helped if o["family"] == family})
    del seeds
    values, code = _sweep(family)
    rationale = (
        f"{family} ({param.name}={param.default:g}) had the largest gain over naive on test "
        f"feedback, on {', '.join(tasks)} (paired PGR difference {best['diff']:+.3f} on "
        f"{best['task']}; the session confirms verdicts on holdout when the round ends). "
        f"Sweep {param.name} over {', '.join(f'{v:g}' for v in values)} (on every task) to "
        f"see whether the effect depends on it: {param.description}"
    )
    return {"rationale": rationale, "code": code}


def _extendable(family: str) -> bool:
    """A family a follow-up can take further: a method-space family (composed), or logconf
    (swept: the round tried its default only)."""
    spec = FAMILIES[family]
    return spec.config is not None or (family == "logconf" and spec.param is not None)


def _composition(best: dict[str, Any], helped: list[dict[str, Any]]) -> dict[str, str] | None:
    """The winner's configuration with one more component each: up to three variants."""
    tasks = sorted({o["task"] for o in helped if o["family"] == best["family"]})
    winner = method_name(best["family"], dict(best.get("params") or {}))
    lead = (
        f"{winner} had the largest gain over naive on test feedback, on {', '.join(tasks)} "
        f"(paired PGR difference {best['diff']:+.3f} on {best['task']}; the session confirms "
        "verdicts on holdout when the round ends)."
    )
    return _next_region(best, lead, "to see whether the gain stacks")


def _next_region(outcome: dict[str, Any], lead: str, why: str) -> dict[str, str] | None:
    """`lead`, then the outcome's configuration with one more component each (up to three
    variants, as parameter changes from it), and one script that runs them."""
    spec = FAMILIES[outcome["family"]]
    params = dict(outcome.get("params") or {})
    variants = compositions(spec, params, limit=FOLLOWUP_VARIANTS)
    if not variants:
        return None
    code = "".join(
        experiment_code(spec.name, method=method, params=p, pairs=None) for method, p in variants
    )
    rationale = (
        f"{lead} Next region: the same configuration with one more component each, as changes "
        f"from it: {changes_text(variants, params)} (on every task), {why}."
    )
    return {"rationale": rationale, "code": code}


def _sweep(family: str) -> tuple[list[float], str]:
    """The grid values of `family`'s key parameter other than its default, and one script that
    runs each on every mounted (task, seed)."""
    param = FAMILIES[family].param
    assert param is not None
    values = [v for v in param.grid if v != param.default]
    code = "".join(
        experiment_code(
            family, method=method_name(family, {param.name: v}), params={param.name: v}, pairs=None
        )
        for v in values
    )
    return values, code


def _exploratory_sweep(tunable: list[dict[str, Any]]) -> dict[str, str] | None:
    """No family showed a gain on test feedback: take the first tried family further to look
    for one (said as such; no claim): a method-space family (its grid already searched) with
    one more component each, logconf by sweeping its coefficient."""
    if not tunable:
        return None
    family = tunable[0]["family"]
    if FAMILIES[family].config is not None:  # its grid was searched this round: go further
        lead = (
            "No family showed a gain over naive on test feedback in this round, and the round "
            f"already searched {family}'s {_param_name(family)}."
        )
        return _next_region(tunable[0], lead, "to look for a setting that does")
    param = FAMILIES[family].param
    assert param is not None
    values, code = _sweep(family)
    rationale = (
        f"No family showed a gain over naive on test feedback in this round. Sweep {family}'s "
        f"{param.name} over {', '.join(f'{v:g}' for v in values)} (on every task) to look for "
        f"a setting that does: {param.description}"
    )
    return {"rationale": rationale, "code": code}


def _param_name(family: str) -> str:
    param = FAMILIES[family].param
    return "configuration" if param is None else param.name


def followup_statement(family: str, params: dict[str, float], tasks: list[str]) -> str:
    """The hypothesis of one follow-up method: the family's at its key parameter's value,
    and the components it was composed with."""
    spec = FAMILIES[family]
    key = spec.param.name if spec.param else None
    statement = spec.hypothesis(tasks, params.get(key) if key else None)
    extra = [f"{k} = {v:g}" for k, v in params.items() if k != key]
    return statement if not extra else f"{statement[:-1]}, with {', '.join(extra)} added."


def parse_method(method: str) -> tuple[str | None, dict[str, float]]:
    """`logconf-aux_coef-0.25` -> ("logconf", {"aux_coef": 0.25}); a composition
    `label_propagation-geometry.weight-0.8-loss.aux_coef-0.25` -> both parameters;
    unknown -> (None, {})."""
    family, *rest = method.split("-")
    if family not in FAMILIES or len(rest) % 2:
        return None, {}
    params: dict[str, float] = {}
    for name, value in zip(rest[::2], rest[1::2], strict=True):
        try:
            params[name] = float(value)
        except ValueError:
            return None, {}
    return family, params


def starting_point(
    findings: list[dict[str, Any]], tasks: list[str]
) -> tuple[str, dict[str, float]] | None:
    """Where a later session continues the search: the method-space configuration an earlier
    session's finding on one of `tasks` was decided `supported` for (not rejected by a
    person), with the highest test-feedback PGR, whose compositions no finding has tried yet;
    None when there is none (the round then starts from untried families)."""
    tried = {str(f.get("method", "")).split(" (")[0] for f in findings}
    best: tuple[float, str, dict[str, float]] | None = None
    for f in findings:
        if f.get("verdict") != "supported" or f.get("review") == "rejected":
            continue
        if not set(f.get("tasks", [])) & set(tasks):
            continue
        family, params = parse_method(str(f.get("method", "")).split(" (")[0])
        if family is None or FAMILIES[family].config is None:
            continue
        variants = compositions(FAMILIES[family], params, limit=4)
        if not variants or all(m in tried for m, _ in variants):
            continue
        shown = f.get("feedback_pgr_acc")
        score = float(shown["mean"]) if isinstance(shown, dict) else -math.inf
        if best is None or score > best[0]:
            best = (score, family, params)
    return None if best is None else (best[1], best[2])
