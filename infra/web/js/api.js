// The hive and the asset gateway, found beside the page: the page is served at
// keyforge.<domain>[:port], the API at api.<domain> and the assets at assets.<domain>
// behind the same port, so no configuration has to be baked into the page.

export const API = `${location.protocol}//api.${location.host}`;
export const ASSETS = `${location.protocol}//assets.${location.host}`;

// An endpoint this hive does not have (an older hive): its panel says so quietly.
export class NotAvailable extends Error {}

// The API did not answer at all, or answered that it is down (5xx).
export class Unreachable extends Error {}

const listeners = new Set();
let reachable = true;

export function onReachability(listener) {
  listeners.add(listener);
}

function setReachable(value) {
  if (value === reachable) return;
  reachable = value;
  for (const listener of listeners) listener(value);
}

async function get(base, path) {
  let response;
  try {
    response = await fetch(`${base}${path}`, { headers: { Accept: "application/json" } });
  } catch {
    if (base === API) setReachable(false);
    throw new Unreachable(`${base} did not answer`);
  }
  if (response.status >= 500) {
    if (base === API) setReachable(false);
    throw new Unreachable(`${base}${path} answered ${response.status}`);
  }
  if (base === API) setReachable(true);
  if (response.status === 404) throw new NotAvailable(`${path} is not available`);
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response;
}

export async function api(path) {
  return (await get(API, path)).json();
}

export async function asset(path) {
  return get(ASSETS, path);
}

export function apiReachable(value) {
  setReachable(value);
}
