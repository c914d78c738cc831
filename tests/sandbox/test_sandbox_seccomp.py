"""The seccomp filter program itself (the escape battery checks it inside the sandbox)."""

from __future__ import annotations

import pytest

from aar.sandbox import _seccomp

pytestmark = pytest.mark.skipif(not _seccomp.supported(), reason="no syscall table here")


def test_filter_is_well_formed() -> None:
    prog = _seccomp.build_filter(["bpf", "keyctl"])
    assert len(prog) % 8 == 0 and 0 < len(prog) // 8 < 64


def test_unknown_syscall_is_refused() -> None:
    with pytest.raises(ValueError, match="frobnicate"):
        _seccomp.build_filter(["frobnicate"])
