"""Capacity model: a synthetic day replayed through gistgate's own caches and leases.

``python -m bench.capacity`` prints, for 10, 100, 1,000 and 10,000 requests per second
(POST /mcp at the busiest hour), the calls each AWS service and GitHub receive and the
quota that binds first. docs/scaling.md explains the figures; tests/unit/bench holds
its headline invariants.

How the figures come from the code, not from guesses:

* A seeded sample of users (``Workload.sample_users``) lives one day: sessions spread
  over a diurnal curve, each an MCP handshake then tool calls from ``TOOL_MIX``; a few
  sign in anew, everyone else refreshes an expired access token. Each request is routed
  to a random warm instance of its function, the warm count following the hour's load
  (Little's law on ``DURATION`` with ``Workload.warm_headroom``).
* Per instance, the real objects decide: ``mcp.services.build_services`` (the
  ``RateLimiter`` with its lease, the ``TokenVault`` with its grant cache,
  ``Credentials``, ``Gists``, ``Ownership``), the ``Introspector``'s cache, and one real
  ``AuthorizationServer`` (``TokenEndpoint``, ``Grants``, ``ClientRegistry``,
  ``KmsSigner``) for token requests. Only what leaves the process is faked
  (bench/capacity_fakes.py): counted, with just the state the code reads back.
* Per-user state (leases, cached grants, introspection answers) depends on the user's
  own traffic and on the number of instances, both modelled at full size, so the
  sample's counts scale by ``users / sample_users``. Per-instance state that every user
  shares (the JWKS cache, the Secrets Manager cache, ``GetPublicKey``) is driven
  separately at each instance's full request rate (thinned to ``thin_rps``: those caches
  answer from memory until they expire, so a probe per second finds every expiry
  within a second) for the busiest hour, on ``instances_sampled`` instances.

Durations, the diurnal curve, session shapes and the tool mix are assumptions, named
below; everything downstream of them is what the code does.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import sys
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.capacity_fakes import FakeAws, FakeGitHub, SimClock, Tally, patched_aws
from gistgate.core.cache import ExpiringMap
from gistgate.core.config import CredentialMode, Settings
from gistgate.core.secrets import SECRET_MAX_AGE
from gistgate.core.urls import resource_url
from gistgate.mcp.gists import Caller
from gistgate.mcp.services import Services, build_services
from gistgate.oauth import pkce
from gistgate.oauth.grants import Grant
from gistgate.oauth.service import AuthorizationServer
from gistgate.oauth.signing import KmsSigner
from gistgate.oauth.wellknown import PublishedKeys
from gistgate.storage.ratelimit import WINDOW_SECONDS, RateLimited
from gistgate.storage.vault import GitHubGrant
from gistgate.tokens.introspection import Introspector
from gistgate.tokens.jwks import JwksCache
from gistgate.tokens.keys import KeySet
from gistgate.tokens.presets import get_preset
from gistgate.tokens.trust import BUILTIN_JWKS_PATH, Trust, TrustedIssuer

__all__ = [
    "LEVELS",
    "QUOTAS",
    "LeaseEffect",
    "LevelResult",
    "Quota",
    "Workload",
    "bench",
    "binds_at",
    "jwks_fetches",
    "lease_effect",
    "main",
    "render",
    "run_all",
    "secret_reads",
    "simulate",
]

LEVELS = (10, 100, 1_000, 10_000)
DAY = 86_400
BASE = "https://gistgate.example.com"
RESOURCE = resource_url(BASE)
SCOPE = "read:gists write:gists"

# Assumption: the share of the day's sessions that start in each hour (UTC), a working
# day with a noon peak; the busiest hours carry about 1.9x the mean hour.
HOURLY = (
    0.25, 0.2, 0.2, 0.2, 0.25, 0.35, 0.6, 0.9, 1.3, 1.6, 1.75, 1.8,
    1.8, 1.75, 1.7, 1.6, 1.4, 1.2, 1.0, 0.9, 0.75, 0.6, 0.45, 0.3,
)  # fmt: skip

# Assumption: what tools clients call (reads dominate; writes are a quarter).
TOOL_MIX = (
    ("get_gist", 0.38),
    ("list_gists", 0.22),
    ("update_gist", 0.15),
    ("create_gist", 0.10),
    ("whoami", 0.05),
    ("delete_gist", 0.05),
    ("get_my_profile", 0.05),
)
# MCP requests before a session's first tool call: initialize, notifications/initialized,
# tools/list (stateless streamable HTTP: each is a POST /mcp through the authorizer).
HANDSHAKE = 3

# Assumption: how long a warm request holds an execution environment (seconds). GitHub's
# latency dominates the MCP function; the authorizer verifies ES256 locally.
DURATION = {
    "authorizer": 0.010,
    "mcp protocol": 0.020,
    "mcp base": 0.025,
    "github read": 0.200,
    "github write": 0.400,
    "oauth token": 0.060,
    "oauth browser": 0.080,
    "wellknown": 0.008,
}
GITHUB_WRITES = {"create_gist", "update_gist"}
GITHUB_FREE_IN_SERVICE = {"list_gists", "whoami"}  # served from DynamoDB in service mode


@dataclass(frozen=True)
class UserClass:
    """A kind of user: how many sessions a day, how many calls each, how fast."""

    name: str
    share: float
    sessions_per_day: float
    calls_per_session: float
    gap_s: float  # mean time between tool calls in a session


# Assumption: people at an MCP client (a call every ~8 s while the model works) and a few
# automations that call every 1.5 s (40 a minute: under the default limit of 60).
USER_CLASSES = (
    UserClass("interactive", 0.95, 4.0, 15.0, 8.0),
    UserClass("automation", 0.05, 6.0, 80.0, 1.5),
)


@dataclass(frozen=True)
class Workload:
    """Everything the simulation assumes, in one place (the seed makes it repeatable)."""

    seed: int = 14
    sample_users: int = 120
    credentials: CredentialMode = "hybrid"  # the template's default GitHubCredentials
    connected_share: float = 1.0  # builtin + GitHub sign-in: every user's token is vaulted
    signins_per_user_day: float = 1 / 30  # a new client/sign-in a month; else refresh
    refresh_skew: float = 60.0  # clients refresh a minute before the access token expires
    warm_headroom: float = 1.5  # warm environments per unit of mean concurrency
    thin_rps: float = 1.0  # probe rate for the per-instance caches (see the docstring)
    instances_sampled: int = 8
    abuser_rps: float = 50.0  # one caller far over its limit, for the hot-key figure
    introspection: bool = True  # also count AuthMode=introspection's endpoint calls
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class Quota:
    """A default quota the figures are held against, and the page that says so."""

    label: str
    value: float
    unit: str
    source: str
    per_user: bool = False  # reached by one user's traffic, not by the total load


_APIGW = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
_LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_DDB = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
_DDB_WARM = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
    "warm-throughput-scenarios.html"
)
_KMS = "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html"
_SECRETS = "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html"
_GITHUB = "https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api"
_GITHUB_OAUTH = (
    "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/rate-limits-for-oauth-apps"
)

QUOTAS: dict[str, Quota] = {
    "apigw_rps": Quota("API Gateway account throttle", 10_000, "requests/s", _APIGW),
    "lambda_concurrency": Quota("Lambda concurrent executions", 1_000, "environments", _LAMBDA),
    "ddb_warm_wru": Quota("DynamoDB new on-demand table, writes", 4_000, "WRU/s", _DDB_WARM),
    "ddb_table_wru": Quota("DynamoDB on-demand table writes", 40_000, "WRU/s", _DDB),
    "ddb_table_rru": Quota("DynamoDB on-demand table reads", 40_000, "RRU/s", _DDB),
    "ddb_partition_wcu": Quota(
        "DynamoDB one partition (RATE#<sub>)", 1_000, "WCU/s", _DDB_WARM, per_user=True
    ),
    "kms_ecc": Quota("KMS ECC operations (Sign)", 1_000, "requests/s", _KMS),
    "kms_symmetric": Quota("KMS symmetric (Decrypt, GenerateDataKey)", 10_000, "requests/s", _KMS),
    "secrets": Quota("Secrets Manager GetSecretValue", 10_000, "requests/s", _SECRETS),
    "github_service_hour": Quota("GitHub service token, primary", 5_000, "requests/h", _GITHUB),
    "github_service_content": Quota(
        "GitHub service token, content creation", 80, "writes/min", _GITHUB
    ),
    "github_user_hour": Quota(
        "GitHub a user's own token, primary", 5_000, "requests/h", _GITHUB, per_user=True
    ),
    "github_oauth_app_hour": Quota(
        "GitHub OAuth app, token requests", 2_000, "requests/h", _GITHUB_OAUTH
    ),
}


# -- the synthetic day ------------------------------------------------------------------

SIGNIN, PROTOCOL, TOOL = 0, 1, 2


@dataclass(order=True, frozen=True)
class Event:
    """One thing a sampled user does at ``t`` (seconds into the day)."""

    t: float
    uid: int
    kind: int
    tool: str = ""


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method (the means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _geometric(rng: random.Random, mean: float) -> int:
    """At least one; mean ``mean``."""
    p = 1.0 / mean
    return 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


def _weighted(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_left(cumulative, rng.random() * cumulative[-1])


def user_class(uid: int) -> UserClass:
    """Deterministic by uid: the first 95 of every 100 users are interactive."""
    position = (uid % 100) / 100
    edge = 0.0
    for cls in USER_CLASSES:
        edge += cls.share
        if position < edge:
            return cls
    return USER_CLASSES[-1]


def generate(workload: Workload) -> list[Event]:
    """The sampled users' day, in time order (seeded: the same day every run)."""
    rng = random.Random(workload.seed)
    hours = list(_cumulate(HOURLY))
    tools = list(_cumulate([share for _, share in TOOL_MIX]))
    events: list[Event] = []
    for uid in range(workload.sample_users):
        cls = user_class(uid)
        starts = sorted(
            _weighted(rng, hours) * 3600 + rng.random() * 3600
            for _ in range(_poisson(rng, cls.sessions_per_day))
        )
        if starts and rng.random() < workload.signins_per_user_day:
            events.append(Event(starts[0] - 60.0, uid, SIGNIN))
        for start in starts:
            t = start
            for i in range(HANDSHAKE):
                events.append(Event(t + 0.2 * i, uid, PROTOCOL))
            t += 0.2 * HANDSHAKE
            for _ in range(_geometric(rng, cls.calls_per_session)):
                t += rng.expovariate(1.0 / cls.gap_s)
                events.append(Event(t, uid, TOOL, TOOL_MIX[_weighted(rng, tools)][0]))
    events.sort()
    return events


