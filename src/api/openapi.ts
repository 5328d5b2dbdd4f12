import { createRequire } from 'node:module';
import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { Config } from '../config/index.js';

/*
 * The options of @fastify/swagger for the document at `/openapi.json`, generated from the routes'
 * zod schemas. Two passes over what fastify-type-provider-zod makes of them:
 *  - per operation: the security requirement follows the same `config.public` flag the auth hook
 *    checks, and response headers (Retry-After, Location, …) are kept;
 *  - the whole document: only the schemas the operations use are kept, and a request-only schema
 *    is named without its `Input` suffix. Request schemas are the input side of zod's types, so a
 *    field with a default is optional in them; the default is said in its description.
 */

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string; license: string };

/** Name of the API-key security scheme. */
export const SECURITY_SCHEME = 'bearer';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];
type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The local server URL for the configured bind address (a wildcard host is reached on loopback). */
function localServerUrl(config: Config): string | undefined {
  const { host, port } = config.server;
  if (port === 0) return undefined;
  const reachable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  const shown = reachable.includes(':') && !reachable.startsWith('[') ? `[${reachable}]` : reachable;
  return `http://${shown}:${port}`;
}

/**
 * The security requirement of a protected operation. With no keys configured (open loopback
 * mode) the key is optional, which the empty alternative says.
 */
function protectedSecurity(open: boolean): Json[] {
  return open ? [{ [SECURITY_SCHEME]: [] }, {}] : [{ [SECURITY_SCHEME]: [] }];
}

/** `last-event-id` → `Last-Event-ID`, `idempotency-key` → `Idempotency-Key`. */
function canonicalHeader(name: string): string {
  return name
    .split('-')
    .map((part) => (part === 'id' ? 'ID' : part.charAt(0).toUpperCase() + part.slice(1)))
    .join('-');
}

/** Keywords whose values are maps of subschemas by name (a key there is a name, not a keyword). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'dependentSchemas']);
/** Keywords whose values are data, not subschemas. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'examples', 'example']);

/**
 * A request schema with each `default` moved into its description. The server applies defaults to
 * absent fields, so they are optional; generators such as openapi-typescript make any field with a
 * `default` required in the type, since a component may also be read from a response.
 */
export function describeDefaults(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(describeDefaults);
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'default') continue;
    if (SCHEMA_MAPS.has(key) && isObject(value))
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, describeDefaults(sub)]),
      );
    else out[key] = DATA_KEYWORDS.has(key) ? value : describeDefaults(value);
  }
  if ('default' in schema) {
    const said = typeof schema.description === 'string' ? `${schema.description.replace(/\.?$/, '.')} ` : '';
    const shown = typeof schema.default === 'string' ? schema.default : JSON.stringify(schema.default);
    out.description = `${said}Default: \`${shown}\`.`;
  }
  return out;
}

/** Per operation: zod → JSON Schema, then security, request defaults and response headers. */
function transformOperation(open: boolean) {
  return (input: TransformInput) => {
    const out = jsonSchemaTransform(input);
    const schema = out.schema as Json | undefined;
    if (schema === undefined || schema.hide === true) return out;
    const isPublic = (input.route as { config?: { public?: boolean } }).config?.public === true;
    schema.security = isPublic ? [] : protectedSecurity(open);
    for (const part of ['body', 'querystring', 'params', 'headers'])
      if (schema[part] !== undefined) schema[part] = describeDefaults(schema[part]);
    // Request headers are validated lowercase (as Node reads them) and documented as spelled.
    const headers = schema.headers;
    if (isObject(headers) && isObject(headers.properties))
      headers.properties = Object.fromEntries(
        Object.entries(headers.properties).map(([name, value]) => [canonicalHeader(name), value]),
      );
    if (isObject(headers) && Array.isArray(headers.required))
      headers.required = headers.required.map((name) => canonicalHeader(String(name)));
    // The zod transform keeps only `description` and `content` of a response object.
    const original = (input.schema as Json | undefined)?.response;
    const responses = schema.response;
    if (isObject(original) && isObject(responses))
      for (const [status, response] of Object.entries(original))
        if (isObject(response) && isObject(response.headers) && isObject(responses[status]))
          (responses[status] as Json).headers = response.headers;
    return out;
  };
}

