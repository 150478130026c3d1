/** Small UK reference lists used to flavour synthetic and Synthea patients (fictional people, real formats). */

export { ODS_SYSTEM } from '../../fhir/nhs-number.js';

export interface UkPlace {
  postcode: string;
  town: string;
  localAuthority: { code: string; name: string };
}

const LEEDS = { code: 'E08000035', name: 'Leeds' };
const BRADFORD = { code: 'E08000032', name: 'Bradford' };
const WAKEFIELD = { code: 'E08000036', name: 'Wakefield' };
const KIRKLEES = { code: 'E08000034', name: 'Kirklees' };
const YORK = { code: 'E06000014', name: 'York' };
const SHEFFIELD = { code: 'E08000019', name: 'Sheffield' };
const MANCHESTER = { code: 'E08000003', name: 'Manchester' };

export const UK_PLACES: readonly UkPlace[] = [
  { postcode: 'LS1 4AP', town: 'Leeds', localAuthority: LEEDS },
  { postcode: 'LS6 2QD', town: 'Leeds', localAuthority: LEEDS },
  { postcode: 'LS8 1NT', town: 'Leeds', localAuthority: LEEDS },
  { postcode: 'LS12 3HE', town: 'Leeds', localAuthority: LEEDS },
  { postcode: 'LS17 6PZ', town: 'Leeds', localAuthority: LEEDS },
  { postcode: 'LS29 8AQ', town: 'Ilkley', localAuthority: BRADFORD },
  { postcode: 'BD1 1HY', town: 'Bradford', localAuthority: BRADFORD },
  { postcode: 'BD9 6RJ', town: 'Bradford', localAuthority: BRADFORD },
  { postcode: 'WF1 2HQ', town: 'Wakefield', localAuthority: WAKEFIELD },
  { postcode: 'WF10 4LR', town: 'Castleford', localAuthority: WAKEFIELD },
  { postcode: 'HD1 2TA', town: 'Huddersfield', localAuthority: KIRKLEES },
  { postcode: 'YO1 7HH', town: 'York', localAuthority: YORK },
  { postcode: 'YO24 1AB', town: 'York', localAuthority: YORK },
  { postcode: 'S1 2HE', town: 'Sheffield', localAuthority: SHEFFIELD },
  { postcode: 'S10 3GD', town: 'Sheffield', localAuthority: SHEFFIELD },
  { postcode: 'M1 1AE', town: 'Manchester', localAuthority: MANCHESTER },
  { postcode: 'M20 2RN', town: 'Manchester', localAuthority: MANCHESTER },
];

export const STREETS: readonly string[] = [
  'Station Road', 'Church Lane', 'Victoria Street', 'Park Avenue', 'Mill Lane', 'The Green',
  'Manor Road', 'Queens Road', 'Grange Crescent', 'Moorland View', 'Chapel Street', 'Orchard Close',
];

export interface GpPractice {
  odsCode: string;
  name: string;
}

export const GP_PRACTICES: readonly GpPractice[] = [
  { odsCode: 'A81001', name: 'The Densham Surgery' },
  { odsCode: 'B82005', name: 'Priory Medical Group' },
  { odsCode: 'C84001', name: 'Riverside Health Centre' },
  { odsCode: 'D81002', name: 'Moorside Family Practice' },
  { odsCode: 'Y02494', name: 'Park Lane Medical Centre' },
];

/** The sandbox hospital trust (fictional). */
export const HOSPITAL_TRUST = { odsCode: 'RR8', name: 'Sandbox Teaching Hospitals NHS Trust' };

export const MALE_NAMES: readonly string[] = [
  'John', 'James', 'David', 'Peter', 'Michael', 'Robert', 'William', 'Thomas', 'George', 'Harry',
  'Oliver', 'Jack', 'Arthur', 'Stephen', 'Paul', 'Mohammed', 'Daniel', 'Richard', 'Alan', 'Kevin',
];
export const FEMALE_NAMES: readonly string[] = [
  'Margaret', 'Mary', 'Susan', 'Patricia', 'Elizabeth', 'Sarah', 'Emma', 'Olivia', 'Amelia', 'Jean',
  'Joan', 'Dorothy', 'Helen', 'Karen', 'Fatima', 'Sophie', 'Grace', 'Julie', 'Linda', 'Ruth',
];
export const SURNAMES: readonly string[] = [
  'Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson', 'Davies', 'Robinson', 'Wright',
  'Thompson', 'Evans', 'Walker', 'White', 'Roberts', 'Green', 'Hall', 'Wood', 'Jackson', 'Clarke',
  'Patel', 'Khan', 'Hughes', 'Edwards', "O'Brien", 'Lewis', 'Harrison', 'Ahmed', 'Turner', 'Hill',
];

/** Ofcom drama-range style phone numbers (0113 496 0xxx). */
export const ukPhone = (n: number): string => `0113 496 0${String(n % 1000).padStart(3, '0')}`;
