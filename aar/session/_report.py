"""A round's report: `rounds/<n>/report.md`, its figure and a provenance table.

Every number is computed here from the evaluator's records in the log (holdout for the
headline table), never typed by the agent; `report_data` is a pure function of the session
state, so `aar replay` rebuilds the same report from `events.jsonl` and compares.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from aar.bench import EvalRecord, summarize, t_interval
from aar.files import write_atomic
from aar.memory import Finding
from aar.session._evidence import paired_by_seed
from aar.session._finalize import BASELINES
from aar.session._models import EvalEntry, RoundInfo, SessionState
from aar.session._verdicts import fresh_round, round_decisions, rule_text
from aar.text import markdown_inline, markdown_quote

if TYPE_CHECKING:
    from aar.session._session import Session

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


class ReportData(BaseModel):
    session_id: str
    round: int
    kind: str
    goal: str
    directions: list[str]
    model: str
    tasks: list[str]
    seeds: list[int]
    why_ended: str | None
    summary: str | None
    hypotheses: list[dict[str, str]]
    rows: list[ResultRow]
    findings: list[dict[str, str]]
    failures: list[str]
    threats: list[str]
    provenance: list[ProvenanceRow]
    proposals: list[dict[str, str]]
    verdict_rule: str = ""
    verdicts: list[dict[str, str]] = []
    """Every comparison the session decided this round, as its verdicts table shows it."""
    """How the round decided its verdicts (the test, the data, the correction)."""
    early_end: list[str] = []
    """The report's first lines when the round ended before the researcher finished it: how,
    and what the round planned against what it did (empty for a completed round)."""


def report_data(state: SessionState, number: int, proposals: list[dict[str, str]]) -> ReportData:
    """Everything the report says about round `number` (a pure function of the state)."""
    info = next(r for r in state.rounds if r.number == number)
    holdout = [e for e in state.holdout if e.round == number or _is_baseline(state, e)]
    return ReportData(
        session_id=state.id,
        round=number,
        kind=info.kind,
        goal=state.config.goal,
        directions=state.config.directions,
        model=_model_label(state.config.model),
        tasks=state.config.tasks,
        seeds=state.config.seeds,
        why_ended=info.why_ended,
        early_end=_early_end(state, info),
        summary=info.summary,
        hypotheses=_hypotheses(state, number),
        rows=(rows := _rows(state, holdout)),
        findings=_findings(state, number, rows),
        verdict_rule=rule_text(fresh_round(state, number)),
        verdicts=_verdicts(state, number, rows),
        failures=_failures(state, number),
        threats=_threats(state, number, holdout),
        provenance=[_provenance(state, e) for e in holdout],
        proposals=proposals,
    )


def _is_baseline(state: SessionState, entry: EvalEntry) -> bool:
    """The session's own naive/logconf baselines, which every round's table compares with."""
    exp = state.experiments.get(entry.experiment)
    return exp is not None and exp.hypothesis_id == BASELINES


def _model_label(model: str) -> str:
    if model == "scripted":
        return "scripted (aar's offline, rule-based researcher; no language model)"
    return model


def _hypotheses(state: SessionState, number: int) -> list[dict[str, str]]:
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
        out.append(
            {
                "id": h.id,
                "statement": h.statement,
                "method": h.method,
                "params": params,
                "experiments": ", ".join(exps) or "none",
            }
        )
    return out


def _rows(state: SessionState, holdout: list[EvalEntry]) -> list[ResultRow]:
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


def _findings(state: SessionState, number: int, rows: list[ResultRow]) -> list[dict[str, str]]:
    out = []
    for f in state.findings.values():
        if f.round != number:
            continue
        final = f.final_metrics
        verdict, basis = _stated_verdict(state, f, rows)
        out.append(
            {
                "id": f.id,
                "verdict": verdict,
                "basis": basis,
                "method": f.method,
                "tasks": ", ".join(f.tasks),
                "summary": f.summary,
                "feedback": (
                    _mean_se(f.metrics.pgr_acc_mean, f.metrics.pgr_acc_se)
                    if f.metrics
                    else "withheld"
                ),
                "final": _mean_se(final.pgr_acc_mean, final.pgr_acc_se) if final else "not scored",
            }
        )
    return out


def _stated_verdict(state: SessionState, f: Finding, rows: list[ResultRow]) -> tuple[str, str]:
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


def _early_end(state: SessionState, info: RoundInfo) -> list[str]:
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


def _failures(state: SessionState, number: int) -> list[str]:
    info = next(r for r in state.rounds if r.number == number)
    out = [f"the round: {info.why_ended}"] if info.outcome == "failed" else []
    for exp in state.experiments.values():
        if exp.round == number and exp.status == "interrupted":
            out.append(f"experiment {exp.id} was interrupted (the session was stopped)")
    return out


def _threats(state: SessionState, number: int, holdout: list[EvalEntry]) -> list[str]:
    info = next(r for r in state.rounds if r.number == number)
    out = [f"budget: {hit}" for hit in info.budget_hits]
    mine = [e.record for e in state.evaluations if e.round == number]
    out += _probe_flags(mine)
    for r in mine:
        out += [f"{r.task}: {f}" for f in r.flags if f.startswith("small_gap")]
    if state.isolation == "none":
        out.append("UNSAFE: the experiments ran without isolation (sandbox.isolation = 'none')")
    if state.config.model == "scripted":
        out.append("the researcher is scripted: its hypotheses come from a fixed family list")
    if not holdout:
        out.append("no holdout predictions were scored: the round has no headline numbers")
    return sorted(set(out), key=out.index)


def _probe_flags(records: list[EvalRecord]) -> list[str]:
    """One line per method whose submissions were (near-)duplicates of earlier ones: what
    label probing looks like (a hyper-parameter that barely moves predictions does too)."""
    flagged: dict[str, list[EvalRecord]] = defaultdict(list)
    for r in records:
        if any("duplicate" in f for f in r.flags):
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


def _provenance(state: SessionState, entry: EvalEntry) -> ProvenanceRow:
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


def _number(value: float | None) -> str:
    """Three decimals, or n/a for a value that is missing or not finite."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _mean_se(mean: float, se: float | None) -> str:
    """'mean ± se' (just the mean when SE is undefined, e.g. one seed)."""
    return (
        f"{_number(mean)} ± {_number(se)}"
        if se is not None and math.isfinite(se)
        else _number(mean)
    )


