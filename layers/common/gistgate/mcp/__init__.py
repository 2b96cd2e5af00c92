"""The MCP function: FastAPI + the MCP SDK (stateless streamable HTTP), tools and wiring."""

__all__: list[str] = []
