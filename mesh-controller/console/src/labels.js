// Greedy label placement: labels in priority order each take the first of
// four spots around their point that overlaps nothing placed before (labels
// and the points themselves); a label with no free spot is hidden (the map
// shows it on hover, and zooming in frees room). Pure: boxes in, boxes out.

const CHAR_W = 6.4;
const LINE_H = 12;
const GAP = 4;

export function labelBox(text) {
  return { w: text.length * CHAR_W + 2, h: LINE_H };
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Spots around a point of radius r: right, left, above, below. */
function spots(p, w, h, r) {
  return [
    { x: p.x + r + GAP, y: p.y - h / 2, anchor: "start" },
    { x: p.x - r - GAP - w, y: p.y - h / 2, anchor: "end" },
    { x: p.x - w / 2, y: p.y - r - GAP - h, anchor: "middle" },
    { x: p.x - w / 2, y: p.y + r + GAP, anchor: "middle" },
  ];
}

/**
 * items: [{id, x, y, text, priority (lower first), r (point radius)}];
 * bounds: {w, h} of the drawing. Returns Map id -> {x, y, w, h, anchor} for
 * the labels shown; the others are absent.
 */
export function placeLabels(items, bounds) {
  const placed = [];
  const out = new Map();
  // Points are obstacles too: a label never covers another site's dot.
  const dots = items.map((it) => ({ x: it.x - it.r, y: it.y - it.r, w: 2 * it.r, h: 2 * it.r, id: it.id }));
  const order = [...items].sort((a, b) => a.priority - b.priority || a.text.localeCompare(b.text));
  for (const it of order) {
    const { w, h } = labelBox(it.text);
    for (const spot of spots(it, w, h, it.r)) {
      const box = { x: spot.x, y: spot.y, w, h };
      if (box.x < 0 || box.y < 0 || box.x + w > bounds.w || box.y + h > bounds.h) continue;
      if (placed.some((b) => overlaps(b, box))) continue;
      if (dots.some((d) => d.id !== it.id && overlaps(d, box))) continue;
      placed.push(box);
      out.set(it.id, { ...box, anchor: spot.anchor });
      break;
    }
  }
  return out;
}
