/**
 * SQLite schema migrations. Append-only: never edit or reorder an entry, add a new one with the
 * next version. Applied in order at open, each recorded in `skillplane_migrations`.
 */

/** One numbered schema change. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations of the SQLite driver, in order. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  strategy TEXT NOT NULL,
  input TEXT,
  priority TEXT NOT NULL,
  status TEXT NOT NULL,
  idempotency_key TEXT,
  principal TEXT,
  trace_id TEXT NOT NULL,
  traceparent TEXT NOT NULL,
  tracestate TEXT,
  limits TEXT NOT NULL,
  usage TEXT NOT NULL,
  result TEXT,
  error TEXT,
  checkpoint INTEGER NOT NULL DEFAULT 0,
  metadata TEXT NOT NULL,
  owner TEXT,
  lease_expires_at TEXT,
  schema_version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  last_event_seq INTEGER NOT NULL DEFAULT 0,
  last_step_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_status_created ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_agent_created ON runs (agent, created_at DESC, id DESC);
CREATE TABLE steps (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  key TEXT NOT NULL,
  parent_seq INTEGER,
  branch TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  input TEXT,
  output TEXT,
  status TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  error TEXT,
  span_id TEXT,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  PRIMARY KEY (run_id, seq),
  UNIQUE (run_id, key)
);
CREATE TABLE events (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT,
  at TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  step_seq INTEGER,
  step_key TEXT NOT NULL,
  skill_id TEXT NOT NULL,
  args TEXT,
  risk_tags TEXT NOT NULL,
  status TEXT NOT NULL,
  decided_by TEXT,
  reason TEXT,
  created_at TEXT NOT NULL,
  decided_at TEXT,
  expires_at TEXT
);
CREATE INDEX approvals_run_step ON approvals (run_id, step_key);
CREATE INDEX approvals_status ON approvals (status);
CREATE TABLE idempotency_keys (
  key TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  run_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX idempotency_run ON idempotency_keys (run_id);
CREATE TABLE audit (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  principal TEXT,
  action TEXT NOT NULL,
  target TEXT,
  trace_id TEXT,
  data TEXT
);
CREATE INDEX audit_target ON audit (target);
CREATE INDEX audit_action ON audit (action);
`,
  },
  {
    // Run visibility lists a principal's runs newest first.
    version: 2,
    name: 'runs_principal',
    sql: `CREATE INDEX runs_principal_created ON runs (principal, created_at DESC, id DESC);`,
  },
  {
    // Steps name their agent; audit entries name their run and are listed by every filter, newest
    // first; expired idempotency keys are pruned by expiry.
    version: 3,
    name: 'step_agent_audit_filters',
    sql: `
ALTER TABLE steps ADD COLUMN agent TEXT;
ALTER TABLE audit ADD COLUMN run_id TEXT;
DROP INDEX audit_target;
DROP INDEX audit_action;
CREATE INDEX audit_at ON audit (at DESC, id DESC);
CREATE INDEX audit_run_at ON audit (run_id, at DESC, id DESC);
CREATE INDEX audit_principal_at ON audit (principal, at DESC, id DESC);
CREATE INDEX audit_action_at ON audit (action, at DESC, id DESC);
CREATE INDEX audit_target_at ON audit (target, at DESC, id DESC);
CREATE INDEX idempotency_expires ON idempotency_keys (expires_at);
`,
  },
];
