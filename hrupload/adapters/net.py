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


def proxy_of(url: str) -> str | None:
    """The proxy a request to ``url`` goes through, as ``host:port`` (never the proxy's
    user or password); None when it goes direct (loopback, NO_PROXY, no proxy set)."""
    if proxies_for(url) is not None:
        return None
    from requests.utils import get_environ_proxies, select_proxy

    proxy = select_proxy(url, get_environ_proxies(url))
    if not proxy:
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order; OSError when none."""
    import socket

    found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in found))
