const OPEN = '<think>';
const CLOSE = '</think>';

/** What one piece of streamed content turned into. */
export interface SplitPiece {
  reasoning: string;
  answer: string;
}

/** Length of the longest suffix of `s` that is a proper prefix of `tag` (a tag split across chunks). */
function partialTagSuffix(s: string, tag: string): number {
  for (let n = Math.min(s.length, tag.length - 1); n > 0; n--) {
    if (tag.startsWith(s.slice(s.length - n))) return n;
  }
  return 0;
}

/**
 * Separates leading `<think>…</think>` blocks (DeepSeek-R1, QwQ, Qwen3) from the answer, fed
 * piece by piece as a stream arrives; tags may be split across pieces. Only blocks at the very
 * start count (whitespace before and between them is dropped); a `<think>` later in the text is
 * part of the answer. A block never closed makes everything after it reasoning.
 *
 * A server that strips the opening tag (the chat template put it in the prompt) sends
 * `reasoning…</think>answer`: that can only be recognised once `</think>` arrives, so
 * {@link ThinkSplitter.result} re-splits the final text while the streamed pieces already went out
 * as answer.
 */
export class ThinkSplitter {
  private state: 'lead' | 'think' | 'answer' = 'lead';
  private pending = '';
  private reasoning = '';
  private answer = '';
  private sawBlock = false;

  /** Feeds the next piece of content; returns what can be told apart so far. */
  push(text: string): SplitPiece {
    this.pending += text;
    const out: SplitPiece = { reasoning: '', answer: '' };
    for (;;) {
      if (this.state === 'lead') {
        const rest = this.pending.trimStart();
        if (rest.startsWith(OPEN)) {
          this.pending = rest.slice(OPEN.length);
          this.state = 'think';
          this.sawBlock = true;
          continue;
        }
        if (rest === '' || OPEN.startsWith(rest)) break; // wait: maybe the start of a tag
        this.state = 'answer';
        // Whitespace after a think block is layout, not answer.
        if (this.sawBlock) this.pending = rest;
        continue;
      }
      if (this.state === 'think') {
        const end = this.pending.indexOf(CLOSE);
        if (end === -1) {
          const keep = partialTagSuffix(this.pending, CLOSE);
          out.reasoning += this.pending.slice(0, this.pending.length - keep);
          this.pending = this.pending.slice(this.pending.length - keep);
          break;
        }
        out.reasoning += this.pending.slice(0, end);
        this.pending = this.pending.slice(end + CLOSE.length);
        this.state = 'lead';
        continue;
      }
      out.answer += this.pending;
      this.pending = '';
      break;
    }
    this.reasoning += out.reasoning;
    this.answer += out.answer;
    return out;
  }

  /** Flushes what was held back at the end: a partial tag is answer text, an open block reasoning. */
  end(): SplitPiece {
    const out: SplitPiece = { reasoning: '', answer: '' };
    if (this.state === 'think') out.reasoning = this.pending;
    else if (this.state === 'answer' || !this.sawBlock) out.answer = this.pending;
    else out.answer = this.pending.trimStart();
    this.pending = '';
    this.reasoning += out.reasoning;
    this.answer += out.answer;
    return out;
  }

  /** The reasoning found in the content (trimmed; '' when none) and the answer without it. */
  result(): { reasoning: string; answer: string } {
    if (!this.sawBlock) {
      // `reasoning…</think>answer`: the opening tag was stripped by the server.
      const close = this.answer.indexOf(CLOSE);
      if (close !== -1 && !this.answer.slice(0, close).includes(OPEN)) {
        return {
          reasoning: this.answer.slice(0, close).trim(),
          answer: this.answer.slice(close + CLOSE.length).trimStart(),
        };
      }
    }
    return { reasoning: this.reasoning.trim(), answer: this.answer };
  }
}
