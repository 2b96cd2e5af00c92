"""A ChatGPT-shaped connector against ``make dev``: a client metadata document (its URL is
the client_id) declaring private_key_jwt with a jwks_uri, no registration, a signed client
assertion at /oauth/token, then tool calls. docs/clients.md, ChatGPT."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.dev_clients import DevTarget, call_tool
from tests.fixtures.key_clients import KeyClient
from tests.fixtures.loopback import MetadataDocuments
from tests.fixtures.oauth_stack import CLIENT_REDIRECT, Flow


@pytest.fixture
def documents() -> Iterator[MetadataDocuments]:
    served = MetadataDocuments()
    yield served
    served.close()


def test_a_chatgpt_shaped_connector_connects_on_the_first_try(
    dev_stack: Any, documents: MetadataDocuments
) -> None:
    base = dev_stack.base_url
    metadata = httpx.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
    # What ChatGPT reads before it chooses its registration path and client authentication.
    assert metadata["client_id_metadata_document_supported"] is True
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "RS256" in metadata["token_endpoint_auth_signing_alg_values_supported"]

    connector = KeyClient(documents)
    flow = Flow(DevTarget(base))  # type: ignore[arg-type]
    code = flow.code(connector.client_id)["code"]
    assert "ChatGPT" in flow.browser.pages[0]  # the consent page names the document's client

    tokens = flow.api.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CLIENT_REDIRECT,
            "code_verifier": flow.verifier,
            "resource": base + "/mcp",
            **connector.form(metadata["token_endpoint"]),
        },
    )
    assert tokens.status_code == 200, tokens.text

    access = tokens.json()["access_token"]
    who = call_tool(base + "/mcp", access, "whoami", {})
    made = call_tool(base + "/mcp", access, "create_gist", {"files": {"chatgpt.txt": "hi"}})
    assert who.json()["result"]["structuredContent"]["client_id"] == connector.client_id
    assert made.json()["result"]["structuredContent"]["id"] in dev_stack.github.gists