/** Every `#/components/schemas/…` name referenced inside `node`. */
function collectRefs(node: unknown, into: Set<string>): void {
  if (Array.isArray(node)) for (const item of node) collectRefs(item, into);
  else if (isObject(node))
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/'))
        into.add(value.slice('#/components/schemas/'.length));
      else collectRefs(value, into);
    }
}

/** A copy of `node` with every schema reference renamed by `names`. */
function renameRefs(node: unknown, names: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((item) => renameRefs(item, names));
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')) {
      const name = value.slice('#/components/schemas/'.length);
      out[key] = `#/components/schemas/${names.get(name) ?? name}`;
    } else out[key] = renameRefs(value, names);
  }
  return out;
}

/**
 * Keeps the component schemas reachable from the operations, and names each request-only schema
 * (`CreateRunBodyInput`) as its id (`CreateRunBody`); a schema used both ways keeps both names.
 */
export function pruneSchemas(document: Json): Json {
  const components = isObject(document.components) ? document.components : {};
  const schemas = isObject(components.schemas) ? components.schemas : {};
  const used = new Set<string>();
  collectRefs(document.paths, used);
  for (let queue = [...used]; queue.length > 0;) {
    const found = new Set<string>();
    collectRefs(schemas[queue.pop()!], found);
    for (const name of found)
      if (!used.has(name)) {
        used.add(name);
        queue.push(name);
      }
  }
  const names = new Map<string, string>();
  for (const name of used) {
    const base = name.endsWith('Input') ? name.slice(0, -'Input'.length) : undefined;
    if (base !== undefined && base !== '' && !used.has(base)) names.set(name, base);
  }
  const kept: Json = {};
  for (const name of [...used].sort((a, b) => (names.get(a) ?? a).localeCompare(names.get(b) ?? b))) {
    if (schemas[name] === undefined) continue;
    // The input side (`…Input`) is what requests are validated against.
    const schema = name.endsWith('Input') ? describeDefaults(schemas[name]) : schemas[name];
    kept[names.get(name) ?? name] = renameRefs(schema, names);
  }
  return {
    ...document,
    paths: renameRefs(document.paths, names),
    components: { ...components, schemas: kept },
  };
}

/** The @fastify/swagger options of the API for a config and its auth mode. */
export function openApiOptions(config: Config, opts: { open: boolean }): SwaggerOptions {
  const local = localServerUrl(config);
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'skillplane',
        version: pkg.version,
        description:
          'Multi-agent runtime with native skills. Every error is `application/problem+json` (RFC 9457) with ' +
          'a stable `code`; every answer carries `X-Request-Id` (send one to choose it). Besides the ' +
          'operations here the server has doors with protocols of their own: ' +
          'MCP (Streamable HTTP) at `/mcp` and the OpenClaw tools-invoke shim at `/tools/invoke`.',
        license: { name: pkg.license, identifier: pkg.license },
      },
      servers: [
        { url: '/', description: 'The server that serves this document' },
        ...(local === undefined
          ? []
          : [{ url: local, description: 'The configured address (server.host, server.port)' }]),
      ],
      tags: [
        { name: 'runs', description: 'Agent runs and their event streams' },
        { name: 'approvals', description: 'Human decisions on risk-tagged skill calls and runs' },
        { name: 'skills', description: 'The skill catalogue and direct execution' },
        { name: 'agents', description: 'Agent definitions' },
        { name: 'system', description: 'Health, readiness, metrics and the worker plane' },
        { name: 'audit', description: 'The audit trail: who did what, through which door' },
      ],
      components: {
        securitySchemes: {
          [SECURITY_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API key from `auth.keys`: `Authorization: Bearer <key>`. Each operation names the scope it ' +
              'needs. ' +
              (opts.open
                ? 'This server has no keys configured (loopback only), so the key is optional.'
                : 'Operations marked public need none.'),
          },
        },
      },
    },
    transform: transformOperation(opts.open),
    transformObject: (input) => pruneSchemas(jsonSchemaTransformObject(input) as Json),
  };
}
