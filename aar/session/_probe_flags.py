"""What a probe flag in a report's threats means to the person who reads it.

The scorer flags a submission that differs from an earlier one in only a few predictions:
that is what label probing looks like. A sweep a reviewer approved does it too, honestly (a
value that barely moves the predictions), and the bare flag left reviewers asking whether
their own approval had started an attack. From report layout 3 on, a flag in a follow-up
round names the approved proposals the round runs and says when to worry; reports of earlier
layouts keep their words, so `aar replay` still matches them byte for byte.

Training is deterministic and the scorer's ledger installation-wide, so a later session's
baselines (or any re-run) resubmit predictions an earlier session scored byte for byte. The
scorer flags those `repeat`, not `duplicate`: they reveal nothing new, so they are no probe
flag, only one calm line in the threats (`repeat_lines`). Records logged before that kind
existed never carry it, so older reports replay unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from aar.bench import EvalRecord
from aar.scorer import is_repeat_flag
from aar.session._models import SessionState

EXPLAINED_FROM_LAYOUT = 3


def probe_notes(state: SessionState, number: int, lines: list[str]) -> list[str]:
    """`lines` (one probe flag per method, `probe_flag_lines`), each followed in a follow-up
    round of a layout-3 session by what it means there and whether to worry."""
    info = next((r for r in state.rounds if r.number == number), None)
    if not lines or info is None or info.kind != "followup":
        return lines
    if state.report_layout < EXPLAINED_FROM_LAYOUT:
        return lines
    approved = ", ".join(info.followups) or "the approved follow-ups"
    return [
        line + f". This round runs what a reviewer approved ({approved}): a sweep whose values "
        "barely change the predictions is flagged like label probing, which is expected here "
        "and no cause for concern. Worry only if a method no reviewer approved is flagged, or "
        "if its test feedback climbs while holdout does not"
        for line in lines
    ]


def is_probe_flag(flag: str) -> bool:
    """A flag with label probing's signature: `duplicate` or `near_duplicate` (same hardened
    labels from other probabilities, or a few rows changed), never a `repeat` of identical
    predictions."""
    return "duplicate" in flag and not is_repeat_flag(flag)


def repeat_lines(records: Sequence[EvalRecord]) -> list[str]:
    """One calm line for the submissions that repeated predictions already scored (none when
    there were none, as in every report from before the `repeat` kind)."""
    count = sum(any(is_repeat_flag(f) for f in r.flags) for r in records)
    if not count:
        return []
    what = "submission repeated" if count == 1 else "submissions repeated"
    return [
        f"{count} {what} predictions already scored (e.g. this session's baselines re-run): "
        "nothing new was revealed"
    ]
