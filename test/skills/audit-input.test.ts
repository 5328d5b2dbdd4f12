import { describe, expect, it } from 'vitest';
import { strictManifestSchema } from '../../src/skills/manifest.js';
import { AUDIT_INPUT_MAX_BYTES, auditedInput, redactInput } from '../../src/skills/audit-input.js';

const manifest = (extra: Record<string, unknown>) =>
  strictManifestSchema.safeParse({
    skill_id: 'acme/login',
    version: '1.0.0',
    kind: 'tool',
    description: 'logs in',
    entry: './index.mjs',
    ...extra,
  });

describe('manifest sensitive fields', () => {
  it('defaults to none and accepts property names and dotted paths', () => {
    expect(manifest({}).data?.sensitive).toEqual([]);
    expect(manifest({ sensitive: ['password', 'auth.token', 'a-b.c_d'] }).data?.sensitive).toEqual([
      'password',
      'auth.token',
      'a-b.c_d',
    ]);
  });

  it('rejects empty segments, spaces and non-strings', () => {
    for (const bad of [[''], ['a..b'], ['.a'], ['a.'], ['a b'], [1], 'password'])
      expect(manifest({ sensitive: bad }).success, JSON.stringify(bad)).toBe(false);
  });
});

describe('redactInput', () => {
  it('replaces top-level and nested fields, through arrays, without touching the input', () => {
    const input = {
      user: 'ann',
      password: 'p',
      auth: { token: 't', scheme: 'basic' },
      items: [{ pin: 1, n: 1 }, { n: 2 }, 'text'],
    };
    const copy = structuredClone(input);
    expect(redactInput(input, ['password', 'auth.token', 'items.pin', 'missing', 'user.deeper'])).toEqual({
      user: 'ann',
      password: '[redacted]',
      auth: { token: '[redacted]', scheme: 'basic' },
      items: [{ pin: '[redacted]', n: 1 }, { n: 2 }, 'text'],
    });
    expect(input).toEqual(copy);
  });

  it('redacts a whole object or array named by its path, and null values too', () => {
    expect(redactInput({ auth: { a: 1 }, list: [1, 2], nil: null }, ['auth', 'list', 'nil'])).toEqual({
      auth: '[redacted]',
      list: '[redacted]',
      nil: '[redacted]',
    });
  });

  it('leaves non-objects alone and returns the same value when nothing matched', () => {
    const input = { a: 1 };
    expect(redactInput(input, ['b'])).toBe(input);
    expect(redactInput('secret', ['password'])).toBe('secret');
    expect(redactInput(null, ['password'])).toBeNull();
  });
});

describe('auditedInput', () => {
  it('keeps a small input, redacted', () => {
    expect(auditedInput({ password: 'p', q: 1 }, ['password'])).toEqual({
      input: { password: '[redacted]', q: 1 },
    });
    expect(auditedInput(undefined, [])).toEqual({ input: null });
  });

  it('keeps only the size of an input larger than the cap (measured after redaction)', () => {
    const big = { text: 'x'.repeat(AUDIT_INPUT_MAX_BYTES) };
    const bytes = Buffer.byteLength(JSON.stringify(big));
    expect(auditedInput(big, [])).toEqual({ input: null, input_truncated: true, input_bytes: bytes });
    // Redacting the large field brings it under the cap.
    expect(auditedInput(big, ['text'])).toEqual({ input: { text: '[redacted]' } });
    expect(auditedInput({ a: 'é'.repeat(10) }, [], 20)).toMatchObject({
      input_truncated: true,
      input_bytes: 28,
    });
  });

  it('notes a hostile input (too deep, or not JSON) without walking it recursively', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(auditedInput({ deep }, ['deep.x'])).toEqual({
      input: null,
      input_truncated: true,
      input_bytes: null,
    });
    expect(auditedInput({ n: 1n }, [])).toEqual({ input: null, input_truncated: true, input_bytes: null });
  });
});
