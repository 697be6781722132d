#!/usr/bin/env python3
"""Generate topology/data/national.yaml, hubmesh's embedded national topology.

Reads topology/data/sites.csv and topology/data/interconnects.csv (copies of the
project's reference data) and topology/data/edges.csv (one edge data centre per
city, on the carrier stated there), and writes a topology file (format version 1,
see DESIGN.md) with three carriers, each with its own backbone, exchanging traffic
only at the backbone direct-connect points and internet exchange centres.

    python3 scripts/gen-national.py           # rewrite topology/data/national.yaml
    python3 scripts/gen-national.py --check   # exit 1 if the committed file is stale

Python 3.11, standard library only. The output is deterministic: same CSVs, same
bytes.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import heapq
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "topology" / "data"
SITES_CSV = DATA / "sites.csv"
INTERCONNECTS_CSV = DATA / "interconnects.csv"
EDGES_CSV = DATA / "edges.csv"
OUTPUT = DATA / "national.yaml"

# Same constants as topology/src/geo.rs.
EARTH_RADIUS_KM = 6371.0088
FIBRE_US_PER_KM = 4.9


@dataclass(frozen=True)
class Carrier:
    id: str
    name: str
    # Each backbone node links to its k nearest other backbone nodes.
    k: int
    # Route factor (fibre length / great-circle distance) of backbone links.
    backbone_rf: float
    # Route factor of access links (a site homed to a direct-connect city).
    access_rf: float


# The three backbones differ in density (k) and directness (route factor), so
# they are not copies of one another. Illustrative choices, not survey data.
CARRIERS = [
    Carrier("telecom", "China Telecom", k=4, backbone_rf=1.55, access_rf=1.75),
    Carrier("unicom", "China Unicom", k=3, backbone_rf=1.60, access_rf=1.80),
    Carrier("mobile", "China Mobile", k=5, backbone_rf=1.70, access_rf=1.90),
]

# Sites homed to this many nearest direct-connect cities on every carrier.
HOMING = 2

# One-way delay of crossing between carriers at an interconnect, ms.
DIRECT_CONNECT_DELAY_MS = 0.3
EXCHANGE_DELAY_MS = 0.2

# An edge data centre stands at its city's coordinates and reaches its carrier's
# network in that city over this much metro fibre (an assumption: no source
# gives it): 40 km x 4.9 us/km = 0.20 ms one way.
EDGE_METRO_FIBRE_KM = 40.0

# The plan-2021 budget for an edge data centre and the users of its city.
EDGE_BUDGET_MS = 10.0

# Hub roles the national plan gives (checked against sites.csv).
EXPECTED_ROLES = {
    "jingjinji": "realtime",
    "yangtze-delta": "realtime",
    "greater-bay": "realtime",
    "chengyu": "realtime",
    "guizhou": "non-realtime",
    "inner-mongolia": "non-realtime",
    "gansu": "non-realtime",
    "ningxia": "non-realtime",
}

# Sanity figures (latency-facts.md): (from, to, low ms, high ms).
SANITY = [
    ("zhongwei", "beijing", 8.0, 10.0),
    ("zhongwei", "shanghai", 0.0, 15.0),
]

ID_RE = re.compile(r"^[a-z0-9-]+$")


class GenError(Exception):
    pass


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    name_en: str
    kind: str
    hub: str
    lat_text: str
    lon_text: str
    # Edge sites: the city served and the carriers present (others: all).
    serves: str = ""
    networks: tuple[str, ...] = ()

    @property
    def latlon(self) -> tuple[float, float]:
        return (float(self.lat_text), float(self.lon_text))


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    network: str
    km: float
    rf: float
    role: str  # "backbone" | "access" | "backbone-connect" | "edge"

    @property
    def delay_ms(self) -> float:
        return round(self.km * self.rf * FIBRE_US_PER_KM / 1000.0, 2)


@dataclass(frozen=True)
class Interconnect:
    site: str
    kind: str
    networks: tuple[str, ...]
    delay_ms: float
    opened: str  # year, or "" when unknown


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine, as topology::geo::great_circle_km."""
    la1, la2 = math.radians(a[0]), math.radians(b[0])
    dlat = la2 - la1
    dlon = math.radians(b[1] - a[1])
    h = math.sin(dlat / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def load_edges(sites: list[Site]) -> list[Site]:
    """The edge data centres of edges.csv, each at the coordinates and in the hub
    of the city it serves, on the carriers it names."""
    cities = {s.id: s for s in sites if s.kind == "city"}
    net_ids = [c.id for c in CARRIERS]
    edges: list[Site] = []
    for r in read_csv(EDGES_CSV):
        city = cities.get(r["serves"])
        if city is None:
            raise GenError(f"edges.csv: {r['id']}: serves {r['serves']!r}, not a city of sites.csv")
        nets = tuple(r["networks"].split())
        if not nets or any(n not in net_ids for n in nets) or len(set(nets)) != len(nets):
            raise GenError(f"edges.csv: {r['id']}: bad networks {r['networks']!r} (one or more of {net_ids})")
        if not r["basis"].strip():
            raise GenError(f"edges.csv: {r['id']}: say where the carrier comes from (basis)")
        edges.append(
            Site(
                r["id"], r["name_zh"], r["name_en"], "edge", city.hub,
                city.lat_text, city.lon_text, serves=city.id,
                # In carrier order, whatever the file's order.
                networks=tuple(n for n in net_ids if n in nets),
            )
        )
    served = {e.serves for e in edges}
    missing = sorted(set(cities) - served)
    if missing:
        raise GenError(f"edges.csv: no edge data centre in {', '.join(missing)}")
    return edges


def load_data() -> (
    tuple[list[tuple[str, str, str]], list[Site], list[str], list[str], dict[tuple[str, str], str]]
):
    """Hubs (id, name, role), sites (clusters, cities, then edge data centres),
    direct-connect city ids, exchange centre ids, and the year each interconnect
    opened by (site, kind)."""
    rows = read_csv(SITES_CSV)
    hubs: dict[str, tuple[str, str | None]] = {}  # id -> (name, role)
    sites: list[Site] = []
    for r in rows:
        kind = r["kind"]
        if kind not in ("cluster", "city"):
            raise GenError(f"sites.csv: {r['id']}: unexpected kind {kind!r}")
        hub = r["hub"]
        if hub:
            name, role = hubs.get(hub, (r["hub_zh"], None))
            if name != r["hub_zh"]:
                raise GenError(f"sites.csv: hub {hub} has two names")
            if r["hub_role"]:
                if role is not None and role != r["hub_role"]:
                    raise GenError(f"sites.csv: hub {hub} has two roles")
                role = r["hub_role"]
            hubs[hub] = (name, role)
        sites.append(
            Site(r["id"], r["name_zh"], r["name_en"], kind, hub, r["lat"], r["lon"])
        )
    hub_list = []
    for hid, (name, role) in hubs.items():  # first appearance in sites.csv
        if role is None:
            raise GenError(f"sites.csv: hub {hid} has no role")
        if EXPECTED_ROLES.get(hid) != role:
            raise GenError(f"sites.csv: hub {hid} role {role}, expected {EXPECTED_ROLES.get(hid)}")
        hub_list.append((hid, name, role))
    if {h[0] for h in hub_list} != set(EXPECTED_ROLES):
        raise GenError("sites.csv: hubs differ from the eight of the national plan")
    sites += load_edges(sites)

    direct, exchange = [], []
    opened: dict[tuple[str, str], str] = {}
    for r in read_csv(INTERCONNECTS_CSV):
        opened[(r["city_id"], r["kind"])] = r["opened"]
        if r["kind"] == "backbone-direct-connect":
            direct.append(r["city_id"])
        elif r["kind"] == "internet-exchange":
            exchange.append(r["city_id"])
        else:
            raise GenError(f"interconnects.csv: unexpected kind {r['kind']!r}")
    return hub_list, sites, direct, exchange, opened


def backbone_links(
    carrier: Carrier, nodes: list[str], pos: dict[str, tuple[float, float]]
) -> list[Link]:
    """k-nearest-neighbour mesh of the backbone nodes, made connected by adding the
    shortest link between components until there is one."""
    dist = {(a, b): great_circle_km(pos[a], pos[b]) for a in nodes for b in nodes if a != b}
    pairs: dict[tuple[str, str], str] = {}
    for a in nodes:
        nearest = sorted((b for b in nodes if b != a), key=lambda b: (dist[a, b], b))
        for b in nearest[: carrier.k]:
            pairs.setdefault(tuple(sorted((a, b))), "backbone")

    # Union-find for connectivity.
    parent = {n: n for n in nodes}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in pairs:
        parent[find(a)] = find(b)
    while len({find(n) for n in nodes}) > 1:
        candidates = sorted(
            (dist[a, b], a, b) for a in nodes for b in nodes if a < b and find(a) != find(b)
        )
        _, a, b = candidates[0]
        pairs[(a, b)] = "backbone-connect"
        parent[find(a)] = find(b)

    return [
        Link(a, b, carrier.id, dist[a, b], carrier.backbone_rf, role)
        for (a, b), role in sorted(pairs.items())
    ]


def access_links(
    carrier: Carrier, homed: list[str], direct: list[str], pos: dict[str, tuple[float, float]]
) -> list[Link]:
    """Each homed site linked to its HOMING nearest direct-connect cities."""
    out = []
    for s in sorted(homed):
        nearest = sorted(direct, key=lambda d: (great_circle_km(pos[s], pos[d]), d))
        for d in nearest[:HOMING]:
            out.append(Link(s, d, carrier.id, great_circle_km(pos[s], pos[d]), carrier.access_rf, "access"))
    return out


def edge_links(edges: list[Site]) -> list[Link]:
    """Each edge data centre linked to its city on each of its carriers (metro)."""
    return [
        Link(e.id, e.serves, n, EDGE_METRO_FIBRE_KM, 1.0, "edge")
        for e in edges
        for n in e.networks
    ]


def on_network(site: Site, network: str) -> bool:
    return not site.networks or network in site.networks


def validate(
    hubs: list[tuple[str, str, str]],
    sites: list[Site],
    links: list[Link],
    interconnects: list[Interconnect],
) -> None:
    """The rules of DESIGN.md that this file could break."""
    hub_ids = [h[0] for h in hubs]
    site_ids = [s.id for s in sites]
    net_ids = [c.id for c in CARRIERS]
    for what, ids in (("hub", hub_ids), ("site", site_ids), ("network", net_ids)):
        if len(set(ids)) != len(ids):
            raise GenError(f"duplicate {what} id")
        for i in ids:
            if not ID_RE.match(i):
                raise GenError(f"bad {what} id {i!r}")
    by_id = {s.id: s for s in sites}
    for s in sites:
        if s.hub and s.hub not in hub_ids:
            raise GenError(f"site {s.id}: unknown hub {s.hub}")
        lat, lon = s.latlon
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise GenError(f"site {s.id}: location out of range")
    seen = set()
    for l in links:
        if l.a not in site_ids or l.b not in site_ids:
            raise GenError(f"link {l.a}-{l.b}: unknown site")
        if l.a == l.b:
            raise GenError(f"link {l.a}-{l.b}: loop")
        if l.network not in net_ids:
            raise GenError(f"link {l.a}-{l.b}: unknown network {l.network}")
        if not (on_network(by_id[l.a], l.network) and on_network(by_id[l.b], l.network)):
            raise GenError(f"link {l.a}-{l.b}: {l.network} is not present at both ends")
        key = (tuple(sorted((l.a, l.b))), l.network)
        if key in seen:
            raise GenError(f"duplicate link {l.a}-{l.b} on {l.network}")
        seen.add(key)
        if not l.delay_ms > 0:
            raise GenError(f"link {l.a}-{l.b}: delay {l.delay_ms}")
    ic_seen = set()
    for ic in interconnects:
        if ic.site not in site_ids:
            raise GenError(f"interconnect at unknown site {ic.site}")
        if len(ic.networks) < 2 or any(n not in net_ids for n in ic.networks):
            raise GenError(f"interconnect at {ic.site}: bad networks {ic.networks}")
        if not all(on_network(by_id[ic.site], n) for n in ic.networks):
            raise GenError(f"interconnect at {ic.site}: a network is not present there")
        if (ic.site, ic.kind) in ic_seen:
            raise GenError(f"duplicate interconnect {ic.kind} at {ic.site}")
        ic_seen.add((ic.site, ic.kind))
    # Every site reachable on each of its carriers' backbones alone.
    for n in net_ids:
        present = [s.id for s in sites if on_network(s, n)]
        adj: dict[str, set[str]] = {s: set() for s in present}
        for l in links:
            if l.network == n:
                adj[l.a].add(l.b)
                adj[l.b].add(l.a)
        seen_sites = {present[0]}
        stack = [present[0]]
        while stack:
            for m in adj[stack.pop()]:
                if m not in seen_sites:
                    seen_sites.add(m)
                    stack.append(m)
        if len(seen_sites) != len(present):
            raise GenError(f"network {n} is not connected: {sorted(set(present) - seen_sites)}")


def shortest_ms(
    links: list[Link],
    interconnects: list[Interconnect],
    src: tuple[str, str | None],
    dst: str,
) -> dict[str, float]:
    """Dijkstra over (site, network) endpoints with the delays as written in the
    file. Returns the best delay to `dst` on each network; `src` network None
    means "start on any network"."""
    adj: dict[tuple[str, str], list[tuple[tuple[str, str], float]]] = {}
    for l in links:
        adj.setdefault((l.a, l.network), []).append(((l.b, l.network), l.delay_ms))
        adj.setdefault((l.b, l.network), []).append(((l.a, l.network), l.delay_ms))
    for ic in interconnects:
        for x in ic.networks:
            for y in ic.networks:
                if x != y:
                    adj.setdefault((ic.site, x), []).append(((ic.site, y), ic.delay_ms))
    starts = [(src[0], c.id) for c in CARRIERS] if src[1] is None else [(src[0], src[1])]
    best: dict[tuple[str, str], float] = {s: 0.0 for s in starts}
    heap = [(0.0, s) for s in sorted(starts)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > best.get(u, math.inf):
            continue
        for v, w in adj.get(u, []):
            if d + w < best.get(v, math.inf):
                best[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return {c.id: best.get((dst, c.id), math.inf) for c in CARRIERS}


def fmt_ms(x: float) -> str:
    return f"{x:.2f}"


def edge_figures(
    sites: list[Site], links: list[Link], interconnects: list[Interconnect]
) -> list[str]:
    """Inter-carrier edge routes (an edge on its carrier to its city's users on
    another carrier; delays are symmetric, so one direction stands for both):
    the range where the city has an interconnect of its own, and each city
    without one with its slowest such route."""
    local = {ic.site for ic in interconnects}
    with_point: list[float] = []
    without: list[tuple[float, str]] = []
    for e in sites:
        if e.kind != "edge":
            continue
        worst: tuple[float, str] | None = None
        for n in e.networks:
            best = shortest_ms(links, interconnects, (e.id, n), e.serves)
            for m, v in best.items():
                if m == n:
                    continue
                if e.serves in local:
                    with_point.append(v)
                elif worst is None or v > worst[0]:
                    worst = (v, f"{e.id}@{n} -> {e.serves}@{m}")
        if worst is not None:
            without.append(worst)
    lines = []
    if with_point:
        lines.append(
            f"with an interconnect in the city: {fmt_ms(min(with_point))}-{fmt_ms(max(with_point))} ms"
        )
    for v, route in sorted(without, reverse=True):
        over = f" (over the {EDGE_BUDGET_MS:g} ms budget)" if v > EDGE_BUDGET_MS else ""
        lines.append(f"{route}: {fmt_ms(v)} ms{over}")
    return lines


def build() -> tuple[str, list[str]]:
    """The YAML text and the sanity lines (also printed)."""
    hubs, sites, direct, exchange, opened = load_data()
    pos = {s.id: s.latlon for s in sites}
    site_ids = {s.id for s in sites}
    for c in direct + exchange:
        if c not in site_ids:
            raise GenError(f"interconnects.csv: {c} is not in sites.csv")
    if len(set(direct)) != len(direct) or len(set(exchange)) != len(exchange):
        raise GenError("interconnects.csv: a site is listed twice for one kind")

    # Backbone nodes: the direct-connect cities, plus the exchange centres (carriers
    # bring their backbones to an exchange centre to meet there). Everything else is
    # homed to its nearest direct-connect cities.
    backbone_nodes = sorted(set(direct) | set(exchange))
    edges = [s for s in sites if s.kind == "edge"]
    homed = [s.id for s in sites if s.id not in backbone_nodes and s.kind != "edge"]

    links: list[Link] = []
    per_carrier: dict[str, tuple[int, int, int]] = {}
    for c in CARRIERS:
        bb = backbone_links(c, backbone_nodes, pos)
        acc = access_links(c, homed, direct, pos)
        links += bb + acc
        extra = sum(1 for l in bb if l.role == "backbone-connect")
        per_carrier[c.id] = (len(bb), extra, len(acc))
    links += edge_links(edges)

    nets = tuple(c.id for c in CARRIERS)
    dc, ix = "backbone-direct-connect", "internet-exchange"
    interconnects = [
        Interconnect(d, dc, nets, DIRECT_CONNECT_DELAY_MS, opened[(d, dc)]) for d in direct
    ] + [Interconnect(x, ix, nets, EXCHANGE_DELAY_MS, opened[(x, ix)]) for x in exchange]

    validate(hubs, sites, links, interconnects)

    # Sanity figures.
    sanity: list[str] = []
    failures: list[str] = []
    for a, b, lo, hi in SANITY:
        per = {c.id: shortest_ms(links, interconnects, (a, c.id), b)[c.id] for c in CARRIERS}
        anyn = min(shortest_ms(links, interconnects, (a, None), b).values())
        gc = great_circle_km(pos[a], pos[b])
        parts = ", ".join(f"{n} {fmt_ms(v)}" for n, v in per.items())
        sanity.append(
            f"{a} -> {b} ({gc:.0f} km): {parts}; best over any carriers {fmt_ms(anyn)} ms"
            f" (published: {'%g-%g' % (lo, hi) if lo else 'within %g' % hi} ms)"
        )
        for n, v in per.items():
            if not lo <= v <= hi:
                failures.append(f"{a} -> {b} on {n}: {v:.2f} ms, outside {lo}-{hi} ms")

    edge_lines = edge_figures(sites, links, interconnects)

    text = render(
        hubs, sites, links, interconnects, backbone_nodes, per_carrier, sanity, edge_lines
    )
    if failures:
        raise GenError("inconsistent with latency-facts.md:\n  " + "\n  ".join(failures))
    return text, sanity


def render(
    hubs: list[tuple[str, str, str]],
    sites: list[Site],
    links: list[Link],
    interconnects: list[Interconnect],
    backbone_nodes: list[str],
    per_carrier: dict[str, tuple[int, int, int]],
    sanity: list[str],
    edge_lines: list[str],
) -> str:
    out: list[str] = []
    w = out.append
    direct_ids = [i.site for i in interconnects if i.kind == "backbone-direct-connect"]
    n_cities = sum(1 for s in sites if s.kind == "city")
    extra_nodes = [n for n in backbone_nodes if n not in direct_ids]
    carriers_doc = "\n".join(
        f"#   {c.id:<8} k = {c.k}, backbone route factor {c.backbone_rf:.2f},"
        f" access route factor {c.access_rf:.2f}:"
        f" {per_carrier[c.id][0]} backbone links"
        + (f" ({per_carrier[c.id][1]} added for connectivity)" if per_carrier[c.id][1] else "")
        + f", {per_carrier[c.id][2]} access links"
        for c in CARRIERS
    )
    w(
        f"""\
# hubmesh embedded national topology: China's national computing-hub plan (ten
# data-center clusters in eight hub regions), {n_cities} major cities with an edge data
# centre in each, and the three major carriers' backbones.
#
# Generated by scripts/gen-national.py; do not edit by hand. Change the generator
# or its inputs and run `python3 scripts/gen-national.py` (CI runs it with --check).
#
# Data: topology/data/sites.csv (clusters, cities, hubs and hub roles; coordinates
# are approximate city centres or cluster start areas, good to about 0.1 degree)
# and topology/data/interconnects.csv (national backbone direct-connect cities and
# national new-type internet exchange centres), copies of the project's reference
# data, and topology/data/edges.csv (an edge data centre in every city and the
# carrier hosting it: an assumption stated in its basis column, since no source
# names them). The links are a plausible model built from geography, not the
# carriers' real fibre maps.
#
# Links, per carrier (each carrier has its own backbone; `network:` says whose):
# - backbone nodes: the {len(direct_ids)} direct-connect cities plus the exchange centres
#   not among them ({", ".join(extra_nodes)}), since carriers bring their backbones to an exchange
#   centre to meet there: {len(backbone_nodes)} nodes. Each is linked to its k nearest backbone
#   nodes (great-circle distance); if that left the graph in pieces, the shortest
#   link between two pieces would be added until it is connected.
# - every other site (clusters and cities) is homed to its {HOMING} nearest direct-connect
#   cities on every carrier ("access" links), however far (Urumqi, Harbin).
# - every edge data centre stands at its city's coordinates, on the carrier(s)
#   edges.csv names, linked to its city on each of them over {EDGE_METRO_FIBRE_KM:g} km of
#   metro fibre (assumed; {fmt_ms(EDGE_METRO_FIBRE_KM * FIBRE_US_PER_KM / 1000.0)} ms). Its users are the city site on every
#   carrier, so on any other carrier the traffic crosses at an interconnect.
# - delay_ms = great-circle km x route factor x 4.9 us/km, rounded to 0.01 ms; the
#   trailing comment gives the distance and route factor.
# The carriers differ in backbone density (k) and directness (route factor):
{carriers_doc}
#
# Interconnects (the only places where traffic changes carrier): a
# backbone-direct-connect point in each direct-connect city (all three carriers,
# {DIRECT_CONNECT_DELAY_MS} ms: the carriers' backbone routers meet across metro fibre and the
# point's switching within one city) and an internet-exchange at each exchange
# centre ({EXCHANGE_DELAY_MS} ms: carriers colocated on one neutral exchange fabric, a shorter
# hop). Shanghai and Hangzhou have both.
#
# Sanity check against latency-facts.md: shortest one-way delay from the delays
# below, same carrier at both ends (changing carrier at interconnects allowed):
"""
    )
    for line in sanity:
        w(f"#   {line}\n")
    w(
        "#\n# Inter-carrier edge routes (an edge data centre and its city's users on another\n"
        f"# carrier; plan-2021 holds them to {EDGE_BUDGET_MS:g} ms one way), shortest one-way delay:\n"
    )
    for line in edge_lines:
        w(f"#   {line}\n")
    w("\nversion: 1\n\nhubs:\n")
    for hid, name, role in hubs:
        w(f"  - {{id: {hid}, name: {name}, role: {role}}}\n")

    w("\nsites:\n")
    for kind, title in (
        ("cluster", "data-center clusters"),
        ("city", "major cities"),
        ("edge", "edge data centres, one per city (carriers assumed: edges.csv)"),
    ):
        w(f"  # {title}\n")
        for s in sites:
            if s.kind != kind:
                continue
            hub = f", hub: {s.hub}" if s.hub else ""
            serves = f", serves: {s.serves}" if s.serves else ""
            nets = f", networks: [{', '.join(s.networks)}]" if s.networks else ""
            w(
                f"  - {{id: {s.id}, name: {s.name}, kind: {s.kind}{hub}{serves}{nets},"
                f" location: [{s.lat_text}, {s.lon_text}]}}  # {s.name_en}\n"
            )

    w("\nnetworks:\n")
    for c in CARRIERS:
        w(f"  - {{id: {c.id}, name: {c.name}}}\n")

    w("\nlinks:\n")
    for c in CARRIERS:
        for role, title in (
            ("backbone", f"{c.id} backbone (k = {c.k})"),
            ("backbone-connect", f"{c.id} backbone, added for connectivity"),
            ("access", f"{c.id} access: homed to the {HOMING} nearest direct-connect cities"),
        ):
            group = [l for l in links if l.network == c.id and l.role == role]
            if not group:
                continue
            w(f"  # {title}\n")
            for l in group:
                w(
                    f"  - {{between: [{l.a}, {l.b}], network: {l.network},"
                    f" delay_ms: {fmt_ms(l.delay_ms)}}}  # {l.km:.0f} km x {l.rf:.2f}\n"
                )
    w("  # edge data centres to their city, on each carrier hosting them: metro fibre (assumed)\n")
    for l in links:
        if l.role == "edge":
            w(
                f"  - {{between: [{l.a}, {l.b}], network: {l.network},"
                f" delay_ms: {fmt_ms(l.delay_ms)}}}  # {l.km:.0f} km of metro fibre\n"
            )

    w("\ninterconnects:  # in the order of interconnects.csv, with the year each opened\n")
    for ic in interconnects:
        w(
            f"  - {{site: {ic.site}, kind: {ic.kind}, networks: [{', '.join(ic.networks)}],"
            f" delay_ms: {ic.delay_ms}}}  # opened {ic.opened.replace('-', ' ') or 'year unknown'}\n"
        )

    w("\nbudgets: plan-2021\n")
    return "".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed national.yaml differs from the output",
    )
    args = ap.parse_args()
    try:
        text, sanity = build()
    except (GenError, OSError, KeyError, ValueError) as e:
        print(f"gen-national: error: {e}", file=sys.stderr)
        return 2
    for line in sanity:
        print(line)
    rel = OUTPUT.relative_to(ROOT)
    if args.check:
        try:
            current = OUTPUT.read_text(encoding="utf-8")
        except OSError as e:
            print(f"gen-national: {rel}: {e}", file=sys.stderr)
            return 1
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{rel} (committed)",
                f"{rel} (generated)",
            )
            sys.stderr.writelines(diff)
            print(
                f"gen-national: {rel} is out of date; run python3 scripts/gen-national.py",
                file=sys.stderr,
            )
            return 1
        print(f"{rel} is up to date")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
