import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApi, type ApiHarness } from './helpers.js';

/*
 * The OpenAPI document is checked against the server that serves it: every documented operation
 * is called, and what it answers (status, media type, body) must be what the document says.
 */

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

const KEY = 'openapi-admin-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean; schema?: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<
    string,
    { content?: Record<string, { schema: unknown }>; headers?: Record<string, unknown> }
  >;
}
interface Document {
  openapi: string;
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Record<string, unknown>>;
    securitySchemes: Record<string, { type: string; scheme?: string }>;
  };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function operations(doc: Document): { path: string; method: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );
}

const mediaType = (res: LightMyRequestResponse) => String(res.headers['content-type']).split(';')[0]!.trim();

let keyed: ApiHarness;
let open: ApiHarness;
let doc: Document;
let ajv: Ajv2020;

/** Validates `data` against a component schema of the served document. */
function conforms(schema: string, data: unknown): string {
  const validate = ajv.getSchema(`openapi.json#/components/schemas/${schema}`);
  if (validate === undefined) throw new Error(`no schema ${schema}`);
  return validate(data) ? '' : ajv.errorsText(validate.errors);
}

/** Validates `data` against a schema of the document that may reference its components. */
function conformsTo(schema: unknown, data: unknown): string {
  const rooted = JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/'),
  ) as Record<string, unknown>;
  const validate = ajv.compile(rooted);
  return validate(data) ? '' : ajv.errorsText(validate.errors);
}

