/** One "service instance" for the audit benchmark: appends events with 16 concurrent requests for BENCH_SECONDS, prints {"appended": n}. */
import { randomUUID } from 'node:crypto';
import { AuditLog } from '../../audit/audit-log.js';
import { openDb } from '../../store/db.js';

const db = await openDb({ databaseUrl: process.env.DATABASE_URL! });
const log = new AuditLog(db);
const end = Date.now() + Number(process.env.BENCH_SECONDS ?? 10) * 1000;
let appended = 0;
await Promise.all(
  Array.from({ length: 16 }, async (_, w) => {
    while (Date.now() < end) {
      await log.append({
        action: 'patient-read',
        decision: 'permit',
        principal: { sub: `user-${w}`, role: 'clinician', organisation: 'A81001' },
        patientId: randomUUID(),
        purpose: 'TREAT',
        requestId: randomUUID(),
        operation: 'GET /fhir/Patient/{id}/$everything',
        sources: ['gp', 'hospital', 'social-care'],
      });
      appended++;
    }
  }),
);
console.log(JSON.stringify({ appended }));
await db.close();
