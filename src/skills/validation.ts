import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ValidationError, type Issue } from '../errors/index.js';
import type { JsonSchema } from './manifest.js';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

// addUsedSchema: false — two skills may reuse one $id without clashing in this shared instance.
const ajv = new Ajv({ allErrors: true, strict: false, addUsedSchema: false });
addFormats(ajv);
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

/** Compiles (once per schema object) and returns the validator; throws on a broken schema. */
export function compileSchema(schema: JsonSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (fn === undefined) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

function toIssues(errors: ErrorObject[] | null | undefined): Issue[] {
  return (errors ?? []).map((e) => {
    let path = e.instancePath.replace(/^\//, '').replaceAll('/', '.');
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty?: string }).missingProperty;
      if (missing !== undefined) path = path === '' ? missing : `${path}.${missing}`;
    }
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      if (extra !== undefined) path = path === '' ? extra : `${path}.${extra}`;
    }
    return { path, message: e.message ?? e.keyword };
  });
}

/**
 * Validates `value` against `schema`; throws a `ValidationError` (with `code`) listing every
 * problem with its path. `what` names the value in the message (`input of acme/search`).
 */
export function assertMatchesSchema(schema: JsonSchema, value: unknown, what: string, code: string): void {
  const validate = compileSchema(schema);
  if (!validate(value)) {
    const issues = toIssues(validate.errors);
    const first = issues[0];
    const detail =
      first === undefined ? '' : `: ${first.path === '' ? '' : `${first.path} `}${first.message}`;
    throw new ValidationError(`invalid ${what}${detail}`, issues, code);
  }
}
