import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestApp,
  startScriptedModelServer,
  until,
  type ScriptedModelServer,
} from '../../src/testing/index.js';
import { createTracing } from '../../src/tracing/index.js';
import { writeTestSkills } from '../agents/harness.js';

/** The parts of an OTLP/JSON span this test reads. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

interface Export {
  path: string;
  contentType: string | undefined;
  service: unknown;
  spans: OtlpSpan[];
}

/** A minimal OTLP/HTTP receiver: decodes each JSON export (`POST /v1/traces`). */
async function startReceiver(): Promise<{ url: string; exports: Export[]; close(): Promise<void> }> {
  const exports: Export[] = [];
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server: Server = createServer((req, res) => {
    void read(req).then((text) => {
      const body = JSON.parse(text) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans)
        exports.push({
          path: req.url ?? '',
          contentType: req.headers['content-type'],
          service: rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue,
          spans: rs.scopeSpans.flatMap((s) => s.spans),
        });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let dir: string;
let model: ScriptedModelServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sp-otlp-'));
  writeTestSkills(dir);
  model = await startScriptedModelServer({
    script: () => ({ content: 'hi', usage: { prompt_tokens: 7, completion_tokens: 3 } }),
    model: 'test-model',
  });
});

afterAll(async () => {
  await model?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('OTLP/HTTP export', () => {
  it('sends the run, agent and chat spans to tracing.otlp_endpoint', async () => {
    const receiver = await startReceiver();
    const app = await createTestApp({
      dir,
      modelUrl: model.url,
      agents: [{ name: 'solo' }],
      config: { tracing: { otlp_endpoint: receiver.url } },
    });
    try {
      const { run } = await app.runtime.submit({ agent: 'solo', input: 'hello' });
      expect((await app.runtime.wait(run.id, { timeoutMs: 10_000 })).status).toBe('completed');
      await app.tracing.forceFlush();
      await until(
        () => receiver.exports.some((e) => e.spans.some((s) => s.name === 'run solo')),
        10_000,
        'the exported run span',
      );
      const spans = receiver.exports.flatMap((e) => e.spans);
      expect(receiver.exports[0]).toMatchObject({
        path: '/v1/traces',
        contentType: 'application/json',
        service: 'skillplane',
      });
      expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([run.trace_id]));
      const byName = new Map(spans.map((s) => [s.name, s]));
      const runSpan = byName.get('run solo')!;
      const agent = byName.get('invoke_agent solo')!;
      const chat = byName.get('chat test-model')!;
      expect(agent.parentSpanId).toBe(runSpan.spanId);
      expect(chat.parentSpanId).toBe(agent.spanId);
      const attr = (s: OtlpSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value;
      expect(attr(chat, 'gen_ai.usage.input_tokens')).toEqual({ intValue: 7 });
      expect(attr(chat, 'gen_ai.usage.output_tokens')).toEqual({ intValue: 3 });
      // The model server got the chat span as its parent.
      expect(model.requests.at(-1)?.headers.traceparent).toBe(`00-${run.trace_id}-${chat.spanId}-01`);
    } finally {
      await app.close(200);
      await receiver.close();
    }
  });

  it('a collector that is down never fails a run; the failure is reported once', async () => {
    const receiver = await startReceiver();
    await receiver.close(); // nothing listens on its port now
    const errors: Error[] = [];
    const tracing = createTracing(
      { otlp_endpoint: receiver.url },
      { flushTimeoutMs: 300, scheduledDelayMs: 10, onExportError: (err) => errors.push(err) },
    );
    const app = await createTestApp({
      dir,
      modelUrl: model.url,
      agents: [{ name: 'solo' }],
      app: { tracing },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const { run } = await app.runtime.submit({ agent: 'solo', input: 'hello' });
        expect((await app.runtime.wait(run.id, { timeoutMs: 10_000 })).status).toBe('completed');
        await tracing.forceFlush();
      }
      await until(() => errors.length > 0, 10_000, 'the export failure');
    } finally {
      await app.close(200);
      await tracing.shutdown();
    }
    expect(errors).toHaveLength(1);
  });

  it('without an endpoint there is no exporter at all', async () => {
    const app = await createTestApp({ dir, modelUrl: model.url, agents: [{ name: 'solo' }] });
    try {
      expect(app.tracing.enabled).toBe(false);
    } finally {
      await app.close(200);
    }
  });
});
