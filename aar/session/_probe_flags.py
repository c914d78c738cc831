"""What a probe flag in a report's threats means to the person who reads it.

The scorer flags a submission that differs from an earlier one in only a few predictions:
that is what label probing looks like. A sweep a reviewer approved does it too, honestly (a
value that barely moves the predictions), and the bare flag left reviewers asking whether
their own approval had started an attack. From report layout 3 on, a flag in a follow-up
round names the approved proposals the round runs and says when to worry; reports of earlier
layouts keep their words, so `aar replay` still matches them byte for byte.
"""

from __future__ import annotations

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
