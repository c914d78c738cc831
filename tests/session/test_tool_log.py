"""The log records each tool call with the arguments the model sent, for every tool.

Once each tool repeated its arguments for the log by hand, and two got it wrong
(`propose_hypothesis` left out `rationale`, `record_finding` logged `eval_record_ids` as
`ids`); now the toolset wrapper logs what the tool was called with.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from session_support import run_scripted, session_of, small_config

from aar.hashing import join_cells

pytestmark = pytest.mark.slow

CALLS = [
    ("list_tasks", {}),
    ("search_memory", {"query": "logconf on digits", "task": "digits-ge5", "k": 3}),
    (
        "propose_hypothesis",
        {
            "statement": "a confidence loss helps",
            "method": "mine",
            "rationale": "the weak labels are noisy",
            "family": "logconf",
            "params": {"aux_coef": 0.25},
        },
    ),
    ("run_cell", {"code": "print('hello')"}),
    # an error the model can fix: logged all the same
    ("evaluate", {"method": "never-saved", "seeds": None}),
    (
        "record_finding",
        {
            "hypothesis_id": "h1-1",
            "summary": "nothing to cite yet",
            "verdict": "inconclusive",
            "eval_record_ids": ["no-such-record"],
        },
    ),
    ("propose_followup", {"rationale": "check the kernel prints", "code": join_cells(["1"])}),
]


def _every_tool():
    for call in CALLS:  # noqa: UP028 (not `yield from` a list: the loop sends results in)
        yield call
    yield ("finish_round", {"summary": "every tool called once"})


def test_each_tool_call_is_logged_with_the_arguments_the_model_sent(workspace: Path) -> None:
    with session_of(small_config(seeds=[42])) as session:
        why = run_scripted(session, _every_tool)
        assert why == "finished by the agent"
        logged = [e.data for e in session.log.read() if e.kind == "tool"]
        assert [(t.name, t.args) for t in logged] == CALLS
        outcomes = [json.loads(t.outcome) for t in logged]
        assert "error" in outcomes[4] and "error" in outcomes[5]  # errors are answers, as text
        assert outcomes[2]["rationale"] == "the weak labels are noisy"
        assert [t.call_id for t in logged] == [f"r1-{n}" for n in range(len(CALLS))]
