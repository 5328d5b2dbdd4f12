import type { ComponentChildren } from 'preact';
import { errorText, pretty } from '../format.js';

/** A run, step or approval status as a labelled badge (colour plus text, never colour alone). */
export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status.replace('_', ' ')}</span>;
}

/** Risk or other tags. */
export function Tags({ tags, kind = 'tag' }: { tags: string[]; kind?: 'tag' | 'risk' }) {
  if (tags.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="tags" aria-label={kind === 'risk' ? 'risk tags' : 'tags'}>
      {tags.map((t) => (
        <li key={t} class={kind === 'risk' ? 'badge risk' : 'badge'}>
          {t}
        </li>
      ))}
    </ul>
  );
}

/** An error of a request, announced to screen readers. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return (
    <p class="error-note" role="alert">
      {errorText(error)}
    </p>
  );
}

/** A JSON value under a label. */
export function JsonBlock({ label, value }: { label: string; value: unknown }) {
  return (
    <div class="json">
      <div class="json-label">{label}</div>
      <pre tabIndex={0} aria-label={label}>
        {value === undefined || value === null ? 'null' : pretty(value)}
      </pre>
    </div>
  );
}

/** A titled section of a page. */
export function Section({ title, id, children }: { title: string; id: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** A labelled value in a definition list. */
export function Field({ name, children }: { name: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <dt>{name}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** "Loading…" as a polite status. */
export function Loading({ what }: { what: string }) {
  return (
    <p role="status" class="muted">
      Loading {what}…
    </p>
  );
}

/** A column heading of a {@link DataTable}; numeric ones are right-aligned. */
export type Column = string | { label: string; numeric: true };

/**
 * A table with its column headings in a scrollable region that the keyboard can reach (`label`
 * names it for screen readers); the rows are the children.
 */
export function DataTable(props: {
  label: string;
  columns: Column[];
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={props.label}>
      <table class={props.class}>
        <thead>
          <tr>
            {props.columns.map((c) =>
              typeof c === 'string' ? (
                <th scope="col" key={c}>
                  {c}
                </th>
              ) : (
                <th scope="col" class="num" key={c.label}>
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/**
 * A labelled `<select>` of `options` (shown through `show`); `any` adds a first, empty option
 * with that label (a filter's "all").
 */
export function SelectField(props: {
  label: string;
  id: string;
  value: string;
  options: readonly string[];
  onChange: (v: string) => void;
  any?: string;
  show?: (option: string) => string;
}) {
  const show = props.show ?? ((o: string) => o);
  return (
    <div class="control">
      <label for={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.any === undefined ? null : <option value="">{props.any}</option>}
        {props.options.map((o) => (
          <option key={o} value={o}>
            {show(o)}
          </option>
        ))}
      </select>
    </div>
  );
}
