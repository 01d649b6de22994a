"""Which addresses are loopback, and what that means for proxies: decided once, here.

Loopback is where the dev stand-ins and the test servers listen. Plain http is allowed
only there (hrupload.adapters.connector refuses it elsewhere), and a request to loopback never
goes through ``HTTP_PROXY`` / ``HTTPS_PROXY``: a corporate proxy cannot reach this
machine's 127.0.0.1, and sending a stand-in's secret to it would be a leak. Every other
host honours the proxy variables (and ``NO_PROXY``), as corporate networks need.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: ``proxies=`` for requests (and azure-core's ``proxies`` option, which hands it on):
#: a key set to None wins over the environment's value and is then dropped, so the
#: request goes direct. ``all`` covers ``ALL_PROXY``.
DIRECT: dict[str, str | None] = {"http": None, "https": None, "all": None}


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP (127.0.0.0/8, ::1); never resolves a name."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxies_for(url: str) -> dict[str, str | None] | None:
    """:data:`DIRECT` for a loopback URL; None (the environment decides) for any other."""
    return dict(DIRECT) if is_loopback(urlsplit(url).hostname) else None
