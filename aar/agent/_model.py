"""`SessionModel`: every model request of a research run goes through the session.

Before a request the session's budgets are checked against an offline tiktoken count of what
is about to be sent (and its estimated price); after it, the provider's own usage is logged
and checked again. The message history, with the response, is saved after every request, so a
killed run resumes where it stopped. Budgets live in the session, not in the agent framework.
Every request carries `max_tokens` (`settings.agent.max_tokens`): a response is bounded whoever
serves it (a local server otherwise applies its own default, or none).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_ai.messages import (
    InstructionPart,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelResponse,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings, merge_model_settings

from aar.agent._history import condense_history
from aar.agent._providers import ModelPrice
from aar.agent._retry import RetryingModel
from aar.agent._tokens import count_message_tokens
from aar.config import get_settings
from aar.files import write_atomic
from aar.session import BudgetExhausted, Note

if TYPE_CHECKING:
    from aar.session import Session

HISTORY = "messages.json"


def history_path(session: Session, number: int) -> Path:
    return session.root / "rounds" / str(number) / HISTORY


def load_history(path: Path) -> list[ModelMessage]:
    """The saved messages of a round (empty if the round has not asked the model yet)."""
    if not path.is_file():
        return []
    return list(ModelMessagesTypeAdapter.validate_json(path.read_bytes()))


class SessionModel(WrapperModel):
    """Wraps the researcher's model: budget checks, usage, price and history per request.

    Between the budget check and the usage, the request goes through `RetryingModel`: a rate
    limit or a transient error is retried there, within the wall-clock budget, and only the
    attempt that is answered counts as a request (see `aar.agent._retry` for why). A history
    past `settings.agent.history.max_tokens` is sent condensed (`aar.agent._history`); the
    saved history stays whole.
    """

    def __init__(
        self, wrapped: Any, session: Session, spec: str, *, price: ModelPrice | None = None
    ) -> None:
        agent_settings = get_settings().agent
        super().__init__(
            RetryingModel(wrapped, agent_settings.retry, before_retry=self._before_retry)
        )
        self.session = session
        self.spec = spec
        self.price = price
        self.response_settings = ModelSettings(max_tokens=agent_settings.max_tokens)
        """The cap on a response every request carries (a run's own settings win)."""
        self.history = agent_settings.history
        self.condense = not isinstance(wrapped, FunctionModel)
        """A function of the message history (the scripted researcher replays every result
        it got to choose its next call) has no context window: its history is never
        condensed (a 7-task round of 4 searched hypotheses outgrew the limit and lost them)."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        token_model = self._token_model()

        def count(history: list[ModelMessage]) -> int:
            return request_tokens(history, model_request_parameters, token_model)

        sent = condense_history(messages, self.history, count) if self.condense else messages
        estimate = count(sent)
        price = self.price
        self.session.before_request(estimate, price.cost(estimate, 0) if price else None)
        settings = merge_model_settings(self.response_settings, model_settings)
        response = await self.wrapped.request(sent, settings, model_request_parameters)
        used_in = response.usage.input_tokens or estimate
        used_out = response.usage.output_tokens or 0
        cost = price.cost(used_in, used_out) if price else None
        path = history_path(self.session, self.session.round_number)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(
            path,
            ModelMessagesTypeAdapter.dump_json([*messages, response], indent=1),
        )
        self.session.after_request(self.spec, used_in, used_out, cost)
        return response

    def _before_retry(self, wait_s: float, why: str) -> None:
        """A retry waits only if the round's wall clock has room for the wait; it is logged."""
        with self.session.budget_stops():
            guard = self.session.guard
            guard.check_time()
            limit = guard.budgets.minutes
            if limit is not None and guard.elapsed_minutes + wait_s / 60 >= limit:
                raise BudgetExhausted(
                    "minutes",
                    guard.elapsed_minutes,
                    limit,
                    f"wall-clock budget of {limit:g} minutes would pass while waiting "
                    f"{wait_s:.1f} s to retry the model",
                )
        self.session.emit(Note(message=why))

    def _token_model(self) -> str:
        return self.spec.split(":", 1)[1] if ":" in self.spec else "gpt-4o"


def request_tokens(
    messages: list[ModelMessage], parameters: ModelRequestParameters, model: str
) -> int:
    """The offline estimate of a request's input tokens: the instructions once (as the request
    carries them), the history, and every tool definition it sends (function and output tools)."""
    parts = parameters.instruction_parts
    instructions = InstructionPart.join(parts) if parts else None
    tools = [*parameters.function_tools, *parameters.output_tools]
    return count_message_tokens(messages, model, tools=tools, instructions=instructions)
