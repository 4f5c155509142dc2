// Builds the dashboard: bundles src/main.ts (with clients/js and uPlot) and
// its CSS with esbuild into content-hashed files under OUT_DIR/assets/, and
// writes OUT_DIR/index.html naming them. Deterministic: the same sources give
// the same bytes (no timestamps, no absolute paths in the output).
// Usage: node scripts/build.mjs [OUT_DIR]   (default: web/dist)

import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.resolve(process.argv[2] ?? path.join(webDir, 'dist'));
rmSync(outDir, { recursive: true, force: true });
mkdirSync(path.join(outDir, 'assets'), { recursive: true });

const result = await build({
  absWorkingDir: webDir,
  entryPoints: ['src/main.ts'],
  bundle: true,
  format: 'esm',
  target: ['es2020'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  outdir: path.join(outDir, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`esbuild produced ${outputs.join(', ')}: expected one .js and one .css`);

const html = readFileSync(path.join(webDir, 'src/index.html'), 'utf8')
  .replace('%APP_JS%', `/assets/${js}`)
  .replace('%APP_CSS%', `/assets/${css}`);
writeFileSync(path.join(outDir, 'index.html'), html);
console.log(`dashboard: ${path.relative(process.cwd(), outDir) || '.'}: index.html, assets/${js}, assets/${css}`);
