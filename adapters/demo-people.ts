import type { Patient } from 'fhir/r4.js';
import { isValidNhsNumber, NHS_NUMBER_SYSTEM } from '../fhir/nhs-number.js';
import type { SourceAdapter } from './types.js';

/** A person a source holds, as the demo sign-in offers them: a display name and the NHS number. */
export interface DemoPerson {
  name: string;
  nhsNumber: string;
}

const nameOf = (p: Patient): string => {
  const n = p.name?.find((x) => x.use === 'official') ?? p.name?.[0];
  return (n?.text ?? [...(n?.given ?? []), n?.family ?? ''].join(' ')).trim();
};

/**
 * A few people from the GP systems of the configured sources (one page each, asked in parallel), each
 * with a valid NHS number and a name, for the demo identity provider's sign-in page: so a demo user can
 * sign in as someone whose record exists. A source that does not answer offers nobody.
 */
export async function demoPeople(adapters: readonly SourceAdapter[], count: number, signal?: AbortSignal): Promise<DemoPerson[]> {
  const asked = adapters.filter((a) => a.kind === 'gp' && a.listPatients);
  const answers = await Promise.allSettled(asked.map((a) => a.listPatients!(count, signal)));
  const people = new Map<string, DemoPerson>();
  for (const answer of answers) {
    if (answer.status !== 'fulfilled') continue;
    for (const { patient } of answer.value.patients) {
      const nhsNumber = patient.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM && i.value)?.value;
      const name = nameOf(patient);
      if (nhsNumber && isValidNhsNumber(nhsNumber) && name && !people.has(nhsNumber)) people.set(nhsNumber, { name, nhsNumber });
    }
  }
  return [...people.values()].slice(0, count);
}
