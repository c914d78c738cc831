"""The scripted researcher: aar's offline default, a pydantic-ai `FunctionModel` that drives
the same tools an LLM would. It is labelled "scripted" in every report.

It is a fixed procedure, not a toy: it reads the session's baselines, asks the memory which
families are already settled for these tasks (a second session on the same memory picks
other ones), writes real experiment code per family (`aar.agent._experiments`), claims each
verdict by a paired t-test against naive on the same seeds (test feedback, 5 %; the session
then decides the verdict itself, on holdout, corrected across the round), and proposes a
follow-up that sweeps the key hyper-parameter of the family with the largest gain on test
feedback, saying that it is not yet confirmed (a rationale may not claim a win no finding
backs).

The procedure is a generator of tool calls. Each model request replays the results already in
the message history through a fresh generator and answers with the next call, so the policy
is a pure function of the history: a killed run resumes exactly where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from aar.agent._compare import record_verdicts
from aar.agent._directions import direction_families
from aar.agent._experiments import FAMILIES, experiment_code, method_name
from aar.agent._search import continue_search, search_family
from aar.agent._sweeps import (
    followup_proposal,
    followup_statement,
    parse_method,
    starting_point,
)

Call = tuple[str, dict[str, Any]]
Script = Generator[Call, Any, None]

CANDIDATES = (
    "propagation_self_training",
    "self_training",
    "cosine_propagation",
    "label_propagation",
    "logconf",
    "bootstrap",
    "propagation_logconf",
    "knn_smoothing",
    "ensemble",
    "crossfit",
    "confidence_weighting",
    "early_stopping",
    "confidence_filter",
    "label_smoothing",
    "temperature",
    "cotrain",
)
"""The families a round tests, untried and unsettled first, in this order: the method
space's configurations first, alternating the two kinds of idea that helped on different
tasks of the bench's frontier (strong-feature propagation, self-training); a prior, the same
for every task: which one wins on a task is decided by its test feedback and confirmed on
fresh seeds' holdout. Then the original families."""
CONTROLS = ("control_hard_labels", "control_random_flip", "control_self_distillation")
SETTLED = ("supported", "refuted")
MEMORY_QUERY = "weak-to-strong training method compared with naive on the same seeds"


def scripted_model(
    followup: bool,
    seeds: Sequence[int],
    hypotheses: int,
    round_number: int,
    directions: Sequence[str] = (),
) -> FunctionModel:
    """The scripted researcher for a research round (or a follow-up round); `directions`
    put the families they name first (see `aar.agent._directions`)."""
    if followup:
        return script_model(followup_script, round_number)
    preferred = direction_families(directions, strict=False)
    return script_model(lambda: research_script(list(seeds), hypotheses, preferred), round_number)


