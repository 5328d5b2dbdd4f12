import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { PostgresRunStore } from '../../src/store/index.js';
import { startScriptedModelServer, type Script, type ScriptedModelServer } from '../../src/testing/index.js';
import { parseSse, type SseEvent } from '../api/helpers.js';

export const pgUrl = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** `sleep N` answers after N ms; anything else at once. */
const script: Script = ({ body }) => {
  const last = body.messages.at(-1);
  const text = typeof last?.content === 'string' ? last.content : '';
  const sleep = /sleep (\d+)/.exec(text);
  return { content: `done: ${text}`, ...(sleep === null ? {} : { delay_ms: Number(sleep[1]) }) };
};

/** What a multi-node test file shares: one fresh schema, a model server, a folder, teardowns. */
export interface MultinodeEnv {
  schema: string;
  dir: string;
  model: ScriptedModelServer;
  /** A store handle for the test's own reads. */
  reader: PostgresRunStore;
  /** Teardowns run in reverse after each test. */
  cleanups: (() => Promise<unknown> | void)[];
}

/** Registers the hooks of a multi-node test file and returns its environment (filled in by `beforeAll`). */
export function multinodeEnv(prefix: string): MultinodeEnv {
  const env = {
    schema: `${prefix}_${randomBytes(5).toString('hex')}`,
    cleanups: [] as (() => Promise<unknown> | void)[],
  } as MultinodeEnv;
  beforeAll(async () => {
    env.dir = mkdtempSync(join(tmpdir(), 'sp-multinode-'));
    mkdirSync(join(env.dir, 'skills'));
    env.model = await startScriptedModelServer({ script, model: 'test-model' });
    // Creates the schema once, before the nodes open it.
    env.reader = await PostgresRunStore.open({ url: pgUrl, schema: env.schema, poolSize: 2 });
  });
  afterEach(async () => {
    for (const c of env.cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await env.reader?.close();
    await env.model?.close();
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${env.schema}" CASCADE`);
    await c.end();
    if (env.dir !== undefined) rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}

/** POSTs a JSON body. */
export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Reads an SSE stream until it ends or `ms` pass; `ended` tells which. */
export async function readStream(url: string, ms: number): Promise<{ events: SseEvent[]; ended: boolean }> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), ms);
  let text = '';
  let ended = false;
  try {
    const res = await fetch(url, { signal: ctrl.signal });
    expect(res.status).toBe(200);
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
      text += decoder.decode(chunk, { stream: true });
    ended = true;
  } catch (err) {
    if (!ctrl.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return { events: parseSse(text), ended };
}

/** The event types of a stream, in order. */
export const types = (events: SseEvent[]): (string | undefined)[] => events.map((e) => e.event);
