/**
 * Test doubles shipped with skillplane, for its own tests and for users' tests of their agents.
 */

/** Starts a real OpenAI-compatible HTTP server whose answers come from a script. */
export { startScriptedModelServer, replies, echoScript } from './scripted-model-server.js';
export { demoScript } from './demo-script.js';
/** Builds a whole in-process App for a test (skills from folders, inline agents, any store). */
export { createTestApp, type TestAppOptions } from './test-app.js';
/** Polls a predicate until it holds or a deadline passes (with a message saying what it waited for). */
export { until } from './until.js';
/** A clock that moves only when a test advances it (leases, expiries, retention without sleeps). */
export { FakeClock, FAKE_CLOCK_START } from './fake-clock.js';
/** Shapes of scripts, replies, recorded requests and the running server. */
export type {
  RecordedRequest,
  Script,
  ScriptedModelServer,
  ScriptedModelServerOptions,
  ScriptedReply,
  ScriptedRequest,
  ScriptedRequestBody,
} from './scripted-model-server.js';
