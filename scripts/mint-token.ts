/**
 * DEMO ONLY: mint a signed bearer token for the embedded demo issuer.
 *
 *   npx tsx scripts/mint-token.ts --role clinician --org A81001 [--sub dr-jones] [--scope "..."]
 *       [--nhs-number 9990000018] [--ttl 3600] [--data-dir .data]
 *   npm run token -- --role patient --nhs-number 9990000018 --scope "patient/*.rs"
 *
 * --scope takes SMART v2 scopes, space-separated (checked with identity/scopes.ts parseScopes); without it
 * the token carries the role's defaults (defaultScopes: patient → "patient/*.rs patient/Consent.cu",
 * privacy-officer → "user/*.rs user/AuditEvent.u", other staff → "user/*.rs").
 *
 * --ttl defaults to 3600 s, the longest lifetime the service accepts by default (AUTH_MAX_TOKEN_LIFETIME_SEC):
 * a longer --ttl is refused here unless that setting is raised to match.
 *
 * Prints the JWT (ES256, kid set, iss/aud = demo constants, iat/nbf/exp/jti) on stdout. Keys come from
 * `<data-dir>/demo-keys/` and are created there on first use; if that fails the script exits 1.
 */
import { parseArgs } from 'node:util';
import { isValidNhsNumber } from '../fhir/nhs-number.js';
import { ROLES, type Role } from '../identity/principal.js';
import { ensureDemoKeys, mintToken, type DemoKeys } from '../server/demo-keys.js';
import { parseScopes } from '../identity/scopes.js';

const USAGE =
  'usage: npx tsx scripts/mint-token.ts --role <' + ROLES.join('|') + '> [--org ODS] [--sub ID] ' +
  '[--nhs-number N] [--scope S] [--ttl SECONDS] [--data-dir DIR]';

function fail(message: string): never {
  process.stderr.write(`mint-token: ${message}\n${USAGE}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        role: { type: 'string' },
        org: { type: 'string' },
        sub: { type: 'string' },
        'nhs-number': { type: 'string' },
        scope: { type: 'string' },
        ttl: { type: 'string', default: '3600' },
        'data-dir': { type: 'string', default: '.data' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }

  const role = values.role;
  if (!role) fail('--role is required');
  if (!(ROLES as readonly string[]).includes(role)) fail(`unknown role; expected one of ${ROLES.join(', ')}`);
  const nhsNumber = values['nhs-number'];
  if (role === 'patient') {
    if (!nhsNumber) fail('--nhs-number is required for role patient');
    if (!isValidNhsNumber(nhsNumber)) fail('--nhs-number is not a valid NHS number (modulus 11 check failed)');
  } else {
    if (nhsNumber) fail('--nhs-number is only allowed for role patient');
    if (!values.org) fail(`--org (ODS organisation code) is required for role ${role}`);
    if (!/^[A-Z0-9]{3,10}$/.test(values.org)) fail('--org must be an ODS code: 3-10 upper-case letters/digits');
  }
  if (values.scope !== undefined) {
    try {
      if (parseScopes(values.scope).resources.length === 0) fail('--scope grants no access: give at least one resource scope such as patient/*.rs');
    } catch (e) {
      fail(`--scope: ${(e as Error).message}`);
    }
  }
  const ttl = Number(values.ttl);
  const maxTtl = Number(process.env.AUTH_MAX_TOKEN_LIFETIME_SEC || 3600);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > maxTtl) {
    fail(`--ttl must be an integer number of seconds, 1..${maxTtl} (the service refuses longer-lived tokens; AUTH_MAX_TOKEN_LIFETIME_SEC)`);
  }

  const dataDir = values['data-dir'] as string;
  let keys: DemoKeys;
  try {
    keys = await ensureDemoKeys(dataDir);
  } catch (e) {
    fail(
      `demo signing keys do not exist and could not be created under ${dataDir}/demo-keys ` +
        `(${(e as Error).message}). This script is for the embedded demo only.`,
    );
  }

  const token = await mintToken(
    keys.privateJwk,
    keys.kid,
    {
      sub: values.sub ?? `demo-${role}`,
      role: role as Role,
      ...(role === 'patient' ? { nhs_number: (nhsNumber as string).replace(/\s+/g, '') } : { org: values.org }),
      ...(values.scope ? { scope: values.scope } : {}),
    },
    { ttlSec: ttl },
  );
  process.stdout.write(token + '\n');
}

main().catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
