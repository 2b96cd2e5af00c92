"""Lambda entry point of the ``Custom::GatewayResponses`` resource (logic in the layer)."""

from __future__ import annotations

from typing import Any

from gistgate.cfn.custom_resource import handle_event


def handler(event: dict[str, Any], context: Any) -> None:
    """Install the gateway responses and answer CloudFormation on ``ResponseURL``."""
    handle_event(event, context)
