"""Linking GitHub inside a tool call: a URL-mode elicitation, in a multi round trip.

On MCP 2026-07-28 a tool that needs the user's own GitHub token, and finds none, does
not fail: when the client declared ``elicitation.url``, it answers with an
``InputRequiredResult`` whose one input request sends the user to our connect page
(the one-time link ``connect_github`` makes, bound to this user: opened by anyone
else it links nothing). The client retries the same call with the user's answer and
the ``requestState`` we gave it; by then the token is in the vault and the tool runs.

The state carries no authority: it only counts the rounds. The SDK seals it and binds
it to this user, this client, this exact call and 10 minutes
(:mod:`gistgate.mcp.request_state`); the tool itself re-reads the vault, so a replayed
state can do nothing the caller could not do by calling the tool again. Older
clients, and clients without URL elicitation, get the tool error that names
``connect_github`` (never the 2025 revision's -32042 error on 2026-07-28).
"""

from __future__ import annotations

import json
from typing import Literal

from mcp.server.mcpserver import Context
from mcp_types import ElicitRequest, ElicitRequestURLParams, ElicitResult, InputRequiredResult

__all__ = [
    "CONNECT",
    "MAX_ROUNDS",
    "ConnectAnswer",
    "answer",
    "connect_request",
    "rounds",
    "supports_url",
]

CONNECT = "github_connect"  # the input request's key, in inputRequests and inputResponses
MAX_ROUNDS = 3  # asking again after an "accept" whose browser flow had not finished
MODERN = "2026-07-28"

ConnectAnswer = Literal["none", "accept", "decline", "cancel"]


def supports_url(ctx: Context) -> bool:
    """Did a 2026-07-28 (or later) client declare URL-mode elicitation?"""
    version = ctx.protocol_version
    if version is None or version < MODERN:
        return False
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and elicitation.url is not None


def rounds(ctx: Context) -> int:
    """How many connect requests this call has answered already (0: the first round)."""
    state = ctx.request_state
    if not state:
        return 0
    try:
        count = json.loads(state).get("rounds", 0)
    except (ValueError, AttributeError):
        return 0  # the SDK opened it, so it is ours; an old shape counts as a first round
    return count if isinstance(count, int) and count >= 0 else 0


def answer(ctx: Context) -> ConnectAnswer:
    """The user's answer to our connect request in this retry, if any."""
    responses = ctx.input_responses or {}
    response = responses.get(CONNECT)
    if isinstance(response, ElicitResult):
        return response.action
    return "none"


def connect_request(ctx: Context, url: str, reason: str) -> InputRequiredResult:
    """Ask the client to send the user to ``url``; the retry comes back with the answer."""
    message = (
        f"{reason} Open this link to connect your GitHub account to gistgate; it works "
        "only for your account and expires in 10 minutes. Then continue."
    )
    request = ElicitRequest(params=ElicitRequestURLParams(message=message, url=url))
    state = json.dumps({"rounds": rounds(ctx) + 1})
    return InputRequiredResult(input_requests={CONNECT: request}, request_state=state)
