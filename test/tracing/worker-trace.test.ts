/**
 * A skill call on the BullMQ worker plane continues the caller's trace: the worker's
 * `execute_tool` span is a child of the step's span (from the job's `traceparent`), and the
 * sandbox child's span is a child of the worker's. Real Redis, a key prefix of its own.
 */
import { randomBytes } from 'node:crypto';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createSkillService } from '../../src/skills/index.js';
import { until } from '../../src/testing/index.js';
import { createTracing } from '../../src/tracing/index.js';
import { QueuedDispatcher, SkillWorker, WorkerPlane } from '../../src/workers/index.js';
import { cleanup, makeTempDir, writeFiles } from '../skills/helpers.js';

const REDIS = process.env.SKILLPLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const STEP_SPAN = 'b7ad6b7169203331';
let dir: string;

beforeAll(async () => {
  dir = await makeTempDir('sp-wtrace-');
  await writeFiles(dir, {
    'echo/skill.yaml':
      'skill_id: w/echo\nversion: 1.0.0\ndescription: echo\nkind: tool\nentry: ./index.mjs\nexecution: worker\n',
    'echo/index.mjs': 'export default async (input, ctx) => ({ traceparent: ctx.traceparent });',
  });
});

afterAll(async () => {
  await cleanup([dir]);
});

describe('tracing on the worker plane', () => {
  it('the worker and its sandbox child continue the job’s trace', async () => {
    const prefix = `sptest-${randomBytes(4).toString('hex')}`;
    const loaded = loadConfig({
      cwd: dir,
      env: {},
      overrides: {
        skills: { directories: [dir], watch: false },
        workers: { enabled: true, broker_url: REDIS, prefix, heartbeat_sec: 0.5 },
      },
    });
    const plane = new WorkerPlane({ config: loaded.config.workers, pollMs: 200, reapIntervalMs: 0 });
    const api = await createSkillService(loaded, {
      watch: false,
      wrapDispatcher: (local) =>
        new QueuedDispatcher({ local, plane, routing: loaded.config.workers, repeatable: () => true }),
    });
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing(
      { otlp_endpoint: null },
      { spanProcessors: [new SimpleSpanProcessor(exporter)] },
    );
    const worker = await SkillWorker.start({ loaded, watch: false, tracing });
    try {
      const out = await api.invoker.invoke({
        skill: 'w/echo',
        input: {},
        door: 'run',
        runId: 'run_t',
        traceparent: `00-${TRACE_ID}-${STEP_SPAN}-01`,
        tracestate: 'congo=t61',
      });
      await until(() => exporter.getFinishedSpans().length >= 2, 10_000, 'the worker spans');
      const spans = exporter.getFinishedSpans();
      const job = spans.find((s) => s.name === 'execute_tool w/echo');
      const child = spans.find((s) => s.name === 'sandbox w/echo');
      expect(job?.spanContext().traceId).toBe(TRACE_ID);
      expect(job?.parentSpanContext?.spanId).toBe(STEP_SPAN);
      expect(job?.attributes).toMatchObject({
        'gen_ai.tool.name': 'w/echo',
        'skillplane.worker.id': worker.id,
      });
      expect(child?.spanContext().traceId).toBe(TRACE_ID);
      expect(child?.parentSpanContext?.spanId).toBe(job?.spanContext().spanId);
      // The skill saw the worker's span as its parent.
      expect(out.output).toEqual({ traceparent: `00-${TRACE_ID}-${job!.spanContext().spanId}-01` });
    } finally {
      await worker.close(0);
      await tracing.shutdown();
      await api.close();
      await plane.close();
      const redis = new Redis(REDIS);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
