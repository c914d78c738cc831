"""What a language model receives from the research tools, read off the requests a real SDK
sends to a fake provider on 127.0.0.1 (`tools/fake_llm.py`): every argument described, the
verdict an enum, one description per tool, every answer a JSON object with the budgets left, a
failed cell's traceback at its own line, and a finding's metrics rounded (stored whole)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from llm_support import run_fake_round
from session_support import PLANTED_KEY

from aar.session import MEMORY_NOTICE, Budgets, Session

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import FakeLLM, RecordedRequest, ToolCall, Usage

pytestmark = pytest.mark.slow

USAGE = Usage(input_tokens=1200, output_tokens=80)
BUDGETS = Budgets(evals=50, requests=40, tokens=1_000_000, usd=5.0, minutes=30, sandbox_cpu_s=900)
BROKEN_CELL = """\
import numpy as np

def widen(a):
    return a + np.ones(3)

x = widen(np.ones(2))
"""
COPY_CELL = """\
import aar_kernel
for task, seed in aar_kernel.exports():
    t = aar_kernel.load_task(task, seed)
    aar_kernel.save_predictions(t.test_weak_labels, split="test", name="copy", task=task,
                                seed=seed)
"""


def _tool_messages(request: RecordedRequest) -> list[str]:
    """The tool results the agent has sent back so far, as the text the provider received."""
    return [m["content"] for m in request.body["messages"] if m.get("role") == "tool"]


def _policy(request: RecordedRequest) -> ToolCall:
    """A researcher that lists, searches an empty memory, writes a broken cell, evaluates a
    copy of the weak labels, records a finding on naive's records and finishes."""
    done = [json.loads(text) for text in _tool_messages(request)]
    plan: list[tuple[str, dict[str, Any]]] = [
        ("list_tasks", {}),
        ("search_memory", {"query": "label smoothing on digits"}),
        ("propose_hypothesis", {"statement": "copying helps", "method": "copy"}),
        ("run_cell", {"code": BROKEN_CELL}),
        ("run_cell", {"code": COPY_CELL}),
        ("evaluate", {"method": "copy"}),
    ]
    if len(done) < len(plan):
        name, args = plan[len(done)]
        return ToolCall(name=name, args=args, usage=USAGE)
    if len(done) == len(plan):
        finding = {
            "hypothesis_id": done[2]["id"],
            "summary": "naive on digits-ge5",
            "verdict": "inconclusive",
            "eval_record_ids": done[0]["baselines"]["naive"]["digits-ge5"]["record_ids"],
        }
        return ToolCall(name="record_finding", args=finding, usage=USAGE)
    return ToolCall(name="finish_round", args={"summary": "one hypothesis tested"}, usage=USAGE)


@dataclass
class Round:
    session: Session
    requests: list[RecordedRequest]
    why: str

    def answers(self) -> list[str]:
        """Every tool answer, as the text the provider received (the last request has all)."""
        return _tool_messages(self.requests[-1])


@pytest.fixture(scope="module")
def fake_round(module_workspace: Path) -> Iterator[Round]:
    with pytest.MonkeyPatch.context() as mp:
        from pydantic_ai import models

        mp.setattr(models, "ALLOW_MODEL_REQUESTS", True)
        mp.setenv("OPENAI_API_KEY", PLANTED_KEY)
        with FakeLLM(_policy) as server:
            session, why = run_fake_round(server.openai_base_url, budgets=BUDGETS)
            yield Round(session, list(server.requests), why)


def test_every_argument_is_described_and_verdict_is_an_enum(fake_round: Round) -> None:
    assert fake_round.why == "finished by the agent", fake_round.why
    tools = {t["function"]["name"]: t["function"] for t in fake_round.requests[0].body["tools"]}
    assert set(tools) == {
        "list_tasks",
        "search_memory",
        "propose_hypothesis",
        "run_cell",
        "evaluate",
        "record_finding",
        "propose_followup",
        "finish_round",
    }
    for name, tool in tools.items():
        assert tool["description"].strip() and ".." not in tool["description"], name
        for arg, schema in tool["parameters"]["properties"].items():
            assert schema.get("description", "").strip(), f"{name}({arg}) has no description"
    verdict = tools["record_finding"]["parameters"]["properties"]["verdict"]
    assert verdict["enum"] == ["supported", "refuted", "inconclusive"]
    hypothesis = tools["propose_hypothesis"]["parameters"]["properties"]
    assert "family:" in hypothesis["family"]["description"]
    assert "hyper-parameters" in hypothesis["params"]["description"]


