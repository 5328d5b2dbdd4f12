/**
 * Opta-LMX's REST MCP adapter (`/v1/skills/mcp/*`, `POST /mcp/*`) on the real server, driven with
 * the request bodies of Opta's tests (tests/test_mcp_surface.py, tests/test_skills_api.py) and
 * read the way its clients read the answers. Beside each case, the Opta test it mirrors.
 */
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { TextContent } from '@modelcontextprotocol/sdk/types.js';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executions } from '../agents/harness.js';
import { json, startApi, type ApiHarness } from '../api/helpers.js';
import type { OptaToolCallResult } from '../../src/interop/opta-mcp.js';
import { startOptaApi } from './opta-fixtures.js';

/** Opta's tool call answer (dashboard `MCPToolCallResponse`, CLI `LmxSkillMcpCallResponse`) plus our `code`. */
type CallAnswer = OptaToolCallResult;

interface ToolsAnswer {
  tools: {
    name: string;
    description: string;
    inputSchema: Record<string, unknown>;
    namespace: string;
    version: string;
    aliases: string[];
  }[];
  list_changed_at: string;
}

interface PromptsAnswer {
  ok: boolean;
  prompts: { name: string; description: string; arguments: { name: string; required: boolean }[] }[];
}

interface PromptGetAnswer {
  ok: boolean;
  messages: { role: string; content: { type: string; text: string } }[] | null;
  error: string | null;
  code: string | null;
}

interface ResourcesAnswer {
  ok: boolean;
  resources: { uri: string; name: string; description: string; mimeType: string }[];
}

interface ReadAnswer {
  ok: boolean;
  contents: { uri: string; mimeType: string; text: string }[] | null;
  error: string | null;
  code: string | null;
}

/** An HTTP error: our problem document, whose `error` member is Opta's `{message, type, code}`. */
interface ErrorAnswer {
  code: string;
  detail: string;
  error: { message: string; type: string; code: string };
}

let h: ApiHarness;
let mcp: Client;

