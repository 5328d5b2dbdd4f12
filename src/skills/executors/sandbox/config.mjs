// Child side of the tool sandbox: decodes the sandbox config the parent passes as argv[2].
// Runs before any skill code; plain .mjs so it needs no build step.

/**
 * @typedef {object} SandboxConfig
 * @property {string} entry Absolute path of the skill's entry module.
 * @property {string} dir Realpath of the skill folder.
 * @property {string[]} roots Realpaths of the skill's roots.
 * @property {string[]} fsRead Realpaths the skill may read.
 * @property {string[]} fsWrite Realpaths the skill may write.
 * @property {string[]} network Host patterns the skill may reach.
 * @property {string | null} egress Path of the parent's egress proxy socket (OS confinement), or null.
 * @property {number} maxOutputBytes Largest serialised output (and frame) the child sends.
 */

/** @returns {SandboxConfig} */
function decode() {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('skillplane sandbox: missing config argument');
  return JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
}

/** The sandbox config of this child process. */
export const config = decode();

/**
 * An error shaped like Node's permission-model errors.
 * @param {string} code
 * @param {string} message
 * @param {Record<string, unknown>} extra
 */
export function accessDenied(code, message, extra = {}) {
  const err = new Error(message);
  Object.assign(err, { code }, extra);
  return err;
}
