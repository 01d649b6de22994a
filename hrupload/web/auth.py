"""Who may open the web page, and the CSRF token every POST carries.

Two modes (HRUPLOAD_WEB_AUTH):

- ``key``: a laptop or ``hrupload dev web``. The key (HRUPLOAD_WEB_KEY) arrives once, as
  ``?code=KEY`` or the ``x-functions-key`` header; a browser then gets a session cookie
  and is sent to the same URL without the code, so the key does not stay in its history.
- ``entra``: in Azure, behind the app's built-in authentication (Easy Auth), which signs
  people in and sets the ``X-MS-CLIENT-PRINCIPAL*`` headers. Anyone can send those headers
  to an app without it, so they count only when the platform says it is on
  (WEBSITE_AUTH_ENABLED); with HRUPLOAD_WEB_GROUP the principal must be in that group.

One cookie, HttpOnly and SameSite=Strict, carries a random nonce and an HMAC of it keyed
by the key (never the key itself). The nonce is the CSRF token: a form carries it in a
hidden field and a POST whose field does not match its cookie is refused. (The Functions
host passes on one Set-Cookie header per response, hence one cookie for both.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from werkzeug.wrappers import Request

from hrupload.settings import WebSettings

COOKIE = "hrupload_web"
#: The claim types Easy Auth may give an Entra group membership.
GROUP_CLAIMS = ("groups", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups")


class Refused(Exception):
    """The request may not be served: its status, a title and what to do, for the page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass(frozen=True)
class Visitor:
    """Someone let in: who (for the page's header), their CSRF token, and the cookie to
    set when they have none yet (or a new one: the key was just given)."""

    name: str
    csrf: str
    new_cookie: str | None = None
    #: The key came in the URL: send the browser to the URL without it.
    strip_code: bool = False


class Gate:
    """Lets a request in (a :class:`Visitor`) or raises :class:`Refused`."""

    def __init__(self, web: WebSettings) -> None:
        self.web = web
        self._secret = (web.key or "").encode()

    def admit(self, request: Request) -> Visitor:
        if self.web.auth == "entra":
            name = self._entra(request)
            nonce, fresh = self._nonce(request)
            return Visitor(name, nonce, self.cookie(nonce) if fresh else None)
        return self._key(request)

    def check_csrf(self, request: Request, visitor: Visitor) -> None:
        """A POST must come from our own page: its token matches its cookie, and the
        browser's Origin and Sec-Fetch-Site (when sent) say it is same-origin."""
        sent = request.form.get("csrf", "")
        same_token = bool(sent) and visitor.new_cookie is None
        same_token = same_token and hmac.compare_digest(sent.encode(), visitor.csrf.encode())
        # Under our Referrer-Policy (no-referrer) a browser sends "Origin: null" even for
        # its own form: that says nothing, and Sec-Fetch-Site and the token still decide.
        origin = request.headers.get("Origin")
        origin = None if origin == "null" else origin
        own = f"{request.scheme}://{request.host}"
        site = request.headers.get("Sec-Fetch-Site")
        if not same_token or (origin and origin != own) or site not in (None, "same-origin"):
            raise Refused(
                403,
                "This form has expired",
                "The form's security token did not match (an old page, or a form from "
                "another site). Reload the page and send it again.",
            )

    # -- key mode ------------------------------------------------------------------------

    def _key(self, request: Request) -> Visitor:
        if not self._secret:
            raise Refused(
                403,
                "The web page has no key",
                "Set HRUPLOAD_WEB_KEY (hrupload dev web makes one) and open the page with "
                "?code=KEY, or set HRUPLOAD_WEB_AUTH=entra behind the app's authentication.",
            )
        nonce = self._signed_nonce(request.cookies.get(COOKIE, ""))
        if nonce is not None:
            return Visitor("key holder", nonce)
        given = request.args.get("code") or request.headers.get("x-functions-key") or ""
        if given and hmac.compare_digest(given.encode(), self._secret):
            fresh = secrets.token_urlsafe(24)
            # A browser following the link gets the cookie and the URL without the key.
            browser = "code" in request.args and request.method in ("GET", "HEAD")
            return Visitor("key holder", fresh, self.cookie(fresh), strip_code=browser)
        raise Refused(
            401,
            "Sign-in needed",
            "Open the page with the link hrupload dev web printed (it ends in ?code=...), "
            "or send the key in the x-functions-key header.",
        )

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._secret, b"hrupload-web:" + nonce.encode(), hashlib.sha256).hexdigest()

    def cookie(self, nonce: str) -> str:
        """The cookie's value for ``nonce``: the nonce and its HMAC."""
        return f"{nonce}.{self._mac(nonce)}"

    def _signed_nonce(self, value: str) -> str | None:
        nonce, _, mac = value.partition(".")
        if nonce and mac and hmac.compare_digest(mac.encode(), self._mac(nonce).encode()):
            return nonce
        return None

    # -- entra mode ----------------------------------------------------------------------

    def _nonce(self, request: Request) -> tuple[str, bool]:
        nonce = self._signed_nonce(request.cookies.get(COOKIE, ""))
        return (nonce, False) if nonce else (secrets.token_urlsafe(24), True)

    def _entra(self, request: Request) -> str:
        if not self.web.platform_auth:
            raise Refused(
                403,
                "Sign-in is not set up",
                "HRUPLOAD_WEB_AUTH is entra but the app's built-in authentication is off "
                "(WEBSITE_AUTH_ENABLED): without it anyone could claim to be signed in. "
                "Deploy with infra/app/auth.bicep, or use HRUPLOAD_WEB_AUTH=key locally.",
            )
        if not request.headers.get("X-MS-CLIENT-PRINCIPAL-ID"):
            raise Refused(401, "Sign-in needed", "Sign in with your work account and try again.")
        if self.web.group and self.web.group not in _groups(request):
            raise Refused(
                403,
                "Not allowed",
                "Your account is not in the group allowed to see this page; ask the "
                "administrator of hrupload to add you.",
            )
        return request.headers.get("X-MS-CLIENT-PRINCIPAL-NAME") or "signed in"


def _groups(request: Request) -> set[str]:
    """The group ids of the ``X-MS-CLIENT-PRINCIPAL`` header (base64 JSON); none when it is
    missing or malformed."""
    raw = request.headers.get("X-MS-CLIENT-PRINCIPAL", "")
    try:
        doc = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
        claims = doc.get("claims") or []
        return {
            str(c.get("val"))
            for c in claims
            if isinstance(c, dict) and c.get("typ") in GROUP_CLAIMS
        }
    except (ValueError, binascii.Error, AttributeError, TypeError):
        return set()
