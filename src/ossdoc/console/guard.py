"""Who is calling the console API, and whether the call may change anything.

Every ``/-/api`` request but the session's own needs a live session (cookie). A state-changing one
(anything but GET/HEAD) must also carry the session's CSRF token in ``X-CSRF-Token``, and must not
come from another origin: the SameSite=Strict cookie already keeps other sites' requests unsigned,
and the token and the origin check hold even where a browser ignores SameSite. Signing in, when
there is no session yet, checks a pre-session token instead (double submit: a cookie and the same
value in the header), so that another site cannot sign a visitor in under its own key."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from ossdoc import errors
from ossdoc.console.sessions import Session, SessionStore, matches
from ossdoc.wire.context import new_request_id
from ossdoc.wire.state import AppState

SESSION_COOKIE = "ossdoc_console"
PRESESSION_COOKIE = "ossdoc_console_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})

NotSignedIn = errors.define("NotSignedIn", 401, "Sign in to the console with an access key pair.")
InvalidCsrfToken = errors.define(
    "InvalidCsrfToken", 403, "The request has no valid CSRF token: reload the console and try again."
)
InvalidAccessKeySecret = errors.define(
    "InvalidAccessKeySecret", 403, "The AccessKeySecret is not the secret of this AccessKeyId."
)


class Console:
    """What the console's routes share: the server's state (once its lifespan has started) and the
    session store, opened on first use in the data dir."""

    def __init__(self, state: Callable[[], AppState | None]) -> None:
        self._state = state
        self._sessions: SessionStore | None = None
        self._opening = asyncio.Lock()

    def state(self) -> AppState:
        found = self._state()
        if found is None:
            raise errors.ServiceUnavailable("ossdoc is starting; try again in a moment.")
        return found

    async def sessions(self) -> SessionStore:
        if self._sessions is None:
            async with self._opening:
                if self._sessions is None:
                    path = self.state().settings.data / "console.sqlite3"
                    self._sessions = await SessionStore.open(path)
        return self._sessions

    def close(self) -> None:
        if self._sessions is not None:
            self._sessions.close()
            self._sessions = None


@dataclass(frozen=True)
class Caller:
    """A signed-in request: the key it acts as, and the server's state."""

    state: AppState
    session: Session
    request_id: str

    @property
    def key_id(self) -> str:
        return self.session.key_id


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


async def authorized(request: Request) -> Caller:
    """The caller of an API request; NotSignedIn, or InvalidCsrfToken for a state-changing request
    without the session's token or from another origin."""
    console = console_of(request)
    state = console.state()
    session = await current_session(request)
    if session is None:
        raise NotSignedIn()
    if request.method not in SAFE_METHODS:
        check_same_origin(request)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise InvalidCsrfToken()
    return Caller(state, session, new_request_id())


async def current_session(request: Request) -> Session | None:
    """The live session of the request's cookie, if its key pair is still valid."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    console = console_of(request)
    session = await (await console.sessions()).get(token)
    if session is None:
        return None
    if not matches(session, session.key_id, console.state().keys.secret_for(session.key_id)):
        return None
    return session


def check_presession(request: Request) -> None:
    """Sign-in's CSRF check: the pre-session cookie, repeated in the header."""
    check_same_origin(request)
    cookie = request.cookies.get(PRESESSION_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise InvalidCsrfToken()


def check_same_origin(request: Request) -> None:
    """Refuse a request that a browser says comes from another origin (``Origin``, or
    ``Sec-Fetch-Site``); tools that send neither are not browsers and carry no ambient cookie."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise InvalidCsrfToken("The request comes from another site.")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise InvalidCsrfToken("The request comes from another origin.")
    elif origin == "null":
        raise InvalidCsrfToken("The request comes from an opaque origin.")
