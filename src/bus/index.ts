/**
 * The run bus: run notifications and cancel requests between the nodes (`skillplane serve`
 * processes) sharing one store — PostgreSQL LISTEN/NOTIFY, or Redis pub/sub when the worker plane
 * is enabled. Below the runtime: it knows messages, not runs.
 */
export { BaseRunBus, type RunBus, type RunBusDelivery, type RunBusHealth } from './base.js';
export {
  MAX_MESSAGE_BYTES,
  decodeMessage,
  encodeMessage,
  type RunBusMessage,
  type RunBusOutgoing,
  type RunCancelMessage,
  type RunEventsMessage,
} from './messages.js';
export { openRunBus, type OpenRunBusOptions } from './open.js';
export { PgRunBus, pgChannelFor, type PgRunBusOptions } from './pg-run-bus.js';
export { RedisRunBus, type RedisRunBusOptions } from './redis-run-bus.js';
