"""Numbers a finding may state, computed from the evaluator's records it cites.

The agent never types a metric into a finding: `record_finding` takes record ids and the
session computes the metrics. Prose still carries numbers, so every number in a finding's
summary (or a round summary) must be one of the numbers its records support — a record's
metrics, a mean, SE or CI over seeds, a paired difference between two cited methods — up to
the precision it is written with. Anything else is refused as unbacked.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aar.bench import EvalRecord, summarize
from aar.errors import AarError
from aar.memory import Metrics

_NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+(?:\.\d+)?(?:\s?%)?")
METRICS_QUOTED = ("acc", "auroc", "pgr_acc", "pgr_auroc", "weak_acc", "ceiling_acc")


class UnbackedNumberError(AarError):
    """A number in the agent's prose that no cited evaluator record supports."""


@dataclass(frozen=True)
class Evidence:
    """The records behind a claim and every number they support, also by kind: a number
    written right after "PGR" must be a PGR, one after "accuracy" an accuracy."""

    records: tuple[EvalRecord, ...]
    numbers: frozenset[float]
    integers: frozenset[int]
    by_kind: dict[str, frozenset[float]]


_KINDS = {
    "pgr": ("pgr_acc", "pgr_auroc"),
    "acc": ("acc", "weak_acc", "ceiling_acc"),
    "auroc": ("auroc", "weak_auroc", "ceiling_auroc"),
}
_KIND_WINDOW = 24
"""How far before a number its kind word may stand ("PGR 0.45", "accuracy was 0.81")."""


NAIVE = "naive"


def with_naive_shown(records: Iterable[EvalRecord]) -> list[EvalRecord]:
    """`records`, with the naive baseline's test accuracy and PGR filled in from what every
    answer shows: the scorer's ladder starts at the naive student, so it never shows naive's
    own submission a score, but every answer carries `naive_acc` (floored), beside the floored
    weak and ceiling accuracies, and the shown PGR is computed from floored accuracies."""
    from aar.bench import pgr

    out = []
    for r in records:
        m = r.metrics
        naive_acc = m.get("naive_acc", math.nan)
        if (
            r.method == NAIVE
            and not math.isfinite(m.get("acc", math.nan))
            and math.isfinite(naive_acc)
        ):
            shown = pgr(naive_acc, m.get("weak_acc", math.nan), m.get("ceiling_acc", math.nan))
            r = r.model_copy(update={"metrics": {**m, "acc": naive_acc, "pgr_acc": shown}})
        out.append(r)
    return out


def feedback_metrics(records: Sequence[EvalRecord]) -> Metrics | None:
    """A finding's test-feedback metrics (`pgr_metrics`), or None when the scorer withheld
    every cited score (or, rarer, every cited PGR is undefined: the weak model matched the
    ceiling): the finding is recorded all the same (what was tried is worth keeping, and its
    verdict is decided on holdout), with no number, never a made-up one."""
    try:
        return pgr_metrics(records)
    except AarError:
        return None


def pgr_metrics(records: Sequence[EvalRecord]) -> Metrics:
    """PGR (accuracy, AUROC) and accuracy over the records' seeds, as a finding stores them:
    over the seeds whose PGR the feedback showed (the scorer withholds a score that does not
    beat the best shown; `seeds` names the ones summarised)."""
    records = with_naive_shown(records)
    pgr = summarize([r.metrics["pgr_acc"] for r in records])
    if not math.isfinite(pgr.mean):
        raise AarError(
            "the records show no PGR (the scorer showed no score: not better than the best "
            "shown; or every weak-to-ceiling gap is zero)"
        )
    auroc = summarize([r.metrics.get("pgr_auroc", math.nan) for r in records])
    acc = summarize([r.metrics["acc"] for r in records])
    return Metrics(
        pgr_acc_mean=pgr.mean,
        pgr_acc_se=_finite(pgr.se, 0.0),
        pgr_acc_ci=_ci(pgr.ci),
        pgr_auroc_mean=_finite(auroc.mean, None),
        pgr_auroc_se=_finite(auroc.se, None),
        pgr_auroc_ci=_ci(auroc.ci),
        accuracy_mean=_finite(acc.mean, None),
        accuracy_se=_finite(acc.se, None),
        seeds=sorted(
            {r.seed for r in records if math.isfinite(r.metrics.get("pgr_acc", math.nan))}
        ),
    )


_Default = TypeVar("_Default", float, None)


def _finite(value: float, default: _Default) -> float | _Default:
    return value if math.isfinite(value) else default


def _ci(ci: tuple[float, float]) -> tuple[float, float] | None:
    return ci if all(map(math.isfinite, ci)) else None


def paired_by_seed(
    records: Iterable[EvalRecord], method: str, baseline: str, metric: str = "pgr_acc"
) -> dict[str, list[float]]:
    """Per task, `metric(method) - metric(baseline)` on every seed both were scored on."""
    by: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in with_naive_shown(records):
        by[(r.method, r.task)][r.seed] = r.metrics.get(metric, math.nan)
    out: dict[str, list[float]] = {}
    for (m, task), values in by.items():
        base = by.get((baseline, task), {})
        if m == method and base:
            seeds = sorted(set(values) & set(base))
            out[task] = [values[s] - base[s] for s in seeds]
    return out


