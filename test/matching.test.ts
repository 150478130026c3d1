import { expect } from 'chai';
import type { Resource } from 'fhir/r4.js';
import { LINK_THRESHOLD, matchScore, resolveMatch, type Demographics } from '../adapters/matching.js';
import { dedupeKey, mergeRecords } from '../adapters/merge.js';
import { isValidNhsNumber, testNhsNumber } from '../fhir/nhs-number.js';

const ann: Demographics = { family: 'O’Brien', given: 'Ann', birthDate: '1941-02-03', postcode: 'LS1 4AP', gender: 'female' };

describe('NHS number', () => {
  it('accepts valid modulus-11 numbers and rejects the rest', () => {
    expect(isValidNhsNumber('9434765919')).to.equal(true);
    expect(isValidNhsNumber('943 476 5919')).to.equal(true);
    expect(isValidNhsNumber('9434765918')).to.equal(false);
    expect(isValidNhsNumber('94347659')).to.equal(false);
    expect(isValidNhsNumber('abcdefghij')).to.equal(false);
  });
  it('makes valid test numbers in the 999 range', () => {
    const nums = Array.from({ length: 500 }, (_, i) => testNhsNumber(i * 7919));
    for (const n of nums) {
      expect(n.startsWith('999')).to.equal(true);
      expect(isValidNhsNumber(n)).to.equal(true);
    }
  });
});

describe('demographic matching', () => {
  it('scores a full match above the threshold, ignoring case, accents, punctuation and postcode spacing', () => {
    const score = matchScore(ann, { family: "o'brien", given: 'ANN', birthDate: '1941-02-03', postcode: 'ls14ap', gender: 'female' });
    expect(score).to.equal(11);
  });
  it('requires the same birth date and family name', () => {
    expect(matchScore(ann, { ...ann, birthDate: '1941-02-04' })).to.equal(0);
    expect(matchScore(ann, { ...ann, family: 'Brien' })).to.equal(0);
  });
  it('links an initial + postcode + gender match, but not a different given name or another postcode area', () => {
    expect(matchScore(ann, { ...ann, given: 'A' })).to.be.at.least(LINK_THRESHOLD);
    expect(matchScore(ann, { ...ann, given: 'Beatrice' })).to.be.below(LINK_THRESHOLD);
    expect(matchScore(ann, { ...ann, given: 'A', postcode: 'M1 1AA' })).to.be.below(LINK_THRESHOLD);
    expect(matchScore(ann, { ...ann, gender: 'male' })).to.be.below(LINK_THRESHOLD);
  });
  it('links to the one person who matches; refuses when two people match (twins)', () => {
    const john: Demographics = { family: 'Khan', given: 'John', birthDate: '1935-05-05', postcode: 'B1 1AA', gender: 'male' };
    const james: Demographics = { ...john, given: 'James' };
    expect(resolveMatch({ ...john }, [{ key: 'j1', demographics: john }, { key: 'j2', demographics: james }])).to.deep.equal({ kind: 'linked', key: 'j1', score: 11 });
    expect(resolveMatch({ ...john, given: 'J' }, [{ key: 'j1', demographics: john }, { key: 'j2', demographics: james }])).to.deep.equal({ kind: 'ambiguous', keys: ['j1', 'j2'] });
    expect(resolveMatch({ ...john, given: 'Peter' }, [{ key: 'j1', demographics: john }])).to.deep.equal({ kind: 'none' });
  });
});

describe('merge', () => {
  const allergy = (id: string, display: string, patient: string): Resource =>
    ({
      resourceType: 'AllergyIntolerance',
      id,
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '91936005', display }] },
      patient: { reference: `Patient/${patient}` },
      onsetDateTime: '2001-05-06T10:00:00Z',
      recordedDate: display === 'x' ? '2001-05-06' : '2019-01-01',
    }) as Resource;
  const uris = { gp: 'http://gp/fhir', hospital: 'http://hosp/fhir', 'social-care': 'http://sc' };

  it('keys the same fact the same way across sources, whatever the wording', () => {
    expect(dedupeKey(allergy('a', 'Penicillin allergy', 'p'))).to.equal(dedupeKey(allergy('b', 'PENICILLIN', 'q')));
  });
  it('merges a GP and hospital copy into one tagged with both, and keeps two copies within one source apart', () => {
    const out = mergeRecords({
      integratedId: '11111111-1111-4111-8111-111111111111',
      sourceUris: uris,
      records: [
        { source: 'hospital', sourcePatientId: 'H1', resources: [{ resourceType: 'Patient', id: 'H1' }, allergy('h-a', 'PENICILLIN', 'H1')] },
        { source: 'gp', sourcePatientId: 'G1', resources: [{ resourceType: 'Patient', id: 'G1' }, allergy('g-a', 'Penicillin allergy', 'G1'), allergy('g-b', 'Penicillin allergy', 'G1')] },
      ],
    });
    const allergies = out.filter((r) => r.resourceType === 'AllergyIntolerance');
    expect(allergies.map((a) => a.id)).to.deep.equal(['gp-g-a', 'gp-g-b']);
    expect(allergies[0]!.meta?.tag?.map((t) => t.code)).to.deep.equal(['gp', 'hospital']);
    expect(allergies[0]!.meta?.source).to.equal('http://gp/fhir');
    expect((allergies[0] as unknown as { patient: { reference: string } }).patient.reference).to.equal('Patient/11111111-1111-4111-8111-111111111111');
    expect(out[0]!.resourceType).to.equal('Patient');
    expect(out[0]!.meta?.tag?.map((t) => t.code)).to.deep.equal(['gp', 'hospital']);
  });
});
