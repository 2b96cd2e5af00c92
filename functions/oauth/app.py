"""OAuth function: the builtin authorization server's endpoints and the GitHub connect flow.

No authorizer in front (these endpoints are how a client gets a token). Each
route reads its input through gistgate.core.inbound (a malformed request is a 400,
never a 5xx), calls gistgate.oauth and shapes the answer; the error classes
map to responses in the handlers at the bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from gistgate.core import inbound
from gistgate.core.config import get_settings
from gistgate.core.inbound import MalformedRequest
from gistgate.core.observability import logger
from gistgate.core.responses import json_response
from gistgate.core.urls import BaseUrlUnknown, base_url
from gistgate.oauth.errors import InvalidClient, OAuthError, from_storage
from gistgate.oauth.pages import PAGE_HEADERS, Page, message_page
from gistgate.oauth.service import AuthorizationServer
from gistgate.oauth.web import ClientRedirectError, PageError, PageOut, Redirect
from gistgate.storage.errors import StorageRejected, StorageUnavailable

SETTINGS = get_settings()
SERVER = AuthorizationServer(SETTINGS)
# CORS for the endpoints browser-based clients call with fetch (register, token, revoke).
app = APIGatewayRestResolver(cors=CORSConfig(allow_origin="*", max_age=600))

STORAGE_DOWN = (
    "Your sign-in could not be stored: the server's storage is not answering. Nothing was "
    "linked; try again in a moment."
)
UNSTORABLE = "A value in this request cannot be stored."
BrowserStep = Callable[[Mapping[str, str], Mapping[str, str], str], Redirect | PageOut]


def _event() -> dict[str, Any]:
    return app.current_event.raw_event


def _base() -> str:
    return base_url(SETTINGS, _event())


def _authorization() -> str | None:
    return inbound.header(_event(), "Authorization")


def _page(page: Page) -> Response[str]:
    return Response(page.status, None, page.html, PAGE_HEADERS)


def _log_malformed(exc: MalformedRequest) -> None:
    logger.info(
        "malformed request",
        extra={"error": type(exc).__name__, "part": exc.part, "path": app.current_event.path},
    )


def _answer(outcome: Redirect | PageOut) -> Response[str]:
    cookies = [
        Cookie(
            name=c.name,
            value=c.value,
            path="/",
            secure=c.secure,
            http_only=True,
            max_age=c.max_age,
            same_site=SameSite.LAX_MODE,
        )
        for c in outcome.cookies
    ]
    if isinstance(outcome, Redirect):
        return Response(
            302, None, "", {"Location": outcome.location, "Cache-Control": "no-store"}, cookies
        )
    return Response(outcome.page.status, None, outcome.page.html, PAGE_HEADERS, cookies)


def _browser(
    step: BrowserStep, read: Callable[[Mapping[str, Any]], dict[str, str]]
) -> Response[str]:
    """A browser endpoint: ``read`` its parameters, run the flow ``step``.

    A person is looking at the answer, so a malformed request is a 400 page
    rather than the JSON the API endpoints answer.
    """
    event = _event()
    try:
        params = read(event)
    except MalformedRequest as exc:
        _log_malformed(exc)
        return _page(message_page(exc.status, "Sign-in stopped", exc.description))
    try:
        return _answer(step(params, inbound.cookies(event), _base()))
    except StorageUnavailable as exc:
        logger.warning("storage unavailable", extra={"error": str(exc)[:200]})
        return _page(message_page(503, "Try again", STORAGE_DOWN))
    except StorageRejected:
        return _page(
            message_page(400, "Sign-in stopped", "A value in this request cannot be stored.")
        )


@app.get("/oauth/authorize")
def authorize() -> Response[str]:
    return _browser(SERVER.browser.authorize, inbound.query)


@app.get("/oauth/callback")
def callback() -> Response[str]:
    return _browser(SERVER.browser.callback, inbound.query)


@app.post("/oauth/consent")
def consent() -> Response[str]:
    return _browser(SERVER.browser.consent, inbound.form)


@app.get("/oauth/github/connect")
def github_connect() -> Response[str]:
    return _browser(SERVER.connect.start, inbound.query)


@app.get("/oauth/github/callback")
def github_callback() -> Response[str]:
    return _browser(SERVER.connect.callback, inbound.query)


@app.post("/oauth/register")
def register() -> Response[str]:
    body = inbound.json_body(_event())
    identity = app.current_event.request_context.identity
    answer = SERVER.registration.register(body, identity.source_ip or "unknown", _authorization())
    return json_response(201, answer)


@app.post("/oauth/token")
def token() -> Response[str]:
    issued = SERVER.token_endpoint.token(inbound.form(_event()), _authorization(), _base())
    return json_response(200, issued.body(), headers={"Pragma": "no-cache"})


@app.post("/oauth/revoke")
def revoke() -> Response[str]:
    SERVER.revocation.revoke(inbound.form(_event()), _authorization(), _base())
    return json_response(200, {})


@app.exception_handler(MalformedRequest)
def malformed(exc: MalformedRequest) -> Response[str]:
    _log_malformed(exc)
    return json_response(exc.status, exc.body())


def _oauth_answer(exc: OAuthError) -> Response[str]:
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidClient) and app.current_event.headers.get("authorization"):
        headers["WWW-Authenticate"] = 'Basic realm="gistgate"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    logger.info("oauth error", extra={"error": exc.error, "path": app.current_event.path})
    return json_response(exc.status, exc.body(), headers=headers)


@app.exception_handler(OAuthError)
def oauth_error(exc: OAuthError) -> Response[str]:
    return _oauth_answer(exc)


@app.exception_handler(PageError)
def page_error(exc: PageError) -> Response[str]:
    logger.info("oauth page error", extra={"status": exc.status, "path": app.current_event.path})
    return _page(message_page(exc.status, "Sign-in stopped", str(exc)))


@app.exception_handler(StorageUnavailable)
@app.exception_handler(StorageRejected)
def storage_error(exc: StorageUnavailable | StorageRejected) -> Response[str]:
    return _oauth_answer(from_storage(exc))


@app.exception_handler(ClientRedirectError)
def client_redirect_error(exc: ClientRedirectError) -> Response[str]:
    return Response(302, None, "", {"Location": exc.location, "Cache-Control": "no-store"})


@app.exception_handler(BaseUrlUnknown)
def unknown_base(exc: BaseUrlUnknown) -> Response[str]:
    return json_response(400, {"error": "invalid_request", "error_description": str(exc)})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one API Gateway (REST) proxy event."""
    return app.resolve(event, context)
