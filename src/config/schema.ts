import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();

/** A worker plane queue name or key prefix: BullMQ names may not hold `:`. */
export const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * What an API key may do; `admin` implies every other scope. The one list of scopes: the API,
 * MCP and OpenClaw doors import it from here.
 */
export const SCOPES = [
  'runs:read',
  'runs:write',
  'approvals:write',
  'skills:read',
  'skills:execute',
  'metrics:read',
  /** Read the audit trail (`GET /v1/audit`, a run's `audit` entries). */
  'audit:read',
  'admin',
] as const;
/** One API scope. */
export type Scope = (typeof SCOPES)[number];

/** One OpenAI-compatible inference backend. */
export const modelBackendSchema = z.strictObject({
  base_url: z.string().url().default('http://127.0.0.1:11434/v1'),
  model: z.string().min(1).default('llama3.2'),
  api_key: z.string().nullable().default(null),
  max_concurrency: positiveInt.default(4),
  price_per_1k_input: z.number().nonnegative().default(0),
  price_per_1k_output: z.number().nonnegative().default(0),
  timeout_sec: z.number().positive().default(120),
  max_retries: z.number().int().min(0).max(10).default(2),
  /**
   * Other names clients may use for this backend in `model` (Opta-LMX sends model ids such as
   * `qwen2.5-coder` or `llama3.1:8b`). `auto` always means the `default` backend.
   */
  aliases: z.array(z.string().min(1)).default([]),
});

/** An agent: a model, its instructions, the skills it may call and whom it may hand off to. */
export const agentDefinitionSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 letters, digits, - or _'),
  description: z.string().max(1024).default(''),
  model: z.string().min(1).default('default'),
  instructions: z.string().default('You are a helpful assistant.'),
  skills: z.array(z.string().min(1)).default([]),
  handoffs: z.array(z.string().min(1)).default([]),
  max_steps: positiveInt.optional(),
  temperature: z.number().min(0).max(2).optional(),
});

const apiKeySchema = z
  .strictObject({
    principal: z.string().min(1),
    key: z.string().min(16).optional(),
    key_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
      .optional(),
    key_env: z.string().min(1).optional(),
    scopes: z.array(z.enum(SCOPES)).default(['admin']),
    rate_limit_per_min: positiveInt.optional(),
  })
  .refine((k) => [k.key, k.key_sha256, k.key_env].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of key, key_sha256, key_env',
  });

