export { QueuedDispatcher } from './dispatcher.js';
export type { QueuedDispatcherOptions } from './dispatcher.js';
export {
  WorkerPlane,
  deadLetterQueueName,
  jobIdFor,
  type DeadLetter,
  type JobProgress,
  type QueueDepth,
  type WorkerInfo,
  type WorkerPlaneStatus,
  type WorkersConfig,
} from './plane.js';
export { SkillWorker } from './worker.js';
export type { SkillWorkerOptions } from './worker.js';
export { workerQueueFor, configuredQueues } from './routing.js';
export { parseJobPayload, jobPayloadSchema, type JobPayload, type JobResult } from './payload.js';
export { redactUrl, type BrokerState } from './redis.js';
