// Numbers and times as the console prints them.

export function ms(x, digits = 2) {
  return x === null || x === undefined ? "–" : `${Number(x).toFixed(digits)} ms`;
}

export function pct(x) {
  return x === null || x === undefined ? "–" : `${Number(x).toFixed(1)} %`;
}

/** 12:03:40 (UTC, as the controller's times are). */
export function clock(unixMs) {
  return new Date(unixMs).toISOString().slice(11, 19) + "Z";
}

export function dateTime(unixMs) {
  return new Date(unixMs).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

/** 45 s, 3 min, 2 h 5 min. */
export function age(msAgo) {
  const s = Math.max(0, Math.round(msAgo / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const hrs = Math.floor(m / 60);
  return `${hrs} h ${m % 60} min`;
}

export function routeName(from, to) {
  return `${from} → ${to}`;
}
