"""One-time tickets that start the GitHub "connect your account" flow.

The MCP function cannot send the user's browser anywhere, so ``connect_github``
returns a URL holding a ticket. The ticket is random, single use and valid for
10 minutes; the table stores only its SHA-256 with the subject it was issued
to (STORAGE.md). The OAuth function consumes it with a conditional delete
and sends the browser to GitHub.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from gistgate.storage import keys
from gistgate.storage.aws import AwsCallFailed, call

TICKET_SECONDS = 600
CONNECT_PATH = "/oauth/github/connect"


class TicketUnavailable(Exception):
    """The ticket could not be stored."""


def issue_ticket(table_name: str, sub: str, client_id: str, *, now: float | None = None) -> str:
    """Store a new ticket for ``sub`` and return it (the only copy in the clear)."""
    ticket = secrets.token_urlsafe(32)
    issued = time.time() if now is None else now
    item: dict[str, Any] = {k: {"S": v} for k, v in keys.connect_ticket(ticket).items()}
    item.update(
        sub={"S": sub},
        client_id={"S": client_id},
        expires_at={"N": str(math.ceil(issued + TICKET_SECONDS))},
    )
    try:
        call(
            "dynamodb",
            "put_item",
            TableName=table_name,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
        )
    except AwsCallFailed as exc:
        raise TicketUnavailable(str(exc)) from None
    return ticket


def connect_url(base_url: str, ticket: str) -> str:
    """Where the user's browser goes to link GitHub."""
    return f"{base_url}{CONNECT_PATH}?{urlencode({'ticket': ticket})}"
