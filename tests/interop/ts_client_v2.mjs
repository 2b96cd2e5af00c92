// A real MCP client for the end-to-end tests: @modelcontextprotocol/client 2.x pinned to
// revision 2026-07-28 (server/discover, no initialize) over Streamable HTTP, with the
// bearer token the test obtained (MCP_TOKEN) and URL-mode elicitation declared.
//
//   MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=... MCP_PLAN='[["whoami", {}], ...]' \
//     node ts_client_v2.mjs
//
// Calls the tools of MCP_PLAN in order. An elicitation (the server's InputRequiredResult,
// fulfilled by the SDK through the handler registered below) is handed to the test: one
// JSON line {"event": "elicit", ...} on stdout, then the handler waits for one JSON line
// on stdin, {"action": "accept" | "decline" | "cancel"}, and returns it; the SDK retries
// the call with inputResponses + requestState by itself. The last stdout line is
// {"event": "summary", ...}: what the client negotiated, the listed tools, and each call's
// result (or the error it threw).

import { createInterface } from 'node:readline';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const VERSION = '2026-07-28';
const url = process.env.MCP_URL;
const token = process.env.MCP_TOKEN;
const plan = JSON.parse(process.env.MCP_PLAN ?? '[]');

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

const stdin = createInterface({ input: process.stdin });
const answers = stdin[Symbol.asyncIterator]();

// Each request's body and protocol headers, to report what went over the wire.
const sent = [];
const recording = async (input, init) => {
  const headers = new Headers(init?.headers);
  if ((init?.method ?? 'GET') === 'POST' && typeof init?.body === 'string') {
    const body = JSON.parse(init.body);
    sent.push({
      method: body.method,
      protocolHeader: headers.get('mcp-protocol-version'),
      hasBearer: (headers.get('authorization') ?? '').startsWith('Bearer '),
      inputResponses: body.params?.inputResponses,
      hasRequestState: typeof body.params?.requestState === 'string',
      metaVersion: body.params?._meta?.['io.modelcontextprotocol/protocolVersion'],
    });
  }
  return fetch(input, init);
};

const client = new Client(
  { name: 'gistgate-e2e-ts-v2', version: '1.0.0' },
  {
    capabilities: { elicitation: { url: {} } },
    versionNegotiation: { mode: { pin: VERSION } },
  },
);

const elicitations = [];
client.setRequestHandler('elicitation/create', async (request) => {
  const { mode, url: link, message, elicitationId } = request.params;
  elicitations.push({ mode, url: link, message });
  emit({ event: 'elicit', mode, url: link, message, elicitationId });
  const line = await answers.next();
  if (line.done) return { action: 'cancel' };
  return { action: JSON.parse(line.value).action };
});

const transport = new StreamableHTTPClientTransport(new URL(url), {
  authProvider: { token: async () => token },
  fetch: recording,
});

const errorOf = (error) => ({
  name: error?.constructor?.name,
  code: error?.code,
  message: String(error?.message ?? error),
});

const summary = { event: 'summary', calls: [] };
try {
  await client.connect(transport);
  summary.era = client.getProtocolEra();
  summary.protocolVersion = client.getNegotiatedProtocolVersion();
  summary.discover = client.getDiscoverResult() ?? null;
  summary.tools = (await client.listTools()).tools.map((tool) => tool.name);
  for (const [name, args] of plan) {
    const before = elicitations.length;
    const call = { name };
    try {
      const result = await client.callTool({ name, arguments: args });
      call.isError = result.isError ?? false;
      call.structuredContent = result.structuredContent ?? null;
      call.text = (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text);
    } catch (error) {
      call.error = errorOf(error);
    }
    call.elicitations = elicitations.slice(before);
    summary.calls.push(call);
    // Later steps refer to the gist this run made: {"gist_id": "$created"}.
    if (name === 'create_gist' && call.structuredContent?.id) {
      for (const step of plan) {
        if (step[1]?.gist_id === '$created') step[1].gist_id = call.structuredContent.id;
      }
    }
  }
} catch (error) {
  summary.fatal = errorOf(error);
} finally {
  summary.sent = sent;
  await client.close().catch(() => {});
  stdin.close();
  emit(summary);
}
