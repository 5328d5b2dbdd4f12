import { createHash } from 'node:crypto';
import semver from 'semver';
import { z } from 'zod';

/** One part of a skill id: lowercase letters and digits, single `-` or `_` between them, 1–64 chars. */
export const ID_PART = /^[a-z0-9]+(?:[-_][a-z0-9]+)*$/;
const SKILL_ID = /^([a-z0-9]+(?:[-_][a-z0-9]+)*)\/([a-z0-9]+(?:[-_][a-z0-9]+)*)$/;

/** Agent Skills `name`: 1–64 of `a-z0-9-`, no leading, trailing or double hyphen. */
export const AGENT_SKILL_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export const SKILL_KINDS = ['tool', 'prompt', 'workflow'] as const;
export type SkillKind = (typeof SKILL_KINDS)[number];

/** A JSON Schema document, or `{$ref: "./file.json"}` naming one beside the manifest. */
export type JsonSchema = Record<string, unknown>;

/**
 * Builds the manifest schema. Strict mode (the default) rejects unknown fields and values of the
 * wrong type; lenient mode drops unknown fields and accepts `"1"` / `"yes"` style scalars.
 */
function buildManifestSchema(strict: boolean) {
  const obj = <T extends z.ZodRawShape>(shape: T) => (strict ? z.strictObject(shape) : z.object(shape));
  const num = strict ? z.number() : z.coerce.number();
  const bool = strict
    ? z.boolean()
    : z.preprocess((v) => {
        if (typeof v !== 'string') return v;
        const s = v.trim().toLowerCase();
        if (['true', 'yes', 'on', '1'].includes(s)) return true;
        if (['false', 'no', 'off', '0'].includes(s)) return false;
        return v;
      }, z.boolean());
  const relPath = z
    .string()
    .min(1)
    .refine((p) => !p.includes('\0'), 'must not contain NUL');
  const jsonSchema = z
    .record(z.string(), z.unknown())
    .refine((s) => typeof s.$ref !== 'string' || Object.keys(s).length === 1, {
      message: 'a $ref schema must hold only $ref',
    });
  const stepSchema = obj({
    id: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must be an identifier'),
    skill: z.string().min(1),
    input: z.record(z.string(), z.unknown()).default({}),
    needs: z.array(z.string()).default([]),
  });
  return obj({
    skill_id: z
      .string()
      .refine(
        isSkillId,
        'must be namespace/name: lowercase letters, digits, single - or _, 1-64 characters each',
      ),
    version: z
      .string()
      .refine((v) => semver.valid(v) !== null && semver.clean(v) === v, 'must be a semver version'),
    kind: z.enum(SKILL_KINDS),
    description: z.string().min(1).max(1024),
    tags: z.array(z.string().min(1)).default([]),
    input_schema: jsonSchema.default({ type: 'object' }),
    output_schema: jsonSchema.optional(),
    entry: relPath.optional(),
    command: z.array(z.string().min(1)).min(1).optional(),
    /**
     * How `{{field}}` values in a command may look. By default a value may not start with `-`
     * where it would be read as an option (no `--` before it), be an absolute path or climb with
     * `..`; NUL is never allowed.
     */
    placeholders: obj({
      allow_leading_dash: bool.default(false),
      allow_paths: bool.default(false),
    }).optional(),
    prompt: z.string().min(1).optional(),
    steps: z.array(stepSchema).min(1).optional(),
    permissions: obj({
      fs: obj({
        read: z.array(relPath).default([]),
        write: z.array(relPath).default([]),
      }).prefault({}),
      network: z.array(z.string().min(1)).default([]),
      shell: bool.default(false),
    }).prefault({}),
    roots: z.array(relPath).default([]),
    risk_tags: z.array(z.string().min(1)).default([]),
    /**
     * Input fields whose values never reach the audit trail: top-level property names (`password`)
     * or dotted paths through nested objects (`auth.token`; arrays on the way apply the rest of the
     * path to each element). The `skill.execute` entry records the call's input with these values
     * replaced by `"[redacted]"`.
     */
    sensitive: z
      .array(
        z
          .string()
          .max(256)
          .regex(/^[^.\s]+(?:\.[^.\s]+)*$/, 'must be a property name or a dotted path (a.b.c)'),
      )
      .max(64)
      .default([]),
    /**
     * Whether running the skill twice with the same input (and `ctx.idempotencyKey`) is harmless.
     * `false`: a call in flight at a crash is settled as `interrupted` instead of being run again,
     * and a failed call is never retried automatically (like a risk-tagged skill).
     */
    idempotent: bool.default(true),
    model_preferences: obj({
      hints: z.array(z.string().min(1)).default([]),
      model: z.string().min(1).optional(),
      cost_priority: num.min(0).max(1).optional(),
      speed_priority: num.min(0).max(1).optional(),
      intelligence_priority: num.min(0).max(1).optional(),
    }).optional(),
    timeouts: obj({
      execute_sec: num.positive().max(86_400).default(30),
    }).prefault({}),
    execution: z.enum(['local', 'worker']).default('local'),
  }).superRefine((m, ctx) => {
    const need = (cond: boolean, path: string, message: string) => {
      if (!cond) ctx.addIssue({ code: 'custom', path: [path], message });
    };
    need(
      m.placeholders === undefined || m.command !== undefined,
      'placeholders',
      'only command skills have placeholders',
    );
    if (m.kind === 'tool') {
      need(
        (m.entry === undefined) !== (m.command === undefined),
        'entry',
        'a tool skill needs exactly one of entry (JS module) or command (argv)',
      );
      need(m.prompt === undefined, 'prompt', 'only prompt skills have a prompt');
      need(m.steps === undefined, 'steps', 'only workflow skills have steps');
      if (m.command !== undefined) {
        need(m.permissions.shell, 'permissions.shell', 'a command skill must ask for shell');
        need(
          m.permissions.network.length === 0,
          'permissions.network',
          'command skills run without network (it cannot be limited to hosts for a command); use an entry skill',
        );
      }
    } else if (m.kind === 'prompt') {
      need(m.prompt !== undefined, 'prompt', 'a prompt skill needs a prompt');
      need(
        m.execution === 'local',
        'execution',
        'prompt skills run where the model client is (the API node); execution: worker is for tool and workflow skills',
      );
      need(
        m.entry === undefined && m.command === undefined,
        'entry',
        'a prompt skill has no entry or command',
      );
      need(m.steps === undefined, 'steps', 'only workflow skills have steps');
    } else {
      need(m.steps !== undefined, 'steps', 'a workflow skill needs steps');
      need(
        m.entry === undefined && m.command === undefined,
        'entry',
        'a workflow skill has no entry or command',
      );
      need(m.prompt === undefined, 'prompt', 'only prompt skills have a prompt');
      if (m.steps !== undefined) {
        const ids = new Set<string>();
        m.steps.forEach((s, i) => {
          if (ids.has(s.id))
            ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `duplicate step id ${s.id}` });
          ids.add(s.id);
        });
        m.steps.forEach((s, i) =>
          s.needs.forEach((n, j) => {
            if (!ids.has(n) || n === s.id)
              ctx.addIssue({ code: 'custom', path: ['steps', i, 'needs', j], message: `unknown step ${n}` });
          }),
        );
      }
    }
  });
}

