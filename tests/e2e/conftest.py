"""The end-to-end tier: ``make dev``'s stack (tests/fixtures/dev_stack.py) and real
clients against it (the MCP SDK, the MCP Inspector CLI, node oidc-provider)."""

from __future__ import annotations

from tests.fixtures.dev_stack import dev_stack, make_dev_stack

__all__ = ["dev_stack", "make_dev_stack"]
