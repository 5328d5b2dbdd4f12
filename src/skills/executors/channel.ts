import { z } from 'zod';

/**
 * The framed channel between the executor and a sandbox process: newline-delimited JSON. Parent →
 * child frames go to the child's stdin; child → parent frames arrive on its fd 3 and are hostile
 * input (skill code can write there): each is size-limited, parsed in try/catch and checked
 * against {@link childMessageSchema}; the first violation ends the process.
 */

const callId = z.number().int().nonnegative();
/** The child's own timing of a call (epoch ms); the parent clamps it before making a span. */
const reportedSpan = z.strictObject({ start_ms: z.number(), end_ms: z.number() });

const readyMessage = z.strictObject({ type: z.literal('ready') });
const resultOkMessage = z.strictObject({
  type: z.literal('result'),
  id: callId,
  ok: z.literal(true),
  output: z.unknown(),
  span: reportedSpan.optional(),
});
const resultErrorMessage = z.strictObject({
  type: z.literal('result'),
  id: callId,
  ok: z.literal(false),
  error: z.strictObject({
    code: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/),
    message: z.string().max(4096),
    original_code: z.string().max(64).optional(),
  }),
  span: reportedSpan.optional(),
});
const logMessage = z.strictObject({
  type: z.literal('log'),
  id: callId,
  level: z.enum(['debug', 'info', 'warn', 'error']),
  msg: z.string().max(8192),
  data: z.unknown().optional(),
});

/** Every frame a sandbox child may send. */
export const childMessageSchema = z.union([readyMessage, resultOkMessage, resultErrorMessage, logMessage]);

/**
 * The one schema a frame can match, picked by its `type` (and a result's `ok`), so a frame is
 * checked once instead of against each member of {@link childMessageSchema} in turn.
 */
function schemaFor(value: unknown): z.ZodType<ChildMessage> {
  if (typeof value !== 'object' || value === null) return childMessageSchema;
  const { type, ok } = value as { type?: unknown; ok?: unknown };
  if (type === 'result') return ok === false ? resultErrorMessage : resultOkMessage;
  if (type === 'log') return logMessage;
  if (type === 'ready') return readyMessage;
  return childMessageSchema;
}

/** A checked frame from a sandbox child. */
export type ChildMessage = z.infer<typeof childMessageSchema>;

/**
 * Splits a byte stream into frames of at most `maxFrameBytes` and checks each one. Calls `onFrame`
 * for good frames and `onViolation` once, for the first bad one; nothing is read after it.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private violated = false;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (message: ChildMessage) => void,
    private readonly onViolation: (reason: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (!this.violated) {
      const end = chunk.indexOf(10, start);
      if (end === -1) {
        const tail = chunk.subarray(start);
        if (tail.length > 0) {
          this.pendingBytes += tail.length;
          if (this.pendingBytes > this.maxFrameBytes) {
            return this.fail(`a frame is larger than ${this.maxFrameBytes} bytes`);
          }
          this.chunks.push(tail);
        }
        return;
      }
      const part = chunk.subarray(start, end);
      const size = this.pendingBytes + part.length;
      if (size > this.maxFrameBytes) return this.fail(`a frame is larger than ${this.maxFrameBytes} bytes`);
      const line = this.chunks.length === 0 ? part : Buffer.concat([...this.chunks, part], size);
      this.chunks = [];
      this.pendingBytes = 0;
      start = end + 1;
      this.frame(line);
    }
  }

  private frame(line: Buffer): void {
    if (line.length === 0) return this.fail('an empty frame');
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch {
      return this.fail('a frame that is not JSON');
    }
    const parsed = schemaFor(value).safeParse(value);
    if (!parsed.success) return this.fail('a frame that is not a known message');
    try {
      this.onFrame(parsed.data);
    } catch (err) {
      this.fail(`a frame that could not be handled: ${(err as Error).message}`);
    }
  }

  private fail(reason: string): void {
    if (this.violated) return;
    this.violated = true;
    this.chunks = [];
    this.onViolation(reason);
  }
}
