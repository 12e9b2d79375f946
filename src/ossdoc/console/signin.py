"""``/-/api/session``: sign in with an access key pair, see who is signed in, sign out."""

from __future__ import annotations

import hmac
import logging
import secrets

from starlette.requests import Request
from starlette.responses import Response

from ossdoc import errors
from ossdoc.console.common import read_json, reply, text_field
from ossdoc.console.guard import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    InvalidAccessKeySecret,
    authorized,
    check_presession,
    console_of,
    current_session,
)
from ossdoc.console.sessions import SESSION_SECONDS, Session

log = logging.getLogger("ossdoc.console")
MAX_SIGNIN_BODY = 4096


async def get_session(request: Request) -> Response:
    """Who is signed in, with the token state-changing requests carry; signed out, the pre-session
    token that signing in needs (and its cookie)."""
    session = await current_session(request)
    if session is not None:
        return reply(_signed_in(session))
    token = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
    response = reply({"signedIn": False, "csrf": token})
    _set_cookie(request, response, PRESESSION_COOKIE, token, 3600)
    if SESSION_COOKIE in request.cookies:  # expired or revoked: forget it
        response.delete_cookie(SESSION_COOKIE, path="/-/")
    return response


async def sign_in(request: Request) -> Response:
    console = console_of(request)
    state = console.state()
    check_presession(request)
    body = await read_json(request, MAX_SIGNIN_BODY)
    key_id = text_field(body, "accessKeyId").strip()
    secret = text_field(body, "accessKeySecret").strip()
    expected = state.keys.secret_for(key_id)
    if expected is None:
        log.info("console sign-in refused: unknown access key id %s", key_id[:40])
        raise errors.InvalidAccessKeyId(
            f"The AccessKeyId {key_id[:40]} does not exist on this server.", OSSAccessKeyId=key_id[:40]
        )
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        log.info("console sign-in refused: wrong secret for %s", key_id)
        raise InvalidAccessKeySecret(OSSAccessKeyId=key_id)
    token, session = await (await console.sessions()).create(key_id, secret)
    log.info("console: %s signed in", key_id)
    response = reply(_signed_in(session))
    _set_cookie(request, response, SESSION_COOKIE, token, SESSION_SECONDS)
    response.delete_cookie(PRESESSION_COOKIE, path="/-/")
    return response


async def sign_out(request: Request) -> Response:
    await authorized(request)
    token = request.cookies[SESSION_COOKIE]
    await (await console_of(request).sessions()).delete(token)
    response = reply({"signedIn": False})
    response.delete_cookie(SESSION_COOKIE, path="/-/")
    return response


def _signed_in(session: Session) -> dict[str, object]:
    return {"signedIn": True, "accessKeyId": session.key_id, "csrf": session.csrf, "expires": session.expires}


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/-/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
