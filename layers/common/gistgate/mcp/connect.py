"""One-time tickets that start the GitHub "connect your account" flow.

The MCP function cannot send the user's browser anywhere, so ``connect_github``
returns a URL holding a ticket. The ticket is random, single use and valid for
10 minutes; the table stores only its SHA-256 with the subject it was issued
to (a ``TicketRecord``, storage/tickets.py; STORAGE.md). The OAuth function
spends it with a conditional delete once the browser has proved it is that
subject (oauth/connect_flow.py).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from gistgate.storage import keys
from gistgate.storage.table import Table
from gistgate.storage.tickets import TicketRecord

__all__ = ["CONNECT_PATH", "TICKET_SECONDS", "connect_url", "issue_ticket"]

TICKET_SECONDS = 600
CONNECT_PATH = "/oauth/github/connect"


def issue_ticket(table_name: str, sub: str, client_id: str) -> str:
    """Store a new ticket for ``sub`` and return it (the only copy in the clear)."""
    ticket = secrets.token_urlsafe(32)
    Table(table_name).put(
        keys.connect_ticket(ticket), TicketRecord(sub, client_id), ttl=TICKET_SECONDS
    )
    return ticket


def connect_url(base_url: str, ticket: str) -> str:
    """Where the user's browser goes to link GitHub."""
    return f"{base_url}{CONNECT_PATH}?{urlencode({'ticket': ticket})}"
