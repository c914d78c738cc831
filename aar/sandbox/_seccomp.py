"""A small seccomp filter for the kernel: no new user namespaces, no exotic kernel interfaces.

Without it, the unprivileged kernel can still make a user namespace (`unshare -U -r`) and
get capabilities inside it: no way out of the sandbox, but a large kernel attack surface.
The filter is classic BPF, built here from the syscall names in `sandbox/policy.toml` and
handed to bwrap (`--seccomp FD`), which installs it just before it runs the kernel command.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

# BPF opcodes (linux/filter.h, linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_CLONE_NEWUSER = 0x10000000
_X32_BIT = 0x40000000

_ARCHES = {
    # machine: (AUDIT_ARCH_*, syscall numbers)
    "x86_64": (
        0xC000003E,
        {
            "clone": 56,
            "unshare": 272,
            "clone3": 435,
            "bpf": 321,
            "userfaultfd": 323,
            "perf_event_open": 298,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "kexec_load": 246,
            "open_by_handle_at": 304,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "clone": 220,
            "unshare": 97,
            "clone3": 435,
            "bpf": 280,
            "userfaultfd": 282,
            "perf_event_open": 241,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "kexec_load": 104,
            "open_by_handle_at": 265,
        },
    ),
}


def supported() -> bool:
    """True when this machine's architecture has a syscall table here."""
    return platform.machine() in _ARCHES


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter(deny: list[str]) -> bytes:
    """The BPF program: EPERM for `deny`, for clone/unshare with CLONE_NEWUSER, and for other
    ABIs (x32, i386) that could reach the same syscalls under other numbers; ENOSYS for
    clone3, whose flags BPF cannot read (glibc then falls back to clone)."""
    arch, table = _ARCHES[platform.machine()]
    unknown = [name for name in deny if name not in table]
    if unknown:
        raise ValueError(f"unknown syscalls in the seccomp deny list: {unknown}")
    eperm = _ERRNO | errno.EPERM
    enosys = _ERRNO | errno.ENOSYS
    deny_nrs = [table[name] for name in deny]
    checks: list[tuple[int, str]] = [
        (table["unshare"], "flags"),
        (table["clone"], "flags"),
        (table["clone3"], "enosys"),
    ] + [(nr, "eperm") for nr in deny_nrs]
    # Layout (i: instruction): 0-3 arch and number, 4 x32 check, 5..5+n-1 the checks, then
    # A: allow, A+1..A+4: the CLONE_NEWUSER test of clone/unshare, A+5: ENOSYS, A+6: EPERM.
    allow_at = 5 + len(checks)
    flags_at, enosys_at, eperm_at = allow_at + 1, allow_at + 5, allow_at + 6
    prog = [
        _insn(_LD_W_ABS, 0, 0, 4),  # 0: arch
        _insn(_JEQ, 1, 0, arch),  # 1: native arch -> 3
        _insn(_RET, 0, 0, eperm),  # 2: another ABI (i386 on x86_64)
        _insn(_LD_W_ABS, 0, 0, 0),  # 3: syscall number
        _insn(_JGE, eperm_at - 5, 0, _X32_BIT),  # 4: x32 numbers
    ]
    targets = {"flags": flags_at, "enosys": enosys_at, "eperm": eperm_at}
    for nr, target in checks:
        prog.append(_insn(_JEQ, targets[target] - len(prog) - 1, 0, nr))
    prog += [
        _insn(_RET, 0, 0, _ALLOW),  # A
        _insn(_LD_W_ABS, 0, 0, 16),  # A+1: low 32 bits of args[0] (clone/unshare flags)
        _insn(_JSET, 0, 1, _CLONE_NEWUSER),  # A+2
        _insn(_RET, 0, 0, eperm),  # A+3: a new user namespace
        _insn(_RET, 0, 0, _ALLOW),  # A+4
        _insn(_RET, 0, 0, enosys),  # A+5
        _insn(_RET, 0, 0, eperm),  # A+6
    ]
    assert len(prog) == eperm_at + 1
    return b"".join(prog)


def filter_fd(deny: list[str]) -> int:
    """An inheritable, rewound file descriptor holding the filter (for `bwrap --seccomp`)."""
    fd = os.memfd_create("aar-seccomp", 0)
    os.write(fd, build_filter(deny))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
