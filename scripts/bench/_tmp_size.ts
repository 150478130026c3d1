import { readdirSync, readFileSync } from 'node:fs';
import type { Bundle } from 'fhir/r4.js';
import { startHarness, SYNTHEA_DIR } from '../../test/helpers/harness.js';
import { get, idForNhs } from '../../test/helpers/fhir-http.js';
const h = await startHarness({ sandbox: { bundleDirs: [SYNTHEA_DIR] } });
const files = readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json'));
const ids = new Set(files.map((f) => (JSON.parse(readFileSync(SYNTHEA_DIR + f, 'utf8')) as Bundle).entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource!.id!));
const search = await h.token({ role: 'clinician', org: 'Z99999', sub: 's' });
const rows: { size: number; by: Record<string, number>; b: Bundle }[] = [];
for (const m of h.sandbox.data.manifest.filter((m) => ids.has(m.syntheaPatientId))) {
  const id = await idForNhs(h.service.app, search, m.nhsNumber);
  const r = await get(h.service.app, `/fhir/Patient/${id}/$summary`, await h.clinicianFor(m.nhsNumber));
  const b = r.body as Bundle;
  const by: Record<string, number> = {};
  for (const e of b.entry!) by[e.resource!.resourceType] = (by[e.resource!.resourceType] ?? 0) + JSON.stringify(e).length;
  rows.push({ size: JSON.stringify(b).length, by, b });
}
rows.sort((a, b) => a.size - b.size);
const med = rows[35]!;
console.log(med.size, med.by);
const types: Record<string, number> = {};
for (const r of rows) for (const [k, v] of Object.entries(r.by)) types[k] = (types[k] ?? 0) + v / rows.length;
console.log('avg by type', Object.fromEntries(Object.entries(types).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v)])));
const e = med.b.entry![0];
(await import("node:fs")).writeFileSync("/tmp/med-comp.json", JSON.stringify(e));
console.log(JSON.stringify(med.b.entry!.filter((x) => ["Procedure","CarePlan"].includes(x.resource!.resourceType)).slice(0,3)));
await h.close();