def test_every_answer_is_an_object_with_the_budgets_left(fake_round: Round) -> None:
    answers = [json.loads(text) for text in fake_round.answers()]
    assert len(answers) == 7 and all(isinstance(a, dict) for a in answers)
    spent = 0
    for n, answer in enumerate(answers, start=1):
        assert list(answer)[-1] == "budget_left", answer
        left = answer["budget_left"]
        assert set(left) == {"evaluations", "requests", "tokens", "usd", "minutes", "sandbox_cpu_s"}
        spent += USAGE.input_tokens + USAGE.output_tokens
        assert left["requests"] == BUDGETS.requests - n  # the request that called the tool
        assert left["tokens"] == BUDGETS.tokens - spent
        assert left["usd"] == BUDGETS.usd  # a fake model is not priced: nothing spent
        assert 0 < left["minutes"] <= BUDGETS.minutes
        assert 0 <= left["sandbox_cpu_s"] <= BUDGETS.sandbox_cpu_s
    baselines = 2 * len(fake_round.session.config.pairs)  # naive and logconf, every pair
    evaluations = [a["budget_left"]["evaluations"] for a in answers]
    copy_costs = len(fake_round.session.config.pairs)
    before = BUDGETS.evals - baselines
    assert evaluations == [before] * 5 + [before - copy_costs] * 2  # evaluate(copy) is the 6th
    assert answers[5]["evaluations_left"] == evaluations[-1]


def test_an_empty_memory_search_is_an_object_saying_none_matched(fake_round: Round) -> None:
    text = fake_round.answers()[1]
    assert text.strip()
    found = json.loads(text)
    assert found["notice"] == MEMORY_NOTICE and found["findings"] == []
    assert found["note"] == "No finding of an earlier session matches this search."
    assert list(found) == ["notice", "findings", "note", "budget_left"]


def test_a_failed_cell_answers_a_traceback_at_its_own_line(fake_round: Round) -> None:
    cell = json.loads(fake_round.answers()[3])
    assert cell["status"] == "error" and cell["error"].startswith("ValueError: operands")
    traceback = cell["traceback"]
    assert "line 6" in traceback and "x = widen(np.ones(2))" in traceback
    assert "line 4, in widen" in traceback and "return a + np.ones(3)" in traceback
    assert "\x1b" not in traceback and "[0;31m" not in traceback
    assert traceback.rstrip().endswith(cell["error"].split(": ", 1)[1].rstrip())
    assert len(traceback) <= 2000
    raw = fake_round.session.root.rglob("*.ipynb")
    whole = "".join(p.read_text() for p in raw)
    assert "\\u001b" in whole and "Traceback" in whole  # the notebook keeps it whole


def test_a_findings_metrics_are_answered_rounded_and_stored_whole(fake_round: Round) -> None:
    receipt = json.loads(fake_round.answers()[6])
    shown = receipt["metrics"]
    stored = fake_round.session.state.findings[receipt["id"]].metrics
    assert stored is not None
    on_disk = json.loads(
        (fake_round.session.root / "findings" / f"{receipt['id']}.json").read_text()
    )["metrics"]
    assert on_disk == stored.model_dump(mode="json")
    assert stored.pgr_acc_se != round(stored.pgr_acc_se, 3)  # the case worth rounding
    for key, value in stored.model_dump(mode="json").items():
        if isinstance(value, float):
            assert shown[key] == round(value, 3), key
        elif isinstance(value, list) and key != "seeds":
            assert shown[key] == [round(v, 3) for v in value], key
        else:
            assert shown[key] == value, key


def test_a_memory_search_shows_a_findings_numbers_rounded(fake_round: Round) -> None:
    receipt = json.loads(fake_round.answers()[6])
    stored = fake_round.session.state.findings[receipt["id"]].metrics
    assert stored is not None and stored.pgr_acc_ci is not None
    found = fake_round.session.views.search_memory("naive on digits-ge5", task="digits-ge5")
    hit = next(h for h in found.findings if h.id == receipt["id"])
    assert hit.feedback_pgr_acc != "withheld"
    assert hit.feedback_pgr_acc.mean == round(stored.pgr_acc_mean, 3)
    assert hit.feedback_pgr_acc.se == round(stored.pgr_acc_se, 3) != stored.pgr_acc_se
    assert hit.feedback_pgr_acc.ci == tuple(round(v, 3) for v in stored.pgr_acc_ci)
