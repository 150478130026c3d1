import type { Patient, Resource } from 'fhir/r4.js';
import { forEachReference, keyOf } from './references.js';

/** In-memory FHIR store indexed at load time: by key, by type, by patient compartment, by identifier. */

interface Compartment {
  byType: Map<string, Resource[]>;
  /** Compartment resources plus the non-patient resources (Organization, Practitioner, …) they reference. */
  everything: Resource[];
}

const normalize = (s: string): string => s.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase().trim();
const normalizePostcode = (s: string): string => s.replace(/\s+/g, '').toUpperCase();

/** The patient a resource belongs to (`subject`/`patient`/`beneficiary` → Patient/x), if any. */
export function patientIdOf(r: Resource): string | undefined {
  if (r.resourceType === 'Patient') return r.id;
  const anyR = r as { subject?: { reference?: string }; patient?: { reference?: string }; beneficiary?: { reference?: string } };
  const ref = anyR.subject?.reference ?? anyR.patient?.reference ?? anyR.beneficiary?.reference;
  return ref?.startsWith('Patient/') ? ref.slice('Patient/'.length) : undefined;
}

export interface DemographicQuery {
  family?: string;
  given?: string;
  birthdate?: string;
  postcode?: string;
}

export class FhirStore {
  private readonly byKey = new Map<string, Resource>();
  private readonly byType = new Map<string, Resource[]>();
  private readonly compartments = new Map<string, Compartment>();
  private readonly byIdentifier = new Map<string, Patient[]>();
  private readonly patients: Patient[] = [];

  constructor(resources: Resource[]) {
    for (const r of resources) {
      this.byKey.set(keyOf(r), r);
      const list = this.byType.get(r.resourceType) ?? [];
      list.push(r);
      this.byType.set(r.resourceType, list);
    }
    for (const r of resources) {
      const pid = patientIdOf(r);
      if (!pid) continue;
      let c = this.compartments.get(pid);
      if (!c) this.compartments.set(pid, (c = { byType: new Map(), everything: [] }));
      const list = c.byType.get(r.resourceType) ?? [];
      list.push(r);
      c.byType.set(r.resourceType, list);
      if (r.resourceType === 'Patient') c.everything.unshift(r);
      else c.everything.push(r);
    }
    for (const c of this.compartments.values()) {
      const own = new Set(c.everything.map(keyOf));
      const extra = new Map<string, Resource>();
      forEachReference(c.everything, (ref) => {
        const target = this.byKey.get(ref.reference);
        if (target && !own.has(ref.reference) && !patientIdOf(target)) extra.set(ref.reference, target);
      });
      c.everything.push(...extra.values());
    }
    for (const p of (this.byType.get('Patient') ?? []) as Patient[]) {
      this.patients.push(p);
      for (const id of p.identifier ?? []) {
        const key = `${id.system ?? ''}|${id.value ?? ''}`;
        this.byIdentifier.set(key, [...(this.byIdentifier.get(key) ?? []), p]);
      }
    }
  }

  allPatients(): Patient[] {
    return this.patients;
  }

  read(type: string, id: string): Resource | undefined {
    return this.byKey.get(`${type}/${id}`);
  }

  ofType(type: string): Resource[] {
    return this.byType.get(type) ?? [];
  }

  /** Resources of `type` in the patient's compartment. */
  ofPatient(patientId: string, type: string): Resource[] {
    return this.compartments.get(patientId)?.byType.get(type) ?? [];
  }

  /** The whole compartment (Patient first) plus referenced Organization/Practitioner; undefined if no such Patient. */
  everything(patientId: string): Resource[] | undefined {
    if (!this.byKey.has(`Patient/${patientId}`)) return undefined;
    return this.compartments.get(patientId)?.everything ?? [];
  }

  /** `system|value` token search; a bare value (no `|`) matches any system. */
  byIdentifierToken(token: string): Patient[] {
    if (token.includes('|')) return this.byIdentifier.get(token) ?? [];
    return this.patients.filter((p) => p.identifier?.some((i) => i.value === token));
  }

  /** family exact (case/accent-insensitive), given prefix, birthdate exact, postcode ignoring spaces/case. */
  searchDemographics(q: DemographicQuery, from: Patient[] = this.patients): Patient[] {
    const family = q.family !== undefined ? normalize(q.family) : undefined;
    const given = q.given !== undefined ? normalize(q.given) : undefined;
    const postcode = q.postcode !== undefined ? normalizePostcode(q.postcode) : undefined;
    return from.filter((p) => {
      if (q.birthdate !== undefined && p.birthDate !== q.birthdate) return false;
      if (family !== undefined && !p.name?.some((n) => n.family !== undefined && normalize(n.family) === family)) return false;
      if (given !== undefined && !p.name?.some((n) => n.given?.some((g) => normalize(g).startsWith(given)))) return false;
      if (postcode !== undefined && !p.address?.some((a) => a.postalCode && normalizePostcode(a.postalCode) === postcode)) return false;
      return true;
    });
  }
}
