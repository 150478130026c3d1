import type { CapabilityStatement } from 'fhir/r4.js';
import { searchCapabilityResources } from '../fhir/search-parameters.js';
import { SERVER_CAPABILITIES } from '../identity/scopes.js';

/** The CapabilityStatement: exactly what this server supports, nothing more. */
export function capabilityStatement(baseUrl: string, software: { name: string; version: string }, sourceNames: readonly string[] = []): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-23',
    kind: 'instance',
    software,
    implementation: {
      description: `Integrated patient record: FHIR R4 facade over GP, hospital and social-care systems${sourceNames.length ? ` (federating: ${sourceNames.join('; ')})` : ''}`,
      url: baseUrl,
    },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation: 'Every request except metadata and the public Measure/MeasureReport reads (aggregate, disclosure-controlled transparency indicators) needs a bearer token (OAuth2 JWT, asymmetric signature). Records are federated on request from the source systems; results name their sources and any source that could not be reached.',
        security: {
          // SMART App Launch: discovery at /.well-known/smart-configuration; the capabilities this server enforces.
          extension: SERVER_CAPABILITIES.map((c) => ({ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities', valueCode: c })),
          service: [
            { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }] },
            { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] },
          ],
          description:
            'Bearer JWT signed with ES256/ES384/RS256/RS384/PS256; issuer, audience, expiry and not-before are checked. ' +
            'SMART on FHIR v2 scopes in the scope claim are enforced on top of role and consent (patient/, user/, system/; ' +
            'c r u d s; v1 read/write accepted); see /.well-known/smart-configuration.',
        },
        resource: [
          {
            type: 'Patient',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              { name: 'identifier', type: 'token', documentation: 'NHS number only: https://fhir.nhs.uk/Id/nhs-number|<10 digits>. Cannot be combined with other parameters.' },
              { name: 'family', type: 'string', documentation: 'Family name; needs birthdate.' },
              { name: 'given', type: 'string', documentation: 'Given name (prefix); with family + birthdate.' },
              { name: 'birthdate', type: 'date', documentation: 'Full date YYYY-MM-DD (eq only); needs family.' },
              { name: 'address-postalcode', type: 'string', documentation: 'Postcode; with family + birthdate.' },
            ],
            operation: [
              { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
              { name: 'summary', definition: 'http://hl7.org/fhir/uv/ips/OperationDefinition/summary', documentation: 'International Patient Summary document for ambulance crews (GET, no parameters).' },
            ],
          },
          ...searchCapabilityResources(),
          // Transparency indicators: public (no token), aggregate and disclosure-controlled.
          {
            type: 'Measure',
            documentation: 'One Measure per transparency indicator. Public: no token needed.',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
          },
          {
            type: 'MeasureReport',
            documentation: 'Summary MeasureReports per indicator, organisation (reporter) and period, from the published snapshot of each period. Public: no token needed.',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              { name: 'measure', type: 'reference', documentation: 'Measure id or canonical URL.' },
              { name: 'period', type: 'date', documentation: 'YYYY-MM-DD: reports whose period contains the date.' },
              { name: 'subject', type: 'reference', documentation: 'Organisation code (or system|code), matched against MeasureReport.reporter (R4 allows no Organization subject).' },
            ],
          },
        ],
      },
    ],
  };
}
