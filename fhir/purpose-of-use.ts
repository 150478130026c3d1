/** Code system of purposes of use (v3-ActReason). */
export const ACT_REASON_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** Purpose of use (v3-ActReason): direct care, emergency, break-glass, operations, research. */
export type PurposeOfUse = 'TREAT' | 'ETREAT' | 'BTG' | 'HOPERAT' | 'HRESCH';