def script_model(make_script: Callable[[], Script], round_number: int) -> FunctionModel:
    """A `FunctionModel` that answers each request with the next call of a fresh `Script`
    fed the results so far. Tool call ids are deterministic (`r<round>-<n>`), so a resumed
    run re-issues the same calls (tests drive hostile researchers the same way)."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        script = make_script()
        results = _completed(messages)
        call = next(script)
        for result in results:
            call = script.send(result)
        name, args = call
        if name == "finish_round":
            name = info.output_tools[0].name
        call_id = f"r{round_number}-{len(results)}"
        return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=call_id)])

    return FunctionModel(respond, model_name="scripted")


def _completed(messages: list[ModelMessage]) -> list[Any]:
    """Results of the calls made so far, in order, as the JSON a model reads (a live run's
    tools answer with models, a resumed run's history holds their JSON); a retry prompt counts
    as an error."""
    out = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, ToolReturnPart):
                out.append(_as_json(part.content))
            elif isinstance(part, RetryPromptPart) and part.tool_name:
                out.append({"error": str(part.content)})
    return out


def _as_json(content: Any) -> Any:
    """A tool's answer as the JSON object a model reads: a model dumped; text (an error the
    toolset answered as text) as `{"error": text}` unless it is a JSON object itself."""
    if isinstance(content, BaseModel):
        return content.model_dump(mode="json")
    if isinstance(content, str):
        try:
            parsed = json.loads(content)
        except ValueError:
            return {"error": content}
        return parsed if isinstance(parsed, dict) else {"error": content}
    return content


def research_script(seeds: list[int], n_hypotheses: int, preferred: Sequence[str] = ()) -> Script:
    """One research round: baselines, memory, hypotheses (the `preferred` families first),
    paired verdicts, a follow-up. A configuration an earlier session confirmed on these
    tasks is continued first (`starting_point`): its compositions are one hypothesis."""
    info = yield ("list_tasks", {})
    tasks = [t["task"] for t in info["tasks"]]
    naive = info["baselines"].get("naive", {})
    history = []
    for task in tasks:
        hits = yield ("search_memory", {"query": MEMORY_QUERY, "task": task, "k": 50})
        history += memory_findings(hits)
    outcomes: list[dict[str, Any]] = []
    start = starting_point(history, tasks) if n_hypotheses > 1 else None
    if start is not None:  # continue what an earlier session confirmed
        outcomes += yield from continue_search(FAMILIES[start[0]], start[1], tasks, seeds, naive)
        n_hypotheses -= 1
    for family in choose_families(history, tasks, n_hypotheses, preferred):
        outcomes += yield from _test_family(family, tasks, seeds, naive, info["baselines"])
    proposal = followup_proposal(outcomes, seeds)
    if proposal is not None:
        yield ("propose_followup", proposal)
    yield ("finish_round", {"summary": round_summary(outcomes, tasks, seeds, proposal)})


def memory_findings(result: Any) -> list[dict[str, Any]]:
    """The findings of a `search_memory` result: a `MemoryResults` in a live run, its JSON when
    a resumed run replays the message history; none for an error."""
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    found = result.get("findings") if isinstance(result, dict) else None
    return found if isinstance(found, list) else []


def choose_families(
    findings: list[dict[str, Any]], tasks: list[str], n: int, preferred: Sequence[str] = ()
) -> list[str]:
    """`n` families for `tasks`: those the directions name (`preferred`) first, then unsettled
    before settled, untried before tried, in priority order, with one control among them when
    there is room."""
    status: dict[str, tuple[int, int]] = {}
    for f in findings:
        fam = next((t.split(":", 1)[1] for t in f.get("tags", []) if t.startswith("family:")), None)
        if fam is None or f.get("review") == "rejected" or not set(f.get("tasks", [])) & set(tasks):
            continue
        settled = status.get(fam, (0, 0))[0]
        status[fam] = (settled or int(f.get("verdict") in SETTLED), 1)  # (settled, tried)

    def rank(name: str) -> tuple[int, ...]:
        wanted = preferred.index(name) if name in preferred else len(preferred)
        return (wanted == len(preferred), *status.get(name, (0, 0)), wanted)

    def ranked(names: Sequence[str]) -> list[str]:
        return sorted(names, key=lambda f: (*rank(f), names.index(f)))

    methods, controls = ranked(CANDIDATES), ranked(CONTROLS)
    picks = methods[: max(n - 1, 1)] + (controls[:1] if n > 1 else [])
    return (picks + [f for f in methods if f not in picks])[:n]


def _test_family(
    family: str,
    tasks: list[str],
    seeds: list[int],
    naive: dict[str, Any],
    baselines: dict[str, Any],
) -> Generator[Call, Any, list[dict[str, Any]]]:
    spec = FAMILIES[family]
    if spec.param is not None and not (family == "logconf" and "logconf" in baselines):
        return (yield from search_family(spec, tasks, seeds, naive))
    params = {spec.param.name: spec.param.default} if spec.param else {}
    method = method_name(family, params)
    hypothesis = yield (
        "propose_hypothesis",
        {
            "statement": spec.hypothesis(tasks),
            "method": method,
            "rationale": spec.method,
            "family": family,
            "params": params,
        },
    )
    if "error" in hypothesis:
        return []
    if family == "logconf" and "logconf" in baselines:
        tested = baselines["logconf"]  # the session's own logconf baseline is this experiment
    else:
        tested = yield from _run_and_evaluate(family, method, params, tasks, seeds)
        if tested is None:
            return [{"family": family, "task": t, "verdict": "failed"} for t in tasks]
    outcomes = yield from record_verdicts(hypothesis["id"], family, method, tested, naive)
    return [o | {"params": params} for o in outcomes]


def _run_and_evaluate(
    family: str, method: str, params: dict[str, float], tasks: list[str], seeds: list[int]
) -> Generator[Call, Any, dict[str, Any] | None]:
    from aar.sandbox import split_cells

    del tasks, seeds  # the script runs on every mounted pair: the session's, or fresh seeds
    for cell in split_cells(experiment_code(family, method=method, params=params, pairs=None)):
        result = yield ("run_cell", {"code": cell})
        if result.get("status") != "ok":
            return None
    evaluation = yield ("evaluate", {"method": method})
    return None if "error" in evaluation else evaluation["tasks"]


SUMMARY_LIMIT = 3900
"""The round summary's length (its field takes 4,000 characters): a 7-task search scores dozens
of configurations, so each verdict's line names fewer methods, then counts the rest."""
_SAID = {
    "supported": "Above naive on test feedback",
    "refuted": "Below naive on test feedback",
    "inconclusive": "No clear difference on test feedback",
    "not_shown": "No score shown on test feedback (not better than the best shown)",
    "failed": "Failed to run",
}


