"""Secrets Manager reads through Powertools Parameters (cached with ``max_age``).

Imported lazily: boto3 costs ~0.3 s to import, and only the functions and
modes that need a secret should pay it.
"""

from __future__ import annotations

__all__ = ["SECRET_MAX_AGE", "configured_secret", "get_secret"]

SECRET_MAX_AGE = 300


def get_secret(arn: str, *, max_age: int = SECRET_MAX_AGE, force: bool = False) -> str:
    """The secret's string value, from Powertools' cache unless ``force``."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=max_age, force_fetch=force)
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def configured_secret(value: str | None, arn: str | None, field: str) -> str | None:
    """A secret given directly (local development) or by ARN.

    The stored secret is either the value itself or JSON with the value under
    ``field`` (the shape the console's key/value editor writes).
    """
    if value:
        return value
    if not arn:
        return None
    raw = get_secret(arn).strip()
    if raw.startswith("{"):
        import json

        try:
            found = json.loads(raw).get(field)
        except (ValueError, AttributeError):
            found = None
        if not isinstance(found, str) or not found:
            raise ValueError(f"secret {arn} is JSON without a string {field!r}")
        return found
    return raw
