import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecurityServer, type SecurityServer } from './sandbox-harness.js';

/*
 * Attacks on the server process from inside a tool skill with no permissions: signals (item 1),
 * the parent's channel (item 2), unbounded output (item 12) and memory (low). The server is a real
 * `skillplane serve` process; after each attack it must still answer, and the skill must still be
 * callable (a fresh sandbox replaces a broken one).
 */

describe.each(['auto', 'node'] as const)('skills.sandbox: %s', (sandbox) => {
  let server: SecurityServer;

  beforeAll(async () => {
    server = await startSecurityServer({
      config: { skills: { sandbox, allow_shell: true, sandbox_limits: { heap_mb: 160 } } },
      skills: {
        signals: {
          code: `export default async ({ how, pid }) => {
  if (how === 'ppid') process.kill(process.ppid, 'SIGKILL');
  if (how === 'all') process.kill(-1, 'SIGKILL');
  if (how === 'pid') { try { process.kill(pid, 'SIGKILL'); } catch (e) { return { refused: e.code }; } }
  if (how === 'group') { try { process.kill(-pid, 'SIGKILL'); } catch (e) { return { refused: e.code }; } }
  return { survived: true, pid: process.pid, ppid: process.ppid };
};`,
        },
        channel: {
          code: `import fs from 'node:fs';
export default async ({ how }) => {
  if (how === 'garbage') fs.writeSync(3, 'this is not json\\n');
  if (how === 'send-null') process.send(null);
  if (how === 'forged') fs.writeSync(3, JSON.stringify({ type: 'result', id: 999999, ok: true, output: 'forged' }) + '\\n');
  if (how === 'shape') fs.writeSync(3, JSON.stringify({ type: 'result', id: 'x', ok: 'yes', evil: { __proto__: {} } }) + '\\n');
  if (how === 'endless') { const chunk = 'x'.repeat(1 << 20); for (let i = 0; i < 64; i++) fs.writeSync(3, chunk); }
  await new Promise((r) => setTimeout(r, 2000));
  return 'ok';
};`,
        },
        output: {
          code: `export default async ({ mib }) => 'x'.repeat(mib * 1024 * 1024);`,
        },
        hog: {
          code: `export default async ({ mib }) => { const keep = []; for (let i = 0; i < mib; i++) keep.push(new Array(131072).fill(i)); return keep.length; };`,
        },
        flood: {
          manifest: {
            command: ['head', '-c', '67108864', '/dev/zero'],
            permissions: { shell: true },
          },
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  describe('a skill cannot take the server down', () => {
    it('item 1: cannot signal the server (ppid, -1, its pid, its group)', async () => {
      for (const how of ['ppid', 'all']) {
        const r = await server.execute('attack/signals', { how });
        // The signal only reaches the skill's own PID namespace (whose init ignores it, or dies with
        // the sandbox): the call either finishes or fails as a crash; the server is untouched.
        if (r.status === 200) expect(r.body.output, how).toMatchObject({ survived: true });
        else expect(['skill_crashed', 'skill_failed', 'permission_denied'], how).toContain(r.body.code);
        expect(await server.healthy(), `after ${how}`).toBe(true);
      }
      for (const how of ['pid', 'group']) {
        const r = await server.execute('attack/signals', { how, pid: server.pid });
        expect(r.status, how).toBe(200);
        // Namespaces: the pid does not exist there; Node only: the process guard refuses it.
        expect(['ESRCH', 'ERR_ACCESS_DENIED'], how).toContain(
          (r.body.output as { refused?: string }).refused,
        );
      }
      const alive = await server.execute('attack/signals', { how: 'none' });
      expect(alive.status).toBe(200);
      // Inside its own PID namespace the skill cannot even see the server's pid.
      expect((alive.body.output as { pid: number }).pid).not.toBe(server.pid);
      expect(await server.healthy()).toBe(true);
    });

    it('item 2: garbage, forged or oversized frames on the channel kill only the skill process', async () => {
      for (const how of ['garbage', 'forged', 'shape', 'endless']) {
        const r = await server.execute('attack/channel', { how });
        expect(r.status, how).toBe(500);
        expect(r.body.code, how).toBe('skill_protocol_violation');
        expect(await server.healthy(), `after ${how}`).toBe(true);
      }
      // The old IPC call is gone: process.send does not exist in the sandbox.
      const sendNull = await server.execute('attack/channel', { how: 'send-null' });
      expect(sendNull.body.code).toBe('skill_failed');
      const ok = await server.execute('attack/channel', { how: 'none' });
      expect(ok.status).toBe(200);
      expect(ok.body.output).toBe('ok');
    });

    it('item 12: outputs above skills.max_output_bytes fail with output_too_large, for tool and command skills', async () => {
      const big = await server.execute('attack/output', { mib: 32 });
      expect(big.body.code).toBe('output_too_large');
      expect(await server.healthy()).toBe(true);
      const flood = await server.execute('attack/flood', {});
      expect(flood.body.code).toBe('output_too_large');
      expect(await server.healthy()).toBe(true);
      const small = await server.execute('attack/output', { mib: 1 });
      expect(small.status).toBe(200);
      expect((small.body.output as string).length).toBe(1024 * 1024);
    });

    it('low: a skill that exhausts its heap fails with resource_exhausted; the server stays up', async () => {
      const r = await server.execute('attack/hog', { mib: 4096 });
      expect(r.body.code).toBe('resource_exhausted');
      expect(await server.healthy()).toBe(true);
      const small = await server.execute('attack/hog', { mib: 1 });
      expect(small.status).toBe(200);
    });
  });
});
