import { z } from 'zod';
import { RUN_STATUSES, type RunStatus } from '../vocabulary/index.js';

/**
 * Largest encoded message, in UTF-8 bytes, sent or accepted. Far below PostgreSQL's 8000-byte
 * NOTIFY payload limit; real messages are ~150 bytes.
 */
export const MAX_MESSAGE_BYTES = 2048;

/** Longest principal carried by a cancel message (a longer one is cut: it only labels the cancel). */
const MAX_PRINCIPAL_CHARS = 256;

const nodeId = z.string().min(1).max(128);
const runId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/);

// Plain objects (not strict): a newer node may add fields; an older one ignores them.
const runMessage = z.object({
  type: z.literal('run'),
  node: nodeId,
  runId,
  status: z.enum(RUN_STATUSES).optional(),
});
const cancelMessage = z.object({
  type: z.literal('cancel'),
  node: nodeId,
  runId,
  principal: z.string().max(MAX_PRINCIPAL_CHARS).nullable(),
});
const messageSchema = z.discriminatedUnion('type', [runMessage, cancelMessage]);

/** Run `runId` has new events (read them from the store); `status` when it changed. */
export interface RunEventsMessage {
  type: 'run';
  /** The sender's node id. */
  node: string;
  runId: string;
  status?: RunStatus;
}

/** Please cancel run `runId` if you are executing it (sent by a node that cannot). */
export interface RunCancelMessage {
  type: 'cancel';
  node: string;
  runId: string;
  principal: string | null;
}

/** What nodes tell each other over a {@link RunBus}. */
export type RunBusMessage = RunEventsMessage | RunCancelMessage;

/** A message as published: the bus fills in its own node id. */
export type RunBusOutgoing = Omit<RunEventsMessage, 'node'> | Omit<RunCancelMessage, 'node'>;

/** Encodes a message, or `undefined` when it would exceed {@link MAX_MESSAGE_BYTES}. */
export function encodeMessage(message: RunBusMessage): string | undefined {
  const m =
    message.type === 'cancel' && message.principal !== null && message.principal.length > MAX_PRINCIPAL_CHARS
      ? { ...message, principal: message.principal.slice(0, MAX_PRINCIPAL_CHARS) }
      : message;
  const text = JSON.stringify(m);
  return Buffer.byteLength(text, 'utf8') > MAX_MESSAGE_BYTES ? undefined : text;
}

/**
 * Parses a received payload: another node's (or anyone's who can publish on the channel) text,
 * so untrusted. `undefined` for one that is too large, not JSON or not a message.
 */
export function decodeMessage(text: string): RunBusMessage | undefined {
  if (text.length > MAX_MESSAGE_BYTES || Buffer.byteLength(text, 'utf8') > MAX_MESSAGE_BYTES)
    return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = messageSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const m = parsed.data;
  if (m.type === 'cancel') return { type: 'cancel', node: m.node, runId: m.runId, principal: m.principal };
  return m.status === undefined
    ? { type: 'run', node: m.node, runId: m.runId }
    : { type: 'run', node: m.node, runId: m.runId, status: m.status };
}
