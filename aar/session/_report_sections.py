"""What each section of a round's report says, built from the session state.

`report_data` (`_report.py`) assembles these into `ReportData`; each is a pure function of
the state (holdout records for the headline table, the session's decided verdicts, the
provenance of every number), so `aar replay` rebuilds them from `events.jsonl`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from urllib.parse import urlsplit

from pydantic import BaseModel

from aar.bench import Decision, EvalRecord, summarize, t_interval
from aar.memory import Finding
from aar.session._config import SessionConfig
from aar.session._evidence import paired_by_seed
from aar.session._finalize import BASELINES
from aar.session._models import EvalEntry, RoundInfo, SessionState
from aar.session._probe_flags import is_probe_flag, probe_notes, repeat_lines
from aar.session._report_context import row_role
from aar.session._verdicts import RULE, round_decisions

NAIVE = "naive"


class ResultRow(BaseModel):
    """Holdout PGR of one method on one task over the seeds, and its paired edge on naive."""

    task: str
    method: str
    role: str
    experiment: str
    seeds: list[int]
    pgr_mean: float
    pgr_se: float
    pgr_ci: tuple[float, float]
    acc_mean: float
    vs_naive: tuple[float, float, float] | None
    """mean, 95 % t-interval low, high of PGR(method) - PGR(naive) on the same seeds (holdout):
    the interval of the paired t-test that decides verdicts, before any correction."""
    record_ids: list[str]


class ProvenanceRow(BaseModel):
    record_id: str
    task: str
    seed: int
    method: str
    split: str
    pgr_acc: float
    acc: float
    code_sha256: str
    commit: str | None
    notebook: str


def is_baseline(state: SessionState, entry: EvalEntry) -> bool:
    """The session's own naive/logconf baselines, which every round's table compares with."""
    exp = state.experiments.get(entry.experiment)
    return exp is not None and exp.hypothesis_id == BASELINES


def model_label(config: SessionConfig, layout: int) -> str:
    """The researcher: the model and, from layout 2 on, the server it was reached at (its
    scheme, host and path only: a user name, password or query could hold a secret)."""
    if config.model == "scripted":
        return "scripted (aar's offline, rule-based researcher; no language model)"
    if layout < 2 or not config.base_url:
        return config.model
    url = urlsplit(config.base_url)
    return (
        f"{config.model} at {url.scheme}://{url.hostname or ''}"
        + (f":{url.port}" if url.port else "")
        + url.path
    )


def hypothesis_lines(state: SessionState, number: int, layout: int) -> list[dict[str, str]]:
    """Each hypothesis of the round (from layout 2 on with its family and the researcher's
    rationale, which the report quotes as text)."""
    out = []
    for h in state.hypotheses.values():
        if h.round != number:
            continue
        exps = sorted(
            {e.id for e in state.experiments.values() if e.hypothesis_id == h.id}
            | {
                e.experiment
                for e in state.evaluations
                if e.round == number and e.record.method == h.method
            }
        )
        params = ", ".join(f"{k}={v:g}" for k, v in sorted(h.params.items()))
        line = {
            "id": h.id,
            "statement": h.statement,
            "method": h.method,
            "params": params,
            "experiments": ", ".join(exps) or "none",
        }
        if layout >= 2:
            line |= {"family": h.family or "", "rationale": h.rationale}
        out.append(line)
    return out


def result_rows(
    state: SessionState, holdout: list[EvalEntry], number: int | None = None
) -> list[ResultRow]:
    """The results table's rows, one per (task, method, experiment). From layout 3 on (with
    the round's `number`) each role says what the row is to the round (`row_role`)."""
    groups: dict[tuple[str, str, str], list[EvalRecord]] = defaultdict(list)
    for e in holdout:
        groups[(e.record.task, e.record.method, e.experiment)].append(e.record)
    rows = []
    for (task, method, experiment), records in sorted(groups.items()):
        records.sort(key=lambda r: r.seed)
        pgr = summarize([r.metrics["pgr_acc"] for r in records])
        baseline = [e.record for e in holdout if e.record.method == NAIVE and e.record.task == task]
        vs = None
        if method != NAIVE and baseline:
            diffs = paired_by_seed([*records, *baseline], method, NAIVE).get(task, [])
            vs = (sum(diffs) / len(diffs), *t_interval(diffs)) if diffs else None
        exp = state.experiments.get(experiment)
        role = (
            "baseline"
            if exp is not None and exp.hypothesis_id == BASELINES
            else "confirmation"
            if exp is not None and exp.confirms
            else "hypothesis"
        )
        if number is not None and state.report_layout >= 3:
            role = row_role(state, number, method, role, exp.round if exp else number)
        rows.append(
            ResultRow(
                task=task,
                method=method,
                role=role,
                experiment=experiment,
                seeds=[r.seed for r in records],
                pgr_mean=pgr.mean,
                pgr_se=pgr.se,
                pgr_ci=pgr.ci,
                acc_mean=sum(r.metrics["acc"] for r in records) / len(records),
                vs_naive=vs,
                record_ids=[r.id for r in records],
            )
        )
    return rows


