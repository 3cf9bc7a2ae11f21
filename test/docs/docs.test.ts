// The TypeScript in the docs must compile. Every ```ts block of docs/api.md and README.md is written to
// a temporary folder as its own ES module (`.mts`), with `from 'sdvae-webgpu'` pointed at this
// repository's src/index.ts, and type-checked with the project's own compiler options (tsconfig.json:
// strict, NodeNext, ES2022, types node + @webgpu/types). A block marked ```ts nocheck is skipped; the
// doc says why wherever it uses one.
//
// Also: every name src/index.ts exports is documented in docs/api.md (as a `name` in backticks).
// No GPU is needed.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const DOCS = ['docs/api.md', 'README.md'];

interface Block {
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
}

/** The ```ts blocks of a markdown file (```ts nocheck excluded). */
function tsBlocks(doc: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, lang, rest] = open;
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j])) j++;
    if ((lang === 'ts' || lang === 'typescript') && !/\bnocheck\b/.test(rest))
      blocks.push({ doc, line: i + 1, code: lines.slice(i + 1, j).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l)).join('\n') });
    i = j;
  }
  return blocks;
}

const tmp = mkdtempSync(join(tmpdir(), 'sdvae-docs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The project's compiler options, without emitting. */
function compilerOptions(): ts.CompilerOptions {
  const configPath = join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, configPath);
  const options: ts.CompilerOptions = { ...parsed.options, noEmit: true, declaration: false, sourceMap: false };
  delete options.rootDir; // the snippets live outside the repository
  delete options.outDir;
  return options;
}

function format(diagnostics: readonly ts.Diagnostic[], origin: Map<string, Block>): string {
  return diagnostics
    .map((d) => {
      const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file || d.start === undefined) return `error TS${d.code}: ${msg}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      const block = origin.get(resolve(d.file.fileName));
      const where = block ? `${block.doc}:${block.line + 1 + line} (block at line ${block.line})` : d.file.fileName;
      return `${where}:${character + 1}: error TS${d.code}: ${msg}`;
    })
    .join('\n');
}

describe('docs', () => {
  const blocks = DOCS.flatMap((doc) => tsBlocks(doc, readFileSync(join(root, doc), 'utf8')));
  const index = join(root, 'src', 'index.js'); // NodeNext resolves .js to the .ts source

  it('has TypeScript blocks to check', () => {
    expect(blocks.filter((b) => b.doc === 'docs/api.md').length).toBeGreaterThan(10);
    expect(blocks.filter((b) => b.doc === 'README.md').length).toBeGreaterThan(0);
  });

  it('every ```ts block of docs/api.md and README.md type-checks', () => {
    const origin = new Map<string, Block>();
    const files = blocks.map((b, i) => {
      const file = join(tmp, `${b.doc.replace(/[^A-Za-z0-9]+/g, '_')}_${String(i).padStart(3, '0')}_line${b.line}.mts`);
      // `export {}` keeps a block without imports a module (top-level await, no global names).
      writeFileSync(file, `${b.code.replaceAll(/(from\s+|import\s*\(\s*)(['"])sdvae-webgpu\2/g, `$1$2${index}$2`)}\nexport {};\n`);
      origin.set(resolve(file), b);
      return file;
    });
    const program = ts.createProgram(files, compilerOptions());
    const mine = new Set(files.map((f) => resolve(f)));
    const diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...files.flatMap((f) => {
        const sf = program.getSourceFile(f)!;
        return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
      }),
    ].filter((d) => !d.file || mine.has(resolve(d.file.fileName)));
    if (diagnostics.length) console.error(format(diagnostics, origin));
    expect(format(diagnostics, origin)).toBe('');
  });

  it('docs/api.md documents every name src/index.ts exports', () => {
    const program = ts.createProgram([join(root, 'src', 'index.ts')], compilerOptions());
    const checker = program.getTypeChecker();
    const sf = program.getSourceFile(join(root, 'src', 'index.ts'))!;
    const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(sf)!).map((s) => s.getName());
    expect(exported.length).toBeGreaterThan(30);
    const api = readFileSync(join(root, 'docs', 'api.md'), 'utf8');
    const missing = exported.filter((name) => !new RegExp('`' + name + '\\b').test(api));
    expect(missing).toEqual([]);
  });
});
