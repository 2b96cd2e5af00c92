"""OAuth error descriptions: RFC 6749 §5.2's character set, and no echo of the request.

Three layers: the safety net in ``OAuthError`` (any text is forced into the set),
a scan of every place the token/revoke/register code raises an OAuth error (fixed
text only, interpolating nothing but our own values), and the validators fed
hostile values.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from gistgate.core.config import load_settings
from gistgate.oauth import errors, scopes
from gistgate.oauth.clients import AUTH_FAILED, validate_registration
from gistgate.oauth.errors import InvalidScope, OAuthError, UnauthorizedClient

PACKAGE = Path(errors.__file__).resolve().parent
CHARSET = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")
HOSTILE = "x\"\\'<script>alert(1)</script>é☃\x00\n\u202e"
SUPPORTED = ("read:gists", "write:gists", "admin:server")


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


ERROR_CLASSES = [OAuthError, *_subclasses(OAuthError)]
ERROR_NAMES = {cls.__name__ for cls in ERROR_CLASSES}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_keeps_its_description_in_the_charset(cls):
    error = cls(f"bad value {HOSTILE}")
    assert CHARSET.match(error.description)
    assert CHARSET.match(error.body()["error_description"])
    assert CHARSET.match(str(error))  # what the browser flow shows on its pages
    assert error.description.startswith("bad value x")


def test_a_description_already_in_the_charset_is_unchanged():
    text = "scope must be a space-separated string (e.g. 'read:gists'); see [RFC 6749]!"
    assert OAuthError(text).description == text


# -- every raise site: fixed text --------------------------------------------------------

# Modules that answer the JSON endpoints (token, revoke, register) and whose messages
# this test holds to "fixed text". Names allowed inside an f-string: values we own
# (parameter and field names we pass, our constants, our own fixed reasons).
SCANNED = ("service.py", "clients.py", "grants.py", "scopes.py", "key_metadata.py")
OURS = {
    "name",
    "field",
    "index",
    "problem",
    "what",
    "AUTH_METHODS",
    "ALGORITHMS",
    "MAX_REDIRECT_URIS",
    "GRANT_TYPES",
}
# Module constants that are whole messages.
FIXED = {"AUTH_FAILED": AUTH_FAILED}
# ClientRegistry._from_document: get()'s text for the browser flow's page; the token
# and revocation endpoints replace it with the uniform invalid_client answer.
BROWSER_ONLY = {"_from_document"}


def _raise_sites() -> list[tuple[str, int, ast.expr]]:
    sites = []
    for filename in SCANNED:
        tree = ast.parse((PACKAGE / filename).read_text(), filename)
        skipped = {
            id(node)
            for func in ast.walk(tree)
            if isinstance(func, ast.FunctionDef) and func.name in BROWSER_ONLY
            for node in ast.walk(func)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Raise) or id(node) in skipped:
                continue
            call = node.exc
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in ERROR_NAMES
                and call.args
            ):
                sites.append((filename, node.lineno, call.args[0]))
    return sites


RAISE_SITES = _raise_sites()


def test_the_scan_finds_the_raise_sites():
    assert len(RAISE_SITES) > 30


@pytest.mark.parametrize(
    ("filename", "line", "message"), RAISE_SITES, ids=[f"{f}:{n}" for f, n, _ in RAISE_SITES]
)
def test_every_raised_message_is_fixed_text(filename, line, message):
    if isinstance(message, ast.Constant):
        assert isinstance(message.value, str)
        assert CHARSET.match(message.value), message.value
        return
    if isinstance(message, ast.Name):
        assert message.id in FIXED, f"{filename}:{line} raises with {message.id}"
        assert CHARSET.match(FIXED[message.id])
        return
    assert isinstance(message, ast.JoinedStr), f"{filename}:{line} builds its message at run time"
    for part in message.values:
        if isinstance(part, ast.Constant):
            assert CHARSET.match(part.value), part.value
            continue
        assert isinstance(part, ast.FormattedValue)
        assert part.conversion == -1, f"{filename}:{line} uses !r/!s (an echo)"
        names = {n.id for n in ast.walk(part.value) if isinstance(n, ast.Name)}
        assert names <= OURS, f"{filename}:{line} interpolates {names - OURS}"


# -- the validators with hostile values ----------------------------------------------------


def _registration_error(body: Any) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        validate_registration(
            body,
            supported_scopes=SUPPORTED,
            default_scopes=SUPPORTED[:2],
            privileged=False,
            admin_scope="admin:server",
        )
    return caught.value


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": [f"https://app.example/{HOSTILE}"]},
        {"redirect_uris": ["http://127.0.0.1/cb", f"http://evil.example/{HOSTILE}"]},
        {"redirect_uris": [f"javascript:{HOSTILE}"]},
        {"redirect_uris": ["http://127.0.0.1/cb"], "grant_types": [HOSTILE]},
        {"redirect_uris": ["http://127.0.0.1/cb"], "response_types": [HOSTILE]},
        {"redirect_uris": ["http://127.0.0.1/cb"], "scope": f"read:gists {HOSTILE}"},
        {"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": HOSTILE},
        {"redirect_uris": ["http://127.0.0.1/cb"], "client_uri": f"http://{HOSTILE}"},
        {"redirect_uris": ["http://127.0.0.1/cb"], "client_name": HOSTILE * 100},
        {
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    ],
)
def test_registration_errors_do_not_echo_the_request(body):
    error = _registration_error(body)
    assert CHARSET.match(error.description), error.description
    for piece in ("<script>", "evil.example", "app.example", "javascript"):
        assert piece not in error.description


def test_a_bad_redirect_uri_is_named_by_its_index():
    error = _registration_error({"redirect_uris": ["http://127.0.0.1/cb", "http://evil.example/"]})
    assert error.error == "invalid_redirect_uri"
    assert error.description.startswith("redirect_uris[1] must use https")


def test_scope_errors_do_not_name_the_requested_scopes():
    with pytest.raises(InvalidScope) as caught:
        scopes.within(("read:gists", HOSTILE), ("read:gists",))
    assert caught.value.description == "scope asks for a scope that is not available to this client"


def test_client_credentials_with_a_public_client_is_unauthorized_client():
    """A public client identifies itself by its registered method (client_id only), so its
    authentication did not fail: the grant is what it may not use (RFC 6749 §5.2)."""
    from gistgate.oauth.clients import Client
    from gistgate.oauth.grants import Grants
    from gistgate.storage.table import Table

    public = Client(
        client_id="public-1",
        client_name="",
        redirect_uris=(),
        auth_method="none",
        grant_types=("client_credentials",),  # registration refuses this; defence in depth
        scope=("read:gists",),
    )
    settings = load_settings({"AUTH_MODE": "builtin", "TABLE_NAME": "t"})
    grants = Grants(Table("t"), None, access_ttl=60, refresh_ttl=3600)
    with pytest.raises(UnauthorizedClient):
        grants.client_credentials(public, (), settings, "https://gg.example")
