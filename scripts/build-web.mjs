// npm run build:web: the browser build, from the same sources as the Node package.
//   dist/web/sdvae.js   the library (src/core.ts) as one ES module
//   dist/web/app.js     the page's code (web/app.ts), importing ./sdvae.js
//   dist/web/*.html, *.css  copied from web/
// The core reaches Node-only code through two dynamic imports (Dawn in gpu/node.ts, checkpoint folders
// in io/weights.ts); they are left out of the bundle (a page never takes those paths: it has
// navigator.gpu and loads models through io/model_source.ts).

import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const nodeOnly = {
  name: 'node-only-dynamic-imports',
  setup(b) {
    b.onResolve({ filter: /(^|\/)(node|weights)\.js$/ }, (args) => {
      const full = join(args.resolveDir, args.path);
      const nodeOnlyFile = full.endsWith(join('src', 'gpu', 'node.js')) || full.endsWith(join('src', 'io', 'weights.js'));
      return args.kind === 'dynamic-import' && nodeOnlyFile ? { path: args.path, external: true } : undefined;
    });
  },
};

/** The page imports the library as './sdvae.js' (one copy of it, shared with anyone's page). */
const libraryAsExternal = {
  name: 'library-as-external',
  setup(b) {
    b.onResolve({ filter: /\/src\/core\.js$/ }, () => ({ path: './sdvae.js', external: true }));
  },
};

export async function buildWeb(outDir = join(ROOT, 'dist', 'web')) {
  mkdirSync(outDir, { recursive: true });
  const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', sourcemap: true, logLevel: 'warning' };
  await build({ ...common, entryPoints: [join(ROOT, 'src', 'core.ts')], outfile: join(outDir, 'sdvae.js'), plugins: [nodeOnly] });
  await build({ ...common, entryPoints: [join(ROOT, 'web', 'app.ts')], outfile: join(outDir, 'app.js'), plugins: [libraryAsExternal] });
  for (const f of readdirSync(join(ROOT, 'web'))) if (/\.(html|css)$/.test(f)) copyFileSync(join(ROOT, 'web', f), join(outDir, f));
  return outDir;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildWeb(process.argv[2]);
  console.log(`browser build in ${out}`);
}
