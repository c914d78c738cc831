"""Condensing a long history: only old, bulky, re-obtainable contents, oldest first."""

from __future__ import annotations

import copy

from pydantic_ai.messages import (
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from aar.agent import count_message_tokens
from aar.agent._history import condense_history
from aar.config import HistorySettings

BIG = " ".join(f"w{i}x" for i in range(800))


def turn(n: int, tool: str, code: str = "print(1)") -> list:
    call = ToolCallPart(tool, {"code": code} if tool == "run_cell" else {}, tool_call_id=f"c{n}")
    done = ToolReturnPart(tool, BIG, tool_call_id=f"c{n}")
    return [ModelResponse(parts=[call]), ModelRequest(parts=[done])]


def history() -> list:
    messages: list = [ModelRequest(parts=[UserPromptPart("Begin.")], instructions="Be careful.")]
    messages += turn(1, "list_tasks") + turn(2, "run_cell", code=BIG)
    for n in range(3, 7):
        messages += turn(n, "run_cell")
    return messages + turn(7, "evaluate")


def count(messages: list) -> int:
    return count_message_tokens(messages, "gpt-4o")


def test_a_history_within_the_limit_is_sent_as_it_is() -> None:
    messages = history()
    assert condense_history(messages, HistorySettings(max_tokens=10**6), count) is messages


def test_old_outputs_are_condensed_oldest_first_and_the_history_is_untouched() -> None:
    messages = history()
    before = copy.deepcopy(messages)
    limit = count(messages) - 3000
    sent = condense_history(messages, HistorySettings(max_tokens=limit, keep_turns=2), count)
    assert messages == before  # the agent's own history keeps every output
    assert count(sent) <= limit
    returns = [p for m in sent if isinstance(m, ModelRequest) for p in m.parts]
    condensed = [p.tool_call_id for p in returns if str(p.content).startswith("[condensed")]
    assert condensed == ["c2"]  # the oldest cell's output (and code), nothing else needed
    assert returns[1].content == BIG  # list_tasks (the baselines' record ids) stays whole
    code = sent[3].parts[0].args_as_dict()["code"]
    assert code.startswith("# [condensed: ") and len(code) < 400


def test_the_last_turns_and_the_kept_tools_stay_whole() -> None:
    messages = history()
    sent = condense_history(messages, HistorySettings(max_tokens=1000, keep_turns=2), count)
    assert sent[-4:] == messages[-4:]
    kept = [p for m in sent for p in m.parts if getattr(p, "tool_name", "") == "list_tasks"]
    assert all(p.content == BIG for p in kept if isinstance(p, ToolReturnPart))
    assert condense_history(sent, HistorySettings(max_tokens=1000, keep_turns=2), count) == sent
