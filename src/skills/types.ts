import type { Logger } from 'pino';
import type { JsonSchema, SkillManifest } from './manifest.js';

/** Where a skill was defined. */
export type SkillSource = 'skill.yaml' | 'SKILL.md' | 'agent-skill';

/** A skill as loaded from disk: its validated manifest plus what the loader resolved. */
export interface Skill {
  /** `namespace/name`. */
  id: string;
  /** Semver version. */
  version: string;
  /** `id@version`. */
  ref: string;
  /** Tool name used for models, MCP and OpenClaw (`acme__search`). */
  toolName: string;
  manifest: SkillManifest;
  /** Absolute folder of the skill. */
  dir: string;
  /** Absolute path of the manifest file. */
  file: string;
  source: SkillSource;
  /** Input JSON Schema with `$ref` files resolved. */
  inputSchema: JsonSchema;
  /** Output JSON Schema with `$ref` files resolved, if declared. */
  outputSchema: JsonSchema | undefined;
  /**
   * The prompt template of a prompt skill. For Agent Skills folders the body is read only when the
   * skill is used (progressive disclosure), so this is a function.
   */
  loadPrompt(): Promise<string>;
  /** Modification time of the manifest, for reload diffs. */
  mtimeMs: number;
}

/** An approval that lets a risk-tagged skill run. */
export interface ApprovalGrant {
  /** The approval record id, when one exists. */
  id?: string;
  /** Who approved. */
  approved_by: string;
  reason?: string;
}

/** Where a skill call came from. */
export type SkillDoor = 'http' | 'openclaw' | 'mcp' | 'run' | 'cli' | 'workflow';

/** Progress of a call running elsewhere (the worker plane), for the run's event stream. */
export interface SkillCallProgress {
  /** `started` (a worker took it), `waiting_for_broker` (the worker plane is down), … */
  stage: string;
  worker?: string;
  attempt?: number;
  code?: string;
  message?: string;
}

/** What an executor gets besides the input. */
export interface SkillCallContext {
  /** Where the call came from (set by the invoker). */
  door?: SkillDoor;
  /** Epoch ms of the call's one deadline (set by the invoker; `signal` aborts then). */
  deadline?: number;
  /** Told of progress when the call runs on the worker plane (a run records `step.progress`). */
  onProgress?: (progress: SkillCallProgress) => void;
  /** Aborts the call: the child process is killed. */
  signal?: AbortSignal;
  /** W3C trace context of the caller, passed to the skill. */
  traceparent?: string;
  tracestate?: string;
  /** The run this call belongs to, if any. */
  runId?: string;
  /**
   * Stable for one step of a run (`<run id>:<step seq>`) across retries, resumes after a crash and
   * workers, so a skill with side effects can make a repeated call harmless (a workflow's steps
   * get `<key>/<step id>`). A direct call (REST, MCP, CLI) gets the caller's `Idempotency-Key`
   * header, else a fresh id. The invoker always sets it.
   */
  idempotencyKey?: string;
  /**
   * 1 for the first attempt of a step; 2, 3, … for each retry of a failed attempt and each re-run
   * after a crash (the journal counts them). Direct calls are attempt 1. The invoker always sets it.
   */
  attempt?: number;
  /** Who asked (principal). */
  principal?: string;
  /** An approval for a risk-tagged skill. */
  approval?: ApprovalGrant;
  logger?: Logger;
  /**
   * Completes a rendered prompt with a model. Injected by the runtime (skills know nothing of
   * models); without it, a prompt skill returns the rendered prompt.
   */
  complete?: (prompt: string, skill: Skill, signal: AbortSignal | undefined) => Promise<string>;
}

/** Runs one kind of skill. Input is already validated; the output is validated by the caller. */
export interface SkillExecutor {
  execute(skill: Skill, input: unknown, ctx: SkillCallContext & { signal: AbortSignal }): Promise<unknown>;
  /** Stops warm processes and timers. */
  close?(): Promise<void>;
}