def round_summary(
    outcomes: list[dict[str, Any]], tasks: list[str], seeds: list[int], proposal: Any
) -> str:
    """What the round did, per claimed verdict: each method with the tasks it got it on."""
    by: dict[str, dict[str, list[str]]] = {v: {} for v in _SAID}
    for o in outcomes:
        by[o["verdict"]].setdefault(o.get("method", o["family"]), []).append(o["task"])
    head = f"Compared each family with naive on {', '.join(tasks)}, paired over the seeds."
    tail = "The session decides each verdict on holdout. " + (
        "A follow-up is proposed." if proposal else "No follow-up is proposed."
    )
    for shown in (12, 6, 3, 1, 0):
        lines = [_verdict_line(v, methods, shown) for v, methods in by.items() if methods]
        text = " ".join([head, *lines, tail])
        if len(text) <= SUMMARY_LIMIT:
            break
    return text


def _verdict_line(verdict: str, methods: dict[str, list[str]], shown: int) -> str:
    items = [f"{m} on {', '.join(ts)}" for m, ts in list(methods.items())[:shown]]
    if len(methods) > shown:  # no count: every number in a summary must be a record's
        items.append(f"{'and ' if items else ''}other configurations (see the findings)")
    return f"{_SAID[verdict]}: {'; '.join(items)}."


def followup_script() -> Script:
    """A follow-up round: evaluate each approved sweep's methods against naive, record."""
    info = yield ("list_tasks", {})
    naive = info["baselines"].get("naive", {})
    outcomes: list[dict[str, Any]] = []
    for followup in info["followups"]:
        for method in followup["methods"]:
            family, params = parse_method(method)
            if family is None:
                continue
            hypothesis = yield (
                "propose_hypothesis",
                {
                    "statement": followup_statement(family, params, list(naive)),
                    "method": method,
                    "rationale": f"approved follow-up {followup['proposal']}",
                    "family": family,
                    "params": params,
                },
            )
            evaluation = yield ("evaluate", {"method": method})
            if "error" in hypothesis or "error" in evaluation:
                continue
            outcomes += yield from record_verdicts(
                hypothesis["id"], family, method, evaluation["tasks"], naive
            )
    yield ("finish_round", {"summary": round_summary(outcomes, sorted(naive), [], None)})
