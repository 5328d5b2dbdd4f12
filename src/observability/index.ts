/**
 * Observability: the structured logger of the commands ({@link createLogger}, `server.log_level`,
 * pretty on a terminal) and the observation fan-out metrics subscribe to ({@link Observations}).
 */
export { createLogger, resolveLogLevel, isLogLevel, LOG_LEVELS } from './logger.js';
export type { CreateLoggerOptions, LogLevel } from './logger.js';
export { Observations } from './observations.js';
export type { Observation, ObservationListener, SkillCallObservation } from './observations.js';
