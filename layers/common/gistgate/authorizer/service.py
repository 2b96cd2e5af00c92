"""The authorizer's decision, its one log line and its metric.

Outcomes (and nothing else):
* Allow: a whole-API policy and the principal in the context.
* Deny: the token is valid but lacks the baseline scopes, or (answers not cached,
  ``AUTHORIZER_RESULT_TTL=0``) the scope of the tool a 2026-07-28 ``tools/call``
  names in ``Mcp-Name``: a 403 whose ``WWW-Authenticate`` is the ``www_authenticate``
  context value, listing every scope the call needs (docs/step-up.md).
* ``Exception("Unauthorized")``: any bad or missing token (401), and any
  unexpected error while judging one: we fail closed.
* :class:`AuthorizerFailure`: keys or introspection unavailable with nothing
  cached; API Gateway answers AUTHORIZER_CONFIGURATION_ERROR, installed as a 503
  with the challenge (docs/gateway-responses.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from gistgate.authorizer.bearer import extract_bearer
from gistgate.authorizer.operation import called_tool
from gistgate.authorizer.policy import BadMethodArn, api_wide_resource, policy_response
from gistgate.core.cache import Clock
from gistgate.core.challenge import bearer_challenge
from gistgate.core.config import Settings, get_settings
from gistgate.core.discovery import Discovery
from gistgate.core.observability import fingerprint, log_with_metric
from gistgate.core.tool_scopes import UnknownTool, challenge_scopes, tool_scope
from gistgate.core.tracing import annotate, span
from gistgate.core.urls import BaseUrlUnknown, base_url, prm_url
from gistgate.tokens.errors import InsufficientScope, TokenError, VerifierUnavailable
from gistgate.tokens.introspection import Introspector, token_digest
from gistgate.tokens.jwks import JwksCache
from gistgate.tokens.jws import looks_like_jwt
from gistgate.tokens.presets import get_preset
from gistgate.tokens.principal import Principal, Verifier
from gistgate.tokens.trust import Trust, TrustedIssuer, jwks_source, resolve_trust
from gistgate.tokens.validator import JwtValidator

__all__ = ["Authorizer", "AuthorizerFailure", "build_authorizer"]

UNAUTHORIZED = "Unauthorized"
MAX_BASE_URLS = 16


class AuthorizerFailure(Exception):
    """Raised to make API Gateway answer AUTHORIZER_CONFIGURATION_ERROR (our 503); carries
    no token data."""


class Authorizer:
    """Turns a REQUEST authorizer event into Allow, Deny or Unauthorized."""

    def __init__(
        self,
        settings: Settings,
        jwt_validator: Verifier,
        introspector: Verifier | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.jwt = jwt_validator
        self.introspector = introspector
        self._clock = clock
        self._trusts: dict[str, Trust] = {}

    def _trust(self, base: str) -> Trust:
        trust = self._trusts.get(base)
        if trust is None:
            trust = resolve_trust(self.settings, base)
            if len(self._trusts) < MAX_BASE_URLS:  # API Gateway's own domains only
                self._trusts[base] = trust
        return trust

    def _principal(self, token: str, digest: bytes, trust: Trust) -> Principal:
        if self.introspector is None:
            return self.jwt.validate(token, trust)
        # A JWT is checked locally; if its signature fails it is never "rescued"
        # by introspection. Opaque tokens go to the introspection endpoint.
        if looks_like_jwt(token):
            return self.jwt.validate(token, trust)
        return self.introspector.validate(token, trust, digest)

    def _require_scopes(self, principal: Principal, event: Mapping[str, Any]) -> None:
        required = self.settings.required_scopes
        if required and not set(required).issubset(principal.scopes):
            raise InsufficientScope(required, principal.scopes)
        # A cached answer is reused for every request with this token, whatever tool it
        # calls: only an uncached authorizer may decide per tool.
        tool = called_tool(event) if self.settings.authorizer_result_ttl == 0 else None
        if tool is None:
            return
        try:
            needed = tool_scope(self.settings, tool)
        except UnknownTool:
            return  # the MCP function answers an unknown tool (-32602)
        if needed and needed not in principal.scopes:
            raise InsufficientScope(challenge_scopes(self.settings, tool), principal.scopes)

    @staticmethod
    def _challenge(base: str, required: tuple[str, ...]) -> str:
        """The 403's WWW-Authenticate; never raises (a Deny must not become a 500)."""
        try:
            return bearer_challenge(
                prm_url(base), error="insufficient_scope", scope=" ".join(required) or None
            )
        except ValueError:  # a scope that cannot be quoted: still a challenge
            return bearer_challenge(prm_url(base), error="insufficient_scope")

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Decide for one event; see the module docstring for the outcomes.

        Traced as one subsegment annotated with the outcome and reason (_record); a
        refusal is a client error there, only AuthorizerFailure a fault.
        """
        with span("## authorizer decision", client_error=_refusal):
            return self._decide(event)

    def _decide(self, event: Mapping[str, Any]) -> dict[str, Any]:
        fp = None
        principal = None
        try:
            token = extract_bearer(event, self.settings.max_token_bytes)
            digest = token_digest(token)
            fp = fingerprint(token, digest)
            base = base_url(self.settings, event)
            trust = self._trust(base)
            resource = api_wide_resource(event.get("methodArn"))
            principal = self._principal(token, digest, trust)
            self._require_scopes(principal, event)
        except InsufficientScope as exc:
            assert principal is not None
            self._record("deny", exc.reason, fp, principal, detail=" ".join(exc.required))
            return policy_response(
                principal, "Deny", resource, challenge=self._challenge(base, exc.required)
            )
        except TokenError as exc:
            self._record("unauthorized", exc.reason, fp, principal)
            raise Exception(UNAUTHORIZED) from None
        except VerifierUnavailable as exc:
            self._record("error", exc.reason, fp, principal, detail=str(exc))
            raise AuthorizerFailure("token verification is temporarily unavailable") from None
        except (BadMethodArn, BaseUrlUnknown) as exc:
            self._record("unauthorized", "bad_event", fp, principal, detail=str(exc))
            raise Exception(UNAUTHORIZED) from None
        except Exception as exc:
            # Only the type: a third-party message could quote bytes of the token.
            self._record("unauthorized", "internal_error", fp, principal, detail=type(exc).__name__)
            raise Exception(UNAUTHORIZED) from None
        self._record("allow", "ok", fp, principal)
        return policy_response(principal, "Allow", resource)

    def _record(
        self,
        outcome: str,
        reason: str,
        fp: str | None,
        principal: Principal | None,
        detail: str | None = None,
    ) -> None:
        # outcome and reason are the metric's dimensions: EMF puts them in the line.
        fields: dict[str, Any] = {"token_fp": fp}
        if principal is not None:
            fields.update(sub=principal.sub, client_id=principal.client_id)
        if detail:
            fields["detail"] = detail
        annotate(outcome=outcome, reason=reason)
        log_with_metric(
            "authorizer decision",
            fields,
            "AuthorizerDecision",
            warning=outcome == "error",
            outcome=outcome,
            reason=reason,
        )


def _refusal(exc: BaseException) -> bool:
    """A 401 is the caller's error; only AuthorizerFailure is ours (the trace's fault)."""
    return not isinstance(exc, AuthorizerFailure)


def _secret_source(settings: Settings) -> Callable[[], str | None]:
    def read() -> str | None:
        if settings.introspection_client_secret:
            return settings.introspection_client_secret
        if settings.introspection_secret_arn:
            from gistgate.core.secrets import get_secret

            return get_secret(settings.introspection_secret_arn)
        return None

    return read


def _known_issuers(settings: Settings) -> list[TrustedIssuer]:
    """Issuers whose keys can be fetched before the first request (cold start)."""
    if settings.public_base_url:
        return list(resolve_trust(settings, settings.public_base_url).issuers.values())
    # Without the base URL only the audiences are unknown, and prefetching needs none.
    return [
        TrustedIssuer(cfg.issuer, jwks_source(settings, cfg), frozenset())
        for cfg in settings.issuers
    ]


def build_authorizer(settings: Settings | None = None, *, prefetch: bool = True) -> Authorizer:
    """Wire the authorizer from settings; warm the key caches when the issuer is known."""
    settings = settings or get_settings()
    jwt_validator = JwtValidator(settings, JwksCache(), Discovery())
    introspector = None
    if settings.auth_mode == "introspection" and settings.introspection_url:
        introspector = Introspector(
            settings.introspection_url,
            settings.introspection_client_id,
            _secret_source(settings),
            get_preset(settings.idp_preset),
            leeway=settings.leeway_seconds,
        )
    if prefetch and settings.auth_mode != "introspection":
        jwt_validator.prefetch(_known_issuers(settings))
    return Authorizer(settings, jwt_validator, introspector)
