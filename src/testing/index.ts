/**
 * Test doubles shipped with skillplane, for its own tests and for users' tests of their agents.
 */

/** Starts a real OpenAI-compatible HTTP server whose answers come from a script. */
export { startScriptedModelServer, replies, echoScript } from './scripted-model-server.js';
export { demoScript } from './demo-script.js';
/** Polls a predicate until it holds or a deadline passes (with a message saying what it waited for). */
export { until } from './until.js';
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
