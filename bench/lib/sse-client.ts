/**
 * The SSE load generator of bench/sse.ts, in a child process of its own so the clients do not
 * share the server's event loop. Protocol over IPC: the parent sends `{port, paths}`; this opens
 * one stream per path and answers `{opened: n}` (or `{error}`); the parent sends `{liveFrom}`,
 * this answers `{armed: true}` and from then on records, for every event whose `at` ≥ liveFrom, arrival − `at` (ms), and when every stream
 * has ended answers `{latencies}`.
 */
import { Agent, request } from 'node:http';

interface Start {
  port: number;
  paths: string[];
}

let liveFrom = Number.POSITIVE_INFINITY;
const latencies: number[] = [];

function openStream(
  agent: Agent,
  port: number,
  path: string,
): { opened: Promise<void>; ended: Promise<void> } {
  let opened!: () => void;
  let failed!: (err: Error) => void;
  const openedP = new Promise<void>((res, rej) => ((opened = res), (failed = rej)));
  const ended = new Promise<void>((resolve) => {
    const req = request(
      { agent, host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          failed(new Error(`${path}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        opened();
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          const arrivedAt = Date.now();
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) !== -1) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let type = 'message';
            let data: string | undefined;
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) type = line.slice(7);
              else if (line.startsWith('data: ')) data = line.slice(6);
            }
            if (data === undefined) continue;
            const raw = (JSON.parse(data) as { at?: string }).at;
            const at = raw === undefined ? Number.NaN : Date.parse(raw);
            if (at >= liveFrom) latencies.push(arrivedAt - at);
            if (type === 'run.completed') res.destroy();
          }
        });
        res.on('close', resolve);
      },
    );
    req.on('error', (err) => {
      failed(err);
      resolve();
    });
    req.end();
  });
  return { opened: openedP, ended };
}

process.on('message', (m: Start | { liveFrom: number }) => {
  if ('liveFrom' in m) {
    liveFrom = m.liveFrom;
    process.send?.({ armed: true });
    return;
  }
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const streams = m.paths.map((p) => openStream(agent, m.port, p));
  Promise.all(streams.map((s) => s.opened)).then(
    () => process.send?.({ opened: streams.length }),
    (err: Error) => process.send?.({ error: err.message }),
  );
  void Promise.all(streams.map((s) => s.ended)).then(() => {
    agent.destroy();
    process.send?.({ latencies });
  });
});
