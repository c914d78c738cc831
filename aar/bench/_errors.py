"""User mistakes in the protocol, the evaluator and `aar bench`: one clear line, exit code 2."""

from __future__ import annotations

from aar.errors import AarError


class UnknownMethodError(AarError):
    """A student method name the harness does not know."""


class InvalidSeedsError(AarError):
    """A seed count or seed list the protocol cannot run (empty, negative, absurdly many)."""


class InvalidPredictionsError(AarError):
    """A submission that cannot be scored; it is rejected without consuming budget."""


class BudgetExceededError(AarError):
    """The session has used all of its scored evaluations."""


class HoldoutRefusedError(AarError):
    """The holdout split is never scored during a research session, nor on request."""


class OutputDirError(AarError):
    """An output or export directory that cannot be used (not writable, or not empty)."""


class InvalidDeviceError(AarError):
    """A device name torch does not take, or CUDA asked for where there is none."""


class LabelsElsewhereError(AarError):
    """This process scores through a scorer service, so it must never load a task's data or
    the task key: the service holds them (a team's researcher, on a worker)."""
