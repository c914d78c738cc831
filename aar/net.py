"""Network addresses: the one test of "only this machine can reach it".

The web server warns before it binds anywhere else, and a provider base URL may send a key
over plain HTTP only to such a host.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
