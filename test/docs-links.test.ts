import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * The documentation points at things that exist: every relative link in README.md and docs/*.md resolves to
 * a file, every repository path named in backticks exists, and every test the hazard log cites as the
 * evidence for a control is a test in the file it names.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** Relative link targets in a Markdown file: `[text](target)`, without URLs or in-page anchors. */
function relativeLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'))
    .map((t) => t.replace(/#.*$/, ''));
}

const CODE_FOLDERS = ['server', 'web', 'record', 'indicators', 'consent', 'audit', 'adapters', 'fhir', 'identity', 'store', 'scripts', 'test', 'docs', '.ci'];

/** Repository paths named in backticks (`consent/policy.ts`, `scripts/sandbox/`); bare folders (`record/`) and globs left out. */
function namedPaths(text: string): string[] {
  return [...text.matchAll(/`([^`\s]+)`/g)]
    .map((m) => m[1]!)
    .filter((p) => CODE_FOLDERS.some((f) => p.startsWith(`${f}/`) && p.length > f.length + 1) && !p.includes('*') && /^[\w./-]+$/.test(p));
}

/** it() titles of a test file as patterns: template holes (`${…}`) match anything. */
function testTitles(file: string): RegExp[] {
  const src = read(file);
  return [...src.matchAll(/\bit\(\s*(['"`])((?:\\.|(?!\1)[\s\S])*)\1/g)].map((m) => {
    const title = m[2]!.replace(/\\(.)/g, '$1').replace(/\s+/g, ' ');
    const parts = title.split(/\$\{[^}]*\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp(`^${parts.join('.*')}$`);
  });
}

/** Tests cited in the hazard log: “name” after the `test/….test.ts` it is in, within one list item. */
function citedTests(text: string): { file: string | undefined; name: string }[] {
  const cited: { file: string | undefined; name: string }[] = [];
  const items = text.split(/\n(?=\s*(?:- |#|\n))/);
  for (const item of items) {
    let file: string | undefined;
    for (const m of item.matchAll(/`(test\/[\w./-]+\.test\.ts)`|“([^”]+)”/g)) {
      if (m[1]) file = m[1];
      else cited.push({ file, name: m[2]!.replace(/\s+/g, ' ') });
    }
  }
  return cited;
}

describe('documentation links and references', () => {
  it('every relative link in README.md and docs/*.md points to an existing file', () => {
    const broken = docs.flatMap((doc) =>
      relativeLinks(read(doc))
        .filter((target) => !existsSync(resolve(root, dirname(doc), target)))
        .map((target) => `${doc} → ${target}`),
    );
    expect(broken).to.deep.equal([]);
  });

  it('every repository path named in the documentation exists', () => {
    const missing = docs.flatMap((doc) => namedPaths(read(doc)).filter((p) => !existsSync(join(root, p))).map((p) => `${doc}: ${p}`));
    expect(missing).to.deep.equal([]);
  });

  it('every test the hazard log cites exists, in the file it names', () => {
    const cited = citedTests(read('docs/clinical-safety.md'));
    expect(cited.length, 'the hazard log cites tests').to.be.greaterThan(30);
    const titles = new Map<string, RegExp[]>();
    const unknown = cited.filter(({ file, name }) => {
      if (!file || !existsSync(join(root, file))) return true;
      if (!titles.has(file)) titles.set(file, testTitles(file));
      return !titles.get(file)!.some((t) => t.test(name));
    });
    expect(unknown.map((c) => `${c.file ?? '(no file named)'}: ${c.name}`)).to.deep.equal([]);
  });

  it("openapi.yaml's description names every route that needs no token (security: [])", () => {
    const spec = parse(read('openapi.yaml')) as { info: { description: string }; paths: Record<string, Record<string, { security?: unknown[] }>> };
    const description = spec.info.description.replace(/\s+/g, ' ');
    const open = Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.entries(ops).filter(([, op]) => Array.isArray(op.security) && op.security.length === 0).map(([method]) => ({ path, method })),
    );
    expect(open.length).to.be.greaterThan(5);
    // Named as the path itself, or under a family the description names with an ellipsis (`GET /fhir/Measure…`).
    const unnamed = open.filter(({ path }) => !description.includes(`\`${path}\``) && !description.includes(path) && !/\/fhir\/Measure/.test(path));
    expect(unnamed.map(({ method, path }) => `${method.toUpperCase()} ${path}`)).to.deep.equal([]);
  });

  it('the README stays a short front door', () => {
    expect(Buffer.byteLength(read('README.md'))).to.be.below(16 * 1024);
  });
});
