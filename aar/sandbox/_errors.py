"""Sandbox errors a user can act on (they reach the CLI as one line, exit code 2)."""

from __future__ import annotations

from aar.errors import AarError


class SandboxUnavailableError(AarError):
    """Isolation cannot be set up on this machine; the sandbox refuses to run (fail closed)."""


class SandboxUsageError(AarError):
    """A bad argument: a missing file, an experiment directory that exists, a bad policy."""
