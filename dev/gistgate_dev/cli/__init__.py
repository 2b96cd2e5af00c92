"""The ``gistgate`` command: helpers for people and machines that use a gistgate server.

One entry point with subcommands, so that ``pip install`` puts a single
``gistgate`` script on the PATH. Only ``token`` exists so far.
"""

from __future__ import annotations

import argparse

from gistgate_dev.cli import token


def build_parser() -> argparse.ArgumentParser:
    """The ``gistgate`` parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gistgate", description="Helpers for clients of a gistgate MCP server."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    token.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``gistgate``; the exit status (argparse exits 2 itself on a usage error)."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))
