"""The GitHub connect ticket's record, shared by the two functions that use the item.

The MCP function issues tickets (mcp/connect.py) and the OAuth function spends them
(oauth/connect_flow.py); neither may import the other's package, so the record both
read and write lives here, in the layer they share.
"""

from __future__ import annotations

from dataclasses import dataclass

from gistgate.storage.records import Record

__all__ = ["TicketRecord"]


@dataclass(frozen=True)
class TicketRecord(Record):
    """``TICKET#<sha256(ticket)>``: who asked for the connect link, through which client."""

    sub: str
    client_id: str
