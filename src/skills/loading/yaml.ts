import { isNode, LineCounter, parseDocument, YAMLError } from 'yaml';
import type { Document } from 'yaml';
import type { ZodError } from 'zod';
import { lenientManifestSchema, strictManifestSchema, type SkillManifest } from '../manifest.js';
import type { FieldPath, Problems, SkillLoadError } from './types.js';

/** Turns zod issues into load errors: one per problem, with the dotted path and line when known. */
export function zodIssuesToLoadErrors(
  error: ZodError,
  file: string,
  locate: (path: FieldPath) => number | undefined = () => undefined,
): SkillLoadError[] {
  const out: SkillLoadError[] = [];
  for (const issue of error.issues) {
    const base = issue.path.flatMap((p): (string | number)[] =>
      typeof p === 'number'
        ? [p]
        : String(p)
            .split('.')
            .filter((s) => s !== ''),
    );
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : undefined;
    if (keys !== undefined) {
      for (const key of keys) {
        const at = [...base, key];
        out.push(
          withLine(
            { file, path: at.join('.'), code: 'manifest_unknown_field', message: `unknown field "${key}"` },
            locate(at),
          ),
        );
      }
    } else {
      out.push(
        withLine(
          { file, path: base.join('.'), code: 'manifest_invalid', message: issue.message },
          locate(base),
        ),
      );
    }
  }
  return out;
}

export function withLine(e: SkillLoadError, line: number | undefined): SkillLoadError {
  return line === undefined ? e : { ...e, line };
}

/**
 * Validates a parsed manifest with the strict or lenient schema. Pure: no file access, so it is
 * also what `skills validate` style tools and tests call.
 */
export function validateManifest(
  raw: unknown,
  opts: { strict: boolean; file: string; locate?: (path: FieldPath) => number | undefined },
): { manifest: SkillManifest; errors: [] } | { manifest: undefined; errors: SkillLoadError[] } {
  const schema = opts.strict ? strictManifestSchema : lenientManifestSchema;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { manifest: parsed.data, errors: [] };
  return { manifest: undefined, errors: zodIssuesToLoadErrors(parsed.error, opts.file, opts.locate) };
}

export interface ParsedYaml {
  value: unknown;
  locate: (path: FieldPath) => number | undefined;
}

/** Parses YAML, reporting syntax errors with their line (`lineOffset` shifts front matter lines). */
export function parseYaml(
  text: string,
  file: string,
  lineOffset: number,
  problems: Problems,
): ParsedYaml | undefined {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const pos = lineCounter.linePos(err.pos[0]);
      const line = pos.line + lineOffset;
      const message = `YAML syntax error at line ${line}, column ${pos.col}: ${err.message}`;
      problems.push({ file, path: '', line, code: 'yaml_syntax', message });
    }
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = err instanceof YAMLError || err instanceof Error ? err.message : String(err);
    problems.push({ file, path: '', code: 'yaml_syntax', message: `YAML error: ${reason}` });
    return undefined;
  }
  const locate = (p: FieldPath): number | undefined => {
    for (let n = p.length; n > 0; n--) {
      const node = doc.getIn(p.slice(0, n), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line + lineOffset;
    }
    return undefined;
  };
  return { value, locate };
}
