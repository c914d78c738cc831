"""The round's answer as `aar run` / `aar resume` print it when a round ends: the best method
per task and the verdicts, read from the round's `report.json` (the report decides them; this
only says them in a terminal's width, each line cut at a word)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from aar._cli.output import clip
from aar.text import one_line

MAX_VERDICT_LINES = 8
"""Comparisons listed one per line; the rest are counted (the report lists them all)."""


def answer_lines(report_json: Path, width: int) -> list[str]:
    """Lines of at most `width` characters; none when the report cannot be read (the report
    path printed next still says where everything is)."""
    try:
        data = json.loads(report_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    lines = [*_best_lines(data.get("answer") or []), *_verdict_lines(data.get("verdicts") or [])]
    shown = []
    for line in lines:  # the words may be a model's: one line each, hidden characters marked
        indent = line[: len(line) - len(line.lstrip(" "))]
        shown.append(indent + clip(one_line(line), width - len(indent)))
    return shown


def _best_lines(answer: list[dict[str, Any]]) -> list[str]:
    """One line per task: the method the report chose (from layout 5 with the round that
    confirmed it), its effect against naive with its confirmed interval and adjusted p; where
    naive stands, why; where test feedback cannot order the best confirmed methods, no single
    one, but each of them."""
    if not answer:
        return []
    out = ["best method per task:"]
    for row in answer:
        unordered = row.get("unordered")
        if isinstance(unordered, list) and unordered:
            out += _unordered_lines(row, unordered)
            continue
        out.append(f"  {row.get('task', '?')}: {_best(row)}")
    return out


def _unordered_lines(row: dict[str, Any], unordered: list[Any]) -> list[str]:
    """Layout 5, where test feedback cannot order the best confirmed methods: the report
    names none, so neither does this; it says why and lists each with its confirmed effect
    (one line each, so none is cut off at the terminal's width)."""
    why = row.get("unordered_why") or "the scorer withheld their edges"
    out = [f"  {row.get('task', '?')}: not ordered by test feedback; each confirmed better:"]
    out += [f"    {_best(c)}" for c in unordered if isinstance(c, dict)]
    out.append(f"    ({why})")
    return out


def _best(row: dict[str, Any]) -> str:
    method = str(row.get("method", "?"))
    if method == "naive":
        tested = int(row.get("tested") or 0)
        if tested == 0:
            return "naive (no method was tested on this task)"
        methods = f"{tested} method{'s' if tested != 1 else ''} tested"
        if not row.get("confirmations"):
            return f"naive ({methods}; no confirmation test was run)"
        return f"naive ({methods}; none was confirmed better)"
    parts = [method if row.get("round") is None else f"{method} (round {row['round']})"]
    effect = row.get("effect")
    if isinstance(effect, list) and len(effect) == 3:
        parts.append(f"PGR vs naive {effect[0]:+.3f} [95% CI {effect[1]:+.3f}, {effect[2]:+.3f}]")
    if isinstance(row.get("adjusted_p"), int | float):
        parts.append(f"adjusted p {row['adjusted_p']:.3g}")
    return ", ".join(parts)


def _verdict_lines(verdicts: list[dict[str, Any]]) -> list[str]:
    """A count by verdict, then the comparisons, decided ones (supported, refuted) first."""
    if not verdicts:
        return []
    counts = Counter(str(v.get("verdict", "?")) for v in verdicts)
    out = ["verdicts: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.most_common())]
    order = {"supported": 0, "refuted": 1}
    ranked = sorted(verdicts, key=lambda v: order.get(str(v.get("verdict")), 2))
    for v in ranked[:MAX_VERDICT_LINES]:
        out.append(f"  {v.get('verdict', '?')}: {v.get('method', '?')} on {v.get('task', '?')}")
    if len(ranked) > MAX_VERDICT_LINES:
        out.append(f"  … {len(ranked) - MAX_VERDICT_LINES} more in the report")
    return out
