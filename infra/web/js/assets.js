// What the page needs from the asset gateway, found through the manifest and
// fetched by content hash (immutable, so each is fetched once per page).

import { asset } from "./api.js";

const byHash = new Map();
let manifest = null;

export function forgetManifest() {
  manifest = null;
}

async function files() {
  if (manifest === null) manifest = (await (await asset("/manifest")).json()).files;
  return manifest;
}

async function fetchByHash(sha, as) {
  const key = `${as}:${sha}`;
  if (!byHash.has(key)) {
    byHash.set(
      key,
      asset(`/by-hash/${sha}`).then((r) => (as === "json" ? r.json() : r.text())),
    );
    byHash.get(key).catch(() => byHash.delete(key));
  }
  return byHash.get(key);
}

// The keyboard definition whose meta.name is the job's keyboard name.
export async function keyboardNamed(name, keyCount) {
  const all = await files();
  const paths = Object.keys(all).filter((p) => p.startsWith("keyboards/") && p.endsWith(".json"));
  const definitions = await Promise.all(paths.map((p) => fetchByHash(all[p], "json")));
  return (
    definitions.find((d) => d?.meta?.name === name && d.geometry?.keys?.length === keyCount) ??
    definitions.find((d) => d?.meta?.name === name) ??
    null
  );
}

// keycode id -> its legend, and the character it types (if it types one).
export async function keycodes() {
  const all = await files();
  const table = all["keycodes.json"] ? await fetchByHash(all["keycodes.json"], "json") : [];
  const map = new Map();
  for (const entry of table) {
    const label = entry.label ?? "";
    let char = null;
    if (label.length === 1) char = label.toLowerCase();
    else if (entry.id === "KC_SPC") char = " ";
    map.set(entry.id, { label, char });
    for (const alias of entry.aliases ?? []) map.set(alias, { label, char });
  }
  return map;
}

// character -> share of all characters in the corpus (1grams.csv: char,freq).
export async function unigrams(corpus) {
  const all = await files();
  const path = `corpora/${corpus}/1grams.csv`;
  if (!all[path]) return null;
  const text = await fetchByHash(all[path], "text");
  const counts = new Map();
  let total = 0;
  for (const line of text.split("\n").slice(1)) {
    const cut = line.lastIndexOf(",");
    if (cut < 1) continue;
    let char = line.slice(0, cut);
    if (char.length > 1 && char.startsWith('"') && char.endsWith('"')) {
      char = char.slice(1, -1).replaceAll('""', '"');
    }
    const freq = Number(line.slice(cut + 1));
    if (!Number.isFinite(freq)) continue;
    counts.set(char.toLowerCase(), (counts.get(char.toLowerCase()) ?? 0) + freq);
    total += freq;
  }
  const shares = new Map();
  for (const [char, freq] of counts) shares.set(char, total ? freq / total : 0);
  return shares;
}
