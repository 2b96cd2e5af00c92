"""One whole stack per fuzz module (moto, the fake GitHub, the local gateway in front
of the real handlers, make dev's enterprise IdP on loopback as a trusted ID-JAG
issuer), registered clients and an access token, and the property every answer
must have.

``make_oauth_stack`` is function-scoped (it uses ``monkeypatch``), and Hypothesis
runs all of a test's examples inside one call; building the stack once per
module, with ``pytest.MonkeyPatch.context()``, keeps the fuzz run bounded.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import pytest
from gistgate_dev.local.enterprise_idp import EnterpriseIdp
from hypothesis import currently_in_test_context, event

from tests.fixtures.aws import mocked_aws
from tests.fixtures.enterprise import OPERATOR_IAT, basic, register_enterprise_client
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
    idp: EnterpriseIdp  # trusted (EMA_TRUSTED_ISSUERS): its ID-JAGs reach the claim checks
    enterprise_id: str  # confidential (client_secret_basic), the jwt-bearer grant only
    enterprise_authorization: str  # its Basic header

    @property
    def port(self) -> int:
        return self.stack.server.port


@pytest.fixture(scope="module")
def fuzz_stack() -> Iterator[FuzzStack]:
    idp = EnterpriseIdp().start()
    with pytest.MonkeyPatch.context() as env, mocked_aws(env) as aws:
        # Fuzzed registrations come from one address: do not let the limit hide them.
        stack = start_oauth_stack(
            env,
            aws,
            REGISTRATION_RATE_PER_MINUTE="10000",
            EMA_TRUSTED_ISSUERS=idp.issuer,
            OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT,
        )
        try:
            flow = Flow(stack)
            public = flow.register()["client_id"]
            confidential = flow.register(token_endpoint_auth_method="client_secret_basic")
            enterprise = register_enterprise_client(flow)
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
                    OPERATOR_IAT,
                    confidential["client_secret"],
                    enterprise["client_secret"],
                ),
                idp,
                enterprise["client_id"],
                basic(enterprise["client_id"], enterprise["client_secret"]),
            )
        finally:
            stack.server.stop()
            stack.github.stop()
            idp.stop()


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

    def check(self, answer: WireAnswer, sent: object = "", forbidden: Iterable[str] = ()) -> None:
        """Answered, below 500, no secret, an RFC-shaped error body, no traceback logged.

        ``forbidden``: what this request carried that neither the answer nor a log line
        may repeat (a bearer credential such as an assertion).
        """
        records, text = self._new_logs()
        context = repr(sent)[:300]
        assert answer.status is not None, f"connection dropped: {context}"
        assert answer.status < 500, f"{answer.status} for {context}: {answer.body[:300]!r}"
        everything = answer.raw_text
        for secret in self.fuzz.secrets:
            assert secret not in everything, f"a secret in the answer to {context}"
        for value in forbidden:
            assert value not in everything, f"the answer repeats what was sent: {context}"
            assert value not in text, f"a log line repeats what was sent: {context}"
            for record in records:
                assert value not in record.getMessage(), f"logged what was sent: {context}"
        assert "Traceback" not in everything
        kind = answer.header("content-type") or ""
        outcome = f"{answer.status} {kind.split(';')[0]}"
        if answer.body and kind.startswith("application/json"):
            document = json.loads(answer.body)
            if isinstance(document, dict) and isinstance(document.get("error_description"), str):
                assert DESCRIPTION.match(document["error_description"]), document
            if isinstance(document, dict):
                outcome += f" {document.get('error') or document.get('message') or ''}"
        if currently_in_test_context():  # --hypothesis-show-statistics: how deep they got
            event(outcome[:60])
        for record in records:
            assert record.exc_info is None, f"{record.getMessage()} for {context}"
            assert record.levelno < logging.ERROR, f"{record.getMessage()} for {context}"
        assert "Traceback" not in text, f"a traceback logged for {context}"
        assert '"exception"' not in text, f"an exception logged for {context}"


@pytest.fixture
def watch(fuzz_stack: FuzzStack, caplog: pytest.LogCaptureFixture, log_output: Any) -> Watch:
    caplog.set_level(logging.INFO)
    return Watch(fuzz_stack, caplog, log_output)
