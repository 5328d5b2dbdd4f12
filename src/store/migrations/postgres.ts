/**
 * PostgreSQL schema migrations. Append-only: never edit or reorder an entry, add a new one with the
 * next version. `sql` receives the quoted schema name every table lives in.
 */

/** One numbered schema change. */
export interface PgMigration {
  version: number;
  name: string;
  sql: (schema: string) => string;
}

/** The migrations of the PostgreSQL driver, in order. */
export const POSTGRES_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'initial',
    sql: (s) => `
CREATE TABLE ${s}.runs (
  id text PRIMARY KEY,
  agent text NOT NULL,
  strategy text NOT NULL,
  input jsonb,
  priority text NOT NULL,
  status text NOT NULL,
  idempotency_key text,
  principal text,
  trace_id text NOT NULL,
  traceparent text NOT NULL,
  tracestate text,
  limits jsonb NOT NULL,
  usage jsonb NOT NULL,
  result jsonb,
  error jsonb,
  checkpoint integer NOT NULL DEFAULT 0,
  metadata jsonb NOT NULL,
  owner text,
  lease_expires_at timestamptz,
  schema_version integer NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  last_event_seq integer NOT NULL DEFAULT 0,
  last_step_seq integer NOT NULL DEFAULT 0
);
CREATE INDEX runs_created ON ${s}.runs (created_at DESC, id DESC);
CREATE INDEX runs_status_created ON ${s}.runs (status, created_at DESC, id DESC);
CREATE INDEX runs_agent_created ON ${s}.runs (agent, created_at DESC, id DESC);
CREATE TABLE ${s}.steps (
  run_id text NOT NULL,
  seq integer NOT NULL,
  key text NOT NULL,
  parent_seq integer,
  branch text NOT NULL,
  kind text NOT NULL,
  name text NOT NULL,
  input jsonb,
  output jsonb,
  status text NOT NULL,
  attempt integer NOT NULL,
  error jsonb,
  span_id text,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  PRIMARY KEY (run_id, seq),
  UNIQUE (run_id, key)
);
CREATE TABLE ${s}.events (
  run_id text NOT NULL,
  seq integer NOT NULL,
  type text NOT NULL,
  data jsonb,
  at timestamptz NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE TABLE ${s}.approvals (
  id text PRIMARY KEY,
  run_id text NOT NULL,
  step_seq integer,
  step_key text NOT NULL,
  skill_id text NOT NULL,
  args jsonb,
  risk_tags jsonb NOT NULL,
  status text NOT NULL,
  decided_by text,
  reason text,
  created_at timestamptz NOT NULL,
  decided_at timestamptz,
  expires_at timestamptz
);
CREATE INDEX approvals_run_step ON ${s}.approvals (run_id, step_key);
CREATE INDEX approvals_status ON ${s}.approvals (status);
CREATE TABLE ${s}.idempotency_keys (
  key text PRIMARY KEY,
  fingerprint text NOT NULL,
  run_id text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX idempotency_run ON ${s}.idempotency_keys (run_id);
CREATE TABLE ${s}.audit (
  id text PRIMARY KEY,
  at timestamptz NOT NULL,
  principal text,
  action text NOT NULL,
  target text,
  trace_id text,
  data jsonb
);
CREATE INDEX audit_target ON ${s}.audit (target);
CREATE INDEX audit_action ON ${s}.audit (action);
`,
  },
  {
    // Run visibility lists a principal's runs newest first.
    version: 2,
    name: 'runs_principal',
    sql: (s) => `CREATE INDEX runs_principal_created ON ${s}.runs (principal, created_at DESC, id DESC);`,
  },
  {
    // Steps name their agent; audit entries name their run and are listed by every filter, newest
    // first; expired idempotency keys are pruned by expiry. Runs and steps are updated in place
    // (counters, usage, a step's result): room on their pages keeps those updates HOT (no index
    // writes).
    version: 3,
    name: 'step_agent_audit_filters',
    sql: (s) => `
ALTER TABLE ${s}.steps ADD COLUMN agent text;
ALTER TABLE ${s}.audit ADD COLUMN run_id text;
DROP INDEX ${s}.audit_target;
DROP INDEX ${s}.audit_action;
CREATE INDEX audit_at ON ${s}.audit (at DESC, id DESC);
CREATE INDEX audit_run_at ON ${s}.audit (run_id, at DESC, id DESC);
CREATE INDEX audit_principal_at ON ${s}.audit (principal, at DESC, id DESC);
CREATE INDEX audit_action_at ON ${s}.audit (action, at DESC, id DESC);
CREATE INDEX audit_target_at ON ${s}.audit (target, at DESC, id DESC);
CREATE INDEX idempotency_expires ON ${s}.idempotency_keys (expires_at);
ALTER TABLE ${s}.runs SET (fillfactor = 50);
ALTER TABLE ${s}.steps SET (fillfactor = 70);
`,
  },
];
