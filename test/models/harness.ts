import { afterEach } from 'vitest';
import { modelBackendSchema } from '../../src/config/index.js';
import type { ModelBackendConfig } from '../../src/config/index.js';
import { ModelClient } from '../../src/models/index.js';
import type { ChatDelta, ChatRequest, ModelClientOptions } from '../../src/models/index.js';
import { replies, startScriptedModelServer } from '../../src/testing/index.js';
import type { ScriptedModelServer, ScriptedReply } from '../../src/testing/index.js';

/** A client of a real scripted server answering `list` in order, with recorded backoff sleeps. */
export interface Rig {
  server: ScriptedModelServer;
  client: ModelClient;
  sleeps: number[];
}

const servers: ScriptedModelServer[] = [];

/** Closes every server a test of this file started. Call once at the top of a test file. */
export function closeServersAfterEach(): void {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
}

/** Starts a scripted server answering `list` and a client of it (no real backoff sleeps). */
export async function rig(
  list: (string | ScriptedReply)[],
  overrides: Partial<ModelBackendConfig> = {},
  options: ModelClientOptions = {},
): Promise<Rig> {
  const server = await startScriptedModelServer({ script: replies(list) });
  servers.push(server);
  const sleeps: number[] = [];
  const config = modelBackendSchema.parse({ base_url: server.url, model: 'test-model', ...overrides });
  const client = new ModelClient('local', config, {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...options,
  });
  return { server, client, sleeps };
}

/** The request every test sends. */
export const hello: ChatRequest = { messages: [{ role: 'user', content: 'hello there' }] };

/** Streams `req` through `client`, collecting the deltas. */
export async function streamed(
  client: ModelClient,
  req: ChatRequest = hello,
): Promise<{ result: Awaited<ReturnType<ModelClient['chat']>>; deltas: ChatDelta[] }> {
  const deltas: ChatDelta[] = [];
  const result = await client.chat(req, { onDelta: (d) => deltas.push(d) });
  return { result, deltas };
}

/** The rejection of `promise` (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (err: unknown) => err,
  );
}
