"""The `Finding`: one evaluator-backed result a research session reports, with its provenance.

A finding is only as good as its provenance, so numbers sit next to the evaluator record ids
that produced them, and a reviewer's decision is part of the record. The schema is versioned
(`schema_version`) so stores and exports written by older code can be recognised.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

SCHEMA_VERSION: Final = 1

Verdict = Literal["supported", "refuted", "inconclusive"]
ReviewStatus = Literal["pending", "approved", "rejected"]


Number = Annotated[float, Strict()]
"""A JSON number: `true` is not 1.0 and "0.4" is not 0.4 (pydantic's lax mode takes both, so a
careless writer's `"pgr_acc_mean": true` was stored as a PGR of 1.0). Integers are numbers."""
Count = Annotated[int, Strict()]
"""A JSON integer: `true` is not 1."""
ConfigValue = (
    Annotated[bool, Strict()]
    | Annotated[int, Strict()]
    | Annotated[float, Strict()]
    | Annotated[str, Strict(), Field(max_length=200)]
    | None
)
"""One field of a method configuration: JSON scalars as written, never coerced."""
MethodConfigData = dict[str, dict[str, ConfigValue]]
"""A `MethodConfig` as `model_dump()` writes it: component -> field -> value. The memory does
not check it against the method space (that changes over time); readers validate it."""


def new_finding_id() -> str:
    """A short random id (`f-` + 12 hex digits): unique enough for a team's store, easy to type."""
    return f"f-{uuid.uuid4().hex[:12]}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    """Unknown keys and non-finite numbers (NaN, ±Infinity) are refused at the boundary: JSON
    cannot store them, so they would come back as null and make the record unreadable."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Metrics(_Strict):
    """PGR on accuracy (required) and AUROC, and the student's accuracy, aggregated over seeds.

    PGR = (student - weak) / (ceiling - weak). `*_se` is the standard error over seeds and
    `*_ci` a 95 % bootstrap interval `[low, high]`.
    """

    pgr_acc_mean: Number
    pgr_acc_se: Number = Field(ge=0)
    pgr_acc_ci: tuple[Number, Number] | None = None
    pgr_auroc_mean: Number | None = None
    pgr_auroc_se: Number | None = Field(default=None, ge=0)
    pgr_auroc_ci: tuple[Number, Number] | None = None
    accuracy_mean: Number | None = Field(default=None, ge=0, le=1)
    accuracy_se: Number | None = Field(default=None, ge=0)
    seeds: list[Count] = Field(default_factory=list)

    @field_validator("pgr_acc_ci", "pgr_auroc_ci")
    @classmethod
    def _ordered(cls, ci: tuple[float, float] | None) -> tuple[float, float] | None:
        if ci is not None and ci[0] > ci[1]:
            raise ValueError("a confidence interval must be [low, high] with low <= high")
        return ci


class Review(_Strict):
    """A reviewer's decision on a finding; new findings are `pending`."""

    status: ReviewStatus = "pending"
    reviewer: str | None = None
    comment: str | None = None
    reviewed_at: datetime | None = None


class VerdictBasis(_Strict):
    """The data and test that decided a finding's verdict (set by the session at the end of a
    round; a reader can tell a confirmed verdict from a claim)."""

    split: str = Field(description="The data that decided it, e.g. 'holdout'.")
    seeds: list[int] = Field(default_factory=list)
    fresh_seeds: bool = Field(
        default=False, description="True when the seeds were not the ones that screened it."
    )
    baseline: str = "naive"
    test: str = Field(description="The test, e.g. 'paired t-test (two-sided)'.")
    level: float = Field(gt=0, lt=1, description="Familywise error rate of the round.")
    correction: str = Field(description="Multiple-comparison correction, e.g. 'holm'.")
    family_size: int = Field(ge=0, description="Comparisons the correction covered.")
    screen: str = Field(default="", description="How the test feedback screened it.")
    mean_difference: float | None = None
    p_value: float | None = Field(default=None, ge=0, le=1)
    adjusted_p: float | None = Field(default=None, ge=0, le=1)
    why: str = ""


class Finding(_Strict):
    """One structured finding of a research session (schema version 1).

    Hand-written input needs only `summary`, `hypothesis`, `method`, `task` (or `tasks`),
    `verdict`, `session_id` and `metrics` (`pgr_acc_mean` / `pgr_acc_se`, or `null`).

    `metrics` is the test feedback the researcher saw. The scorer's ladder shows a test score
    only when it beats the best shown by a step, so a finding may cite records whose scores
    were withheld: `metrics` then summarises only the seeds that were shown (`metrics.seeds`
    names them; a withheld score is never counted, never read as 0), and is None when every
    cited score was withheld. A finding is still worth keeping then: it says what was tried,
    and its verdict is decided on holdout (`verdict_basis`), not on the feedback. `metrics` is
    required (a writer must say `null`) so a forgotten key is an error, not a withheld score;
    older findings always carry it, so they read unchanged.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str = Field(default_factory=new_finding_id, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    session_id: str = Field(min_length=1, max_length=200)
    round: Count = Field(default=0, ge=0)
    summary: str = Field(min_length=1, max_length=4000)
    hypothesis: str = Field(min_length=1, max_length=4000)
    method: str = Field(min_length=1, max_length=4000)
    tasks: list[str] = Field(min_length=1)
    metrics: Metrics | None = Field(
        description="Test-split feedback: what the agent saw while researching, over the cited "
        "seeds the scorer showed a score (`metrics.seeds`); None (`null`, never omitted) when "
        "it withheld every cited test score."
    )
    final_metrics: Metrics | None = Field(
        default=None,
        description="Holdout metrics the session computes once at the end of a round, for people "
        "only; the agent never sees them.",
    )
    eval_record_ids: list[str] = Field(
        default_factory=list, description="Evaluator records (`EvalRecord.id`) behind the numbers."
    )
    verdict: Verdict
    claimed_verdict: Verdict | None = Field(
        default=None, description="What the researcher claimed, where the session decided."
    )
    verdict_basis: VerdictBasis | None = Field(
        default=None,
        description="What decided `verdict` (None: a hand-written or older finding's claim).",
    )
    review: Review = Field(default_factory=Review)
    git_commit: str | None = None
    created_at: datetime = Field(default_factory=_utc_now)
    tags: list[str] = Field(default_factory=list)
    duplicate_of: str | None = Field(
        default=None, description="Set by the store: the earlier finding this one near-duplicates."
    )
    config: MethodConfigData | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="The method's full `MethodConfig` (`model_dump()`), where the session could "
        "read it from the experiment's script; None (and absent from the JSON, so findings "
        "written before it stay byte for byte the same) when it could not.",
    )

    @model_validator(mode="before")
    @classmethod
    def _task_alias(cls, data: Any) -> Any:
        """Accept `task: "name"` (or a list) as the hand-written form of `tasks`."""
        if isinstance(data, dict) and "task" in data:
            data = dict(data)
            task = data.pop("task")
            if "tasks" in data:
                raise ValueError("give either 'task' or 'tasks', not both")
            data["tasks"] = [task] if isinstance(task, str) else task
        return data

    @field_validator("tasks", "tags")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.strip() or "," in name:
                raise ValueError(f"invalid name {name!r} (empty or containing a comma)")
        return names

    @field_validator("created_at")
    @classmethod
    def _aware(cls, when: datetime) -> datetime:
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    @property
    def method_key(self) -> str:
        """The method text, lower-cased with whitespace collapsed: 'same method' for duplicates."""
        return " ".join(self.method.lower().split())

    def embedding_text(self) -> str:
        """The text that is embedded: what a person would search for."""
        return f"{self.summary}\n{self.hypothesis}\n{self.method}"
