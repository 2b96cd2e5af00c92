"""GitHub REST client for the gist tools: bounded in time, typed in its errors.

One pooled ``httpx.Client`` per process (warm invocations reuse connections
to GitHub). Every call has a connect timeout of 3 s and a total deadline of
10 s, both well inside API Gateway's 29 s. Transient failures (connection
errors, and 5xx answers to idempotent requests) are retried at most twice
with jittered backoff while the deadline allows. A POST is retried only when
the connection failed before the request was sent, so a gist is never
created twice.

Error statuses become the typed errors below; their messages come from
GitHub's error bodies and never carry a token.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from gistgate.core.fetch import bounded_transport, within
from gistgate.core.tracing import annotate, span

if TYPE_CHECKING:
    import httpx

__all__ = [
    "GitHubClient",
    "GitHubError",
    "GitHubForbidden",
    "GitHubNotFound",
    "GitHubRateLimited",
    "GitHubUnauthorized",
    "GitHubUnavailable",
    "GitHubValidation",
    "Page",
]

API_VERSION = "2022-11-28"
USER_AGENT = "gistgate/0.1 (+https://github.com/gistgate/gistgate)"
CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0
MAX_RETRIES = 2
MAX_BODY_BYTES = 12 * 1024 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
_NEXT_PAGE = re.compile(r'<[^>]*[?&]page=(\d+)[^>]*>;\s*rel="next"')


class GitHubError(Exception):
    """GitHub refused or failed; ``status`` is its HTTP status (0: no answer)."""

    status: int = 0

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class GitHubUnauthorized(GitHubError):
    """401: the token is revoked, expired or wrong."""

    status = 401


class GitHubRateLimited(GitHubError):
    """403/429 with a rate-limit signal; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int, status: int) -> None:
        super().__init__(f"GitHub rate limit, retry after {retry_after} s", status)
        self.retry_after = retry_after


class GitHubForbidden(GitHubError):
    """403 for any other reason (missing token scope, SSO enforcement...)."""

    status = 403


class GitHubNotFound(GitHubError):
    """404 (GitHub also answers 404 for a private gist you cannot see)."""

    status = 404


class GitHubValidation(GitHubError):
    """422: GitHub's validation message."""

    status = 422


class GitHubUnavailable(GitHubError):
    """No usable answer: timeouts, connection errors, 5xx after retries."""


def _github_refused(exc: BaseException) -> bool:
    """GitHub answered 4xx: an error in the trace; no answer or a 5xx is a fault."""
    return isinstance(exc, GitHubError) and 400 <= exc.status < 500


class Page(NamedTuple):
    """One page of a listing and the number of the next page, if any."""

    items: list[dict[str, Any]]
    next_page: int | None


def _message(body: Any, fallback: str) -> str:
    if not isinstance(body, dict):
        return fallback
    message = str(body.get("message") or fallback)
    details = []
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("message") or " ".join(
                str(error[k]) for k in ("resource", "field", "code") if error.get(k)
            )
            details.append(str(text))
        elif isinstance(error, str):
            details.append(error)
    return f"{message}: {'; '.join(details)}" if details else message


