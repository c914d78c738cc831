"""Helpers of the sandbox tests; the battery itself lives in `aar.sandbox.conformance`."""

from __future__ import annotations

from aar.sandbox.conformance import battery_policy, fake_public_task

small_policy = battery_policy
make_public_task = fake_public_task
