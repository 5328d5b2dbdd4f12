/**
 * The benchmark suite at its tiny size (`node bench/run-all.mjs --tiny`): every benchmark runs to
 * completion and reports sane numbers. Nothing here is timed: the figures themselves are for
 * `npm run bench` on a quiet machine (docs/BENCHMARKS.md).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SummaryRow } from '../../bench/lib/measure.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'sp-bench-suite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run bench -- --tiny', () => {
  it('runs every benchmark, prints one table and writes the results file', async () => {
    const out = join(dir, 'latest.json');
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['bench/run-all.mjs', '--tiny', '--out', out], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.stderr.resume();
      child.on('close', (c) => resolve({ code: c, stdout: text }));
    });
    expect(code, stdout.slice(-4000)).toBe(0);
    expect(stdout).toContain('=== results (tiny');

    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      mode: string;
      machine: { cpus: number; node: string; node_flags: string[] };
      benchmarks: { name: string; ok: boolean; summary: SummaryRow[] }[];
    };
    expect(report.mode).toBe('tiny');
    expect(report.machine.cpus).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    // Each benchmark ran with the Node flags `npm start` serves with (package.json).
    expect(report.machine.node_flags).toContain('--max-semi-space-size=64');
    const expected = readdirSync(join(root, 'bench'))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => f.slice(0, -3))
      .sort();
    expect(report.benchmarks.map((b) => b.name).sort()).toEqual(expected);
    for (const b of report.benchmarks) {
      expect(b.ok, b.name).toBe(true);
      expect(b.summary.length, `${b.name} has summary rows`).toBeGreaterThan(0);
      for (const row of b.summary) {
        const what = `${b.name}: ${row.scenario}`;
        // A rate is positive; a time, a size or a share may be 0 at this size, never below.
        const sane = row.unit.endsWith('/s') ? row.ours > 0 : row.ours >= 0;
        expect(Number.isFinite(row.ours) && sane, `${what} ours=${row.ours}`).toBe(true);
        if (row.floor !== null) expect(Number.isFinite(row.floor) && row.floor > 0, what).toBe(true);
        if (row.ratio !== null) {
          expect(row.floor, what).not.toBeNull();
          expect(Number.isFinite(row.ratio) && row.ratio > 0, `${what} ratio=${row.ratio}`).toBe(true);
        }
        expect(row.unit, what).toMatch(/^(runs|req|steps|calls|jobs)\/s$|^(ms|KB|%)$/);
        if (row.target !== undefined) expect(typeof row.met, what).toBe('boolean');
        expect(stdout, `${what} is in the table`).toContain(row.scenario);
      }
    }
  }, 180_000);
});