def render_markdown(data: ReportData) -> str:
    """The report as Markdown (deterministic: the same data gives the same text)."""
    lines = [f"# Session {data.session_id}: round {data.round} ({data.kind})", ""]
    if data.early_end:
        first, *rest = data.early_end
        lines += [f"> **{markdown_inline(first)}**", *(f"> {markdown_inline(x)}" for x in rest), ""]
    # Agent- and user-written text is quoted (`markdown_inline`, `markdown_quote`): it renders
    # as itself and can forge no heading, table, list, link, image, HTML or code fence.
    lines += [f"- **Goal:** {markdown_inline(data.goal)}", f"- **Model:** {data.model}"]
    directions = "; ".join(markdown_inline(d) for d in data.directions)
    lines += [f"- **Directions:** {directions or 'none'}"]
    lines += [f"- **Tasks × seeds:** {', '.join(data.tasks)} × {data.seeds}"]
    lines += [f"- **Round ended:** {markdown_inline(data.why_ended or 'not yet')}", ""]
    if data.summary:
        lines += ["## The researcher's summary", "", *markdown_quote(data.summary), ""]
    lines += ["## Hypotheses tried", ""]
    lines += [
        f"- `{h['id']}` {markdown_inline(h['statement'])} — method `{h['method']}`"
        + (f" ({markdown_inline(h['params'])})" if h["params"] else "")
        + f"; experiments {h['experiments']}"
        for h in data.hypotheses
    ] or ["- none"]
    lines += ["", *_results_table(data), "", "![holdout PGR by task and method](pgr.png)", ""]
    lines += [*_verdicts_table(data), ""]
    lines += ["## Findings (stored in the memory as pending review)", ""]
    lines += [
        f"- `{f['id']}` **{f['verdict']}** — {markdown_inline(f['method'])} on {f['tasks']}: "
        f"{markdown_inline(f['summary'])} "
        f"(test feedback {f['feedback']}; holdout {f['final']}; verdict {f['basis']})"
        for f in data.findings
    ] or ["- none"]
    lines += ["", "## What failed, and threats to validity", ""]
    lines += [f"- {markdown_inline(t)}" for t in [*data.failures, *data.threats]] or [
        "- none noted"
    ]
    lines += ["", *_provenance_table(data), "", "## Proposed follow-ups (need approval)", ""]
    lines += [
        f"- `{p['id']}` {markdown_inline(p['rationale'])} "
        f"(sha256 `{p['sha256'][:16]}…`, ~{p['evals']} evaluations, expires {p['expires']}; "
        f"`aar review show {p['id']}`)"
        for p in data.proposals
    ] or ["- none"]
    return "\n".join(lines) + "\n"


def _verdicts(state: SessionState, number: int, rows: list[ResultRow]) -> list[dict[str, str]]:
    """Each (method, task) the session decided: the verdict (never one the holdout table
    contradicts), what the test feedback showed, and what the holdout confirmed."""
    out = []
    for (method, task), d in sorted(round_decisions(state, number).items()):
        verdict = d.verdict
        if verdict != "inconclusive":
            sign = 1 if verdict == "supported" else -1
            role = "confirmation" if d.fresh else None
            mine = [
                r
                for r in rows
                if r.method == method and r.task == task and (role is None or r.role == role)
            ]
            if not mine or any(r.vs_naive is None or sign * r.vs_naive[0] <= 0 for r in mine):
                verdict = "inconclusive"  # not stated: the holdout table does not show it
        s, c = d.screen, d.confirm
        screen = (
            f"{s.n} seeds shown, mean {_number(s.mean)}, p {_number(s.p_value)}"
            if s.n
            else "no score shown (the scorer withheld them)"
        )
        confirm = "not run"
        if c is not None and c.n:
            seeds = f"{min(d.confirm_seeds)}–{max(d.confirm_seeds)}" if d.confirm_seeds else "?"
            kind = "fresh" if d.fresh else "own"
            confirm = f"{_number(c.mean)} on {c.n} {kind} seeds ({seeds}), p {_number(c.p_value)}"
        out.append(
            {
                "method": method,
                "task": task,
                "verdict": verdict,
                "screen": screen + ("" if d.screened else ", not screened in"),
                "confirm": confirm,
                "adjusted": f"{_number(d.adjusted_p)} (Holm over {d.family_size})",
            }
        )
    return out


