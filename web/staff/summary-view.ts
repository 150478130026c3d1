/**
 * The crew's summary page from the IPS $summary document: the Composition's sections in the crew's
 * order (alerts first), each item as the document's narrative words it (escaped by the builder, with the
 * source of every item), carers' phone numbers as tap-to-call links, and the patient's banner details.
 */
import type { Bundle, Composition, Patient } from 'fhir/r4.js';

export interface SummarySection {
  key: string;
  title: string;
  /** Items as trusted XHTML fragments from the document's narrative. */
  items: string[];
  empty: string;
}

/** The crew's order: what changes what you do in the next minute first. */
const CREW_ORDER = ['104605-1', '42348-3', '48765-2', '10160-0', '11450-4', '85847-2', '18776-5', '30954-2', '11369-6', '47519-4'];
const KEYS: Record<string, string> = {
  '104605-1': 'alerts', '42348-3': 'advance-directives', '48765-2': 'allergies', '10160-0': 'medicines', '11450-4': 'problems',
  '85847-2': 'contacts', '18776-5': 'care-package', '30954-2': 'results', '11369-6': 'immunisations', '47519-4': 'procedures',
};
const TITLES: Record<string, string> = {
  '104605-1': 'Alerts', '42348-3': 'Advance directives (DNACPR, ReSPECT)', '48765-2': 'Allergies', '10160-0': 'Current medicines', '11450-4': 'Active problems',
  '85847-2': 'Carers and key contacts', '18776-5': 'Care package and care plans', '30954-2': 'Recent results', '11369-6': 'Immunisations', '47519-4': 'Procedures',
};
const EMPTY: Record<string, string> = {
  unavailable: 'Not known: a source that may hold this did not answer.',
  withheld: 'Nothing shown: some information is withheld under the patient’s consent.',
  nilknown: 'None recorded.',
};

/** Telephone numbers in the contacts' narrative ("tel 0113 496 0000") become tap-to-call links. */
export function telLinks(xhtml: string): string {
  return xhtml.replace(/tel ([+0-9][0-9 ()-]{5,20}[0-9])/g, (_m, number: string) => `<a class="app-tel" href="tel:${number.replace(/[^+0-9]/g, '')}">Call ${number}</a>`);
}

function itemsOf(div: string | undefined): string[] {
  if (!div) return [];
  return [...div.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]!);
}

export interface SummaryView {
  patient: { name: string; birthDate: string; nhsNumber: string; gender: string; deceased: boolean };
  sections: SummarySection[];
  alerts: SummarySection;
}

/** The page's content from a $summary document. */
export function summaryView(bundle: Bundle): SummaryView {
  const composition = bundle.entry?.[0]?.resource as Composition | undefined;
  const patient = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as Patient | undefined;
  const sections: SummarySection[] = [];
  for (const code of CREW_ORDER) {
    const s = composition?.section?.find((x) => x.code?.coding?.some((c) => c.code === code));
    if (!s && code !== '104605-1') continue;
    const reason = s?.emptyReason?.coding?.[0]?.code ?? 'nilknown';
    const items = itemsOf(s?.text?.div).map((i) => (code === '85847-2' ? telLinks(i) : i));
    sections.push({ key: KEYS[code]!, title: TITLES[code]!, items, empty: EMPTY[reason] ?? EMPTY.nilknown! });
  }
  const n = patient?.name?.[0];
  const deceased = !!(patient?.deceasedBoolean || patient?.deceasedDateTime);
  const alerts = sections.find((s) => s.key === 'alerts')!;
  if (deceased) alerts.items.unshift(`<b>Recorded as deceased</b>${patient?.deceasedDateTime ? ` (${patient.deceasedDateTime.slice(0, 10).replace(/[^0-9-]/g, '')})` : ''}`);
  return {
    patient: {
      name: [n?.family?.toUpperCase(), ...(n?.given ?? [])].filter(Boolean).join(', ') || 'Name not recorded',
      birthDate: patient?.birthDate ?? 'not recorded',
      nhsNumber: patient?.identifier?.find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number')?.value?.replace(/^(\d{3})(\d{3})(\d{4})$/, '$1 $2 $3') ?? 'not recorded',
      gender: patient?.gender ?? '',
      deceased,
    },
    sections: sections.filter((s) => s.key !== 'alerts'),
    alerts,
  };
}
