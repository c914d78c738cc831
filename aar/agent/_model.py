"""`SessionModel`: every model request of a research run goes through the session.

Before a request the session's budgets are checked against an offline tiktoken count of what
is about to be sent (and its estimated price); after it, the provider's own usage is logged
and checked again. The message history, with the response, is saved after every request, so a
killed run resumes where it stopped. Budgets live in the session, not in the agent framework.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from aar.files import write_atomic

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
    """Wraps the researcher's model: budget checks, usage, price and history per request."""

    def __init__(self, wrapped: Any, session: Session, spec: str, *, priced: bool) -> None:
        super().__init__(wrapped)
        self.session = session
        self.spec = spec
        self.priced = priced

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        from aar.agent._providers import usd_cost
        from aar.agent._research import price_table
        from aar.agent._tokens import count_message_tokens

        table = price_table() if self.priced else None
        tools = [*model_request_parameters.function_tools, *model_request_parameters.output_tools]
        estimate = count_message_tokens(messages, self._token_model(), tools=tools)
        price = usd_cost(self.spec, estimate, 0, table) if self.priced else None
        self.session.before_request(estimate, price)
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        used_in = response.usage.input_tokens or estimate
        used_out = response.usage.output_tokens or 0
        cost = usd_cost(self.spec, used_in, used_out, table) if self.priced else None
        path = history_path(self.session, self.session.round_number)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(
            path,
            ModelMessagesTypeAdapter.dump_json([*messages, response], indent=1),
        )
        self.session.after_request(self.spec, used_in, used_out, cost)
        return response

    def _token_model(self) -> str:
        return self.spec.split(":", 1)[1] if ":" in self.spec else "gpt-4o"
