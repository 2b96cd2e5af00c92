"""``make dev``: the whole product on 127.0.0.1, no Docker. A DEVELOPMENT TOOL.

- AWS: moto's ThreadedMotoServer on loopback, provisioned from ``template.yaml``.
- GitHub: the fake GitHub (OAuth login and the REST API) on loopback, unless
  ``GITHUB_TOKEN`` (service token) or ``GITHUB_OAUTH_CLIENT_ID`` +
  ``GITHUB_OAUTH_CLIENT_SECRET`` (login) point at real GitHub.
- The API: the local gateway (routes, authorizer and challenges from the
  template) in front of the real handlers, each function in its own processes
  with the environment the template gives it.

Run ``python -m gistgate_dev.local.dev [--port 3000]``; Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gistgate.core.config import LOOPBACK_ORIGINS
from gistgate_dev.local.environment import function_environments, parameter_values
from gistgate_dev.local.gateway import GatewayServer, LocalGateway, read_api
from gistgate_dev.local.intrinsics import Evaluator
from gistgate_dev.local.template import load_template

if TYPE_CHECKING:
    from gistgate_dev.local.enterprise_idp import EnterpriseIdp
    from gistgate_dev.local.fake_github import FakeGitHub
    from gistgate_dev.local.moto_server import SerialMotoServer

REGION = "us-east-1"
# moto accepts any credentials; these name the local stack in its request logs.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
DEV_CLIENT_FILE = Path(".gistgate") / "dev-client.json"
DEV_USER = ("octocat", 583231)
# EMA_TRUSTED_ISSUERS=local: start the local enterprise IdP and trust it (its URL replaces
# the keyword). Its dev user is the subject of the ID-JAGs `gistgate token --dev
# --enterprise` obtains.
LOCAL_IDP = "local"
ENTERPRISE_DEV_USER = "alice@example.com"
# Variables only the local stack sets (the deployment reads these from Secrets Manager).
LOCAL_ONLY = (
    "GITHUB_OAUTH_CLIENT_SECRET",
    "UPSTREAM_OIDC_CLIENT_SECRET",
    "OAUTH_INTROSPECTION_CLIENT_SECRET",
    "OAUTH_INITIAL_ACCESS_TOKEN",
    "GISTGATE_DEV_MODE",
    "OAUTH_ADMIN_SUBJECTS",
    "REGISTRATION_RATE_PER_MINUTE",
)


def _root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").exists():
            return parent
    return Path.cwd()


class DevStack:
    """Everything ``make dev`` runs; ``start()`` returns when it can serve."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        max_instances: int = 4,
        env: dict[str, str] | None = None,
        root: Path | None = None,
        client_file: Path | None = DEV_CLIENT_FILE,
        quiet: bool = False,
    ) -> None:
        self.quiet = quiet
        self.host = host
        self.port = port
        self.max_instances = max_instances
        self.env = dict(os.environ if env is None else env)
        self.root = root or _root()
        self.client_file = client_file
        self.github: FakeGitHub | None = None
        self.enterprise_idp: EnterpriseIdp | None = None
        self.enterprise_client: dict[str, str] = {}
        self.moto: SerialMotoServer | None = None
        self.server: GatewayServer | None = None
        self.dev_client: dict[str, Any] = {}
        self.started_in = 0.0
        self.service_token = ""
        self.resources: dict[str, str] = {}  # logical id -> physical id in moto
        self.auth_mode = "builtin"

    # -- pieces -------------------------------------------------------------------------

    def _aws(self, template: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        import logging

        import boto3

        from gistgate_dev.local.moto_server import SerialMotoServer
        from gistgate_dev.local.provision import provision

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
        self.moto = SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        aws = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
        session = boto3.session.Session(region_name=REGION, **LOCAL_CREDENTIALS)

        class Endpoint:
            """A session whose clients all talk to the embedded moto server."""

            def client(self, service: str) -> Any:
                return session.client(service, endpoint_url=aws["AWS_ENDPOINT_URL"])

        # Names of its own: moto's state is per process, and tests run several stacks.
        return aws, provision(template, Endpoint(), prefix=f"gistgate-{secrets.token_hex(3)}")

    def _github(self) -> dict[str, str]:
        real_login = self.env.get("GITHUB_OAUTH_CLIENT_ID") and self.env.get(
            "GITHUB_OAUTH_CLIENT_SECRET"
        )
        real_service = self.env.get("GITHUB_TOKEN")
        if real_login or real_service:
            self.service_token = real_service or ""
            return {}
        from gistgate_dev.local.fake_github import FakeGitHub

        self.github = FakeGitHub().start()
        client_id, client_secret = "Iv1.local-dev", secrets.token_urlsafe(24)
        self.github.add_app(client_id, client_secret)
        self.service_token = "ghp_localservice" + secrets.token_hex(12)
        self.github.add_user(self.service_token, "gistgate-dev-bot", 9001)
        login_token = "gho_localuser" + secrets.token_hex(12)
        self.github.add_user(login_token, *DEV_USER)
        self.github.login_user = login_token
        return {
            "GITHUB_API_URL": self.github.url,
            "GITHUB_WEB_URL": self.github.url,
            "GITHUB_OAUTH_CLIENT_ID": client_id,
            "GITHUB_OAUTH_CLIENT_SECRET": client_secret,
        }

    def _environments(
        self, template: dict[str, Any], refs: dict[str, str], overlay: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        parameters = parameter_values(template, self.env)
        envs = function_environments(template, parameters, refs)
        for env in envs.values():
            for key in list(env):
                if key in overlay:
                    env[key] = overlay[key]
            for key in LOCAL_ONLY:
                if key in overlay:
                    env[key] = overlay[key]
        return parameters, envs

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> DevStack:
        from gistgate_dev.local.workers import process_function

        began = time.perf_counter()
        self._enterprise_idp()
        template = load_template(self.root / "template.yaml")
        aws, refs = self._aws(template)
        self.resources = refs
        github = self._github()
        if self.service_token:
            self._put_service_token(aws, refs)
        iat = self.env.get("OAUTH_INITIAL_ACCESS_TOKEN") or secrets.token_urlsafe(24)
        overlay = {
            **github,
            "GISTGATE_DEV_MODE": "true",
            "OAUTH_INITIAL_ACCESS_TOKEN": iat,
            "LOG_LEVEL": self.env.get("LOG_LEVEL", "INFO"),
            # A local browser client (the Inspector's UI on http://localhost:6274) may call
            # /mcp; a deployed stack refuses browser origins unless McpAllowedOrigins lists them.
            "MCP_ALLOWED_ORIGINS": self.env.get("MCP_ALLOWED_ORIGINS") or LOOPBACK_ORIGINS,
            **{k: v for k, v in self.env.items() if k in LOCAL_ONLY},
            **{k: self.env[k] for k in ("GITHUB_API_URL", "GITHUB_WEB_URL") if k in self.env},
        }
        parameters, envs = self._environments(template, refs, overlay)
        spec = read_api(template, self.root, parameters)
        # Bind first: the port is known (and the base URL with it) before any function starts.
        installed = template["Resources"]["GatewayResponses"]["Properties"]
        evaluate = Evaluator(template, parameters).value
        placeholder = LocalGateway(
            spec,
            stage_in_path=False,
            instances={},
            required_scopes=str(evaluate(installed.get("RequiredScopes", "")) or ""),
            default_scopes=str(evaluate(installed.get("DefaultScopes", "")) or ""),
        )
        self.server = GatewayServer(placeholder, self.host, self.port)
        self.port = self.server.port
        base = f"http://{self.host}:{self.port}"
        instances = {}
        for name in spec.code:
            env = {**envs[name], **aws, "PUBLIC_BASE_URL": base}
            if name not in {r.function for r in spec.routes} and name != spec.authorizer:
                continue
            limit = self.max_instances if name != spec.authorizer else 2
            instances[name] = process_function(
                spec, name, env, max_instances=limit, quiet=self.quiet
            )
        placeholder.instances.update(instances)
        self.server.start()
        for function in instances.values():
            function.prewarm()
        for function in instances.values():
            function.wait_ready()
        self._iat = iat
        self.auth_mode = parameters.get("AuthMode", "builtin")
        if self.auth_mode == "builtin":
            self._register_dev_client(base)
        self.started_in = time.perf_counter() - began
        return self

    def _enterprise_idp(self) -> None:
        """``EMA_TRUSTED_ISSUERS=local``: the local enterprise IdP, trusted by its URL.
        ``UPSTREAM_OIDC_ISSUER=local`` (with ``UPSTREAM_IDP=oidc``): people also sign in to
        gistgate there, as the same ``ema|…`` subject (what proves a connect link)."""
        issuers = [i.strip() for i in self.env.get("EMA_TRUSTED_ISSUERS", "").split(",")]
        upstream = self.env.get("UPSTREAM_OIDC_ISSUER", "").strip() == LOCAL_IDP
        if LOCAL_IDP not in issuers and not upstream:
            return
        from gistgate_dev.local.enterprise_idp import EnterpriseIdp

        self.enterprise_idp = idp = EnterpriseIdp().start()
        idp.login_subject = ENTERPRISE_DEV_USER
        issuers = [idp.issuer if i == LOCAL_IDP else i for i in issuers]
        self.env["EMA_TRUSTED_ISSUERS"] = ",".join(i for i in issuers if i)
        if upstream:
            client_id, secret = idp.add_login_client()
            self.env.update(
                UPSTREAM_OIDC_ISSUER=idp.issuer,
                UPSTREAM_OIDC_CLIENT_ID=client_id,
                UPSTREAM_OIDC_CLIENT_SECRET=secret,
            )

    def _register_as_operator(self, base: str, name: str, grant: str) -> dict[str, Any]:
        """A confidential client (client_secret_basic) for ``grant``, registered with the
        operator's initial access token: the registration response, secret included."""
        import httpx

        response = httpx.post(
            f"{base}/oauth/register",
            json={
                "client_name": name,
                "grant_types": [grant],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": "read:gists write:gists",
            },
            headers={"Authorization": f"Bearer {self._iat}"},
            timeout=10,
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def _register_enterprise_client(self, base: str) -> dict[str, str]:
        """A confidential jwt-bearer client, registered with the initial access token and
        mapped at the local IdP (what an IdP administrator configures)."""
        assert self.enterprise_idp is not None
        answer = self._register_as_operator(
            base, "gistgate dev enterprise client", "urn:ietf:params:oauth:grant-type:jwt-bearer"
        )
        at_idp = self.enterprise_idp.add_client(answer["client_id"])
        return {
            "client_id": answer["client_id"],
            "client_secret": answer["client_secret"],
            "idp_issuer": self.enterprise_idp.issuer,
            "idp_client_id": at_idp.client_id,
            "idp_client_secret": at_idp.client_secret,
            "subject": ENTERPRISE_DEV_USER,
        }

    def _put_service_token(self, aws: dict[str, str], refs: dict[str, str]) -> None:
        import boto3

        client = boto3.client(
            "secretsmanager",
            endpoint_url=aws["AWS_ENDPOINT_URL"],
            region_name=REGION,
            **LOCAL_CREDENTIALS,
        )
        client.put_secret_value(
            SecretId=refs["GitHubServiceSecret"],
            SecretString=json.dumps({"token": self.service_token}),
        )

    def _register_dev_client(self, base: str) -> None:
        """A confidential client_credentials client for ``gistgate token --dev``."""
        answer = self._register_as_operator(base, "gistgate dev token", "client_credentials")
        self.dev_client = {
            "client_id": answer["client_id"],
            "client_secret": answer["client_secret"],
            "token_endpoint": f"{base}/oauth/token",
            "scope": "read:gists write:gists",
            "resource": f"{base}/mcp",
        }
        trusted = self.env.get("EMA_TRUSTED_ISSUERS", "").split(",")
        if self.enterprise_idp is not None and self.enterprise_idp.issuer in trusted:
            self.enterprise_client = self._register_enterprise_client(base)
            self.dev_client["enterprise"] = self.enterprise_client
        if self.client_file is not None:
            self.client_file.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(self.client_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(self.dev_client, out, indent=2)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.github is not None:
            self.github.stop()
        if self.enterprise_idp is not None:
            self.enterprise_idp.stop()
        if self.moto is not None:
            self.moto.stop()

    # -- the banner ---------------------------------------------------------------------

    def banner(self) -> str:
        mcp = f"{self.base_url}/mcp"
        vscode = json.dumps({"servers": {"gistgate-local": {"type": "http", "url": mcp}}})
        upstream = self.github.url if self.github is not None else "real GitHub"
        port_flag = "" if self.port == 3000 else f" --port {self.port}"
        token = f".venv/bin/gistgate token --dev{port_flag}"
        lines = [
            "gistgate local stack (a development tool: not API Gateway, not Lambda)",
            f"  MCP URL        {mcp}",
            f"  GitHub         {upstream} (login as {DEV_USER[0]})",
            "",
            "Connect a client (each signs in through the builtin OAuth server):"
            if self.auth_mode == "builtin"
            else f"Connect a client (tokens from your IdP, AUTH_MODE={self.auth_mode}):",
            f"  Claude Code    claude mcp add --transport http gistgate-local {mcp}",
            f"  VS Code        .vscode/mcp.json: {vscode}",
            f"  MCP Inspector  npx @modelcontextprotocol/inspector  (Streamable HTTP, {mcp})",
        ]
        if self.auth_mode == "builtin":
            lines += [
                "",
                "A token for curl or the Inspector CLI (client credentials, from .gistgate/):",
                f"  {token}",
                "  npx @modelcontextprotocol/inspector --cli " + mcp + " --transport http \\",
                "    --stored-auth-only --method tools/list \\",
                f'    --header "Authorization: Bearer $({token})"',
            ]
        if self.enterprise_client:
            lines += [
                "",
                f"Enterprise IdP  {self.enterprise_client['idp_issuer']} "
                f"(ID-JAGs for {ENTERPRISE_DEV_USER})",
                "A token by the ID-JAG grant (the IdP's token exchange, then ours):",
                f"  {token} --enterprise",
            ]
        lines += [
            "",
            f"gistgate local stack ready in {self.started_in:.2f} s; Ctrl-C stops it.",
        ]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gistgate-dev", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--max-instances", type=int, default=4)
    args = parser.parse_args(argv)
    stack = DevStack(host=args.host, port=args.port, max_instances=args.max_instances)
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        stopping.wait()
    finally:
        print("stopping…", file=sys.stderr, flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