def _verdicts_table(data: ReportData) -> list[str]:
    out = ["## Verdicts (decided by the session, not by the researcher)", ""]
    out += [
        "| method | task | verdict | test feedback (screen) | holdout (confirmation) "
        "| adjusted p |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| {v['method']} | {v['task']} | **{v['verdict']}** | {v['screen']} | {v['confirm']} "
        f"| {v['adjusted']} |"
        for v in data.verdicts
    ] or ["| — | — | — | — | — | — |"]
    if data.verdict_rule:
        out += ["", f"How: {data.verdict_rule}"]
    return out


def _results_table(data: ReportData) -> list[str]:
    out = ["## Results (holdout, scored once at the end of the round)", ""]
    out += [
        "PGR on accuracy, mean ± SE over seeds [95 % bootstrap CI]; the last column is the "
        "paired difference from the naive baseline on the same seeds [95 % t-interval, before "
        "the round's Holm correction].",
        "",
    ]
    out += [
        "| task | method | role | seeds | PGR | accuracy | vs naive [95 % t-interval] |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data.rows:
        vs = (
            f"{_number(r.vs_naive[0])} [{_number(r.vs_naive[1])}, {_number(r.vs_naive[2])}]"
            if r.vs_naive
            else "—"
        )
        out.append(
            f"| {r.task} | {r.method} | {r.role} | {len(r.seeds)} | "
            f"{_mean_se(r.pgr_mean, r.pgr_se)} "
            f"[{_number(r.pgr_ci[0])}, {_number(r.pgr_ci[1])}] | {_number(r.acc_mean)} | {vs} |"
        )
    if not data.rows:
        out.append("| — | — | — | — | — | — | — |")
    return out


def _provenance_table(data: ReportData) -> list[str]:
    out = ["## Provenance (every holdout number above → its evaluator record)", ""]
    out += [
        "| record | task | seed | method | PGR | accuracy | code sha256 | commit | notebook |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in data.provenance:
        out.append(
            f"| `{p.record_id[:12]}` | {p.task} | {p.seed} | {p.method} | {_number(p.pgr_acc)} | "
            f"{_number(p.acc)} | `{p.code_sha256[:12]}` | `{(p.commit or 'none')[:12]}` | "
            f"{p.notebook} |"
        )
    return out


def write_figure(data: ReportData, path: Path) -> None:
    """Holdout PGR by task and method, with SE bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({r.method for r in data.rows})
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(data.tasks) + 1.0), 3.2), dpi=110)
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        xs, ys, es = [], [], []
        for j, task in enumerate(data.tasks):
            row = next((r for r in data.rows if r.task == task and r.method == method), None)
            if row is not None and math.isfinite(row.pgr_mean):
                xs.append(j + i * width)
                ys.append(row.pgr_mean)
                es.append(row.pgr_se if math.isfinite(row.pgr_se) else 0.0)
        ax.bar(xs, ys, width, yerr=es, label=method, capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(data.tasks))], data.tasks)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("holdout PGR (accuracy)")
    ax.set_title(f"{data.session_id}, round {data.round}", fontsize=9)
    if methods:
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def proposal_rows(root: Path, state: SessionState, number: int) -> list[dict[str, str]]:
    """The round's proposals as the report lists them (read from their committed files)."""
    from aar.review import read_proposal

    rows = []
    for pid in next(r for r in state.rounds if r.number == number).proposals:
        p = read_proposal(root / "proposals" / f"{pid}.json")
        rows.append(
            {
                "id": p.id,
                "rationale": p.rationale,
                "sha256": p.sha256,
                "evals": str(p.estimated_evaluations),
                "expires": f"{p.expires_at:%Y-%m-%d}",
            }
        )
    return rows


def report_path(root: Path, number: int) -> Path:
    """Where round `number` of the session at `root` has its report."""
    return root / "rounds" / str(number) / "report.md"


def write_report(session: Session, number: int) -> Path:
    """Write `rounds/<n>/report.md`, `pgr.png` and `provenance.json`; returns the report."""
    data = report_data(session.state, number, proposal_rows(session.root, session.state, number))
    path = report_path(session.root, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_figure(data, path.parent / "pgr.png")
    write_atomic(path.parent / "report.json", data.model_dump_json(indent=2) + "\n")
    write_atomic(path, render_markdown(data))
    return path
