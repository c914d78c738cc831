"""The research tools' definitions as pydantic-ai hands them to any model: every argument
described, the verdict an enum, one description per tool (no sentence pasted onto another).
The same is checked on what the OpenAI SDK sends in `tests/session/test_tools_for_models.py`."""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from aar.agent._tools import FINISH_ROUND, TOOLS, ResearchDeps, research_toolset


def _definitions() -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        for tool in [*info.function_tools, *info.output_tools]:
            seen[tool.name] = tool
        return ModelResponse(parts=[ToolCallPart("finish_round", {"summary": "nothing"})])

    agent = Agent(
        FunctionModel(respond),
        deps_type=ResearchDeps,
        output_type=FINISH_ROUND,
        toolsets=[research_toolset()],
    )
    agent.run_sync("start", deps=None)  # type: ignore[arg-type]  # no tool is called
    return seen


def test_every_tool_argument_has_a_description_and_verdict_is_an_enum() -> None:
    tools = _definitions()
    assert set(tools) == {t.__name__ for t in TOOLS} | {"finish_round"}
    for name, tool in tools.items():
        assert tool.description and ".." not in tool.description, name
        schema = tool.parameters_json_schema
        for arg, prop in schema.get("properties", {}).items():
            assert prop.get("description", "").strip(), f"{name}({arg}) is not described"
    verdict = tools["record_finding"].parameters_json_schema["properties"]["verdict"]
    assert verdict["enum"] == ["supported", "refuted", "inconclusive"]
    assert tools["finish_round"].description.startswith("End the round")
