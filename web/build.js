#!/usr/bin/env node
/**
 * Builds the console into web/dist/: index.html, app.js, app.css, zone-editor.js (leaflet-geoman,
 * loaded on demand by the zone editor), config.json and assets/ (Leaflet's images). Everything the page needs is served by the service itself: no CDN.
 *
 * Options (environment):
 * - DROPLINE_WEB_DEV=1: no minification, inline source maps (a production build has no source maps).
 *
 * index.html has no inline script, style or event handler: the service's Content-Security-Policy
 * (src/server/security-headers.ts) allows only scripts and style sheets served from web/dist.
 * - DROPLINE_BASEMAP: JSON of the deployment's base layer, e.g. '{"provider":"gcj02"}' or
 *   '{"provider":"offline","url":"tiles/{z}/{x}/{y}.png"}' (default: {"provider":"osm"}); written to config.json.
 * - DROPLINE_TILES_DIR: a folder of XYZ tiles ({z}/{x}/{y}.png) copied to web/dist/tiles for the `offline` provider.
 */
'use strict';
const path = require('path');
const fs = require('fs');
const esbuild = require('esbuild');

const webDir = __dirname;
const distDir = path.join(webDir, 'dist');
// Built beside dist/ and swapped in at the end, so a server never serves a half-written console.
const outDir = path.join(webDir, `.dist-build-${process.pid}`);
const dev = process.env.DROPLINE_WEB_DEV === '1';

async function main() {
  const t0 = Date.now();
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const common = {
    bundle: true,
    minify: !dev,
    // Production builds carry no source maps: the service serves web/dist publicly, and a map would
    // hand out the console's sources. Development builds inline them.
    sourcemap: dev ? 'inline' : false,
    logLevel: 'warning',
    target: ['chrome100', 'firefox100', 'safari15'],
    assetNames: 'assets/[name]-[hash]',
    loader: { '.png': 'file', '.svg': 'file', '.gif': 'file', '.woff': 'file', '.woff2': 'file' },
    legalComments: 'linked',
  };
  const js = await esbuild.build({
    ...common,
    entryPoints: {
      app: path.join(webDir, 'src', 'main.ts'),
      'zone-editor': path.join(webDir, 'src', 'zone-editor-entry.ts'),
      // The resident's status page and the operations report: pages of their own.
      status: path.join(webDir, 'src', 'status', 'main.ts'),
      reports: path.join(webDir, 'src', 'reports-page', 'main.ts'),
    },
    outdir: outDir,
    platform: 'browser',
    format: 'iife',
    define: { 'process.env.NODE_ENV': '"production"' },
    metafile: true,
  });
  const css = await esbuild.build({
    ...common,
    entryPoints: { app: path.join(webDir, 'styles.css'), status: path.join(webDir, 'status.css'), reports: path.join(webDir, 'reports.css') },
    outdir: outDir,
    metafile: true,
  });
  for (const page of ['index.html', 'status.html', 'reports.html']) fs.copyFileSync(path.join(webDir, page), path.join(outDir, page));
  let basemap = { provider: 'osm' };
  if (process.env.DROPLINE_BASEMAP) {
    try {
      basemap = JSON.parse(process.env.DROPLINE_BASEMAP);
    } catch (e) {
      console.error(`web/build.js: DROPLINE_BASEMAP is not JSON: ${e.message}`);
      process.exit(2);
    }
  }
  fs.writeFileSync(path.join(outDir, 'config.json'), JSON.stringify({ basemap }, null, 2) + '\n');
  if (process.env.DROPLINE_TILES_DIR) {
    fs.cpSync(process.env.DROPLINE_TILES_DIR, path.join(outDir, 'tiles'), { recursive: true });
  }
  fs.rmSync(distDir, { recursive: true, force: true });
  fs.renameSync(outDir, distDir);
  const outputs = { ...js.metafile.outputs, ...css.metafile.outputs };
  const total = Object.values(outputs).reduce((s, o) => s + o.bytes, 0);
  console.log(`web: built ${Object.keys(outputs).length} files, ${(total / 1024).toFixed(0)} KiB, in ${Date.now() - t0} ms → ${path.relative(process.cwd(), distDir) || distDir}`);
}

main().catch((e) => {
  fs.rmSync(outDir, { recursive: true, force: true });
  console.error(e);
  process.exit(1);
});
