import type { ChatMessage } from '../models/index.js';
import type { Script, ScriptedReply } from './scripted-model-server.js';

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user' && typeof m.content === 'string') return m.content;
  }
  return '';
}

function toolResults(messages: ChatMessage[]): string[] {
  const out: string[] = [];
  for (const m of messages) {
    // A handoff's "transferred to …" result belongs to the previous agent, not to this one.
    if (m.role === 'tool' && typeof m.content === 'string' && !m.content.startsWith('transferred to '))
      out.push(m.content);
  }
  return out;
}

/**
 * A scripted "model" for `skillplane demo` and the end-to-end tests of the example agents: it
 * behaves like a small tool-using model, deciding from the tools it is offered and the tool
 * results it has seen. Routers route, triage hands off, researchers search then read then
 * answer, writers write (which needs an approval), everyone else answers from the request.
 */
export const demoScript: Script = ({ body }): ScriptedReply => {
  const tools = (body.tools ?? []).map((t) => t.function.name);
  const messages = body.messages;
  const text = lastUserText(messages);
  const results = toolResults(messages);
  const wantsReport = /\breport|write\b/i.test(text);

  const route = tools.filter((t) => t.startsWith('route_to_') || t.startsWith('transfer_to_'));
  if (route.length > 0 && results.length === 0) {
    const pick = route.find((t) => (wantsReport ? /writer/.test(t) : /research/.test(t))) ?? route[0]!;
    return { tool_calls: [{ name: pick, arguments: {} }] };
  }
  if (tools.includes('files__search') && results.length === 0) {
    const words = text.toLowerCase().match(/[a-z]{5,}/g) ?? ['skillplane'];
    const query =
      words.find(
        (w) => !['about', 'notes', 'summarise', 'summarize', 'what', 'which', 'there'].includes(w),
      ) ?? words[0]!;
    return { tool_calls: [{ name: 'files__search', arguments: { query } }] };
  }
  if (tools.includes('files__read') && results.length === 1) {
    const found = /"path":"([^"]+)"/.exec(results[0]!);
    if (found !== null) return { tool_calls: [{ name: 'files__read', arguments: { path: found[1] } }] };
  }
  if (tools.includes('files__write') && results.length === 0) {
    return {
      tool_calls: [
        {
          name: 'files__write',
          arguments: { path: 'report.md', text: `# Report\n\nRequested: ${text.slice(0, 200)}\n` },
        },
      ],
    };
  }
  if (results.length > 0) {
    const last = results[results.length - 1]!;
    const snippet = last.length > 160 ? `${last.slice(0, 160)}…` : last;
    return { content: `Based on ${results.length} tool result(s): ${snippet}` };
  }
  return { content: `Answer: ${text.split('\n')[0]!.slice(0, 160)}` };
};
