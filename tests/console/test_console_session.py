"""Signing in and out of the console, the session cookie, and the CSRF checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import KEY, OTHER, Console, running
from ossdoc.keys import KeyRing

pytestmark = pytest.mark.anyio


async def test_the_page_and_its_assets_are_served_with_a_strict_policy(console: Console) -> None:
    page = await console.client.get("/-/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert 'src="static/js/main.js"' in page.text
    for asset, kind in [("js/main.js", "javascript"), ("console.css", "text/css"), ("favicon.svg", "svg")]:
        reply = await console.client.get(f"/-/static/{asset}")
        assert reply.status_code == 200 and kind in reply.headers["content-type"], asset
    # Nothing is loaded from elsewhere: no CDN, no remote fonts.
    assert "http" not in page.text.replace("http-equiv", "")


async def test_the_api_needs_a_session(console: Console) -> None:
    reply = await console.client.get("/-/api/buckets")
    assert reply.status_code == 401
    assert reply.json()["Code"] == "NotSignedIn"
    assert "Sign in" in reply.json()["Message"]


async def test_signing_in_sets_an_httponly_strict_cookie(console: Console) -> None:
    reply = await console.sign_in()
    assert reply.status_code == 200
    assert reply.json()["accessKeyId"] == KEY.id and reply.json()["signedIn"] is True
    cookie = next(v for k, v in reply.headers.multi_items() if k == "set-cookie" and "ossdoc_console=" in v)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/-/" in cookie
    assert KEY.secret not in cookie and KEY.secret not in reply.text
    assert (await console.client.get("/-/api/buckets")).status_code == 200
    session = (await console.client.get("/-/api/session")).json()
    assert session["signedIn"] is True and session["csrf"] == console.csrf


async def test_a_wrong_secret_is_refused_clearly(console: Console) -> None:
    reply = await console.sign_in(replace(KEY, secret="not-the-secret"))
    assert reply.status_code == 403
    assert reply.json()["Code"] == "InvalidAccessKeySecret"
    assert reply.json()["Message"] == "The AccessKeySecret is not the secret of this AccessKeyId."
    assert "set-cookie" not in {k for k, v in reply.headers.multi_items() if "ossdoc_console=" in v}
    assert (await console.client.get("/-/api/buckets")).status_code == 401


async def test_an_unknown_key_id_is_refused(console: Console) -> None:
    reply = await console.sign_in(replace(KEY, id="LTAInobody"))
    assert reply.status_code == 403
    assert reply.json()["Code"] == "InvalidAccessKeyId"
    assert "LTAInobody" in reply.json()["Message"]


async def test_signing_in_without_the_presession_token_is_refused(console: Console) -> None:
    await console.client.get("/-/api/session")  # the pre-session cookie, but no header
    body = {"accessKeyId": KEY.id, "accessKeySecret": KEY.secret}
    reply = await console.client.post("/-/api/session", json=body)
    assert reply.status_code == 403 and reply.json()["Code"] == "InvalidCsrfToken"
    reply = await console.client.post("/-/api/session", json=body, headers={"X-CSRF-Token": "guess"})
    assert reply.status_code == 403 and reply.json()["Code"] == "InvalidCsrfToken"


@pytest.mark.parametrize("missing", ["accessKeyId", "accessKeySecret"])
async def test_signing_in_needs_both_halves(console: Console, missing: str) -> None:
    token = (await console.client.get("/-/api/session")).json()["csrf"]
    body = {"accessKeyId": KEY.id, "accessKeySecret": KEY.secret}
    del body[missing]
    reply = await console.client.post("/-/api/session", json=body, headers={"X-CSRF-Token": token})
    assert reply.status_code == 400
    assert reply.json() | {"RequestId": ""} == {
        "Code": "InvalidArgument",
        "Message": f"{missing} is required.",
        "RequestId": "",
        "Details": {"ArgumentName": missing},
    }


async def test_a_body_that_is_not_json_is_refused(console: Console) -> None:
    token = (await console.client.get("/-/api/session")).json()["csrf"]
    reply = await console.client.post("/-/api/session", content=b"id=x", headers={"X-CSRF-Token": token})
    assert reply.status_code == 400 and reply.json()["Message"] == "The request body is not valid JSON."


async def test_a_state_changing_request_needs_the_csrf_token(signed_in: Console) -> None:
    client = signed_in.client
    reply = await client.post("/-/api/buckets", json={"name": "no-token"})
    assert reply.status_code == 403 and reply.json()["Code"] == "InvalidCsrfToken"
    reply = await client.post("/-/api/buckets", json={"name": "no-token"}, headers={"X-CSRF-Token": "wrong"})
    assert reply.status_code == 403 and reply.json()["Code"] == "InvalidCsrfToken"
    assert (await signed_in.call("GET", "buckets")).json()["buckets"] == []


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
)
async def test_requests_from_another_origin_are_refused(signed_in: Console, headers: dict[str, str]) -> None:
    reply = await signed_in.call("POST", "buckets", json={"name": "cross-site"}, headers=headers)
    assert reply.status_code == 403 and reply.json()["Code"] == "InvalidCsrfToken"
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert (
        await signed_in.call("POST", "buckets", json={"name": "same-site"}, headers=same)
    ).status_code == 201


async def test_signing_out_ends_the_session_on_the_server(signed_in: Console) -> None:
    cookie = signed_in.client.cookies["ossdoc_console"]
    reply = await signed_in.call("DELETE", "session")
    assert reply.status_code == 200 and reply.json() == {"signedIn": False}
    # Even a copy of the old cookie no longer works.
    signed_in.client.cookies.set("ossdoc_console", cookie, domain="testserver", path="/-/")
    assert (await signed_in.client.get("/-/api/buckets")).status_code == 401


async def test_a_revoked_key_ends_its_sessions_at_once(signed_in: Console) -> None:
    assert signed_in.app.state is not None
    signed_in.app.state.keys = KeyRing.fixed([OTHER])
    reply = await signed_in.client.get("/-/api/buckets")
    assert reply.status_code == 401 and reply.json()["Code"] == "NotSignedIn"


async def test_a_session_is_valid_in_every_worker_of_the_data_dir(tmp_path: Path) -> None:
    """Workers are processes sharing the data dir: a session opened through one is honoured by all."""
    async with running(tmp_path / "data") as first, running(tmp_path / "data") as second:
        assert (await first.sign_in()).status_code == 200
        second.client.cookies = first.client.cookies
        second.csrf = first.csrf
        assert (await second.call("POST", "buckets", json={"name": "from-second"})).status_code == 201
        assert (await second.call("DELETE", "session")).status_code == 200
        assert (await first.client.get("/-/api/buckets")).status_code == 401


async def test_an_unknown_api_path_is_a_clear_404(signed_in: Console) -> None:
    reply = await signed_in.call("GET", "nothing/here")
    assert reply.status_code == 404
    assert reply.json()["Code"] == "NoSuchConsoleRoute"
    assert "GET /-/api/nothing/here" in reply.json()["Message"]