def finding_lines(state: SessionState, number: int, rows: list[ResultRow]) -> list[dict[str, str]]:
    out = []
    for f in state.findings.values():
        if f.round != number:
            continue
        final = f.final_metrics
        verdict, basis = stated_verdict(state, f, rows)
        out.append(
            {
                "id": f.id,
                "verdict": verdict,
                "basis": basis,
                "method": f.method,
                "tasks": ", ".join(f.tasks),
                "summary": f.summary,
                "feedback": _feedback_text(f, state.report_layout),
                "final": mean_se_text(final.pgr_acc_mean, final.pgr_acc_se)
                if final
                else "not scored",
            }
        )
    return out


def _feedback_text(f: Finding, layout: int) -> str:
    """A finding's test-feedback PGR; from layout 2 on, one seed's mean states no SE (the
    stored 0 is a placeholder, and "± 0.000" would read as an exact number)."""
    if f.metrics is None:
        return "withheld"
    if layout >= 2 and len(f.metrics.seeds) == 1:
        return f"{number_text(f.metrics.pgr_acc_mean)} on 1 seed, no SE"
    return mean_se_text(f.metrics.pgr_acc_mean, f.metrics.pgr_acc_se)


def stated_verdict(state: SessionState, f: Finding, rows: list[ResultRow]) -> tuple[str, str]:
    """The verdict the report states, and what decided it. Only a verdict the session decided
    on holdout is stated, and never one that the report's own holdout table contradicts (its
    rows of the finding's method on the finding's tasks, in the experiments it cites)."""
    b = f.verdict_basis
    claimed = f" (the researcher claimed {f.claimed_verdict})" if f.claimed_verdict else ""
    if b is None:
        claim = claimed or f" (claimed {f.verdict})"
        return "unconfirmed", f"no verdict was decided on holdout{claim}"
    if not b.seeds:  # screened out, or no holdout to confirm on: the reason is the basis
        return "inconclusive", f"not confirmed: {b.why}{claimed}"
    adj = "n/a" if b.adjusted_p is None else f"{b.adjusted_p:.3g}"
    text = (
        f"decided on {b.split}, seeds {', '.join(map(str, b.seeds))}"
        + ("" if b.fresh_seeds else " (the round's own)")
        + f": {b.test}, {b.correction.capitalize()} over {b.family_size} comparisons, "
        f"adjusted p = {adj}, level {b.level:g}{claimed}"
    )
    if f.verdict == "inconclusive":
        return f.verdict, text
    method = f.method.split(" (")[0]
    experiments = {e.experiment for rid in f.eval_record_ids if (e := state.record(rid))}
    if b.fresh_seeds:  # decided on the confirmation re-runs: those are the rows to agree with
        experiments = {
            x.id
            for x in state.experiments.values()
            if x.confirms in experiments and x.round == f.round
        }
    mine = [
        r for r in rows if r.method == method and r.task in f.tasks and r.experiment in experiments
    ]
    sign = 1 if f.verdict == "supported" else -1
    if not mine or any(r.vs_naive is None or sign * r.vs_naive[0] <= 0 for r in mine):
        return "inconclusive", (
            f"the holdout table does not show what '{f.verdict}' says ({text}); not stated"
        )
    return f.verdict, text


def early_end_lines(state: SessionState, info: RoundInfo) -> list[str]:
    """Why the round ended early and what it cut (none for a completed round or a log from
    before outcomes were logged)."""
    if info.outcome in (None, "completed"):
        return []
    how = {"budget": "a budget ran out", "failed": "it could not be driven"}[info.outcome]
    out = [f"This round ended early ({how}): {info.why_ended}."]
    plan = info.plan
    if plan is not None:
        tried = sum(h.round == info.number for h in state.hypotheses.values())
        scored = sum(e.round == info.number for e in state.evaluations)
        out.append(
            f"Planned: {plan.hypotheses} hypotheses and {plan.evaluations} evaluations on "
            f"{plan.pairs} (task, seed) pairs; done: {tried} hypotheses proposed, {scored} "
            f"evaluations, {len(info.proposals)} follow-up proposals."
        )
        out += [f"Cut by choice: {line}." for line in plan.shortfalls()]
    return out


def failure_lines(state: SessionState, number: int, layout: int) -> list[str]:
    """What failed in the round: the round itself, interrupted experiments and, from layout 2
    on, every cell that did not end ok (its error on one line, as the sandbox gave it)."""
    info = next(r for r in state.rounds if r.number == number)
    out = [f"the round: {info.why_ended}"] if info.outcome == "failed" else []
    for exp in state.experiments.values():
        if exp.round == number and exp.status == "interrupted":
            out.append(f"experiment {exp.id} was interrupted (the session was stopped)")
    if layout >= 2:
        out += [
            f"experiment {c.experiment} cell {c.index} ended {c.status}: "
            + " ".join((c.error or "no error text was logged").split())[:300]
            for c in state.failed_cells
            if c.round == number
        ]
    return out