beforeAll(async () => {
  h = await startOptaApi();
  await h.api.listen({ host: '127.0.0.1', port: 0 });
  const { port } = h.api.server.address() as AddressInfo;
  mcp = new Client({ name: 'opta-mcp-test', version: '1.0.0' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
}, 60_000);

afterAll(async () => {
  await mcp?.close().catch(() => undefined);
  await h?.close();
});

const get = (url: string, headers: Record<string, string> = {}) =>
  h.api.inject({ method: 'GET', url, headers });
const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  h.api.inject({
    method: 'POST',
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
const call = async (payload: unknown): Promise<{ res: LightMyRequestResponse; body: CallAnswer }> => {
  const res = await post('/v1/skills/mcp/call', payload);
  return { res, body: json<CallAnswer>(res) };
};
const labels = () => executions(h.sideFile).map((e) => e.label);

describe('Opta MCP adapter: tools', () => {
  // Opta tests/test_skills_api.py::test_mcp_adapter_list_and_call (the list)
  it('lists the latest version of every skill under Opta’s names, with schema, namespace, version and aliases', async () => {
    const res = await get('/v1/skills/mcp/tools');
    expect(res.statusCode).toBe(200);
    const body = json<ToolsAnswer>(res);
    const names = body.tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).toContain('openclaw/planner@2.0.0');
    expect(names).toContain('test/echo@1.0.0');
    expect(new Set(names).size).toBe(names.length);
    const echo = body.tools.find((t) => t.name === 'echo')!;
    expect(echo).toEqual({
      name: 'echo',
      description: 'Echo back input arguments.',
      inputSchema: {
        type: 'object',
        properties: { topic: { type: 'string' } },
        required: ['topic'],
        additionalProperties: false,
      },
      namespace: 'default',
      version: '1.0.0',
      aliases: ['default/echo@1.0.0', 'default/echo', 'default__echo', 'echo@1.0.0', 'echo'],
    });
    // A name another namespace shares is an alias only of the skill it finds (`echo` is default's).
    const testEcho = body.tools.find((t) => t.name === 'test/echo@1.0.0')!;
    expect(testEcho.aliases).toEqual(['test/echo@1.0.0', 'test/echo', 'test__echo']);
    expect(Number.isNaN(Date.parse(body.list_changed_at))).toBe(false);
  });
});

describe('Opta MCP adapter: calls', () => {
  // Opta tests/test_skills_api.py::test_mcp_adapter_list_and_call (the call)
  it('calls a tool by its bare name and answers Opta’s result', async () => {
    const { res, body } = await call({ name: 'echo', arguments: { topic: 'mcp' } });
    expect(res.statusCode).toBe(200);
    expect((body.output as { echo: { topic: string } }).echo.topic).toBe('mcp');
    expect(body).toMatchObject({
      skill_name: 'echo',
      kind: 'tool',
      ok: true,
      error: null,
      code: null,
      timed_out: false,
      denied: false,
      requires_approval: false,
    });
    expect(Number.isInteger(body.duration_ms)).toBe(true);
  });

  // Opta tests/test_skills_api.py::test_mcp_call_accepts_json_string_arguments
  it('accepts arguments given as a JSON string', async () => {
    const { res, body } = await call({ name: 'echo', arguments: '{"topic":"json"}' });
    expect(res.statusCode).toBe(200);
    expect((body.output as { echo: { topic: string } }).echo.topic).toBe('json');
  });

  // Opta tests/test_skills_api.py::test_execute_skill (its body, on the MCP call)
  it('runs another skill with numeric arguments', async () => {
    const { body } = await call({ name: 'add', arguments: { left: 2, right: 5 } });
    expect(body.ok).toBe(true);
    expect((body.output as { sum: number }).sum).toBe(7);
  });

  it('calls a namespaced tool by the name the list gives it', async () => {
    const { body } = await call({ name: 'openclaw/planner@2.0.0', arguments: { goal: 'lunch' } });
    expect(body).toMatchObject({ ok: true, skill_name: 'openclaw/planner@2.0.0', kind: 'prompt' });
    expect(body.output).toEqual({ prompt: 'Plan lunch' });
  });

  // Opta tests/test_skills_api.py::test_execute_skill_rejects_invalid_arguments (on the MCP call)
  it('refuses arguments that break the input schema with 400 invalid_arguments', async () => {
    const { res } = await call({ name: 'echo', arguments: { topic: 42 } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = json<ErrorAnswer>(res);
    expect(body.error.code).toBe('invalid_arguments');
    expect(body.code).toBe('input_invalid');
  });

  // Opta skills.py::_parse_arguments (bad JSON text, or not an object)
  it('refuses arguments that are not an object or a JSON object string with 400 invalid_arguments', async () => {
    for (const args of ['{topic', '[1, 2]', 7, [1]]) {
      const { res } = await call({ name: 'echo', arguments: args });
      expect(res.statusCode, JSON.stringify(args)).toBe(400);
      const body = json<ErrorAnswer>(res);
      expect(body.error.code).toBe('invalid_arguments');
      expect(body.code).toBe('input_invalid');
    }
  });

  // Opta tests/test_skills_api.py::test_missing_skill_returns_404 (on the MCP call)
  it('answers 404 for an unknown tool', async () => {
    const { res } = await call({ name: 'missing', arguments: {} });
    expect(res.statusCode).toBe(404);
    const body = json<ErrorAnswer>(res);
    expect(body.code).toBe('not_found');
    expect(typeof body.detail).toBe('string');
  });

  // Opta skills/executors.py::_policy_blocked_result (a risk-tagged skill without approval)
  it('does not run a risk-tagged tool without approval: 200, ok false, denied and requires_approval', async () => {
    const { res, body } = await call({ name: 'test/danger', arguments: { label: 'no-approval' } });
    expect(res.statusCode).toBe(200);
    expect(body).toMatchObject({
      ok: false,
      output: null,
      code: 'approval_required',
      denied: true,
      requires_approval: true,
      timed_out: false,
    });
    expect(typeof body.error).toBe('string');
    expect(labels()).not.toContain('no-approval');
  });

  it('runs a risk-tagged tool with approved: true and still reports requires_approval', async () => {
    const { body } = await call({ name: 'test/danger', arguments: { label: 'approved' }, approved: true });
    expect(body).toMatchObject({ ok: true, error: null, denied: false, requires_approval: true });
    expect(labels()).toContain('approved');
  });

  // Opta skills/executors.py::execute (an exception of the skill)
  it('answers a skill that raises with 200, ok false and the error as a string', async () => {
    const { res, body } = await call({ name: 'boom' });
    expect(res.statusCode).toBe(200);
    expect(body).toMatchObject({
      ok: false,
      output: null,
      code: 'skill_failed',
      denied: false,
      timed_out: false,
    });
    expect(body.error).toContain('kaboom');
  });

  // Opta skills/executors.py::execute (TimeoutError)
  it('answers a skill past its deadline with 200, ok false and timed_out', async () => {
    const { res, body } = await call({ name: 'nap', arguments: '' });
    expect(res.statusCode).toBe(200);
    expect(body).toMatchObject({ ok: false, code: 'timeout', timed_out: true, denied: false });
    expect(typeof body.error).toBe('string');
  });
});

describe('Opta MCP adapter: prompts', () => {
  // Opta tests/test_mcp_surface.py::test_mcp_prompts_list_returns_only_prompt_skills
  // Opta tests/test_skills_api.py::test_mcp_prompts_list_returns_prompt_skills
  it('lists only prompt skills, on both paths', async () => {
    for (const res of [await post('/mcp/prompts/list'), await get('/v1/skills/mcp/prompts')]) {
      expect(res.statusCode).toBe(200);
      const body = json<PromptsAnswer>(res);
      expect(body.ok).toBe(true);
      expect(new Set(body.prompts.map((p) => p.name))).toEqual(new Set(['planner', 'summarize']));
    }
  });

  // Opta tests/test_mcp_surface.py::test_mcp_prompts_list_includes_argument_metadata
  it('describes each prompt’s arguments and whether they are required', async () => {
    const body = json<PromptsAnswer>(await post('/mcp/prompts/list', {}));
    const summarize = body.prompts.find((p) => p.name === 'summarize')!;
    expect(summarize.description).toBe('Summarize a document on a given topic.');
    expect(new Set(summarize.arguments.map((a) => a.name))).toEqual(new Set(['topic', 'text']));
    for (const arg of summarize.arguments) expect(arg.required).toBe(true);
    const planner = body.prompts.find((p) => p.name === 'planner')!;
    expect(planner).toMatchObject({
      description: 'OpenClaw planner prompt.',
      arguments: [{ name: 'goal', required: true }],
    });
  });

  // Opta tests/test_mcp_surface.py::test_mcp_prompts_get_renders_template
  // Opta tests/test_skills_api.py::test_mcp_prompts_get_renders_template
  it('renders a prompt with its arguments as one user message, on both paths', async () => {
    const cases = [
      {
        url: '/mcp/prompts/get',
        payload: { name: 'summarize', arguments: { topic: 'AI safety', text: 'Some document' } },
        text: 'Summarize the following about AI safety: Some document',
      },
      {
        url: '/v1/skills/mcp/prompts/get',
        payload: { name: 'planner', arguments: { goal: 'conquer the world' } },
        text: 'Plan conquer the world',
      },
    ];
    for (const c of cases) {
      const res = await post(c.url, c.payload);
      expect(res.statusCode).toBe(200);
      const body = json<PromptGetAnswer>(res);
      expect(body.ok).toBe(true);
      expect(body.messages).toHaveLength(1);
      expect(body.messages![0]).toEqual({ role: 'user', content: { type: 'text', text: c.text } });
    }
  });

  it('renders the same text as our MCP server’s prompts/get', async () => {
    const rest = json<PromptGetAnswer>(
      await post('/mcp/prompts/get', { name: 'planner', arguments: { goal: 'x' } }),
    );
    const viaMcp = await mcp.getPrompt({ name: 'openclaw__planner', arguments: { goal: 'x' } });
    expect((viaMcp.messages[0]!.content as TextContent).text).toBe(rest.messages![0]!.content.text);
  });

  // Opta tests/test_mcp_surface.py::test_mcp_prompts_get_unknown_prompt
  it('answers an unknown prompt with 200, ok false', async () => {
    const res = await post('/mcp/prompts/get', { name: 'nonexistent', arguments: {} });
    expect(res.statusCode).toBe(200);
    const body = json<PromptGetAnswer>(res);
    expect(body).toMatchObject({ ok: false, messages: null, code: 'not_found' });
    expect(body.error).toContain('unknown prompt');
  });

  // Opta tests/test_mcp_surface.py::test_mcp_prompts_get_rejects_entrypoint_skill
  it('answers a skill that is not a prompt with 200, ok false', async () => {
    const body = json<PromptGetAnswer>(await post('/mcp/prompts/get', { name: 'echo', arguments: {} }));
    expect(body).toMatchObject({ ok: false, code: 'not_a_prompt_skill' });
    expect(body.error).toContain('not a prompt');
  });

  // Opta tests/test_mcp_surface.py::test_mcp_prompts_get_missing_argument
  it('answers a missing required argument with 200, ok false, rendering failed', async () => {
    const res = await post('/mcp/prompts/get', { name: 'summarize', arguments: { topic: 'AI' } });
    expect(res.statusCode).toBe(200);
    const body = json<PromptGetAnswer>(res);
    expect(body).toMatchObject({ ok: false, code: 'input_invalid' });
    expect(body.error).toContain('rendering failed');
  });
});

describe('Opta MCP adapter without prompt skills', () => {
  let plain: ApiHarness;
  beforeAll(async () => {
    plain = await startApi();
  }, 60_000);
  afterAll(async () => {
    await plain?.close();
  });

  // Opta tests/test_mcp_surface.py::test_mcp_prompts_list_empty_when_no_prompts
  it('lists no prompts when no prompt skill is loaded', async () => {
    const res = await plain.api.inject({ method: 'POST', url: '/mcp/prompts/list' });
    expect(res.statusCode).toBe(200);
    expect(json<PromptsAnswer>(res)).toEqual({ ok: true, prompts: [] });
  });
});

describe('Opta MCP adapter: resources', () => {
  // Opta tests/test_mcp_surface.py::test_mcp_resources_list_includes_metadata
  // Opta tests/test_skills_api.py::test_mcp_resources_list_returns_roots (shape; ours are skill docs)
  it('lists our MCP resources (skill documentation) with uri, name, description and mimeType, on both paths', async () => {
    const viaMcp = await mcp.listResources();
    for (const res of [await post('/mcp/resources/list'), await get('/v1/skills/mcp/resources')]) {
      expect(res.statusCode).toBe(200);
      const body = json<ResourcesAnswer>(res);
      expect(body.ok).toBe(true);
      expect(body.resources.map((r) => r.uri)).toEqual(viaMcp.resources.map((r) => r.uri));
      const echo = body.resources.find((r) => r.uri === 'skill://default/echo@1.0.0')!;
      expect(echo).toEqual({
        uri: 'skill://default/echo@1.0.0',
        name: 'default/echo@1.0.0',
        description: 'Echo back input arguments.',
        mimeType: 'text/markdown',
      });
    }
  });

  // Opta tests/test_mcp_surface.py::test_mcp_resources_read_file_uri (a listed URI)
  it('reads a listed resource, as our MCP server does', async () => {
    const uri = 'skill://default/echo@1.0.0';
    const res = await post('/mcp/resources/read', { uri });
    expect(res.statusCode).toBe(200);
    const body = json<ReadAnswer>(res);
    expect(body.ok).toBe(true);
    expect(body.contents).toHaveLength(1);
    expect(body.contents![0]).toMatchObject({ uri, mimeType: 'text/markdown' });
    expect(body.contents![0]!.text).toContain('# default/echo@1.0.0');
    const viaMcp = await mcp.readResource({ uri });
    expect((viaMcp.contents[0] as { text: string }).text).toBe(body.contents![0]!.text);
  });

  // Opta tests/test_mcp_surface.py::test_mcp_resources_read_unknown_file_uri
  it('answers a URI naming no skill with 200, ok false, not found', async () => {
    const body = json<ReadAnswer>(
      await post('/mcp/resources/read', { uri: 'skill://default/missing@1.0.0' }),
    );
    expect(body).toMatchObject({ ok: false, contents: null, code: 'not_found' });
    expect(body.error).toContain('not found');
  });

  // Opta tests/test_mcp_surface.py::test_mcp_resources_read_unsupported_scheme
  it('answers another scheme (Opta’s file:// roots included) with 200, ok false, unsupported', async () => {
    for (const uri of ['ftp://example.com/file', 'file:///tmp/project-a']) {
      const res = await post('/mcp/resources/read', { uri });
      expect(res.statusCode).toBe(200);
      const body = json<ReadAnswer>(res);
      expect(body).toMatchObject({ ok: false, code: 'unsupported_uri' });
      expect(body.error).toContain('unsupported');
    }
  });
});

describe('Opta MCP adapter: capabilities', () => {
  // Opta tests/test_mcp_surface.py::test_mcp_capabilities_includes_all_primitives
  // Opta tests/test_mcp_surface.py::test_mcp_capabilities_list_changed_flags
  // Opta tests/test_skills_api.py::test_mcp_capabilities_includes_list_changed
  it('reports what our MCP server declares, on both paths', async () => {
    const declared = mcp.getServerCapabilities()!;
    for (const res of [await post('/mcp/capabilities'), await get('/v1/skills/mcp/capabilities')]) {
      expect(res.statusCode).toBe(200);
      const body = json<{ ok: boolean; capabilities: Record<string, { listChanged?: boolean }> }>(res);
      expect(body.ok).toBe(true);
      for (const primitive of ['tools', 'prompts', 'resources']) {
        expect(body.capabilities[primitive]?.listChanged).toBe(true);
        expect(declared[primitive as 'tools']).toEqual(body.capabilities[primitive]);
      }
    }
  });
});

describe('Opta MCP adapter beside the JSON-RPC /mcp endpoint', () => {
  it('leaves /mcp serving MCP sessions', async () => {
    const { tools } = await mcp.listTools();
    expect(tools.map((t) => t.name)).toContain('default__echo');
    const r = await mcp.callTool({ name: 'default__echo', arguments: { topic: 'rpc' } });
    expect((r.content as TextContent[])[0]!.text).toContain('rpc');
  });

  it('refuses a body the endpoint does not take, as a problem document', async () => {
    const res = await post('/mcp/prompts/get', { name: 'planner', extra: 1 });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toMatchObject({ code: 'invalid_request' });
  });
});

describe('Opta MCP adapter with API keys', () => {
  const KEYS = {
    reader: 'reader-key-0123456789abcdef',
    caller: 'caller-key-0123456789abcdef',
    limited: 'limited-key-0123456789abcdef',
  };
  let keyed: ApiHarness;
  beforeAll(async () => {
    keyed = await startOptaApi({
      config: {
        auth: {
          keys: [
            { principal: 'reader', key: KEYS.reader, scopes: ['skills:read'] },
            { principal: 'caller', key: KEYS.caller, scopes: ['skills:read', 'skills:execute'] },
            { principal: 'limited', key: KEYS.limited, scopes: ['skills:execute'], rate_limit_per_min: 1 },
          ],
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await keyed?.close();
  });
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('answers 401 without a key on every route', async () => {
    const requests = [
      { method: 'GET' as const, url: '/v1/skills/mcp/tools' },
      {
        method: 'POST' as const,
        url: '/v1/skills/mcp/call',
        payload: { name: 'echo', arguments: { topic: 'x' } },
      },
      { method: 'GET' as const, url: '/v1/skills/mcp/prompts' },
      { method: 'POST' as const, url: '/mcp/prompts/list' },
      {
        method: 'POST' as const,
        url: '/mcp/prompts/get',
        payload: { name: 'planner', arguments: { goal: 'x' } },
      },
      { method: 'POST' as const, url: '/mcp/resources/list' },
      { method: 'POST' as const, url: '/mcp/resources/read', payload: { uri: 'skill://default/echo@1.0.0' } },
      { method: 'POST' as const, url: '/mcp/capabilities' },
    ];
    for (const r of requests) {
      const res = await keyed.api.inject(r);
      expect(res.statusCode, r.url).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(json(res)).toMatchObject({ code: 'unauthorized' });
    }
  });

  it('lists with skills:read and needs skills:execute to call', async () => {
    const list = await keyed.api.inject({ url: '/v1/skills/mcp/tools', headers: bearer(KEYS.reader) });
    expect(list.statusCode).toBe(200);
    const refused = await keyed.api.inject({
      method: 'POST',
      url: '/v1/skills/mcp/call',
      headers: bearer(KEYS.reader),
      payload: { name: 'echo', arguments: { topic: 'x' } },
    });
    expect(refused.statusCode).toBe(403);
    expect(json(refused)).toMatchObject({ code: 'forbidden' });
    const ok = await keyed.api.inject({
      method: 'POST',
      url: '/v1/skills/mcp/call',
      headers: bearer(KEYS.caller),
      payload: { name: 'echo', arguments: { topic: 'x' } },
    });
    expect(json<CallAnswer>(ok)).toMatchObject({ ok: true, output: { echo: { topic: 'x' } } });
  });

  it('denies approved: true from a key without approvals:write, and runs nothing', async () => {
    const res = await keyed.api.inject({
      method: 'POST',
      url: '/v1/skills/mcp/call',
      headers: bearer(KEYS.caller),
      payload: { name: 'test/danger', arguments: { label: 'self-approved' }, approved: true },
    });
    expect(res.statusCode).toBe(200);
    expect(json<CallAnswer>(res)).toMatchObject({
      ok: false,
      code: 'forbidden',
      denied: true,
      requires_approval: true,
    });
    expect(executions(keyed.sideFile).map((e) => e.label)).not.toContain('self-approved');
  });

  // Opta tests/test_skills_api.py::test_execute_skill_returns_structured_overload (a 429 stays HTTP)
  it('answers a call over the key’s rate with HTTP 429 and Retry-After, not ok false', async () => {
    const callOnce = () =>
      keyed.api.inject({
        method: 'POST',
        url: '/v1/skills/mcp/call',
        headers: bearer(KEYS.limited),
        payload: { name: 'echo', arguments: { topic: 'x' } },
      });
    expect((await callOnce()).statusCode).toBe(200);
    const refused = await callOnce();
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(json<ErrorAnswer>(refused)).toMatchObject({
      code: 'rate_limited',
      error: { code: 'rate_limited' },
    });
  });
});
