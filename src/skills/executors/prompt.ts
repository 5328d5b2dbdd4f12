import type { Skill, SkillCallContext, SkillExecutor } from '../types.js';
import { renderPromptTemplate } from '../template.js';

/** Output of a prompt skill: the rendered prompt and, when a model is wired in, its completion. */
export interface PromptSkillOutput {
  prompt: string;
  text?: string;
}

/**
 * Renders a prompt skill's template with the validated input. When the caller injects
 * `ctx.complete` (the runtime does), the rendered prompt is sent to a model and `text` holds the
 * answer; without it the rendered prompt is the result.
 */
export class PromptExecutor implements SkillExecutor {
  async execute(
    skill: Skill,
    input: unknown,
    ctx: SkillCallContext & { signal: AbortSignal },
  ): Promise<PromptSkillOutput> {
    const template = await skill.loadPrompt();
    let prompt = renderPromptTemplate(template, skill.inputSchema, input);
    if (skill.source === 'agent-skill') {
      // Agent Skills bodies are instructions, not templates with fields: append the request.
      const request = (input as { input?: unknown } | null)?.input;
      if (typeof request === 'string' && request !== '')
        prompt = `${prompt.trimEnd()}\n\n## Request\n${request}\n`;
    }
    ctx.signal.throwIfAborted();
    if (ctx.complete === undefined) return { prompt };
    const text = await ctx.complete(prompt, skill, ctx.signal);
    return { prompt, text };
  }
}