/** The strict manifest schema (`skills.strict_validation: true`). */
export const strictManifestSchema = buildManifestSchema(true);
/** The lenient manifest schema (`skills.strict_validation: false`). */
export const lenientManifestSchema = buildManifestSchema(false);

/** A validated manifest with every default filled in. */
export type SkillManifest = z.infer<typeof strictManifestSchema>;
/** One step of a workflow skill. */
export type WorkflowStep = NonNullable<SkillManifest['steps']>[number];

/** Fields of an Agent Skills `SKILL.md` front matter (agentskills.io), plus OpenClaw extras ignored. */
export const agentSkillFrontMatterSchema = z
  .object({
    name: z.string().min(1).max(64).regex(AGENT_SKILL_NAME, 'must be 1-64 of a-z, 0-9 and single hyphens'),
    description: z.string().min(1).max(1024),
    license: z.string().optional(),
    compatibility: z.string().max(500).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    'allowed-tools': z.union([z.string(), z.array(z.string())]).optional(),
  })
  .loose();
export type AgentSkillFrontMatter = z.infer<typeof agentSkillFrontMatterSchema>;

/** Splits `acme/search@^1.2` into id and optional version range. */
export function parseSkillRef(ref: string): { id: string; range: string | undefined } {
  const at = ref.indexOf('@');
  if (at === -1) return { id: ref, range: undefined };
  return { id: ref.slice(0, at), range: ref.slice(at + 1) || undefined };
}

/** True when `id` is a well-formed `namespace/name`. */
export function isSkillId(id: string): boolean {
  const m = SKILL_ID.exec(id);
  return m !== null && m[1]!.length <= 64 && m[2]!.length <= 64;
}

/**
 * The one tool name a skill has everywhere (models, MCP, OpenClaw): `acme/web-search` →
 * `acme__web-search`. Parts never hold `__`, so the mapping is reversible.
 */
export function toolNameFor(id: string): string {
  const name = id.replace('/', '__');
  if (name.length <= 64) return name;
  // OpenAI function names stop at 64 characters: keep a readable prefix and a stable hash.
  return `${name.slice(0, 55)}_${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

/** Reverse of {@link toolNameFor} for names of 64 characters or fewer (longer ones: ask the registry). */
export function skillIdFromToolName(name: string): string | undefined {
  const i = name.indexOf('__');
  if (i === -1) return undefined;
  const id = `${name.slice(0, i)}/${name.slice(i + 2)}`;
  return isSkillId(id) ? id : undefined;
}
