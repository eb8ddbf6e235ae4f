// How numbers and times read on the page.

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const plain = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

export function count(value) {
  return value === null || value === undefined ? "–" : compact.format(value);
}

export function number(value) {
  return value === null || value === undefined ? "–" : plain.format(value);
}

export function score(value) {
  return value === null || value === undefined ? "–" : value.toFixed(3);
}

export function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = value;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return `${n.toFixed(n >= 10 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function celsius(value) {
  return value === null || value === undefined ? "–" : `${value.toFixed(1)} °C`;
}

export function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
}

export function shortId(id) {
  return id ? id.slice(0, 10) : "–";
}
