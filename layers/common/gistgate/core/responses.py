"""Response builders shared by the Powertools-routed functions (wellknown, oauth)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

__all__ = ["json_response"]


def json_response(
    status: int,
    body: Mapping[str, Any],
    cache_control: str = "no-store",
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    """A JSON answer; OAuth answers are ``no-store`` (RFC 6749 §5.1)."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body),
        headers={"Cache-Control": cache_control, **(headers or {})},
    )
