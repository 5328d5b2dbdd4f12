import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../src/testing/index.js';
import { json, parseSse, startApi, type ApiHarness, type SseEvent } from './helpers.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h.close();
});

async function createRun(input: string): Promise<string> {
  const res = await h.api.inject({
    method: 'POST',
    url: '/v1/agents/runs',
    payload: { agent: 'assistant', input },
  });
  expect(res.statusCode).toBe(202);
  return json<{ id: string }>(res).id;
}

const seqs = (events: SseEvent[]) => events.map((e) => Number(e.id));

describe('GET /v1/agents/runs/{id}/events', () => {
  it('replays history, then streams live events until the terminal event, then closes', async () => {
    const id = await createRun('sleep 300');
    expect((await h.app.runtime.getRun(id)).status).not.toBe('completed');
    const res = await h.api.inject({ url: `/v1/agents/runs/${id}/events` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    expect(res.headers['x-request-id']).toBeDefined();
    const events = parseSse(res.body);
    const stored = await h.app.runtime.listEvents(id, 0);
    // Every stored event exactly once, in order, ending with the terminal one.
    expect(seqs(events)).toEqual(stored.map((e) => e.seq));
    expect(events[0]!.event).toBe('run.created');
    expect(events.at(-1)!.event).toBe('run.completed');
    const data = JSON.parse(events.at(-1)!.data!) as { run_id: string; seq: number; type: string };
    expect(data).toMatchObject({ run_id: id, type: 'run.completed', seq: Number(events.at(-1)!.id) });
    // Heartbeats were sent while the run was running (interval 50 ms in tests).
    expect(res.body).toContain(': heartbeat');
  });

  it('resumes after Last-Event-ID (or ?after=) with no gap and no duplicate', async () => {
    const id = await createRun('resume me');
    await h.app.runtime.wait(id, { timeoutMs: 5_000 });
    const all = parseSse((await h.api.inject({ url: `/v1/agents/runs/${id}/events` })).body);
    expect(all.length).toBeGreaterThan(3);
    const resumed = parseSse(
      (await h.api.inject({ url: `/v1/agents/runs/${id}/events`, headers: { 'last-event-id': '2' } })).body,
    );
    expect(seqs(resumed)).toEqual(seqs(all).slice(2));
    const viaQuery = parseSse((await h.api.inject({ url: `/v1/agents/runs/${id}/events?after=3` })).body);
    expect(seqs(viaQuery)).toEqual(seqs(all).slice(3));
  });

  it('resumes a live stream mid-run without gaps', async () => {
    const id = await createRun('sleep 200');
    // Wait until a couple of events exist, then resume after the first one while the run is live.
    await until(
      async () => (await h.app.runtime.listEvents(id, 0)).length >= 2,
      5_000,
      'two events of the run',
    );
    const res = await h.api.inject({
      url: `/v1/agents/runs/${id}/events`,
      headers: { 'last-event-id': '1' },
    });
    const stored = await h.app.runtime.listEvents(id, 1);
    expect(seqs(parseSse(res.body))).toEqual(stored.map((e) => e.seq));
  });

  it('answers 404 problem+json for an unknown run', async () => {
    const res = await h.api.inject({ url: '/v1/agents/runs/run_missing/events' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });
});

describe('GET /v1/events (multiplexed)', () => {
  it('streams several runs on one stream and resumes every run from a composite id', async () => {
    const a = await createRun('sleep 100');
    const b = await createRun('multiplexed b');
    const res = await h.api.inject({ url: `/v1/events?run_id=${a}&run_id=${b}` });
    expect(res.statusCode).toBe(200);
    const events = parseSse(res.body);
    const byRun = (id: string) =>
      events
        .map((e) => JSON.parse(e.data!) as { run_id: string; seq: number })
        .filter((e) => e.run_id === id);
    for (const id of [a, b]) {
      const stored = await h.app.runtime.listEvents(id, 0);
      expect(byRun(id).map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
    }
    // An id names every run's position; resuming from the third event skips exactly what was seen.
    const third = events[2]!;
    expect(third.id).toMatch(new RegExp(`${a}:\\d+,${b}:\\d+`));
    const resumed = parseSse(
      (await h.api.inject({ url: `/v1/events?run_id=${a},${b}`, headers: { 'last-event-id': third.id! } }))
        .body,
    );
    // Per run, the resumed stream holds exactly the events not seen yet (interleaving may differ).
    const key = (e: SseEvent) => {
      const d = JSON.parse(e.data!) as { run_id: string; seq: number };
      return `${d.run_id}:${d.seq}`;
    };
    expect(resumed.map(key).sort()).toEqual(events.slice(3).map(key).sort());
  });
});
