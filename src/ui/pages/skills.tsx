import { useState } from 'preact/hooks';
import type { SkillLoadProblem, SkillSource, SkillSummary } from '../../client/index.js';
import { DataTable, ErrorNote, Field, JsonBlock, Loading, Section, Tags } from '../components/common.js';
import { useSession } from '../context.js';
import { useLoad } from '../hooks.js';
import { TrySkill } from './skill-try.js';

/** The catalogue (every version side by side), load errors of bad manifests, and "try it". */
export function SkillsPage() {
  const { client } = useSession();
  const catalogue = useLoad((signal) => client.skillCatalogue({ allVersions: true }, { signal }), [client]);
  const sources = useLoad((signal) => client.skillSources({ signal }), [client]);
  const byId = new Map<string, SkillSummary[]>();
  for (const s of catalogue.value?.skills ?? []) byId.set(s.id, [...(byId.get(s.id) ?? []), s]);
  const where = new Map((sources.value ?? []).map((s: SkillSource) => [s.ref, s]));
  return (
    <>
      <h1>Skills</h1>
      <ErrorNote error={catalogue.error} />
      {catalogue.value === undefined ? null : <LoadErrors errors={catalogue.value.load_errors} />}
      {catalogue.value === undefined ? (
        <Loading what="skills" />
      ) : (
        [...byId].map(([id, versions]) => <SkillGroup key={id} id={id} versions={versions} where={where} />)
      )}
    </>
  );
}

function LoadErrors({ errors }: { errors: SkillLoadProblem[] }) {
  return (
    <Section title={`Load errors (${errors.length})`} id="load-errors-title">
      {errors.length === 0 ? (
        <p class="muted">Every manifest loaded.</p>
      ) : (
        <DataTable label="Load errors table" columns={['File', 'Field', 'Reason']}>
          {errors.map((e, i) => (
            <tr key={`${e.file}:${e.path}:${i}`} class="load-error">
              <td class="mono">
                {e.file}
                {e.line === undefined ? '' : `:${e.line}`}
              </td>
              <td class="mono">{e.path === '' ? '(whole file)' : e.path}</td>
              <td>
                {e.message}
                {e.code === undefined ? null : <span class="muted"> ({e.code})</span>}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </Section>
  );
}

function SkillGroup(props: { id: string; versions: SkillSummary[]; where: Map<string, SkillSource> }) {
  const latest = props.versions[0];
  const headingId = `skill-${props.id.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  return (
    <section class="card skill" aria-labelledby={headingId} data-skill-id={props.id}>
      <h2 id={headingId} class="mono">
        {props.id}
      </h2>
      {latest === undefined ? null : <p>{latest.description}</p>}
      <div class="versions">
        {props.versions.map((v) => (
          <Version key={v.ref} skill={v} source={props.where.get(v.ref)} />
        ))}
      </div>
      {latest === undefined ? null : <TrySkill skill={latest} />}
    </section>
  );
}

function Version({ skill, source }: { skill: SkillSummary; source: SkillSource | undefined }) {
  const { client } = useSession();
  const [open, setOpen] = useState(false);
  const detail = useLoad(
    (signal) => (open ? client.getSkill(skill.ref, { signal }) : Promise.resolve(undefined)),
    [client, skill.ref, open],
  );
  const manifest = detail.value?.manifest;
  return (
    <article class="version" aria-label={`${skill.id} version ${skill.version}`}>
      <h3 class="mono">{skill.version}</h3>
      <dl class="fields">
        <Field name="Kind">{skill.kind}</Field>
        <Field name="Execution">{skill.execution}</Field>
        <Field name="Risk tags">
          <Tags tags={skill.risk_tags} kind="risk" />
        </Field>
        <Field name="Approval">{skill.requires_approval ? 'required' : 'not required'}</Field>
        <Field name="Loaded from">
          <span class="mono">{source?.file ?? '—'}</span>
        </Field>
      </dl>
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'Hide schemas and permissions' : 'Show schemas and permissions'}
      </button>
      {open ? (
        <div>
          <ErrorNote error={detail.error} />
          {detail.value === undefined ? (
            <Loading what="the manifest" />
          ) : (
            <>
              <JsonBlock label="Permissions" value={manifest?.permissions ?? null} />
              <JsonBlock label="Input schema" value={detail.value.input_schema} />
              <JsonBlock label="Output schema" value={detail.value.output_schema} />
            </>
          )}
        </div>
      ) : null}
    </article>
  );
}
