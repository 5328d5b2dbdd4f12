// Fetches a page and strips it to text. Hosts outside permissions.network are refused by the sandbox.
function htmlToText(html) {
  return html
    .replace(/<(script|style|noscript)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<br\s*\/?>|<\/(p|div|li|h[1-6]|tr)>/gi, '\n')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/[ \t]+/g, ' ')
    .replace(/\n\s*\n+/g, '\n\n')
    .trim();
}

export default async function fetchText(input, ctx) {
  const res = await fetch(input.url, {
    signal: ctx.signal,
    headers: ctx.traceparent ? { traceparent: ctx.traceparent } : {},
  });
  const body = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(body)?.[1]?.trim();
  const text = type.includes('html') ? htmlToText(body) : body;
  const max = input.max_chars ?? 20000;
  return { url: input.url, status: res.status, ...(title ? { title } : {}), text: text.slice(0, max) };
}