def evidence(
    records: Sequence[EvalRecord], extra: Iterable[float] = (), integers: Iterable[int] = ()
) -> Evidence:
    """Every number `records` support (see the module docstring), plus `extra` values (e.g.
    hyper-parameters) and `integers` (e.g. how many hypotheses a round tried)."""
    records = with_naive_shown(records)
    kinds: dict[str, set[float]] = {kind: set() for kind in _KINDS}
    groups: dict[tuple[str, str], list[EvalRecord]] = defaultdict(list)
    for r in records:
        groups[(r.method, r.task)].append(r)
        groups[(r.method, "*")].append(r)
    for kind, metrics in _KINDS.items():
        for metric in metrics:
            kinds[kind].update(r.metrics[metric] for r in records if metric in r.metrics)
            for group in groups.values():
                kinds[kind].update(
                    _summary_numbers([g.metrics.get(metric, math.nan) for g in group])
                )
    methods = sorted({r.method for r in records})
    for method in methods:
        for baseline in methods:
            if method != baseline:
                for metric, kind in (("pgr_acc", "pgr"), ("acc", "acc")):
                    for diffs in paired_by_seed(records, method, baseline, metric).values():
                        kinds[kind].update(_summary_numbers(diffs))
    numbers: set[float] = set(extra).union(*kinds.values())
    counts = set(integers)
    integers = counts | {r.seed for r in records} | {len(records), len({r.task for r in records})}
    integers |= {len(methods), len({r.seed for r in records}), 95}
    finite = {k: frozenset(v for v in vs if math.isfinite(v)) for k, vs in kinds.items()}
    return Evidence(
        records=tuple(records),
        numbers=frozenset(v for v in numbers if math.isfinite(v)),
        integers=frozenset(integers),
        by_kind=finite,
    )


def _summary_numbers(values: list[float]) -> list[float]:
    s = summarize(values)
    return [s.mean, s.se, *s.ci]


def check_numbers(
    text: str,
    backing: Evidence,
    *,
    where: str,
    names: Iterable[str] = (),
    plain: Iterable[float] = (),
) -> None:
    """Refuse `text` if it states a number `backing` does not support (names are skipped).

    `plain` numbers (e.g. the parameters a proposal's code sets) are accepted only where no
    metric word stands before them: "epsilon 0.2" may quote the code, "PGR 0.2" may not.
    """
    scrubbed = text
    for name in sorted(set(names), key=len, reverse=True):
        if name:
            scrubbed = scrubbed.replace(name, " ")
    settings = frozenset(v for v in plain if math.isfinite(v))
    bad = []
    for m in _NUMBER.finditer(scrubbed):
        kind = _kind(scrubbed[max(m.start() - _KIND_WINDOW, 0) : m.start()])
        if not _backed(m.group(0), backing, kind) and not (
            kind is None and _plain(m.group(0), settings)
        ):
            bad.append(m.group(0))
    if bad:
        raise UnbackedNumberError(
            f"{where} states numbers no cited evaluator record supports: {', '.join(bad)}. "
            "Quote only metrics of the cited records (or their means, SEs, CIs and paired "
            "differences), as rounded in the evaluation results"
        )


def _plain(token: str, plain: frozenset[float]) -> bool:
    text = token.replace("−", "-").replace(" ", "").rstrip("%")
    if token.strip().endswith("%"):
        return False
    value = float(text)
    decimals = len(text.split(".")[1]) if "." in text else 0
    tolerance = 1e-9 if decimals == 0 else 0.5 * 10.0**-decimals + 1e-9
    return any(abs(abs(value) - abs(n)) <= tolerance for n in plain)


def numbers_in_code(code: str) -> list[float]:
    """Every numeric literal of `code` (what a proposal's rationale may quote as a setting)."""
    return [
        float(m.group(0)) for m in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", code)
    ]


def _kind(before: str) -> str | None:
    """The metric a number is said to be, from the words just before it: "PGR" wins (a PGR
    is "on accuracy"), then "AUROC", then "acc"/"accuracy"."""
    text = before.lower()
    for kind in ("pgr", "auroc", "acc"):
        if kind in text:
            return kind
    return None


def _backed(token: str, backing: Evidence, kind: str | None = None) -> bool:
    text = token.replace("−", "-").replace(" ", "")
    percent = text.endswith("%")
    text = text.rstrip("%")
    value = float(text)
    decimals = len(text.split(".")[1]) if "." in text else 0
    if not percent and decimals == 0:  # a count, a seed, a parameter, or an exact value
        return abs(value) in backing.integers or any(abs(value - n) < 1e-9 for n in backing.numbers)
    if percent and decimals == 0 and abs(value) in backing.integers:  # "95 % CI"
        return True
    if percent:
        value, decimals = value / 100, decimals + 2
    tolerance = 0.5 * 10.0**-decimals + 1e-9  # the number as rounded to the digits shown
    pool = (
        backing.by_kind[kind] | backing.numbers - _metric_numbers(backing)
        if kind
        else backing.numbers
    )
    return any(abs(value - n) <= tolerance for n in pool)


def _metric_numbers(backing: Evidence) -> frozenset[float]:
    return frozenset().union(*backing.by_kind.values())
