import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { AgentDefinition } from '../../src/config/index.js';
import type { RunStore } from '../../src/store/index.js';
import { buildServer, type ServerOptions } from '../../src/api/index.js';
import type { Script } from '../../src/testing/index.js';
import { offered, startHarness, toolResultCount, userText, type Harness } from '../agents/harness.js';

/**
 * The model script of the API tests: `danger …` calls the risk-tagged skill, `sleep N` answers
 * after N ms, anything else is echoed.
 */
export const apiScript: Script = ({ body }) => {
  const text = userText(body);
  if (text.startsWith('danger') && toolResultCount(body) === 0 && offered(body).includes('test__danger'))
    return { tool_calls: [{ name: 'test__danger', arguments: { label: 'wipe' } }] };
  const sleep = /^sleep (\d+)/.exec(text);
  if (sleep !== null) return { content: 'slept', delay_ms: Number(sleep[1]) };
  const system = body.messages.find((m) => m.role === 'system');
  const tag =
    typeof system?.content === 'string' && system.content.startsWith('ROLE ') ? `${system.content} ` : '';
  return { content: `${tag}echo: ${text}` };
};

export const apiAgents: Partial<AgentDefinition>[] = [
  { name: 'assistant', description: 'general' },
  { name: 'ops', skills: ['test/danger'] },
  { name: 'writer' },
  { name: 'critic' },
];

export interface ApiHarness extends Harness {
  api: FastifyInstance;
}

/**
 * A full app (memory store unless `store` is given, real test skills, scripted model) with the
 * API built over it.
 */
export async function startApi(
  opts: {
    config?: Record<string, unknown>;
    server?: ServerOptions;
    script?: Script;
    store?: RunStore;
    /** The agents (default {@link apiAgents}). */
    agents?: Partial<AgentDefinition>[];
  } = {},
): Promise<ApiHarness> {
  const h = await startHarness({
    script: opts.script ?? apiScript,
    agents: opts.agents ?? apiAgents,
    ...(opts.config === undefined ? {} : { config: opts.config }),
    ...(opts.store === undefined ? {} : { store: opts.store }),
  });
  let api: FastifyInstance;
  try {
    api = await buildServer(h.app.ports, {
      logger: false,
      validateResponses: true,
      heartbeatMs: 50,
      defaultMetrics: false,
      ...opts.server,
    });
    await api.ready();
  } catch (err) {
    await h.close();
    throw err;
  }
  return {
    ...h,
    api,
    async close() {
      await api.close();
      await h.close();
    },
  };
}

/** The JSON body of an injected response. */
export function json<T = Record<string, unknown>>(res: LightMyRequestResponse): T {
  return JSON.parse(res.body) as T;
}

/** One parsed Server-Sent Event. */
export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

/** Parses an SSE body into events (comments are dropped). */
export function parseSse(body: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of body.split('\n\n')) {
    const e: SseEvent = {};
    let any = false;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'id' || field === 'event' || field === 'data') {
        e[field] = value;
        any = true;
      }
    }
    if (any) out.push(e);
  }
  return out;
}
