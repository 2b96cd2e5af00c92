"""gistgate: an OAuth-protected MCP server for GitHub gists on AWS Lambda.

Kept import-free so each function pays only for the modules it uses.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
