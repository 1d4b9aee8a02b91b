"""CSRF protection of the server-rendered forms: a signed double-submit cookie and the request's origin.

OWASP ASVS v5.0.0-3.5.1 (cross-site request forgery: the request's origin is checked, or it carries a token
the other site cannot know); OWASP Cross-Site Request Forgery Prevention Cheat Sheet, "Signed Double-Submit
Cookie" (the token is an HMAC, under the service's secret, of a random id kept in a cookie and of the
session) and "Verifying Origin with Standard Headers" / "Fetch Metadata headers".

::

    @app.get("/report")
    def form(request: Request):
        token = csrf_token(request, None, secret)                # the hidden field's value
        response = render(request, "report.html", {"csrf_token": token})
        set_csrf_cookie(request, response)                       # the cookie, when the browser had none
        return response

    @app.post("/report")
    def send(request: Request, csrf_token: str = Form("")):
        check_csrf(request, csrf_token, secret)                  # 403 with a clear message when it fails
"""

from __future__ import annotations

import hashlib
import hmac
import re

from fastapi import HTTPException, Request, Response

from exquisite.governance.security import constant_time_equal, new_token

#: The cookie holding the random id that tokens are bound to, and the form field that carries the token.
COOKIE = "exq_csrf"
FIELD = "csrf_token"
#: What a cookie id made by :func:`csrf_token` looks like (32 random bytes, URL-safe base64).
_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_STATE = "exq_csrf_new_id"

EXPIRED = "This form has expired or cookies are blocked. Reload the page, then send the form again."
MISSING = "This form was sent without its security token. Reload the page, then send the form again."
MISMATCH = "This form's security token is not valid for you. Reload the page, then send the form again."
CROSS_SITE = (
    "Forms of this site can be sent from its own pages only. Open the page on this site and send it there."
)


def _cookie_id(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value if value is not None and _ID.fullmatch(value) else None


def _sign(secret: bytes, cookie_id: str, session_id: str | None) -> str:
    message = b"exq-csrf\0" + cookie_id.encode("ascii") + b"\0" + (session_id or "").encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def csrf_token(
    request: Request, response: Response | None, secret: bytes, session_id: str | None = None
) -> str:
    """The token to put in a form's hidden field ``csrf_token``; sets the ``exq_csrf`` cookie when missing.

    Parameters
    ----------
    request
        The request that shows the form.
    response
        The response that will carry the cookie; or None, then :func:`set_csrf_cookie` sets it on the final
        response (FastAPI drops the cookies of an injected ``Response`` when the endpoint returns its own).
    secret
        The service's key (:func:`exquisite.governance.security.load_secret`).
    session_id
        The staff session's id, when there is one: the token is then valid for that session only.

    Returns
    -------
    str
        HMAC-SHA256 (hex) of the cookie's random id and the session id under ``secret``.
    """
    cookie_id = _cookie_id(request) or getattr(request.state, _STATE, None)
    if cookie_id is None:
        cookie_id = new_token(32)
        setattr(request.state, _STATE, cookie_id)
    if response is not None:
        set_csrf_cookie(request, response)
    return _sign(secret, cookie_id, session_id)


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Set the ``exq_csrf`` cookie that :func:`csrf_token` made for this request (nothing when none was made).

    The cookie is HttpOnly (the token reaches the page in the form, not through scripts), SameSite=Strict,
    Path=/, and Secure when the request came over HTTPS.
    """
    cookie_id = getattr(request.state, _STATE, None)
    if cookie_id is None or _cookie_id(request) is not None:
        return
    response.set_cookie(
        COOKIE,
        cookie_id,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _same_origin(request: Request, trusted_origins: tuple[str, ...]) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    allowed = {own, *(trusted.rstrip("/").lower() for trusted in trusted_origins)}
    return origin.strip().rstrip("/").lower() in allowed


def check_csrf(
    request: Request,
    form_token: str | None,
    secret: bytes,
    session_id: str | None = None,
    trusted_origins: tuple[str, ...] = (),
) -> None:
    """Refuse a form post that may come from another site.

    Parameters
    ----------
    request
        The form's POST.
    form_token
        The value of the form's ``csrf_token`` field.
    secret
        The service's key.
    session_id
        The staff session's id, when the form was made for one (as given to :func:`csrf_token`).
    trusted_origins
        Other origins of this same site (``https://city.example`` behind a proxy that speaks HTTP to us).

    Raises
    ------
    fastapi.HTTPException
        403 with a message saying what to do, when the ``Origin`` or ``Sec-Fetch-Site`` header names another
        site, the cookie is missing, or the token is missing or wrong (compared in constant time).
    """
    if not _same_origin(request, trusted_origins):
        raise HTTPException(status_code=403, detail=CROSS_SITE)
    cookie_id = _cookie_id(request)
    if cookie_id is None:
        raise HTTPException(status_code=403, detail=EXPIRED)
    if not form_token:
        raise HTTPException(status_code=403, detail=MISSING)
    if not constant_time_equal(_sign(secret, cookie_id, session_id), form_token):
        raise HTTPException(status_code=403, detail=MISMATCH)