/** The whole configuration; every default lives here and nowhere else. */
export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(8787),
      body_limit_bytes: positiveInt.default(2 * 1024 * 1024),
      /** Deepest nesting of arrays and objects accepted in any JSON body. */
      max_json_depth: positiveInt.max(1000).default(64),
      /** Longest string (in characters) accepted anywhere in a JSON body. */
      max_json_string_length: positiveInt.default(1024 * 1024),
      /** Time to receive a whole request (headers and body); slower clients are cut off. */
      request_timeout_sec: z.number().positive().default(30),
      /** Time to receive a request's headers. */
      headers_timeout_sec: z.number().positive().default(10),
      /** An idle keep-alive connection is closed after this long. */
      keep_alive_timeout_sec: z.number().positive().default(5),
      /** Open connections at once; more are refused by the HTTP server. */
      max_connections: positiveInt.default(1024),
      /** Open SSE event streams at once, in total and per principal (429 beyond). */
      max_sse_streams: positiveInt.default(2000),
      max_sse_streams_per_principal: positiveInt.default(200),
      /** Open MCP sessions at once, in total and per principal (429 beyond). */
      max_mcp_sessions: positiveInt.default(1000),
      max_mcp_sessions_per_principal: positiveInt.default(32),
      cors_origins: z.array(z.string()).default([]),
      /** `/readyz` and start-up ask each model backend `GET /models`; a backend silent this long is down. */
      readiness_probe_timeout_sec: z.number().positive().max(60).default(2),
      /** How long `/readyz` reuses the backends' last answers, so polling it never floods them. */
      readiness_cache_sec: z.number().min(0).max(300).default(5),
      /**
       * This node's identity in run leases. `null`: `serve` derives `<hostname>-<port>`, so a server
       * restarted on the same port keeps its id and resumes its own runs at once instead of waiting
       * for their leases to expire (port 0 and other commands use a random id). Give each node of a
       * shared PostgreSQL store its own id.
       */
      node_id: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 letters, digits, . _ : or -')
        .nullable()
        .default(null),
      /**
       * The level of the `serve`, `worker` and `run` commands' logs. The `LOG_LEVEL` environment
       * variable, when set to a level, wins over it.
       */
      log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  store: z
    .strictObject({
      driver: z.enum(['sqlite', 'postgres', 'memory']).default('sqlite'),
      path: z.string().min(1).default('./data/skillplane.db'),
      url: z.string().nullable().default(null),
      retention_days: z.number().positive().default(30),
      /** How long a node's claim on a run lasts without renewal; a dead node's runs move on after it. */
      lease_sec: z.number().min(1).default(30),
      /** PostgreSQL schema holding the tables (created when missing); a plain identifier. */
      schema: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'must be a plain identifier: letters, digits, _ (max 63)')
        .default('public'),
      /** PostgreSQL connection pool size (unset: the driver's default, 10). */
      pool_size: positiveInt.optional(),
    })
    .prefault({}),
  models: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), modelBackendSchema).default({
    default: modelBackendSchema.parse({}),
  }),
  agents: z
    .strictObject({
      enabled: z.boolean().default(true),
      max_parallel_agents: positiveInt.default(8),
      max_queued_runs: positiveInt.default(1000),
      max_steps_per_run: positiveInt.default(32),
      max_handoff_depth: positiveInt.default(5),
      default_timeout_sec: z.number().positive().default(300),
      approval_timeout_sec: z.number().positive().default(86_400),
      max_step_retries: z.number().int().min(0).max(10).default(2),
      /** Share of max_parallel_agents batch runs may hold at once; the rest is kept for the others. */
      batch_share: z.number().gt(0).max(1).default(0.75),
      priority_weights: z
        .strictObject({
          interactive: positiveInt.default(8),
          normal: positiveInt.default(4),
          batch: positiveInt.default(1),
        })
        .prefault({}),
      directories: z.array(z.string().min(1)).default(['./agents']),
      definitions: z.array(agentDefinitionSchema).default([]),
    })
    .prefault({}),
  skills: z
    .strictObject({
      directories: z.array(z.string().min(1)).default(['./examples/skills']),
      strict_validation: z.boolean().default(true),
      allow_shell: z.boolean().default(false),
      allow_network: z.boolean().default(true),
      allowed_roots: z.array(z.string().min(1)).default([]),
      require_approval_tags: z.array(z.string().min(1)).default(['destructive', 'external_side_effect']),
      watch: z.boolean().default(true),
      warm_processes: z.number().int().min(0).default(2),
      max_processes_per_skill: positiveInt.default(4),
      /**
       * OS confinement of tool and command skills. `auto`: Linux namespaces through bubblewrap
       * where the platform has them, else Node's permission model alone with a loud warning;
       * `os`: refuse to start without OS confinement; `node`: Node's permission model only.
       */
      sandbox: z.enum(['auto', 'os', 'node']).default('auto'),
      /** Resource limits of every sandboxed skill process. */
      sandbox_limits: z
        .strictObject({
          /** V8 heap of a tool skill process (`--max-old-space-size`). */
          heap_mb: positiveInt.default(256),
          /** Data segment (RLIMIT_DATA): the process's whole writable memory. */
          memory_mb: positiveInt.default(1024),
          /** CPU seconds a process may use over its life (RLIMIT_CPU); warm processes are reused. */
          cpu_sec: positiveInt.default(600),
          /** Open file descriptors (RLIMIT_NOFILE). */
          open_files: positiveInt.default(256),
          /** Largest file a skill may write (RLIMIT_FSIZE). */
          file_size_mb: positiveInt.default(256),
        })
        .prefault({}),
      /** Input of one skill call: serialised size, nesting depth, longest string. */
      max_input_bytes: positiveInt.default(1024 * 1024),
      max_input_depth: positiveInt.max(1000).default(64),
      max_input_string_length: positiveInt.default(512 * 1024),
      /** Output of one skill call (tool and command skills alike); more fails with output_too_large. */
      max_output_bytes: positiveInt.default(4 * 1024 * 1024),
      /** Largest manifest file read (`skill.yaml`, `SKILL.md` front matter, agent files). */
      max_manifest_bytes: positiveInt.default(1024 * 1024),
    })
    .prefault({}),
  workers: z
    .strictObject({
      /** The BullMQ worker plane: skills routed to it run in `skillplane worker` processes. */
      enabled: z.boolean().default(false),
      /** The Redis that carries the queues (and, when enabled, run notifications between nodes). */
      broker_url: z
        .string()
        .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL')
        .default('redis://127.0.0.1:6379'),
      /**
       * Accepted for Opta-LMX configs (Celery's result backend); BullMQ keeps results in the broker,
       * so only `broker_url` is used (a different value is warned about). Default: unset.
       */
      result_backend: z.string().min(1).nullable().default(null),
      /** Prefix of every Redis key and channel (one per deployment sharing a Redis). */
      prefix: z
        .string()
        .regex(QUEUE_NAME, 'letters, digits, `_`, `.`, `-`; at most 64')
        .default('skillplane'),
      /** The queue skills go to unless a route names another. */
      queue: z.string().regex(QUEUE_NAME, 'letters, digits, `_`, `.`, `-`; at most 64').default('skills'),
      /**
       * Besides `execution: worker` in a manifest, what else runs on workers: each rule matches by
       * skill id pattern (`acme/*`), tag or kind (all given members must match) and may name a queue.
       */
      routes: z
        .array(
          z
            .strictObject({
              skill: z.string().min(1).optional(),
              tag: z.string().min(1).optional(),
              /** Prompt skills run where the model client is (the API node), so they are not routable. */
              kind: z.enum(['tool', 'workflow']).optional(),
              queue: z.string().regex(QUEUE_NAME).optional(),
            })
            .refine((r) => r.skill !== undefined || r.tag !== undefined || r.kind !== undefined, {
              message: 'a route needs at least one of skill, tag, kind',
            }),
        )
        .max(1000)
        .default([]),
      /** Further attempts of a failed job on the worker plane (never for risk-tagged or non-idempotent skills). */
      job_retries: z.number().int().min(0).max(20).default(2),
      /** Base of the exponential backoff between job attempts. */
      retry_base_ms: z.number().int().min(1).max(600_000).default(1000),
      /** Default job slots of one `skillplane worker` (`--concurrency` overrides). */
      concurrency: z.number().int().min(1).max(1000).default(4),
      /** How long a job's lock lasts without renewal: a worker that dies is noticed after this. */
      lock_sec: z.number().positive().max(3600).default(30),
      /** How often workers look for stalled jobs (whose worker died) to deliver again. */
      stalled_interval_sec: z.number().positive().max(3600).default(15),
      /** How often a worker says it is alive; it is listed as gone after three missed beats. */
      heartbeat_sec: z.number().positive().max(600).default(5),
      /** On SIGTERM, how long a worker lets running jobs finish before handing them back. */
      shutdown_grace_sec: z.number().min(0).max(3600).default(30),
      /** Dead letters kept per queue (oldest dropped first). */
      max_dead_letters: z.number().int().min(1).max(1_000_000).default(10_000),
    })
    .prefault({}),
  auth: z
    .strictObject({
      keys: z.array(apiKeySchema).default([]),
      /**
       * Who sees a run, its events and its approvals: `principal` — the key that created it and
       * admins; `all` — every key with `runs:read`. With no keys (open loopback mode) everything
       * is visible.
       */
      visibility: z.enum(['principal', 'all']).default('principal'),
    })
    .prefault({}),
  tracing: z
    .strictObject({
      otlp_endpoint: z.string().nullable().default(null),
      /**
       * Where a trace can be looked at: a URL with `{trace_id}` in it (Jaeger:
       * `http://127.0.0.1:16686/trace/{trace_id}`); the dashboard links each run's trace id there.
       */
      viewer_url: z
        .string()
        .regex(/^https?:\/\//, 'must be an http(s) URL')
        .refine((v) => v.includes('{trace_id}'), 'must contain {trace_id}')
        .nullable()
        .default(null),
    })
    .prefault({}),
  api: z
    .strictObject({
      /**
       * `opta-lmx`: answers carry Opta-LMX's shapes where they differ from ours, for clients that
       * send nothing that marks them (list envelopes `{object, data, total}`, every run's `error`
       * as text, `run.update` / `run.completed` frames on every event stream, `?admin_key=` on
       * event streams for browsers). Without it only what an Opta-LMX body created, or an Opta-only
       * route or parameter asked for, is shaped that way.
       */
      compat: z.enum(['none', 'opta-lmx']).default('none'),
    })
    .prefault({}),
});

/** The parsed configuration, with every default filled in. */
export type Config = z.infer<typeof configSchema>;
/** What a user may write in `skillplane.yaml`: every field optional. */
export type ConfigInput = z.input<typeof configSchema>;
/** An agent definition with defaults filled in. */
export type AgentDefinition = z.infer<typeof agentDefinitionSchema>;
/** One inference backend's settings. */
export type ModelBackendConfig = z.infer<typeof modelBackendSchema>;
