"""What a reviewer judges first about a proposal, read from its session: the parameters it
changes against the experiment it follows, and the findings that experiment's records back.

A follow-up sweep repeats a whole experiment template per value, so its code runs to hundreds
of lines where the decision turns on a handful of `MethodConfig` fields. The digest names
those fields (`component.field: before -> after`, per method the proposal trains) so that the
page and `aar review show` can lead with them; the exact code stays one click (or `--code`)
away and the approval still binds the sha256 of all of it. Parsing is `_method_config`'s
(`ast`, never executed): a script whose configuration is not a literal gives no changes,
and the reader is then shown the code diff instead (never a guess).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aar.session._method_config import _method_of, _section_config, _sections

if TYPE_CHECKING:
    from aar.memory import Finding
    from aar.review import Proposal
    from aar.session._models import SessionState


@dataclass(frozen=True)
class ParamChange:
    """One configuration field a proposed method sets differently from the base it follows."""

    method: str
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ProposalDigest:
    """The summary of a proposal: `methods` it trains (None when its code says no literal
    configuration), the base method it is compared with, the changes, and the findings the
    followed experiment's records back."""

    methods: list[str] | None
    base: str | None
    changes: list[ParamChange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def known(self) -> bool:
        """Whether the parameter diff says what the proposal changes (else read the code)."""
        return bool(self.methods) and self.base is not None


def proposal_digest(
    state: SessionState | None, proposal: Proposal, followed_cells: list[str] | None
) -> ProposalDigest:
    """The digest of `proposal` (see the module docstring); `followed_cells` are the cells of
    the experiment it follows (None when it follows none or they are missing)."""
    findings = _resting_on(state, proposal.follows)
    proposed = script_configs(_split(proposal.code))
    before = script_configs(followed_cells or [])
    if not proposed or not before:
        return ProposalDigest(list(proposed) or None, None, [], findings)
    base = _base(before, proposed)
    changes = [
        ParamChange(method, key, old, new)
        for method, config in proposed.items()
        for key, old, new in _diff(before[base], config)
    ]
    return ProposalDigest(list(proposed), base, changes, findings)


def script_configs(cells: list[str]) -> dict[str, dict[str, Any]]:
    """Each method a script trains from a literal configuration, with that configuration (the
    first section's when a name repeats); {} when the script does not parse. Parsed once per
    code (a 450-line sweep takes ~100 ms to walk; a proposal page shows it on every load):
    each caller gets its own copy."""
    return copy.deepcopy(_script_configs(tuple(cells)))


@lru_cache(maxsize=128)
def _script_configs(cells: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    try:
        sections = _sections([ast.parse(cell) for cell in cells])
        out: dict[str, dict[str, Any]] = {}
        for section in sections:
            method, config = _method_of(section), _section_config(section)
            if isinstance(method, str) and config is not None:
                out.setdefault(method, config)
        return out
    except Exception:  # SyntaxError, RecursionError: nothing is known
        return {}


def _split(code: str) -> list[str]:
    from aar.sandbox import split_cells

    return split_cells(code)


def _base(before: dict[str, dict[str, Any]], proposed: dict[str, Any]) -> str:
    """The followed experiment's method with the proposal's first method name, else its first."""
    first = next(iter(proposed))
    return first if first in before else next(iter(before))


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    a, b = _flat(old), _flat(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def _resting_on(state: SessionState | None, follows: str | None) -> list[Finding]:
    """The session's findings that cite a record of the followed experiment."""
    if state is None or follows is None:
        return []
    records = {e.record.id for e in [*state.evaluations, *state.holdout] if e.experiment == follows}
    return [f for f in state.findings.values() if records & set(f.eval_record_ids)]
