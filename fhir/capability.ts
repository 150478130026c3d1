import type { CapabilityStatement } from 'fhir/r4.js';

/** The CapabilityStatement: exactly what this server supports, nothing more. */
export function capabilityStatement(baseUrl: string, software: { name: string; version: string }): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-23',
    kind: 'instance',
    software,
    implementation: { description: 'Integrated patient record: FHIR R4 facade over GP, hospital and social-care systems', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation: 'Every request except metadata needs a bearer token (OAuth2 JWT, asymmetric signature). Records are federated on request from the source systems; results name their sources and any source that could not be reached.',
        security: {
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }] }],
          description: 'Bearer JWT signed with ES256/ES384/RS256/RS384/PS256; issuer, audience, expiry and not-before are checked.',
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
            operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }],
          },
        ],
      },
    ],
  };
}
