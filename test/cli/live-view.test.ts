import { describe, expect, it } from 'vitest';
import { createEventPrinter, shortMessage } from '../../src/cli/live-view.js';
import type { RunEvent } from '../../src/store/index.js';

const page = `<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>${'x'.repeat(5000)}</body></html>`;

function event(seq: number, type: string, data: Record<string, unknown>): RunEvent {
  return { run_id: 'run_1', seq, type, data, at: '2026-12-02T00:00:00.000Z' } as RunEvent;
}

describe('the live view', () => {
  it('replaces an HTML page in an error message by its size', () => {
    const message = `model backend default answered HTTP 502: ${page}`;
    expect(shortMessage(message)).toBe(
      `model backend default answered HTTP 502: (HTML page, ${Buffer.byteLength(page)} bytes, not shown)`,
    );
  });

  it('cuts a long message and keeps a short one whole', () => {
    expect(shortMessage('disk  full\n')).toBe('disk full');
    const long = shortMessage('y'.repeat(1000));
    expect(long).toHaveLength(300 + ' (1000 chars)'.length);
    expect(long.endsWith('… (1000 chars)')).toBe(true);
  });

  it('prints a repeated error once, then by its code only', () => {
    const lines: string[] = [];
    const print = createEventPrinter((l) => lines.push(l), '  ');
    const error = { code: 'model_unavailable', message: `answered HTTP 502: ${page}` };
    const step = { kind: 'model', name: 'm', branch: 'main', error };
    print(event(1, 'step.failed', step));
    print(event(2, 'step.failed', step));
    print(event(3, 'run.failed', { error }));
    expect(lines).toEqual([
      `  ✗ model m: model_unavailable answered HTTP 502: (HTML page, ${Buffer.byteLength(page)} bytes, not shown)`,
      '  ✗ model m: model_unavailable (same error as above)',
      '  ✗ failed: model_unavailable (same error as above)',
    ]);
  });
});
