"""The builtin OAuth authorization server."""
