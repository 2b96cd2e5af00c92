"""One whole stack per fuzz module (moto, the fake GitHub, the local gateway in front
of the real handlers), a registered client and an access token, and the property
every answer must have.

``make_oauth_stack`` is function-scoped (it uses ``monkeypatch``), and Hypothesis
runs all of a test's examples inside one call; building the stack once per
module, with ``pytest.MonkeyPatch.context()``, keeps the fuzz run bounded.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import event

from tests.fixtures.aws import mocked_aws
from tests.fixtures.oauth_stack import (
    ALICE_GITHUB_TOKEN,
    GITHUB_CLIENT_SECRET,
    SERVICE_TOKEN,
    Flow,
    OAuthStack,
    start_oauth_stack,
)
from tests.fixtures.wire import WireAnswer

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")


class FuzzStack(NamedTuple):
    stack: OAuthStack
    client_id: str  # a public client, authorization_code + refresh_token
    confidential_id: str  # the same grants, client_secret_basic
    access_token: str
    refresh_token: str  # the public client's
    secrets: tuple[str, ...]  # nothing any answer may contain

    @property
    def port(self) -> int:
        return self.stack.server.port


@pytest.fixture(scope="module")
def fuzz_stack() -> Iterator[FuzzStack]:
    with pytest.MonkeyPatch.context() as env, mocked_aws(env) as aws:
        # Fuzzed registrations come from one address: do not let the limit hide them.
        stack = start_oauth_stack(env, aws, REGISTRATION_RATE_PER_MINUTE="10000")
        try:
            flow = Flow(stack)
            public = flow.register()["client_id"]
            confidential = flow.register(token_endpoint_auth_method="client_secret_basic")
            tokens = flow.tokens(public)
            yield FuzzStack(
                stack,
                public,
                confidential["client_id"],
                tokens["access_token"],
                tokens["refresh_token"],
                (
                    GITHUB_CLIENT_SECRET,
                    SERVICE_TOKEN,
                    ALICE_GITHUB_TOKEN,
                    confidential["client_secret"],
                ),
            )
        finally:
            stack.server.stop()
            stack.github.stop()


class Watch:
    """Checks one answer, and every log line written since the last check."""

    def __init__(self, fuzz: FuzzStack, caplog: pytest.LogCaptureFixture, log_output: Any):
        self.fuzz = fuzz
        self.caplog = caplog
        self.log_output = log_output
        self._records = 0
        self._chars = 0

    def _new_logs(self) -> tuple[list[logging.LogRecord], str]:
        records = self.caplog.records[self._records :]
        text = self.log_output.getvalue()[self._chars :]
        self._records += len(records)
        self._chars += len(text)
        return records, text

    def check(self, answer: WireAnswer, sent: object = "") -> None:
        """Answered, below 500, no secret, an RFC-shaped error body, no traceback logged."""
        records, text = self._new_logs()
        context = repr(sent)[:300]
        assert answer.status is not None, f"connection dropped: {context}"
        assert answer.status < 500, f"{answer.status} for {context}: {answer.body[:300]!r}"
        everything = answer.raw_text
        for secret in self.fuzz.secrets:
            assert secret not in everything, f"a secret in the answer to {context}"
        assert "Traceback" not in everything
        kind = answer.header("content-type") or ""
        outcome = f"{answer.status} {kind.split(';')[0]}"
        if answer.body and kind.startswith("application/json"):
            document = json.loads(answer.body)
            if isinstance(document, dict) and isinstance(document.get("error_description"), str):
                assert DESCRIPTION.match(document["error_description"]), document
            if isinstance(document, dict):
                outcome += f" {document.get('error') or document.get('message') or ''}"
        event(outcome[:60])  # --hypothesis-show-statistics: how deep the examples got
        for record in records:
            assert record.exc_info is None, f"{record.getMessage()} for {context}"
            assert record.levelno < logging.ERROR, f"{record.getMessage()} for {context}"
        assert "Traceback" not in text, f"a traceback logged for {context}"
        assert '"exception"' not in text, f"an exception logged for {context}"


@pytest.fixture
def watch(fuzz_stack: FuzzStack, caplog: pytest.LogCaptureFixture, log_output: Any) -> Watch:
    caplog.set_level(logging.INFO)
    return Watch(fuzz_stack, caplog, log_output)
