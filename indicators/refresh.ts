import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import { publishRun, type PublishedRun } from './publish.js';
import type { SnapshotStore } from './snapshots.js';
import type { IndicatorDefinition } from './spec.js';
import type { ComputeRun, DisclosurePolicy, ReportingPeriod, SnapshotMeta } from './types.js';
import type { Principal } from '../identity/principal.js';
import { badRequest, forbidden, unprocessable } from '../fhir/outcomes.js';
import { isRealDate } from './period.js';

/**
 * One refresh of the indicators for a period: compute, publish under disclosure control, then store the snapshot and
 * its audit event in one transaction (both or neither). Used by POST /indicators/$refresh and by
 * the start-up refresh (computeAtStartup).
 */
export interface RefreshDeps {
  computer: { compute(period: ReportingPeriod, indicatorIds?: string[]): Promise<ComputeRun> };
  snapshots: SnapshotStore;
  audit: AuditLog;
  disclosure: DisclosurePolicy;
  cellKey: Uint8Array;
}

/** Computes, publishes, audits and stores one snapshot. */
export async function refreshSnapshot(
  deps: RefreshDeps,
  req: { period: ReportingPeriod; defs: readonly IndicatorDefinition[]; ids?: string[]; principal: Principal; requestId: string; operation: string },
): Promise<{ meta: SnapshotMeta; published: PublishedRun }> {
  const run = await deps.computer.compute(req.period, req.ids);
  const published = publishRun(run, req.defs, deps.disclosure, deps.cellKey);
  const snapshotId = randomUUID();
  // The snapshot and its audit event commit together or not at all (fail closed → 503, nothing stored).
  const meta = await deps.audit.change(async (q) => ({
    result: await deps.snapshots.save({ ...published.meta, requestedBy: req.principal.sub }, published.indicators, snapshotId, q),
    events: [
      {
        action: 'indicator-refresh' as const,
        principal: req.principal,
        requestId: req.requestId,
        operation: req.operation,
        purpose: 'HOPERAT' as const,
        decision: 'permit' as const,
        sources: run.sources.filter((s) => s.status === 'ok').map((s) => s.source),
        outcomeDescription: `indicator snapshot ${snapshotId} for ${req.period.start}/${req.period.end}: ${published.meta.complete ? 'complete' : `incomplete (unavailable: ${published.meta.unavailableSources.join(', ')})`}`,
      },
    ],
  }));
  return { meta, published };
}

/**
 * The analyst's refresh, as `POST /indicators/$refresh` and the analyst's refresh page both ask for it: the role
 * is checked (a refusal is audited), the period and indicator ids validated (OperationOutcome errors naming the
 * field: `period.start`, `period.end`, `indicators[i]`), then one snapshot is computed, published, stored and audited.
 */
export async function requestRefresh(
  deps: RefreshDeps & { defs: readonly IndicatorDefinition[] },
  req: { principal: Principal; requestId: string; operation: string; start: string; end: string; indicators?: string[] },
): Promise<{ meta: SnapshotMeta; published: PublishedRun; selected: IndicatorDefinition[] }> {
  const p = req.principal;
  if (p.role !== 'analyst') {
    await deps.audit.record({
      action: 'indicator-refresh', principal: p, requestId: req.requestId, operation: req.operation, purpose: 'HOPERAT',
      decision: 'deny', outcomeDescription: `indicator refresh refused: role ${p.role} is not analyst`,
    });
    throw forbidden('role-not-permitted', 'Only an analyst may refresh the indicators.');
  }
  if (!isRealDate(req.start)) throw badRequest('invalid-period', "'period.start' must be a date YYYY-MM-DD.", ['period.start']);
  if (!isRealDate(req.end)) throw badRequest('invalid-period', "'period.end' must be a date YYYY-MM-DD.", ['period.end']);
  if (req.start > req.end) throw unprocessable('invalid-period', "'period.start' must not be after 'period.end'.", ['period.start']);
  const known = new Set(deps.defs.map((d) => d.id));
  req.indicators?.forEach((id, i) => {
    if (!known.has(id)) throw unprocessable('unknown-indicator', 'There is no such indicator.', [`indicators[${i}]`]);
  });
  const ids = req.indicators;
  const selected = ids ? deps.defs.filter((d) => ids.includes(d.id)) : [...deps.defs];
  const { meta, published } = await refreshSnapshot(deps, {
    period: { start: req.start, end: req.end }, defs: selected, ...(ids ? { ids } : {}), principal: p, requestId: req.requestId, operation: req.operation,
  });
  return { meta, published, selected };
}

/** The calendar years that end on or before `through` or contain it: the latest one and the one before. */
export function periodsWithData(through: string): ReportingPeriod[] {
  const year = Number(through.slice(0, 4));
  return [year - 1, year].map((y) => ({ start: `${y}-01-01`, end: `${y}-12-31` }));
}

/**
 * Out of the box: once at start-up, compute every indicator for the calendar years the sources' data covers (the
 * year of the latest event and the one before) unless a snapshot of that period exists already — so the public
 * pages are not empty. Runs in the background; failures are logged, never fatal. The refresh is audited as the
 * service itself (sub "service:start-up").
 */
export async function computeAtStartup(
  deps: RefreshDeps & {
    defs: readonly IndicatorDefinition[];
    dataThrough: () => Promise<string | undefined>;
    log: (msg: string, extra?: object) => void;
    /** How often to ask again while no source reports data yet (extracts may still be loading); default 30 × 2 s. */
    retries?: number;
    retryMs?: number;
  },
): Promise<SnapshotMeta[]> {
  let through = await deps.dataThrough();
  for (let i = 0; !through && i < (deps.retries ?? 30); i++) {
    await new Promise((r) => setTimeout(r, deps.retryMs ?? 2000));
    through = await deps.dataThrough();
  }
  if (!through) {
    deps.log('indicators: no source reported data, nothing computed at start-up');
    return [];
  }
  const done: SnapshotMeta[] = [];
  const principal: Principal = { sub: 'service:start-up', role: 'analyst' };
  for (const period of periodsWithData(through)) {
    const existing = await deps.snapshots.snapshotsOf(deps.defs[0]!.id, period);
    if (existing.length) continue;
    const { meta } = await refreshSnapshot(deps, { period, defs: deps.defs, principal, requestId: randomUUID(), operation: 'start-up indicator refresh' });
    deps.log('indicators: computed at start-up', { period: `${period.start}/${period.end}`, complete: meta.complete });
    done.push(meta);
  }
  return done;
}
