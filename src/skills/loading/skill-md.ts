import { open, readFile, stat } from 'node:fs/promises';
import { SkillplaneError } from '../../errors/index.js';

const MAX_FRONT_MATTER_BYTES = 1024 * 1024;

/** Reads a text file only when it is at most `max` bytes (checked before reading). */
export async function readBounded(file: string, max: number): Promise<string> {
  const { size } = await stat(file);
  if (size > max) {
    throw new SkillplaneError(
      'manifest_too_large',
      `${file} is ${size} bytes, more than the limit of ${max}`,
    );
  }
  return readFile(file, 'utf8');
}
/** The front matter of a `SKILL.md` and where its body starts. */
export interface FrontMatter {
  /** YAML text between the `---` lines. */
  yaml: string;
  /** The markdown after the closing `---`, when it was read. */
  body: string;
  /** False when the whole file was read and it has no body text; undefined when not known. */
  hasBody: boolean | undefined;
}

const OPENING = /^\uFEFF?---[ \t]*\r?\n/;
const CLOSING = /\r?\n---[ \t]*(?:\r?\n|$)/g;

/** Splits `---\nyaml\n---\nbody`; `complete` says whether `text` is the whole file. */
export function splitFrontMatter(text: string, complete = true): FrontMatter | 'none' | 'more' {
  const open = OPENING.exec(text);
  if (open === null) return text.length < 8 && !complete ? 'more' : 'none';
  CLOSING.lastIndex = open[0].length - 1;
  for (let m = CLOSING.exec(text); m !== null; m = CLOSING.exec(text)) {
    const end = m.index + m[0].length;
    // A fence at the end of a partial read may still be followed by more of its line.
    if (!complete && end === text.length && !m[0].endsWith('\n')) break;
    const body = text.slice(end);
    return {
      yaml: text.slice(open[0].length, Math.max(open[0].length, m.index)),
      body,
      hasBody: body.trim() !== '' ? true : complete ? false : undefined,
    };
  }
  return complete ? 'none' : 'more';
}

/** Reads a `SKILL.md` only up to the end of its front matter (progressive disclosure). */
export async function readFrontMatter(file: string): Promise<FrontMatter | 'none'> {
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(total === 0 ? 4096 : Math.min(total, 256 * 1024));
      const { bytesRead } = await handle.read(buf, 0, buf.length, total);
      total += bytesRead;
      chunks.push(buf.subarray(0, bytesRead));
      const eof = bytesRead < buf.length;
      const split = splitFrontMatter(Buffer.concat(chunks).toString('utf8'), eof);
      if (split !== 'more') return split;
      if (eof || total >= MAX_FRONT_MATTER_BYTES) return 'none';
    }
  } finally {
    await handle.close();
  }
}

/** Reads the body of a `SKILL.md` when the skill is used, not at load (at most 4 MiB). */
export function lazyBody(file: string): () => Promise<string> {
  return async () => {
    const split = splitFrontMatter(await readBounded(file, 4 * 1024 * 1024));
    return split === 'none' || split === 'more' ? '' : split.body;
  };
}