def threat_lines(state: SessionState, number: int, holdout: list[EvalEntry]) -> list[str]:
    info = next(r for r in state.rounds if r.number == number)
    out = [f"budget: {hit}" for hit in info.budget_hits]
    mine = [e.record for e in state.evaluations if e.round == number]
    out += probe_notes(state, number, probe_flag_lines(mine))
    out += repeat_lines(mine)
    for r in mine:
        out += [f"{r.task}: {f}" for f in r.flags if f.startswith("small_gap")]
    if state.isolation == "none":
        out.append("UNSAFE: the experiments ran without isolation (sandbox.isolation = 'none')")
    if state.config.model == "scripted":
        out.append("the researcher is scripted: its hypotheses come from a fixed family list")
    if not holdout:
        out.append("no holdout predictions were scored: the round has no headline numbers")
    return sorted(set(out), key=out.index)


def probe_flag_lines(records: list[EvalRecord]) -> list[str]:
    """One line per method whose submissions were (near-)duplicates of earlier ones: what
    label probing looks like (a hyper-parameter that barely moves predictions does too).
    Repeats of identical predictions are no probe flag (`repeat_lines` counts them)."""
    flagged: dict[str, list[EvalRecord]] = defaultdict(list)
    for r in records:
        if any(is_probe_flag(f) for f in r.flags):
            flagged[r.method].append(r)
    out = []
    for method, rs in sorted(flagged.items()):
        total = sum(r.method == method for r in records)
        where = ", ".join(f"{r.task} seed {r.seed}" for r in rs)
        out.append(
            f"probe flag: {len(rs)} of {total} submissions of {method} differ from an earlier "
            f"one in only a few predictions ({where})"
        )
    return out


def provenance_row(state: SessionState, entry: EvalEntry) -> ProvenanceRow:
    r = entry.record
    exp = state.experiments.get(entry.experiment)
    return ProvenanceRow(
        record_id=r.id,
        task=r.task,
        seed=r.seed,
        method=r.method,
        split=r.split,
        pgr_acc=r.metrics["pgr_acc"],
        acc=r.metrics["acc"],
        code_sha256=r.code_sha256,
        commit=r.git_commit,
        notebook=f"{exp.path if exp else entry.experiment}/notebook.ipynb",
    )


def number_text(value: float | None) -> str:
    """Three decimals, or n/a for a value that is missing or not finite."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def mean_se_text(mean: float, se: float | None) -> str:
    """'mean ± se' (just the mean when SE is undefined, e.g. one seed)."""
    return (
        f"{number_text(mean)} ± {number_text(se)}"
        if se is not None and math.isfinite(se)
        else number_text(mean)
    )


def shown_verdict(method: str, task: str, d: Decision, rows: list[ResultRow]) -> str:
    """The session's verdict on (method, task) as the report states it: 'inconclusive' where
    the report's own holdout table does not show it (its rows of the method on the task; the
    confirmation rows when fresh seeds decided)."""
    if d.verdict == "inconclusive":
        return d.verdict
    sign = 1 if d.verdict == "supported" else -1
    role = "confirmation" if d.fresh else None
    mine = [
        r
        for r in rows
        if r.method == method and r.task == task and (role is None or r.role == role)
    ]
    if not mine or any(r.vs_naive is None or sign * r.vs_naive[0] <= 0 for r in mine):
        return "inconclusive"  # not stated: the holdout table does not show it
    return d.verdict


def verdict_lines(state: SessionState, number: int, rows: list[ResultRow]) -> list[dict[str, str]]:
    """Each (method, task) the session decided: the verdict (never one the holdout table
    contradicts), what the test feedback showed, and what the holdout confirmed. From layout 2
    on, a confirmation that was not run states no adjusted p ("—"): the 1 that Holm counts it
    with is a placeholder, not a test result."""
    out = []
    for (method, task), d in sorted(round_decisions(state, number).items()):
        verdict = shown_verdict(method, task, d, rows)
        s, c = d.screen, d.confirm
        screen = (
            f"{s.n} seeds shown, mean {number_text(s.mean)}, p {number_text(s.p_value)}"
            if s.n
            else "no score shown (the scorer withheld them)"
        )
        confirm = "not run"
        if c is not None and c.n:
            seeds = f"{min(d.confirm_seeds)}–{max(d.confirm_seeds)}" if d.confirm_seeds else "?"
            kind = "fresh" if d.fresh else "own"
            confirm = (
                f"{number_text(c.mean)} on {c.n} {kind} seeds ({seeds}), p {number_text(c.p_value)}"
            )
        out.append(
            {
                "method": method,
                "task": task,
                "verdict": verdict,
                "screen": screen + ("" if d.screened else ", not screened in"),
                "confirm": confirm,
                "adjusted": "— (not run)"
                if state.report_layout >= 2 and not confirmed_by_test(d)
                else f"{number_text(d.adjusted_p)} (Holm over {d.family_size})",
            }
        )
    return out


def confirmed_by_test(d: Decision) -> bool:
    """Whether the confirmation test ran: a holdout test on enough seeds (else Holm counts the
    comparison with p = 1, a placeholder)."""
    return d.confirm is not None and d.confirm.n >= RULE.min_seeds
