"""The scripted researcher's follow-ups: a sweep of one family's key hyper-parameter.

A follow-up is code the reviewer approves byte for byte, so it is written here from the
family's declared grid (`FAMILIES[...].param`), and its method names (`family-param-value`)
are parsed back when the approved sweep runs.
"""

from __future__ import annotations

from typing import Any

from aar.agent._experiments import FAMILIES, experiment_code, method_name


def followup_proposal(outcomes: list[dict[str, Any]], seeds: list[int]) -> dict[str, str] | None:
    """Sweep the best family's key hyper-parameter. The sweep runs on every mounted (task,
    seed), so the session can re-run it, byte for byte, on fresh seeds to confirm it."""
    tunable = [o for o in outcomes if o["verdict"] != "failed" and FAMILIES[o["family"]].param]
    helped = [o for o in tunable if o["verdict"] == "supported"]
    if not helped:
        helped = [o for o in tunable if (o.get("diff") or 0) > 0]
    if not helped:
        return _exploratory_sweep(tunable)
    best = max(helped, key=lambda o: o["diff"])
    family = best["family"]
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
    """No family showed a gain on test feedback: sweep the first tried family's parameter to
    look for one (said as such; no claim)."""
    if not tunable:
        return None
    family = tunable[0]["family"]
    param = FAMILIES[family].param
    assert param is not None
    values, code = _sweep(family)
    rationale = (
        f"No family showed a gain over naive on test feedback in this round. Sweep {family}'s "
        f"{param.name} over {', '.join(f'{v:g}' for v in values)} (on every task) to look for "
        f"a setting that does: {param.description}"
    )
    return {"rationale": rationale, "code": code}


def parse_method(method: str) -> tuple[str | None, dict[str, float]]:
    """`logconf-aux_coef-0.25` -> ("logconf", {"aux_coef": 0.25}); unknown -> (None, {})."""
    parts = method.split("-", 2)
    family = parts[0] if parts[0] in FAMILIES else None
    if family is None or len(parts) != 3:
        return family, {}
    try:
        return family, {parts[1]: float(parts[2])}
    except ValueError:
        return None, {}
