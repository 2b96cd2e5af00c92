// A real MCP client for the end-to-end tests: @modelcontextprotocol/sdk 1.x on revision
// 2025-11-25 (the initialize handshake) over Streamable HTTP, with the bearer token the
// test obtained (MCP_TOKEN) in requestInit's headers.
//
//   MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=... MCP_PLAN='[["whoami", {}], ...]' \
//     node ts_client_v1.mjs
//
// Calls the tools of MCP_PLAN in order and prints one JSON line, {"event": "summary", ...}:
// what the client negotiated, the listed tools, each call's result (or the error it threw),
// and any elicitation the server sent (it must send none: on 2025-11-25 a missing GitHub
// link is a tool error naming connect_github, whatever the client declares).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const url = process.env.MCP_URL;
const token = process.env.MCP_TOKEN;
const plan = JSON.parse(process.env.MCP_PLAN ?? '[]');

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

// Each POST's JSON-RPC method and protocol header, to report what went over the wire.
const sent = [];
const recording = async (input, init) => {
  const headers = new Headers(init?.headers);
  if ((init?.method ?? 'GET') === 'POST' && typeof init?.body === 'string') {
    const body = JSON.parse(init.body);
    sent.push({
      method: body.method,
      protocolHeader: headers.get('mcp-protocol-version'),
      hasBearer: (headers.get('authorization') ?? '').startsWith('Bearer '),
      requestedVersion: body.params?.protocolVersion,
    });
  }
  return fetch(input, init);
};

const client = new Client(
  { name: 'gistgate-e2e-ts-v1', version: '1.0.0' },
  { capabilities: { elicitation: { form: {}, url: {} } } },
);

const elicitations = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  elicitations.push(request.params);
  return { action: 'decline' };
});

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
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
  summary.protocolVersion = transport.protocolVersion ?? null;
  summary.serverInfo = client.getServerVersion() ?? null;
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
  emit(summary);
}
