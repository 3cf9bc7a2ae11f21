// The browser-safe entry (src/core.ts) must not import Node modules, statically, anywhere below it.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

function staticImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]);
}

describe('src/core.ts', () => {
  it('imports no Node module (node:*, webgpu, pngjs) through its static imports', () => {
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of staticImports(file)) {
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else bad.push(`${file}: ${spec}`);
      }
    };
    visit(join(import.meta.dirname, '..', 'src', 'core.ts'));
    expect(seen.size).toBeGreaterThan(20);
    expect(bad).toEqual([]);
  });
});
