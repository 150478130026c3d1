import type { Patient } from 'fhir/r4.js';
import type { Sandbox } from '../../scripts/sandbox/start.js';

/** The ODS code of the GP practice a sandbox patient is registered with (throws when there is none). */
export function registeredPracticeOf(sandbox: Sandbox, nhsNumber: string): string {
  const gp = sandbox.data.gp.find((r): r is Patient => r.resourceType === 'Patient' && !!(r as Patient).identifier?.some((i) => i.value === nhsNumber));
  const ods = gp?.generalPractitioner?.find((g) => g.identifier?.system === 'https://fhir.nhs.uk/Id/ods-organization-code')?.identifier?.value;
  if (!ods) throw new Error('sandbox patient has no registered practice');
  return ods;
}