def _object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a gist or user endpoint answers with (decoded as-is, unchecked)."""
    body: dict[str, Any] = response.json()
    return body


def _retry_after(headers: Mapping[str, str], now: float) -> int | None:
    """Seconds to wait if the response carries a primary or secondary rate-limit signal."""
    after = headers.get("retry-after")
    if after and after.strip().isdigit():
        return max(1, int(after))
    if headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        return max(1, int(reset) - int(now)) if reset.isdigit() else 60
    return None


def _raise_for(response: httpx.Response, now: float) -> None:
    status = response.status_code
    if status < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if status in (403, 429):
        wait = _retry_after(response.headers, now)
        if wait is not None:
            raise GitHubRateLimited(wait, status)
    message = _message(body, f"HTTP {status}")
    errors: dict[int, type[GitHubError]] = {
        401: GitHubUnauthorized,
        403: GitHubForbidden,
        404: GitHubNotFound,
        422: GitHubValidation,
    }
    if status in errors:
        raise errors[status](message)
    if status >= 500:
        raise GitHubUnavailable(f"GitHub answered {status}", status)
    raise GitHubError(message, status)


class GitHubClient:
    """The handful of GitHub REST calls the tools make.

    In Lambda one client lives as long as the execution environment (built at module
    level by functions/mcp/app.py, never closed): its pool keeps connections to GitHub
    warm across invocations, and the environment's end takes them with it. Whoever
    makes a shorter-lived client (a test, a tool) calls :meth:`close` when done with it.
    """

    def __init__(
        self,
        api_url: str,
        *,
        total_timeout: float = TOTAL_TIMEOUT,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base = api_url.rstrip("/")
        self._host = urlsplit(self._base).hostname or "GitHub"
        self._total = total_timeout
        self._retries = max_retries
        self._sleep = sleep
        self._transport = transport
        self._http: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                transport=self._transport or bounded_transport(),
                timeout=httpx.Timeout(self._total, connect=CONNECT_TIMEOUT),
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": API_VERSION,
                    "User-Agent": USER_AGENT,
                },
                follow_redirects=False,
                trust_env=False,
            )
        return self._http

    def close(self) -> None:
        """Close the pool and its connections; a later call opens a new pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        basic: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """One API call with retries; raises a :class:`GitHubError` for any error status.

        Traced: a remote subsegment named for GitHub's host, annotated with the method and
        the status only (no path, query, body or header reaches the trace).
        """
        with span(self._host, namespace="remote", client_error=_github_refused):
            annotate(http_method=method)
            try:
                response = self._request(
                    method, path, token=token, json=json, params=params, basic=basic
                )
            except GitHubError as exc:
                annotate(http_status=exc.status)
                raise
            annotate(http_status=response.status_code)
            return response

    def _request(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        json: Any,
        params: Mapping[str, Any] | None,
        basic: tuple[str, str] | None,
    ) -> httpx.Response:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with within(self._total) as deadline:
            attempt = 0
            while True:
                try:
                    response = self._client().request(
                        method,
                        self._base + path,
                        headers=headers,
                        json=json,
                        params=params,
                        auth=basic,
                        timeout=httpx.Timeout(
                            max(deadline - time.monotonic(), 0.05), connect=CONNECT_TIMEOUT
                        ),
                    )
                except httpx.TimeoutException:
                    if method in _IDEMPOTENT and self._may_retry(attempt, deadline):
                        attempt += 1
                        continue
                    raise GitHubUnavailable("GitHub did not answer in time") from None
                except httpx.TransportError as exc:
                    sent = not isinstance(exc, httpx.ConnectError)
                    if (method in _IDEMPOTENT or not sent) and self._may_retry(attempt, deadline):
                        attempt += 1
                        continue
                    raise GitHubUnavailable(f"cannot reach GitHub ({type(exc).__name__})") from None
                if (
                    response.status_code >= 500
                    and method in _IDEMPOTENT
                    and self._may_retry(attempt, deadline)
                ):
                    attempt += 1
                    continue
                if len(response.content) > MAX_BODY_BYTES:
                    raise GitHubUnavailable("GitHub's answer is too large")
                _raise_for(response, time.time())
                return response

    def _may_retry(self, attempt: int, deadline: float) -> bool:
        """Back off (jittered, growing) if another attempt fits before the deadline."""
        if attempt >= self._retries:
            return False
        pause = (0.2 * 2**attempt) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
        if time.monotonic() + pause + 0.5 > deadline:
            return False
        self._sleep(pause)
        return True

    # -- gists -------------------------------------------------------------

    def user(self, token: str) -> dict[str, Any]:
        """``GET /user``: the account the token belongs to."""
        return _object(self.request("GET", "/user", token=token))

    def create_gist(self, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /gists``."""
        return _object(self.request("POST", "/gists", token=token, json=body))

    def get_gist(self, token: str, gist_id: str) -> dict[str, Any]:
        """``GET /gists/{id}``."""
        return _object(self.request("GET", f"/gists/{gist_id}", token=token))

    def update_gist(self, token: str, gist_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PATCH /gists/{id}``."""
        return _object(self.request("PATCH", f"/gists/{gist_id}", token=token, json=body))

    def delete_gist(self, token: str, gist_id: str) -> None:
        """``DELETE /gists/{id}``."""
        self.request("DELETE", f"/gists/{gist_id}", token=token)

    def list_gists(
        self, token: str, *, per_page: int, page: int = 1, since: str | None = None
    ) -> Page:
        """``GET /gists``: the authenticated user's gists, newest first."""
        params: dict[str, Any] = {"per_page": per_page, "page": page}
        if since:
            params["since"] = since
        response = self.request("GET", "/gists", token=token, params=params)
        match = _NEXT_PAGE.search(response.headers.get("link", ""))
        return Page(response.json(), int(match.group(1)) if match else None)

    def revoke_grant(self, client_id: str, client_secret: str, token: str) -> None:
        """``DELETE /applications/{client_id}/grant``: revoke the user's whole authorization."""
        self.request(
            "DELETE",
            f"/applications/{client_id}/grant",
            json={"access_token": token},
            basic=(client_id, client_secret),
        )
