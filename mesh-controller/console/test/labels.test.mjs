// Label placement: no two shown labels overlap, none covers another site's
// dot, the ones that lose are hidden, and priority decides who wins.
import { test } from "node:test";
import assert from "node:assert/strict";
import { placeLabels, labelBox } from "../src/labels.js";

const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

test("crowded points: shown labels never overlap, the rest are hidden", () => {
  const items = [];
  for (let i = 0; i < 60; i++) {
    items.push({ id: `s${i}`, x: 100 + (i % 10) * 9, y: 100 + Math.floor(i / 10) * 7, r: 3, text: `site-${i}`, priority: 2 });
  }
  const placed = placeLabels(items, { w: 900, h: 680 });
  const boxes = [...placed.values()];
  assert.ok(boxes.length > 0 && boxes.length < items.length, `${boxes.length} shown`);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) assert.ok(!overlap(boxes[i], boxes[j]));
  }
  for (const [id, b] of placed) {
    for (const it of items) {
      if (it.id === id) continue;
      assert.ok(!overlap(b, { x: it.x - it.r, y: it.y - it.r, w: 2 * it.r, h: 2 * it.r }), `${id} covers ${it.id}`);
    }
  }
});

test("priority wins a contested spot; labels stay inside the drawing", () => {
  const items = [
    { id: "edge", x: 50, y: 50, r: 2, text: "an-edge-site", priority: 3 },
    { id: "trouble", x: 52, y: 50, r: 3, text: "over-budget", priority: 0 },
  ];
  const placed = placeLabels(items, { w: 200, h: 100 });
  assert.ok(placed.has("trouble"));
  for (const b of placed.values()) assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= 200 && b.y + b.h <= 100);
  assert.ok(labelBox("abc").w > 0);
});

test("a lone point gets its label to the right", () => {
  const placed = placeLabels([{ id: "a", x: 100, y: 100, r: 3, text: "beijing", priority: 1 }], { w: 900, h: 680 });
  assert.equal(placed.get("a").anchor, "start");
});