beforeAll(async () => {
  keyed = await startApi({
    config: {
      server: { port: 8787 },
      auth: { keys: [{ principal: 'root', key: KEY, scopes: ['admin'] }] },
    },
  });
  open = await startApi();
  const res = await keyed.api.inject({ url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  doc = json<Document>(res);
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi.json', components: doc.components });
});
afterAll(async () => {
  await keyed?.close();
  await open?.close();
});

describe('the OpenAPI document', () => {
  it('names every operation once, with a summary and a tag', () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(18);
    const ids = ops.map(({ op }) => op.operationId);
    for (const { path, method, op } of ops) {
      expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.summary, `${method} ${path}`).toBeTruthy();
      expect(op.tags?.length, `${method} ${path}`).toBeGreaterThan(0);
    }
    expect(new Set(ids).size).toBe(ids.length);
    const byId = Object.fromEntries(ops.map(({ path, method, op }) => [op.operationId, `${method} ${path}`]));
    expect(byId).toMatchObject({
      createRun: 'post /v1/agents/runs',
      listRuns: 'get /v1/agents/runs',
      getRun: 'get /v1/agents/runs/{id}',
      cancelRun: 'post /v1/agents/runs/{id}/cancel',
      streamRunEvents: 'get /v1/agents/runs/{id}/events',
      listApprovals: 'get /v1/approvals',
      decideApproval: 'post /v1/approvals/{id}',
      executeSkill: 'post /v1/skills/{id}/execute',
      getHealth: 'get /healthz',
      getWorkers: 'get /v1/workers',
      listDeadLetters: 'get /v1/workers/dead-letters',
      retryDeadLetter: 'post /v1/workers/dead-letters/{id}/retry',
    });
  });

  it('lists servers and an API-key scheme, required by every operation that is not public', async () => {
    expect(doc.servers?.map((s) => s.url)).toEqual(['/', 'http://127.0.0.1:8787']);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const { path, method, op } of operations(doc)) {
      // What the document says must be what the server does without a key.
      const res = await keyed.api.inject({ method: method.toUpperCase() as 'GET', url: sample(path) });
      const what = `${method} ${path} without a key answered ${res.statusCode}`;
      if (op.security?.length === 0) expect(res.statusCode, what).not.toBe(401);
      else {
        expect(op.security, `${method} ${path}`).toEqual([{ bearer: [] }]);
        expect(res.statusCode, what).toBe(401);
        expect(Object.keys(op.responses)).toContain('401');
      }
    }
    const publicIds = operations(doc)
      .filter(({ op }) => op.security?.length === 0)
      .map(({ op }) => op.operationId)
      .sort();
    expect(publicIds).toEqual(['getHealth', 'getOpenApiDocument', 'getReadiness']);
    // Without keys (loopback) the key is optional, and the document says so.
    const openDoc = json<Document>(await open.api.inject({ url: '/openapi.json' }));
    expect(openDoc.paths['/v1/agents/runs']!.post!.security).toEqual([{ bearer: [] }, {}]);
    expect(openDoc.paths['/healthz']!.get!.security).toEqual([]);
  });

  it('documents every error as application/problem+json with the shared Problem schema', () => {
    for (const { path, method, op } of operations(doc)) {
      expect(op.responses.default, `${method} ${path}`).toBeDefined();
      for (const [status, response] of Object.entries(op.responses)) {
        if (status !== 'default' && Number(status) < 400) continue;
        expect(Object.keys(response.content ?? {}), `${method} ${path} ${status}`).toEqual([
          'application/problem+json',
        ]);
        expect(response.content!['application/problem+json']!.schema).toEqual({
          $ref: '#/components/schemas/Problem',
        });
      }
    }
    expect(doc.components.schemas.Problem!.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code']),
    );
  });

  it('answers every documented operation with a documented status, media type and body', async () => {
    for (const { path, method, op } of operations(doc)) {
      const hasBody = op.requestBody !== undefined;
      const res = await keyed.api.inject({
        method: method.toUpperCase() as 'GET',
        url: sample(path),
        headers: { ...auth, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
        ...(hasBody ? { payload: '{}' } : {}),
      });
      const what = `${method} ${path} answered ${res.statusCode}: ${res.body.slice(0, 200)}`;
      expect(res.statusCode, what).not.toBe(405);
      const documented = op.responses[String(res.statusCode)];
      expect(documented, what).toBeDefined();
      expect(Object.keys(documented!.content ?? {}), what).toContain(mediaType(res));
      if (res.statusCode >= 400) expect(conforms('Problem', json(res)), what).toBe('');
      else if (mediaType(res) === 'application/json')
        expect(conformsTo(documented!.content!['application/json']!.schema, json(res)), what).toBe('');
    }
  });

  it('leaves out the 405 answers and the doors with protocols of their own', async () => {
    const paths = Object.keys(doc.paths);
    for (const door of ['/mcp', '/tools/invoke', '/v1/openclaw/invoke', '/v1/skills/openclaw/invoke']) {
      expect(paths).not.toContain(door);
    }
    const notAllowed = await keyed.api.inject({ method: 'GET', url: '/tools/invoke', headers: auth });
    expect(notAllowed.statusCode).toBe(405);
    for (const { path, method, op } of operations(doc))
      expect(Object.keys(op.responses), `${method} ${path}`).not.toContain('405');
  });

  it('documents the Idempotency-Key header of run creation, which replays the same run', async () => {
    const create = doc.paths['/v1/agents/runs']!.post!;
    const header = create.parameters?.find((p) => p.in === 'header' && p.name === 'Idempotency-Key');
    expect(header).toMatchObject({ required: false, schema: { type: 'string', maxLength: 256 } });
    expect(Object.keys(create.responses['202']!.headers ?? {})).toEqual(['Location', 'Idempotent-Replayed']);

    const post = (key: string) =>
      keyed.api.inject({
        method: 'POST',
        url: '/v1/agents/runs',
        headers: { ...auth, 'Idempotency-Key': key },
        payload: { agent: 'assistant', input: 'same request' },
      });
    const first = await post('order-42');
    const again = await post('order-42');
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(json(again).id).toBe(json(first).id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(first.headers.location).toBe(`/v1/agents/runs/${String(json(first).id)}`);

    const tooLong = await post('k'.repeat(257));
    expect(tooLong.statusCode).toBe(400);
    expect(mediaType(tooLong)).toBe('application/problem+json');
    expect(json(tooLong)).toMatchObject({
      code: 'invalid_request',
      issues: [{ path: 'idempotency-key' }],
    });
  });

  it('keeps request fields that have defaults optional, under the schema’s own name', () => {
    const names = Object.keys(doc.components.schemas);
    expect(names.filter((n) => n.endsWith('Input'))).toEqual([]);
    const create = doc.paths['/v1/agents/runs']!.post!;
    expect(create.requestBody!.content['application/json']!.schema).toEqual({
      $ref: '#/components/schemas/CreateRunBody',
    });
    const native = (doc.components.schemas.CreateRunBody!.anyOf as Record<string, unknown>[])[0]!;
    const props = native.properties as Record<string, { default?: unknown; description?: string }>;
    expect(native.required).toEqual(['input']);
    expect(props.strategy!.description).toBe('Default: `single`.');
    expect(props.options!.description).toContain('Default: `{"fail_fast":true,"pass_output":true}`');
    // A `default` keyword would make generators (openapi-typescript) type the field as required.
    const requestSide = [
      doc.components.schemas.CreateRunBody,
      doc.components.schemas.ExecuteSkillBody,
      ...operations(doc).flatMap(({ op }) => [
        ...(op.parameters ?? []).map((p) => p.schema),
        ...Object.values(op.requestBody?.content ?? {}).map((c) => c.schema),
      ]),
    ];
    expect(JSON.stringify(requestSide)).not.toContain('"default":');
  });

  it('types Run.result and Run.error, and a real completed run and failure conform', async () => {
    const run = doc.components.schemas.Run!.properties as Record<string, unknown>;
    expect(JSON.stringify(run.result)).toContain('#/components/schemas/RunResult');
    expect(JSON.stringify(run.error)).toContain('#/components/schemas/RunError');
    expect(doc.components.schemas.RunResult!.required).toEqual(['output']);

    const done = await keyed.api.inject({
      method: 'POST',
      url: '/v1/agents/runs?wait=10',
      headers: auth,
      payload: { agent: 'assistant', input: 'typed result' },
    });
    expect(done.statusCode).toBe(200);
    const body = json(done);
    expect(body).toMatchObject({
      status: 'completed',
      result: { output: 'echo: typed result' },
      error: null,
    });
    expect(conforms('Run', body)).toBe('');

    const refused = await keyed.api.inject({
      method: 'POST',
      url: '/v1/agents/runs',
      headers: auth,
      payload: { agent: 'nosuch', input: 'x' },
    });
    expect(refused.statusCode).toBe(400);
    expect(mediaType(refused)).toBe('application/problem+json');
    const problem = json(refused);
    expect(problem).toMatchObject({ status: 400, code: 'unknown_agent', title: 'Bad Request' });
    expect(problem.type).toBe('https://skillplane.dev/problems/unknown-agent');
    expect(conforms('Problem', problem)).toBe('');
  });

  it('sends errors with the documented content type, fields and headers', async () => {
    const missing = await keyed.api.inject({ url: '/v1/agents/runs/run_nosuch', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(mediaType(missing)).toBe('application/problem+json');
    expect(json(missing)).toMatchObject({
      status: 404,
      code: 'not_found',
      request_id: missing.headers['x-request-id'],
    });
    expect(conforms('Problem', json(missing))).toBe('');

    const noKey = await keyed.api.inject({ url: '/v1/agents/runs' });
    expect(noKey.statusCode).toBe(401);
    expect(Object.keys(doc.paths['/v1/agents/runs']!.get!.responses['401']!.headers ?? {})).toEqual([
      'WWW-Authenticate',
    ]);
    expect(noKey.headers['www-authenticate']).toBe('Bearer');
    expect(conforms('Problem', json(noKey))).toBe('');
  });
});

describe('a server that is shutting down', () => {
  it('refuses new requests with a problem document, as documented, not a bare JSON 503', async () => {
    const h = await startApi();
    try {
      // What the preClose hook sets before the server stops accepting.
      h.api.skillplane.ctx.state.shuttingDown = true;
      const res = await h.api.inject({ url: '/v1/agents/runs' });
      expect(res.statusCode).toBe(503);
      expect(mediaType(res)).toBe('application/problem+json');
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers.connection).toBe('close');
      expect(json(res)).toMatchObject({ status: 503, code: 'shutting_down', title: 'Service Unavailable' });
    } finally {
      h.api.skillplane.ctx.state.shuttingDown = false;
      await h.close();
    }
  });
});

/** A URL for an operation: path parameters filled in, required query parameters left out (→ 400). */
function sample(path: string): string {
  return path.replace(/\{[^}]+\}/g, 'no-such-id');
}
