"""The builtin OAuth authorization server."""

__all__: list[str] = []
