import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder layering (docs/architecture.md, "Layers"): dependencies point down only. A production folder may
 * import only folders listed after it; folders on the same line (identity and store) are peers that may not
 * import each other. Nothing imports server/; only server/ (the composition root, which mounts the pages)
 * imports web/. Scripts and tests may import anything.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['server'],
  ['web'],
  ['record'],
  ['indicators'],
  ['consent'],
  ['audit'],
  ['adapters'],
  ['fhir'],
  ['identity', 'store'],
];
const MAX_LINES = 400;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const levelOf = new Map<string, number>(LAYERS.flatMap((folders, level) => folders.map((f) => [f, level] as const)));

function tsFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return []; // a layer not created yet (web/)
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier of a file: static imports and re-exports (`from '…'`), side-effect imports and dynamic `import('…')`. */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const p of patterns) for (const m of source.matchAll(p)) found.push(m[1]!);
  return found;
}

/** The rule an import from folder `from` to folder `to` breaks, or undefined when it is allowed. */
export function layeringViolation(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  if (to === 'server') return 'nothing may import server/';
  if (to === 'web' && from !== 'server') return 'only server/ (the composition root) may import web/';
  const a = levelOf.get(from);
  const b = levelOf.get(to);
  if (a === undefined || b === undefined) return undefined; // outside the layered folders (node packages, scripts)
  if (b <= a) return `${from}/ may import only folders below it (${LAYERS.slice(a + 1).flat().join(', ')}), not ${to}/`;
  return undefined;
}

interface Edge {
  file: string;
  specifier: string;
  from: string;
  to: string;
}

function productionEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const folder of levelOf.keys()) {
    for (const file of tsFiles(join(root, folder))) {
      for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
        if (!specifier.startsWith('.')) continue;
        const target = relative(root, resolve(dirname(file), specifier));
        const to = target.split(sep)[0]!;
        edges.push({ file: relative(root, file), specifier, from: folder, to });
      }
    }
  }
  return edges;
}

describe('architecture: folder layering', () => {
  const edges = productionEdges();

  it('finds the imports it checks (the parser is not blind)', () => {
    expect(edges.length).to.be.greaterThan(100);
    expect(edges.some((e) => e.from === 'server' && e.to === 'record')).to.equal(true);
    expect(importsOf(`import type { A } from '../a.js';\nexport { b } from "./b.js";\nimport './c.js';\nawait import('../d.js');`)).to.have.members([
      '../a.js',
      './b.js',
      './c.js',
      '../d.js',
    ]);
  });

  it('every import between production folders points down the documented order', () => {
    const bad = edges.flatMap((e) => {
      const rule = layeringViolation(e.from, e.to);
      return rule ? [`${e.file} imports '${e.specifier}': ${rule}`] : [];
    });
    expect(bad, bad.join('\n')).to.deep.equal([]);
  });

  it('no two folders import each other', () => {
    const pairs = new Set(edges.filter((e) => e.from !== e.to).map((e) => `${e.from}>${e.to}`));
    const cycles = [...pairs].filter((p) => {
      const [a, b] = p.split('>');
      return pairs.has(`${b}>${a}`);
    });
    const named = cycles.map((c) => {
      const [a, b] = c.split('>');
      const e = edges.find((x) => x.from === a && x.to === b)!;
      return `${a}/ and ${b}/ import each other, e.g. ${e.file} imports '${e.specifier}'`;
    });
    expect(named, named.join('\n')).to.deep.equal([]);
  });

  it('nothing outside server/ imports server/ or web/ (scripts and tests excepted)', () => {
    const bad = edges.filter((e) => (e.to === 'server' || e.to === 'web') && e.from !== e.to && e.from !== 'server').map((e) => `${e.file} imports '${e.specifier}'`);
    expect(bad, bad.join('\n')).to.deep.equal([]);
  });

  it(`no production module or script is longer than ${MAX_LINES} lines`, () => {
    const files = [...levelOf.keys(), 'scripts'].flatMap((folder) => tsFiles(join(root, folder)));
    const long = files
      .map((f) => ({ file: relative(root, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.file}: ${f.lines} lines`);
    expect(long, long.join('\n')).to.deep.equal([]);
  });

  it('the rule itself refuses an upward import, a peer import and any import of server/', () => {
    expect(layeringViolation('fhir', 'adapters')).to.match(/fhir\/ may import only/);
    expect(layeringViolation('identity', 'store')).to.match(/identity\/ may import only/);
    expect(layeringViolation('record', 'server')).to.equal('nothing may import server/');
    expect(layeringViolation('server', 'record')).to.equal(undefined);
    expect(layeringViolation('server', 'web')).to.equal(undefined);
    expect(layeringViolation('web', 'server')).to.equal('nothing may import server/');
    expect(layeringViolation('record', 'web')).to.match(/only server\/ .* may import web\//);
  });
});
