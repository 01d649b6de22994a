"""One function that keeps personal data and credentials out of anything written down.

Services quote requests back in their refusals: the ingestion endpoint may echo a row
(an e-mail address), a misconfigured proxy or a debugging gateway may echo the
``Authorization`` header (the bearer token) or the token request's form (the client
secret, a signed client assertion). Every message built from such an answer, and every
run record, report or log line built from a message, goes through :func:`redact` first.

Pure text in, text out: no I/O, so every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

EMAIL_MASK = "<email address>"
SECRET_MASK = "<secret>"  # noqa: S105 - the mask, not a secret
TOKEN_MASK = "<token>"  # noqa: S105 - the mask, not a secret

_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: Three base64url segments, the first two JSON objects (``{"`` encodes as ``eyJ``): a JWT,
#: whether an access token or a client assertion, even one we never saw (a stale token).
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*")
#: What follows ``Bearer`` is a credential whatever its shape.
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/\-]+=*")
#: ``client_secret=...`` / ``"client_assertion": "..."`` as a form or JSON echo quotes them.
_FIELD = re.compile(
    r"(?i)((?:client_secret|client_assertion|access_token|refresh_token)"
    r"[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"
)
#: A long run of base64 characters mixing upper case, lower case and digits: an opaque
#: token or key. Hex digests, GUIDs and words do not mix all three, so they stay readable.
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_\-+/])[A-Za-z0-9_\-+/.~]{40,}={0,2}")
#: A value shorter than this is not masked on its own: it would mask ordinary words too.
_MIN_SECRET = 8


def redact(text: str, *, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with e-mail addresses, JWTs, bearer tokens, credential fields and each of
    ``secrets`` (the exact current token, client secret, assertion) masked.

    The exact values go first, so a secret that happens to contain ``@`` or look like a
    JWT is masked whole rather than in pieces that leave the rest readable.
    """
    if not text:
        return text
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len)[::-1]:
        text = text.replace(secret, SECRET_MASK)
        # A form echo carries the value URL-encoded (``+`` ``/`` ``=`` ``&`` in a secret).
        for encoded in {quote(secret, safe=""), quote_plus(secret, safe="")} - {secret}:
            text = text.replace(encoded, SECRET_MASK)
    text = _JWT.sub(TOKEN_MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + TOKEN_MASK, text)
    text = _OPAQUE.sub(_mask_opaque, text)
    text = _FIELD.sub(lambda m: m.group(1) + SECRET_MASK, text)
    return _EMAIL.sub(EMAIL_MASK, text)


def _mask_opaque(match: re.Match[str]) -> str:
    """Mask the run if it reads like a credential; a file name (with its extension) or a
    URL path (with its segments) stays readable."""
    value = match.group(0)
    mixed = all(any(test(c) for c in value) for test in (str.isupper, str.islower, str.isdigit))
    readable = ("." in value and "~" not in value) or value.count("/") >= 3
    return TOKEN_MASK if mixed and not readable else value
