// node oidc-provider (panva) as a real external IdP for gistgate's end-to-end tests.
//
//   node tests/interop/oidc-provider.mjs [port]      (or OIDC_PORT=…; default 0 = any free port)
//
// Listens on 127.0.0.1 only, issuer http://127.0.0.1:<port>, and prints ONE JSON line
// on stdout once it serves:  {"issuer": "...", "clients": {...}}
// (oidc-provider may print its own notices on stdout too; read until the JSON line.)
//
// A DEVELOPMENT/TEST setup: in-memory storage, a signing key generated at each start,
// plain http on loopback, static clients with well-known secrets. Never expose it.
//
// Clients (all confidential, client_secret_basic):
//   jwt-client        client_credentials; access tokens are JWTs (typ at+jwt, RS256)
//   opaque-client     client_credentials; access tokens are opaque (introspect them)
//   gistgate-rs       the resource server's own client: it only calls introspection
// The token format is chosen per client (see getResourceServerInfo): one provider
// serves both AUTH_MODE=jwt and AUTH_MODE=introspection.
//
// Every absolute http(s) `resource` is accepted and becomes the token's `aud`, so a
// token can be asked for any MCP URL (including one that is not the stack's: the
// negative tests). Scopes: read:gists write:gists.

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const SCOPES = 'read:gists write:gists';
const CLIENTS = {
  'jwt-client': { secret: 'jwt-client-secret', format: 'jwt' },
  'opaque-client': { secret: 'opaque-client-secret', format: 'opaque' },
  'gistgate-rs': { secret: 'gistgate-rs-secret', format: null },
};

const port = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);

// Bind first: the issuer must name the port, and with port 0 it is known only now.
const server = createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// One RS256 signing key per run (RS256 is oidc-provider's default JWT alg).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'rs256-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  // Only needed for the interactive (browser) flows; set so no dev-default warning.
  cookies: { keys: ['interop-test-cookie-key'] },
  scopes: ['openid', ...SCOPES.split(' ')],
  clients: Object.entries(CLIENTS).map(([clientId, { secret, format }]) => ({
    client_id: clientId,
    client_secret: secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: format ? ['client_credentials'] : [],
    response_types: [],
    redirect_uris: [],
    scope: format ? SCOPES : undefined,
  })),
  features: {
    devInteractions: { enabled: false }, // no login UI: client_credentials only
    clientCredentials: { enabled: true },
    // RFC 7662. The default allowedPolicy lets any authenticated confidential
    // client introspect any token, which is what a resource server needs.
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No `resource` asked for: no audience (and so no usable token for gistgate).
      defaultResource: (ctx, client, oneOf) => oneOf,
      // Any absolute http(s) URL is a resource server; its URL is the audience.
      getResourceServerInfo: (ctx, resourceIndicator, client) => {
        const { protocol } = new URL(resourceIndicator);
        if (protocol !== 'https:' && protocol !== 'http:') {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: SCOPES,
          audience: resourceIndicator,
          accessTokenTTL: 600,
          accessTokenFormat: CLIENTS[client.clientId]?.format === 'jwt' ? 'jwt' : 'opaque',
        };
      },
    },
  },
  // No refresh tokens, no PKCE questions: client_credentials never uses either.
  pkce: { required: () => false },
});

// oidc-provider is a Koa app; no reverse proxy here, so no `provider.proxy`.
server.on('request', provider.callback());

const clients = Object.fromEntries(
  Object.entries(CLIENTS).map(([id, { secret, format }]) => [id, { secret, format }]),
);
process.stdout.write(`${JSON.stringify({ issuer, clients })}\n`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