def _cumulate(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def mcp_duration(event: Event, credentials: str) -> float:
    """How long an MCP request holds an environment (``DURATION``)."""
    if event.kind == PROTOCOL:
        return DURATION["mcp protocol"]
    tool = event.tool
    if tool == "whoami" or (credentials == "service" and tool in GITHUB_FREE_IN_SERVICE):
        return DURATION["mcp base"]
    github = DURATION["github write" if tool in GITHUB_WRITES else "github read"]
    return DURATION["mcp base"] + github


def warm_count(busy_seconds: float, scale: float, headroom: float) -> int:
    """Warm environments for an hour whose requests hold ``busy_seconds`` in the sample."""
    return max(1, math.ceil(busy_seconds * scale / 3600 * headroom))


# -- the replay -------------------------------------------------------------------------


@dataclass
class SimUser:
    """A sampled user's client: its registration, refresh token and access token."""

    uid: int
    sub: str
    client_id: str = ""
    refresh: str = ""
    expires: float = -math.inf
    token_no: int = 0
    admitted: deque[float] = field(default_factory=deque)


@dataclass
class LimiterStats:
    """What the per-user rate limit did to the sample."""

    admitted: int = 0
    refused: int = 0
    refused_early: int = 0  # refused with fewer than the limit admitted in the last minute


class Replay:
    """Routes the sampled day through the real objects, one pool of instances a function."""

    def __init__(self, workload: Workload, warm_mcp: list[int], warm_auth: list[int]) -> None:
        self.w = workload
        self.warm_mcp = warm_mcp
        self.warm_auth = warm_auth
        self.clock = SimClock(-DAY)
        self.tally = Tally(self.clock)
        self.aws = FakeAws(self.clock, self.tally)
        self.github = FakeGitHub(self.tally)
        self.route = random.Random(workload.seed + 1)
        base = workload.settings
        self.mcp_settings = base._replace(
            table_name="gistgate",
            kms_key_id="alias/gistgate-tokens",
            github_credentials=workload.credentials,
            github_service_secret_arn="arn:aws:secretsmanager:eu-west-1:1:secret:github",
        )
        self.oauth_settings = base._replace(
            auth_mode="builtin",
            table_name="gistgate",
            kms_key_id="alias/gistgate-tokens",
            signing_key_ids=("alias/gistgate-signing",),
        )
        self.mcp: dict[int, Services] = {}
        self.auth: dict[int, Introspector] = {}
        self.oauth = AuthorizationServer(self.oauth_settings)
        self.oauth.store.clock = self.clock
        self.oauth._registration_limit._clock = self.clock
        self.users: list[SimUser] = []
        self.tokens_issued = 0
        self.limiter = LimiterStats()
        self.busy: defaultdict[tuple[int, str], float] = defaultdict(float)  # seconds held
        self.service_reads: Counter[int] = Counter()  # hour -> service-credential uses
        self.trust = Trust(RESOURCE, {BASE: TrustedIssuer(BASE, None, frozenset({RESOURCE}))})
        self._hour = -1

    # -- instances ---------------------------------------------------------------------

    def _mcp_instance(self, hour: int) -> Services:
        index = self.route.randrange(self.warm_mcp[hour])
        services = self.mcp.get(index)
        if services is None:
            services = build_services(self.mcp_settings, github=self.github)  # type: ignore[arg-type]
            vault = services.vault
            # The vault's and the limiter's clocks are wall time; give them the sim's.
            vault._cache = ExpiringMap(max_entries=vault._cache._max, clock=self.clock)
            vault._status = ExpiringMap(max_entries=vault._status._max, clock=self.clock)
            services.limiter._clock = self.clock
            services.credentials._read_secret = self._service_secret
            self.mcp[index] = services
        return services

    def _service_secret(self, arn: str, *, force: bool = False) -> str:
        # Counted here, turned into GetSecretValue calls per instance by secret_reads().
        self.service_reads[self.tally.hour()] += 1
        return FakeGitHub.SERVICE_TOKEN

    def _auth_instance(self, hour: int) -> Introspector:
        index = self.route.randrange(self.warm_auth[hour])
        found = self.auth.get(index)
        if found is None:
            found = CountingIntrospector(self.tally, self.clock)
            self.auth[index] = found
        return found

    def _next_hour(self, hour: int) -> None:
        """Instances beyond the hour's warm count are reclaimed, with what they cached."""
        for pool, warm in ((self.mcp, self.warm_mcp), (self.auth, self.warm_auth)):
            for index in [i for i in pool if i >= warm[hour]]:
                del pool[index]
        self._hour = hour

    # -- users -------------------------------------------------------------------------

    def setup(self, uids: range) -> None:
        """Yesterday: every sampled user has a client, a refresh token and (connected) a
        vaulted GitHub grant. Not counted."""
        self.tally.enabled = False
        share = self.w.connected_share
        for uid in uids:
            user = SimUser(uid, f"github|{uid}")
            self._sign_in(user, register_ip=f"198.51.100.{uid % 250}")
            if (uid * 0.6180339887) % 1.0 < share:
                self.oauth._vault.put(user.sub, GitHubGrant(f"gho_{uid}", f"user{uid}", uid))
            user.expires = -math.inf  # yesterday's access token has expired
            self.users.append(user)
        self.tally.enabled = True

    def _sign_in(self, user: SimUser, *, register_ip: str) -> None:
        """DCR, then a code redeemed at /oauth/token (the real endpoints)."""
        registered = self.oauth.registration.register(
            {
                "client_name": "Sim client",
                "redirect_uris": ["https://client.example.com/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": SCOPE,
            },
            register_ip,
            None,
        )
        user.client_id = registered["client_id"]
        verifier, challenge = pkce.new_pair()
        code = self.oauth.grants.new_code(
            Grant(user.sub, user.client_id, SCOPE, RESOURCE),
            "https://client.example.com/callback",
            challenge,
        )
        issued = self.oauth.token_endpoint.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://client.example.com/callback",
                "code_verifier": verifier,
                "client_id": user.client_id,
            },
            None,
            BASE,
        )
        self._took(user, issued.access_token, issued.expires_in, issued.refresh_token)

    def _took(self, user: SimUser, access: str, expires_in: int, refresh: str | None) -> None:
        if self.tally.enabled:
            self.tokens_issued += 1
        user.expires = self.clock.now + expires_in
        user.token_no += 1
        if refresh:
            user.refresh = refresh

    def sign_in(self, user: SimUser) -> None:
        """A new client and sign-in. The browser legs (authorize, consent, callback) are
        the bill read from oauth/browser.py and signin.py; DCR, the vault write, the code
        and its redemption run for real."""
        hour = self._hour
        for route in (
            "GET /.well-known/oauth-protected-resource/mcp",
            "GET /.well-known/oauth-authorization-server",
        ):
            self._request(route, "wellknown", DURATION["wellknown"], hour)
        self._request("POST /oauth/register", "oauth", DURATION["oauth browser"], hour)
        for route in ("GET /oauth/authorize", "POST /oauth/consent", "GET /oauth/callback"):
            self._request(route, "oauth", DURATION["oauth browser"], hour)
        # authorize: client get, pending consent put; consent: get + take, transaction
        # put; callback: transaction take, session put, remembered consent put.
        for operation, n in (("get_item", 2), ("put_item", 4), ("delete_item", 2)):
            self.tally.add("dynamodb", operation, n)
            self.tally.unit("RCU" if operation == "get_item" else "WCU", n)
        self.tally.add("github", "oauth token exchange")  # the app's 2,000/h
        self.tally.add("github", "user GET")  # /user with the user's new token
        self.oauth._vault.put(user.sub, GitHubGrant(f"gho_{user.uid}", f"user{user.uid}", 1))
        self._request("POST /oauth/token", "oauth", DURATION["oauth token"], hour)
        self._sign_in(user, register_ip=f"203.0.113.{user.uid % 250}")

    def refresh(self, user: SimUser) -> None:
        """POST /oauth/token with the refresh token (the real endpoint)."""
        self._request("POST /oauth/token", "oauth", DURATION["oauth token"], self._hour)
        issued = self.oauth.token_endpoint.token(
            {
                "grant_type": "refresh_token",
                "refresh_token": user.refresh,
                "client_id": user.client_id,
            },
            None,
            BASE,
        )
        self._took(user, issued.access_token, issued.expires_in, issued.refresh_token)

    def _request(self, route: str, function: str, seconds: float, hour: int) -> None:
        self.tally.add("apigateway", route)
        self.tally.add("lambda", function)
        self.busy[(hour, function)] += seconds

    def mcp_request(self, user: SimUser, event: Event) -> None:
        """POST /mcp: the authorizer (every request: AuthorizerTtl 0), then the MCP function."""
        hour = self._hour
        self._request("POST /mcp", "authorizer", DURATION["authorizer"], hour)
        self.tally.add("lambda", "mcp")
        self.busy[(hour, "mcp")] += mcp_duration(event, self.w.credentials)
        # Introspection mode's cache, per authorizer instance (the builtin JWT path has no
        # per-user state: its JWKS cache is per instance, see jwks_fetches()).
        if self.w.introspection:
            token = f"opaque.{user.uid}.{user.token_no}.{int(user.expires)}"
            self._auth_instance(hour).validate(token, self.trust)
        if event.kind == TOOL:
            self.tool_call(self._mcp_instance(hour), user, event.tool)

    def tool_call(self, services: Services, user: SimUser, tool: str) -> None:
        """What ToolRunner.run does around a tool body (scope, limiter, body), then the body
        as the tool modules call it."""
        self.tally.add("mcp", "tool call")
        now = self.clock.now
        window = user.admitted
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        try:
            services.limiter.acquire(user.sub)
        except RateLimited:
            self.limiter.refused += 1
            if len(window) < self.w.settings.rate_limit_per_minute:
                self.limiter.refused_early += 1
            return
        self.limiter.admitted += 1
        window.append(now)
        caller = Caller(user.sub)
        gist_id = f"g{user.uid}n{self.route.randrange(10)}"
        gists = services.gists
        if tool == "whoami":
            services.vault.status(user.sub)
        elif tool == "list_gists":
            gists.list(caller, 30, None, None)
        elif tool == "get_gist":
            gists.get(caller, gist_id)
        elif tool == "create_gist":
            gists.create(caller, "sim", {"a.txt": "x"}, False)
        elif tool == "update_gist":
            gists.update(caller, gist_id, "sim", None)
        elif tool == "delete_gist":
            gists.delete(caller, gist_id)
        else:
            gists.profile(caller)

    def run(self, events: list[Event]) -> None:
        self.setup(range(self.w.sample_users))
        skew = self.w.refresh_skew
        for event in events:
            self.clock.now = event.t
            hour = min(int(event.t // 3600), 23)
            if hour != self._hour:
                self._next_hour(hour)
            user = self.users[event.uid]
            if event.kind == SIGNIN:
                self.sign_in(user)
                continue
            if self.clock.now >= user.expires - skew:
                self.refresh(user)
            self.mcp_request(user, event)


class CountingIntrospector(Introspector):
    """The real Introspector (and its cache); the endpoint is a counter."""

    def __init__(self, tally: Tally, clock: SimClock) -> None:
        super().__init__(
            "https://idp.example.com/introspect", "gistgate", lambda: "secret",
            get_preset("generic"), clock=clock,
        )  # fmt: skip
        self._tally = tally

    def _introspect(self, token: str) -> Any:
        self._tally.add("introspection", "POST")
        _, uid, _, exp = token.split(".")
        return {
            "active": True,
            "sub": f"github|{uid}",
            "client_id": "c",
            "aud": RESOURCE,
            "iss": BASE,
            "exp": int(exp),
            "scope": SCOPE,
        }


# -- per-instance caches, at each instance's full request rate ----------------------------


class Calls:
    """Calls to an upstream counted from ``since`` (the hour under study) on."""

    def __init__(self, clock: SimClock, since: float) -> None:
        self._clock = clock
        self.since = since
        self.n = 0

    def hit(self) -> None:
        if self._clock.now >= self.since:
            self.n += 1


def per_instance(
    workload: Workload,
    clock: SimClock,
    warm: tuple[int, int],
    rate: float,
    hour: int,
    start: Callable[[], None],
    probe: Callable[[], None],
    calls: Calls,
) -> float:
    """Upstream calls per instance over ``hour`` from a cache each instance consults
    ``rate`` times a second; ``warm`` is (instances this hour, the hour before).

    ``start()`` builds a fresh instance (with whatever its cold start fetches);
    ``probe()`` is one request. Instances already warm were born at a random time in the
    hour before; the new ones (the growth since then) during the hour.
    """
    now_warm, before = warm
    if rate <= 0 or now_warm <= 0:
        return 0.0
    rng = random.Random(workload.seed + 2 + hour)
    sampled = min(now_warm, workload.instances_sampled)
    new = round(sampled * max(0, now_warm - before) / now_warm)
    begin, end = hour * 3600.0, (hour + 1) * 3600.0
    probes = min(rate, workload.thin_rps)
    for i in range(sampled):
        born = begin + rng.random() * 3600 if i < new else begin - rng.random() * 3600
        clock.now = born
        start()
        t = born
        while True:
            t += rng.expovariate(probes)
            if t >= end:
                break
            clock.now = t
            probe()
    return calls.n / sampled


def jwks_fetches(
    workload: Workload, clock: SimClock, warm: tuple[int, int], rate: float, hour: int
) -> float:
    """Fetches of our /.well-known/jwks.json by the authorizer instances over the hour
    (the builtin issuer's keys): the real ``JwksCache``, each fetch answered by the real
    ``PublishedKeys`` of a warm wellknown instance."""
    published = PublishedKeys(
        workload.settings._replace(auth_mode="builtin", signing_key_ids=("alias/gistgate-signing",))
    )
    kid = published.public_jwks()["keys"][0]["kid"]
    uri = BASE + BUILTIN_JWKS_PATH
    calls = Calls(clock, hour * 3600.0)
    state: dict[str, JwksCache] = {}

    def fetch(_: str) -> KeySet:
        calls.hit()
        return KeySet.from_document(published.public_jwks())

    def start() -> None:
        state["cache"] = JwksCache(fetch, clock=clock)
        state["cache"].prefetch(uri)  # build_authorizer(prefetch=True) at cold start

    def probe() -> None:
        state["cache"].key_for(uri, kid, "ES256")

    return per_instance(workload, clock, warm, rate, hour, start, probe, calls) * warm[0]


class PowertoolsSecret:
    """Powertools Parameters' ``get_secret(max_age=...)`` as core/secrets.py calls it: one
    value per instance, fetched again once it is ``max_age`` seconds old. (A model: the
    real cache keeps wall time; its rule is this one.)"""

    def __init__(self, clock: SimClock, calls: Calls, max_age: float = SECRET_MAX_AGE) -> None:
        self._clock = clock
        self._calls = calls
        self._max_age = max_age
        self._fetched: float | None = None

    def get(self) -> None:
        now = self._clock.now
        if self._fetched is None or now - self._fetched >= self._max_age:
            self._fetched = now
            self._calls.hit()


def secret_reads(
    workload: Workload, clock: SimClock, warm: tuple[int, int], rate: float, hour: int
) -> float:
    """GetSecretValue calls over the hour by instances that each read one secret
    ``rate`` times a second through the Powertools cache."""
    calls = Calls(clock, hour * 3600.0)
    state: dict[str, PowertoolsSecret] = {}

    def start() -> None:
        state["cache"] = PowertoolsSecret(clock, calls)

    def probe() -> None:
        state["cache"].get()

    return per_instance(workload, clock, warm, rate, hour, start, probe, calls) * warm[0]


# -- one load level -------------------------------------------------------------------------


@dataclass
class LevelResult:
    """The busiest hour at one load level, per second unless the name says otherwise."""

    level: int
    scenario: str
    users: int
    scale: float
    peak_hour: int
    per_second: dict[str, float]
    per_day: dict[str, float]
    warm: dict[str, int]
    concurrency: dict[str, float]
    limiter: LimiterStats
    hot_key_wcu: float  # the busiest RATE#<sub> in the sample, writes in one second
    abuser_wcu: float  # one caller at workload.abuser_rps: writes/s on its RATE# key
    user_github_hour: float  # the busiest user's own token, requests in one hour
    lease: int
    sample: dict[str, float] = field(default_factory=dict)  # the sample's own day, unscaled
    utilization: dict[str, float] = field(default_factory=dict)


def simulate(
    level: int, workload: Workload | None = None, scenario: str = "default"
) -> LevelResult:
    """Replay the day with ``level`` POST /mcp per second in the busiest hour."""
    w = workload or Workload()
    events = generate(w)
    hours = 24
    mcp_busy = [0.0] * hours
    mcp_requests = [0] * hours
    for event in events:
        if event.kind == SIGNIN:
            continue
        h = min(int(event.t // 3600), hours - 1)
        mcp_requests[h] += 1
        mcp_busy[h] += mcp_duration(event, w.credentials)
    peak = max(range(hours), key=lambda h: mcp_requests[h])
    scale = level * 3600 / mcp_requests[peak]
    warm_mcp = [warm_count(b, scale, w.warm_headroom) for b in mcp_busy]
    warm_auth = [
        warm_count(n * DURATION["authorizer"], scale, w.warm_headroom) for n in mcp_requests
    ]

    replay = Replay(w, warm_mcp, warm_auth)
    with patched_aws(replay.aws, replay.clock):
        replay.run(events)
    tally = replay.tally

    def rate(service: str, operation: str | None = None) -> float:
        return tally.total(service, operation, peak) * scale / 3600

    def items(prefix: str) -> float:
        return sum(
            n for (h, s, o), n in tally.calls.items()
            if h == peak and s == "item" and o.startswith(prefix)
        ) * scale / 3600  # fmt: skip

    writes = ("put_item", "update_item", "delete_item", "transact_write_items")
    methods = ("GET", "POST", "PATCH", "DELETE")
    per_second: dict[str, float] = {
        "POST /mcp": rate("apigateway", "POST /mcp"),
        "tool calls": rate("mcp", "tool call"),
        "oauth requests": sum(
            rate("apigateway", route)
            for route in {o for (_, s, o) in tally.calls if s == "apigateway" and "/oauth/" in o}
        ),
        "refreshes": rate("apigateway", "POST /oauth/token"),
        "lambda authorizer": rate("lambda", "authorizer"),
        "lambda mcp": rate("lambda", "mcp"),
        "lambda oauth": rate("lambda", "oauth"),
        "dynamodb reads": rate("dynamodb", "get_item") + rate("dynamodb", "query"),
        "dynamodb writes": sum(rate("dynamodb", op) for op in writes),
        "dynamodb RCU": tally.units[(peak, "RCU")] * scale / 3600,
        "dynamodb WCU": tally.units[(peak, "WCU")] * scale / 3600,
        "rate-limit writes": items("update_item RATE#<sub>"),
        "vault reads": items("get_item USER#<sub>/GITHUB"),
        "ownership ops": items("get_item GIST#") + items("transact_write_items")
        + items("query USER#") + items("put_item USER#<sub>/GIST"),
        "oauth table ops": sum(
            items(f"{op} {kind}") for op in ("get_item", *writes)
            for kind in ("CLIENT#", "FAMILY#", "CODE#")
        ),
        "kms Sign": rate("kms", "sign"),
        "kms Decrypt": rate("kms", "decrypt"),
        "kms GenerateDataKey": rate("kms", "generate_data_key"),
        "introspection": rate("introspection"),
        "github service": sum(rate("github", f"service {m}") for m in methods),
        "github service writes": rate("github", "service POST") + rate("github", "service PATCH"),
        "github user": sum(rate("github", f"user {m}") for m in methods),
        "github oauth exchanges": rate("github", "oauth token exchange"),
        "wellknown (sign-ins)": rate("lambda", "wellknown"),
    }  # fmt: skip
    oauth_busy = [replay.busy[(h, "oauth")] for h in range(hours)]
    warm_oauth = [warm_count(b, scale, w.warm_headroom) for b in oauth_busy]

    # Per-instance caches over the busiest hour, each instance at its full request rate.
    clock = SimClock(0.0)
    shared = FakeAws(clock, Tally(clock))
    with patched_aws(shared, clock):
        auth = (warm_auth[peak], warm_auth[peak - 1])
        mcp = (warm_mcp[peak], warm_mcp[peak - 1])
        jwks = jwks_fetches(w, clock, auth, per_second["lambda authorizer"] / auth[0], peak)
        service_rate = replay.service_reads[peak] * scale / 3600
        github_secret = secret_reads(w, clock, mcp, service_rate / mcp[0], peak)
        introspection_secret = secret_reads(
            w, clock, auth, per_second["introspection"] / auth[0], peak
        )
        # One GetPublicKey per signing key per OAuth cold start (the real KmsSigner).
        before = shared.tally.total("kms", "get_public_key")
        for _ in range(max(0, warm_oauth[peak] - warm_oauth[peak - 1])):
            _ = KmsSigner(replay.oauth_settings.signing_key_ids).kid
        public_keys = shared.tally.total("kms", "get_public_key") - before
        abuser = abuse(w, warm_mcp[peak])
    per_second["jwks fetches"] = jwks / 3600
    per_second["secrets GetSecretValue"] = github_secret / 3600
    per_second["secrets GetSecretValue (introspection)"] = introspection_secret / 3600
    per_second["kms GetPublicKey"] = public_keys / 3600
    wellknown = per_second["jwks fetches"] + per_second["wellknown (sign-ins)"]
    per_second["apigateway"] = per_second["POST /mcp"] + per_second["oauth requests"] + wellknown
    per_second["lambda wellknown"] = wellknown

    concurrency = {
        "authorizer": per_second["lambda authorizer"] * DURATION["authorizer"],
        "mcp": mcp_busy[peak] * scale / 3600,
        "oauth": oauth_busy[peak] * scale / 3600,
        "wellknown": wellknown * DURATION["wellknown"],
    }
    warm = {
        "authorizer": warm_auth[peak],
        "mcp": warm_mcp[peak],
        "oauth": warm_oauth[peak],
        "wellknown": max(1, math.ceil(concurrency["wellknown"] * w.warm_headroom)),
    }
    per_day = {
        "users": w.sample_users * scale,
        "POST /mcp": tally.total("apigateway", "POST /mcp") * scale,
        "tool calls": tally.total("mcp", "tool call") * scale,
        "kms Sign": tally.total("kms", "sign") * scale,
        "mcp cold starts": float(sum(max(0, b - a) for a, b in itertools.pairwise(warm_mcp))),
    }
    hot = max(
        (max(s.values()) for key, s in tally.key_seconds.items() if key.startswith("RATE#github|")),
        default=0,
    )
    some = next(iter(replay.mcp.values()), None)
    result = LevelResult(
        level=level,
        scenario=scenario,
        users=round(w.sample_users * scale),
        scale=scale,
        peak_hour=peak,
        per_second=per_second,
        per_day=per_day,
        warm=warm,
        concurrency=concurrency,
        limiter=replay.limiter,
        hot_key_wcu=float(hot),
        abuser_wcu=abuser,
        user_github_hour=float(max(replay.github.user_requests.values(), default=0)),
        lease=some.limiter._lease if some is not None else 0,
    )
    result.sample = {
        "access tokens issued": replay.tokens_issued,
        "kms sign": tally.total("kms", "sign"),
        "tool calls": tally.total("mcp", "tool call"),
        "rate-limit updates": tally.total("item", "update_item RATE#<sub>/MINUTE"),
        "kms decrypt": tally.total("kms", "decrypt"),
        "vault reads": tally.total("item", "get_item USER#<sub>/GITHUB"),
        "mcp instances at the end": len(replay.mcp),
    }
    result.utilization = utilization(result)
    return result


@dataclass(frozen=True)
class LeaseEffect:
    """One user's calls through the real limiter on ``instances`` warm MCP instances."""

    instances: int
    calls: int
    updates: int  # conditional UpdateItems on RATE#<sub> (refused ones included)
    refused: int
    lease: int

    @property
    def calls_per_update(self) -> float:
        return self.calls / self.updates if self.updates else math.inf


def lease_effect(
    instances: int,
    calls_per_minute: float,
    minutes: float = 10.0,
    workload: Workload | None = None,
    *,
    steady: bool = False,
) -> LeaseEffect:
    """One user calling at ``calls_per_minute`` (Poisson, or evenly spaced if ``steady``),
    each call routed to a random one of ``instances``, through ``build_services``' own
    ``RateLimiter`` (its lease and hints) over the counting DynamoDB."""
    w = workload or Workload()
    clock = SimClock(0.0)
    tally = Tally(clock)
    aws = FakeAws(clock, tally)
    rng = random.Random(w.seed + 4)
    settings = w.settings._replace(table_name="gistgate", kms_key_id="alias/gistgate-tokens")
    pool: dict[int, Services] = {}
    calls = refused = lease = 0
    gap = 60.0 / calls_per_minute
    with patched_aws(aws, clock):
        t = 0.0
        while True:
            t += gap if steady else rng.expovariate(1.0 / gap)
            if t >= minutes * 60:
                break
            clock.now = t
            index = rng.randrange(instances)
            services = pool.get(index)
            if services is None:
                services = build_services(settings, github=FakeGitHub(tally))  # type: ignore[arg-type]
                services.limiter._clock = clock
                lease = services.limiter._lease
                pool[index] = services
            calls += 1
            try:
                services.limiter.acquire("github|one")
            except RateLimited:
                refused += 1
    return LeaseEffect(instances, calls, tally.total("dynamodb", "update_item"), refused, lease)


def abuse(workload: Workload, warm: int) -> float:
    """One caller at ``abuser_rps`` for a minute over ``warm`` MCP instances: the updates
    per second its RATE#<sub> item takes (every refused call is a conditional update)."""
    effect = lease_effect(warm, workload.abuser_rps * 60, 1.0, workload)
    return effect.updates / 60.0


def utilization(result: LevelResult) -> dict[str, float]:
    """Each quota's use at this load (1.0 = at the quota)."""
    s = result.per_second
    symmetric = s["kms Decrypt"] + s["kms GenerateDataKey"]
    values = {
        "apigw_rps": s["apigateway"],
        "lambda_concurrency": sum(result.concurrency.values()),
        "ddb_table_wru": s["dynamodb WCU"],
        "ddb_table_rru": s["dynamodb RCU"],
        "ddb_warm_wru": s["dynamodb WCU"],
        "ddb_partition_wcu": result.hot_key_wcu,
        "kms_ecc": s["kms Sign"],
        "kms_symmetric": symmetric,
        "secrets": s["secrets GetSecretValue"] + s["secrets GetSecretValue (introspection)"],
        "github_service_hour": s["github service"] * 3600,
        "github_service_content": s["github service writes"] * 60,
        "github_user_hour": result.user_github_hour,
        "github_oauth_app_hour": s["github oauth exchanges"] * 3600,
    }
    return {name: value / QUOTAS[name].value for name, value in values.items()}


# -- report ---------------------------------------------------------------------------------

SCENARIOS = {
    "default": Workload(),
    "service": Workload(credentials="service", connected_share=0.0, introspection=False),
}


def run_all(levels: tuple[int, ...] = LEVELS) -> list[LevelResult]:
    """Every level for both credential scenarios."""
    return [
        simulate(level, workload, name) for name, workload in SCENARIOS.items() for level in levels
    ]


def binds_at(results: list[LevelResult], quota: str) -> float:
    """The load (POST /mcp per second) at which ``quota`` is reached: interpolated between
    the levels simulated, linear beyond the last; infinity for a per-user quota that no
    level reaches (it does not grow with the load)."""
    points = sorted((r.level, r.utilization[quota]) for r in results)
    if QUOTAS[quota].per_user:
        reached = [level for level, used in points if used >= 1.0]
        return float(reached[0]) if reached else math.inf
    previous = (0.0, 0.0)
    for level, used in points:
        if used >= 1.0:
            (l0, u0), (l1, u1) = previous, (level, used)
            return l0 + (1.0 - u0) * (l1 - l0) / (u1 - u0)
        previous = (level, used)
    level, used = points[-1]
    return level / used if used > 0 else math.inf


class _Table:
    """A text table: one row per figure, one column per load level."""

    def __init__(self, rows: list[LevelResult]) -> None:
        self.rows = rows
        self.lines: list[str] = []
        self._format = "  {:<40}" + "{:>13}" * len(rows)
        self.lines.append(self._format.format("", *(f"{r.level:,} rps" for r in rows)))

    def row(self, label: str, values: list[float], fmt: str = "{:,.1f}") -> None:
        self.lines.append(self._format.format(label, *(fmt.format(v) for v in values)))

    def ps(self, name: str, factor: float = 1.0) -> list[float]:
        return [r.per_second[name] * factor for r in self.rows]


def _scenario(rows: list[LevelResult], workload: Workload) -> list[str]:
    t = _Table(rows)
    t.row("daily users (modelled)", [r.users for r in rows], "{:,.0f}")
    t.row("tool calls", t.ps("tool calls"))
    t.row("API Gateway requests", t.ps("apigateway"))
    t.row("  /oauth/* (refresh, sign-in)", t.ps("oauth requests"), "{:,.2f}")
    t.row("  JWKS fetches (authorizer)", t.ps("jwks fetches"), "{:,.4f}")
    functions = ("authorizer", "mcp", "oauth", "wellknown")
    t.row("Lambda invocations", [sum(r.per_second[f"lambda {f}"] for f in functions) for r in rows])
    t.row("Lambda concurrency, mean", [sum(r.concurrency.values()) for r in rows])
    t.row("  MCP warm environments", [r.warm["mcp"] for r in rows], "{:,.0f}")
    t.row("  authorizer warm environments", [r.warm["authorizer"] for r in rows], "{:,.0f}")
    t.row("DynamoDB reads (RCU)", t.ps("dynamodb RCU"))
    t.row("DynamoDB writes (WCU)", t.ps("dynamodb WCU"))
    t.row("  rate-limit updates", t.ps("rate-limit writes"))
    t.row(
        "  tool calls per rate-limit update",
        [r.per_second["tool calls"] / max(r.per_second["rate-limit writes"], 1e-9) for r in rows],
        "{:,.2f}",
    )
    t.row("  vault reads (GetItem)", t.ps("vault reads"))
    t.row("  ownership items (service mode)", t.ps("ownership ops"))
    t.row("  OAuth items (clients, codes, families)", t.ps("oauth table ops"), "{:,.2f}")
    t.row("KMS Sign (ECC key)", t.ps("kms Sign"), "{:,.2f}")
    t.row("KMS Decrypt (vault)", t.ps("kms Decrypt"))
    t.row("KMS GenerateDataKey (vault writes)", t.ps("kms GenerateDataKey"), "{:,.3f}")
    t.row("KMS GetPublicKey", t.ps("kms GetPublicKey"), "{:,.4f}")
    t.row("Secrets Manager GetSecretValue", t.ps("secrets GetSecretValue"), "{:,.3f}")
    if workload.introspection:
        t.row("introspection endpoint (if used)", t.ps("introspection"))
        t.row(
            "  its secret, GetSecretValue",
            t.ps("secrets GetSecretValue (introspection)"),
            "{:,.3f}",
        )
    t.row("GitHub, service token per hour", t.ps("github service", 3600), "{:,.0f}")
    t.row("GitHub, service writes per minute", t.ps("github service writes", 60), "{:,.0f}")
    t.row("GitHub, users' own tokens", t.ps("github user"))
    t.row("GitHub, busiest user token per hour", [r.user_github_hour for r in rows], "{:,.0f}")
    t.row(
        "GitHub OAuth app code exchanges per hour", t.ps("github oauth exchanges", 3600), "{:,.0f}"
    )
    t.row("limiter: calls refused (%)", [_pct(r.limiter.refused, r) for r in rows], "{:,.2f}")
    t.row(
        "  refused under the limit (%)", [_pct(r.limiter.refused_early, r) for r in rows], "{:,.2f}"
    )
    t.row("busiest RATE#<sub>, updates in 1 s", [r.hot_key_wcu for r in rows], "{:,.0f}")
    t.row(f"caller at {workload.abuser_rps:.0f} rps: RATE# WCU/s", [r.abuser_wcu for r in rows])
    lines = t.lines
    levels = "".join(f"{r.level:>13,}" for r in rows)
    lines.append(f"  {'quota (default), use at each level':<62}{levels}   reached at")
    for quota in sorted(QUOTAS, key=lambda q: binds_at(rows, q)):
        spec = QUOTAS[quota]
        at = binds_at(rows, quota)
        if math.isinf(at):
            where = "not by load (per user)" if spec.per_user else "never"
        elif at > 100_000:
            where = "> 100,000 rps"
        else:
            where = f"~{at:,.0f} rps"
        label = f"{spec.label} ({spec.value:,.0f} {spec.unit})"
        uses = "".join(f"{r.utilization[quota]:>13.1%}" for r in rows)
        lines.append(f"  {label:<62}{uses}   {where}")
    return lines


def render(results: list[LevelResult]) -> str:
    """The tables docs/scaling.md quotes."""
    lines: list[str] = []
    for scenario in dict.fromkeys(r.scenario for r in results):
        workload = SCENARIOS.get(scenario, Workload())
        lines.append(
            f"== {scenario}: GITHUB_CREDENTIALS={workload.credentials}, "
            f"{workload.connected_share:.0%} of users connected; busiest hour, per second"
        )
        lines.extend(_scenario([r for r in results if r.scenario == scenario], workload))
    lines.append(
        "== one user at 40 calls/min for 10 min, each call on a random warm MCP instance "
        "(the real limiter)"
    )
    lines.append(
        f"  {'warm instances':>16}{'calls':>8}{'updates':>9}{'calls/update':>14}{'refused':>9}"
    )
    for instances in (1, 4, 36, 360, 3_600):
        effect = lease_effect(instances, 40)
        lines.append(
            f"  {instances:>16,}{effect.calls:>8}{effect.updates:>9}"
            f"{effect.calls_per_update:>14.2f}{effect.refused / effect.calls:>9.1%}"
        )
    return "\n".join(lines)


def _pct(n: int, result: LevelResult) -> float:
    calls = result.limiter.admitted + result.limiter.refused
    return 100.0 * n / calls if calls else 0.0


def bench(results: dict[str, object]) -> None:
    """For bench/run.py: print the tables and keep the figures."""
    print(
        "== Capacity model: a synthetic day through the real caches and leases (bench/capacity.py)"
    )
    found = run_all()
    print(render(found))
    results["capacity"] = [
        {
            "level": r.level,
            "scenario": r.scenario,
            "per_second": r.per_second,
            "warm": r.warm,
            "concurrency": r.concurrency,
            "utilization": r.utilization,
        }
        for r in found
    ]


def main() -> None:
    bench({})


if __name__ == "__main__":
    main()
