// Finding a route by name: a from box and a to box, both completing from the
// report's endpoints (a <datalist>); the to box offers the endpoints the
// chosen from endpoint has routes to.
import { h, put } from "./dom.js";

export class RouteSearch {
  constructor(el, onRoute) {
    this.onRoute = onRoute;
    this.from = h("input", { id: "search-from", list: "search-from-list", placeholder: "from (site or site@network)", autocomplete: "off", spellcheck: "false" });
    this.to = h("input", { id: "search-to", list: "search-to-list", placeholder: "to", autocomplete: "off", spellcheck: "false" });
    this.fromList = h("datalist", { id: "search-from-list" });
    this.toList = h("datalist", { id: "search-to-list" });
    this.form = h("form", { class: "search", role: "search",
      onsubmit: (e) => {
        e.preventDefault();
        const from = this.from.value.trim(), to = this.to.value.trim();
        if (from && to && from !== to) this.onRoute(from, to);
      } },
    this.from, "→", this.to, h("button", { type: "submit" }, "show"), this.fromList, this.toList);
    this.from.addEventListener("input", () => this.fillTo());
    put(el, this.form);
    this.model = null;
  }

  update(model) {
    this.model = model;
    this.peers = new Map();
    for (const r of model.routes.values()) {
      for (const [a, b] of [[r.from, r.to], [r.to, r.from]]) {
        if (!this.peers.has(a)) this.peers.set(a, new Set());
        this.peers.get(a).add(b);
      }
    }
    put(this.fromList, model.endpoints.map((e) => h("option", { value: e })));
    this.fillTo();
  }

  fillTo() {
    if (!this.model) return;
    const peers = this.peers.get(this.from.value.trim());
    const list = peers ? [...peers].sort() : this.model.endpoints;
    put(this.toList, list.map((e) => h("option", { value: e })));
  }

  set(from, to) {
    this.from.value = from;
    this.to.value = to;
    this.fillTo();
  }
}
