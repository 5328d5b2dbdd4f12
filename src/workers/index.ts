export { QueuedDispatcher } from './dispatcher.js';
export type { QueuedDispatcherOptions } from './dispatcher.js';
export { WorkerPlane } from './plane.js';
export {
  deadLetterQueueName,
  jobIdFor,
  type JobProgress,
  type WorkerInfo,
  type WorkersConfig,
} from './broker-protocol.js';
export type { DeadLetter } from './dead-letters.js';
export type { QueueDepth, WorkerPlaneStatus } from './worker-roster.js';
export { SkillWorker } from './worker.js';
export type { SkillWorkerOptions } from './worker.js';
export { workerQueueFor, configuredQueues } from './routing.js';
export { parseJobPayload, jobPayloadSchema, type JobPayload, type JobResult } from './payload.js';
export { redactUrl, type BrokerState } from './redis.js';
