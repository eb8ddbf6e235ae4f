// The dashboard: every panel loads from the API, and one event stream says
// when to load it again. Only the cluster stats also poll, slowly, as a
// fallback for changes no event announces (ips, temperature).

import { API, ASSETS, NotAvailable, Unreachable, api, apiReachable, onReachability } from "./api.js";
import { forgetManifest, keyboardNamed, keycodes, unigrams } from "./assets.js";
import { sparkline, stepChart } from "./charts.js";
import { byId, h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { drawKeyboard } from "./keyboard.js";
import { follow } from "./live.js";

const STATS_POLL_MS = 10000;
const SAMPLES = 90;
const FEED_LENGTH = 40;
const METRIC_NAMES = {
  sfb: "Same-finger bigrams",
  skip_bigrams: "Skip bigrams",
  lateral_stretch: "Lateral stretches",
  pinky_scissors: "Pinky scissors",
  tri_redirect: "Redirects",
  roll_in: "Inward rolls",
  roll_out: "Outward rolls",
  effort: "Effort",
  distance: "Distance",
  coverage: "Corpus coverage",
  left_hand: "Left hand",
};
const UNITLESS = new Set(["effort", "distance"]);

const series = { nodes: [], ips: [], temp: [], ram: [] };
let selectedJob = new URLSearchParams(location.hash.slice(1)).get("job");
let jobs = [];

// Runs fn at most once per `ms`, at the end of a burst of calls.
function coalesce(fn, ms) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

// Loads one panel; a missing endpoint or an unreachable API never throws out of here.
async function panel(name, load) {
  const note = byId(`${name}-empty`);
  try {
    await load();
  } catch (error) {
    if (error instanceof Unreachable) return; // the banner says it for every panel
    if (note) {
      note.hidden = false;
      note.textContent =
        error instanceof NotAvailable ? "Not available on this hive yet." : `Could not load: ${error.message}`;
    }
    const table = byId(name);
    if (table && error instanceof NotAvailable) table.hidden = true;
  }
}

function push(list, value) {
  list.push(value);
  if (list.length > SAMPLES) list.shift();
}

async function loadStats() {
  const stats = await api("/cluster/stats");
  setText("stat-nodes", fmt.number(stats.nodes_online));
  setText("stat-ips", fmt.count(stats.total_ips));
  setText("stat-temp", fmt.celsius(stats.avg_temperature_c));
  setText(
    "stat-ram",
    stats.ram_total_bytes ? `${fmt.bytes(stats.ram_used_bytes)} of ${fmt.bytes(stats.ram_total_bytes)}` : fmt.bytes(stats.ram_used_bytes),
  );
  setText("stat-jobs", fmt.number(stats.jobs_active));
  setText("stat-draining", fmt.number(stats.nodes_draining));
  setText("stat-asof", fmt.time(stats.as_of));
  byId("stat-asof").setAttribute("datetime", stats.as_of ?? "");
  push(series.nodes, stats.nodes_online);
  push(series.ips, stats.total_ips);
  push(series.temp, stats.avg_temperature_c ?? Number.NaN);
  push(series.ram, stats.ram_used_bytes ?? Number.NaN);
  sparkline(byId("spark-nodes"), series.nodes, "Nodes online");
  sparkline(byId("spark-ips"), series.ips, "Total ips");
  sparkline(byId("spark-temp"), series.temp, "Average temperature");
  sparkline(byId("spark-ram"), series.ram, "RAM in use");
}

function statusBadge(status) {
  return h("span", { class: `status status-${status}`, text: status });
}

function selectJob(jobId, focus) {
  selectedJob = jobId;
  history.replaceState(null, "", `#job=${jobId}`);
  for (const button of document.querySelectorAll("#jobs button[data-job]")) {
    button.setAttribute("aria-pressed", String(button.dataset.job === jobId));
  }
  void panel("job", loadJob);
  if (focus) byId("job-panel").focus();
}

async function loadJobs() {
  jobs = await api("/jobs");
  byId("jobs-empty").hidden = jobs.length > 0;
  byId("jobs-empty").textContent = "No jobs yet.";
  const rows = jobs.map((job) =>
    h(
      "tr",
      { "data-job-row": job.job_id, class: job.job_id === selectedJob ? "selected" : null },
      h(
        "td",
        {},
        h("button", {
          type: "button",
          class: "link mono",
          "data-job": job.job_id,
          "aria-pressed": String(job.job_id === selectedJob),
          "aria-label": `Show job ${fmt.shortId(job.job_id)} on ${job.keyboard_name ?? "its keyboard"}`,
          text: fmt.shortId(job.job_id),
        }),
      ),
      h("td", { text: job.keyboard_name ?? "–" }),
      h("td", {}, statusBadge(job.status)),
      h("td", { class: "num mono", text: fmt.score(job.best_score) }),
      h("td", { class: "num", text: fmt.number(job.results) }),
    ),
  );
  byId("jobs").querySelector("tbody").replaceChildren(...rows);
  if (!selectedJob && jobs.length > 0) selectJob(jobs[0].job_id, false);
  else if (selectedJob) void panel("job", loadJob);
}

let drawnKeyboard = null; // {name, keys} of the last geometry found

async function geometryFor(job) {
  if (drawnKeyboard?.name === job.keyboard_name) return drawnKeyboard.keys;
  const definition = await keyboardNamed(job.keyboard_name, job.slots);
  if (!definition) return null;
  drawnKeyboard = { name: job.keyboard_name, keys: definition.geometry.keys };
  return drawnKeyboard.keys;
}

async function loadJob() {
  if (!selectedJob) return;
  const jobId = selectedJob;
  let job;
  try {
    job = await api(`/jobs/${jobId}`);
  } catch (error) {
    // A job id from an old link, or a job gone with its database: pick another.
    if (!(error instanceof NotAvailable)) throw error;
    selectedJob = null;
    byId("job-detail").hidden = true;
    byId("job-empty").hidden = false;
    byId("job-empty").textContent = `There is no job ${fmt.shortId(jobId)}; choose one from the list.`;
    return;
  }
  if (jobId !== selectedJob) return;
  byId("job-empty").hidden = true;
  byId("job-detail").hidden = false;
  setText("job-id", fmt.shortId(job.job_id));
  byId("job-id").title = job.job_id;
  setText("job-keyboard", job.keyboard_name ?? "–");
  byId("job-status").replaceChildren(statusBadge(job.status));
  setText("job-score", fmt.score(job.best_score));
  setText("job-results", fmt.number(job.results));
  renderMetrics(job.metrics);
  await Promise.all([drawLayout(job), loadHistory(job)]);
}

async function drawLayout(job) {
  const board = byId("keyboard");
  board.dataset.layout = job.best_layout ?? "";
  try {
    const [keys, codes, shares] = await Promise.all([
      geometryFor(job),
      keycodes(),
      unigrams(job.corpus_name ?? "default"),
    ]);
    if (!keys) {
      board.replaceChildren(h("p", { class: "empty", text: `The keyboard "${job.keyboard_name}" is not among the published assets.` }));
      return;
    }
    drawKeyboard(board, keys, job.best_layout, codes, shares);
    setText(
      "keyboard-caption",
      shares
        ? "Each key shows its legend and its share of key presses in the corpus; darker keys and longer bars mean more use."
        : "The corpus of this job is not published: keys show their legends only.",
    );
  } catch (error) {
    if (error instanceof Unreachable) {
      board.replaceChildren(h("p", { class: "empty", text: `The asset gateway at ${ASSETS} is unreachable.` }));
    } else {
      board.replaceChildren(h("p", { class: "empty", text: `Could not draw the layout: ${error.message}` }));
    }
  }
}

function renderMetrics(metrics) {
  const list = byId("metrics");
  if (!metrics) {
    list.replaceChildren(h("p", { class: "empty", text: "No metrics until the first result." }));
    return;
  }
  const items = [];
  const known = Object.keys(METRIC_NAMES).filter((name) => name in metrics);
  const names = [...known, ...Object.keys(metrics).filter((name) => !(name in METRIC_NAMES))];
  for (const name of names) {
    const value = metrics[name];
    const shown = typeof value === "number" ? (UNITLESS.has(name) ? fmt.number(value) : `${value.toFixed(2)}%`) : String(value);
    items.push(h("div", { class: "metric" }, h("dt", { text: METRIC_NAMES[name] ?? name }), h("dd", { class: "mono", text: shown })));
  }
  list.replaceChildren(...items);
}

async function loadHistory(job) {
  const box = byId("history");
  try {
    const records = await api(`/jobs/${job.job_id}/history`);
    stepChart(box, records, job.best_score);
  } catch (error) {
    if (error instanceof Unreachable) return;
    box.replaceChildren(
      h("p", { class: "empty", text: error instanceof NotAvailable ? "Not available on this hive yet." : `Could not load: ${error.message}` }),
    );
  }
}

async function loadLeaderboard() {
  const boards = await api("/leaderboard");
  byId("leaderboard").hidden = boards.length === 0;
  byId("leaderboard-empty").hidden = boards.length > 0;
  byId("leaderboard-empty").textContent = "No scored results yet.";
  const rows = boards.map((b) =>
    h(
      "tr",
      {},
      h("td", {}, h("span", { text: b.keyboard_name ?? "–" }), h("span", { class: "muted small", text: ` ${b.key_count ?? ""} keys` })),
      h("td", { text: b.corpus ?? "–" }),
      h("td", { class: "num mono", text: fmt.score(b.best_score) }),
      h("td", { class: "num", text: fmt.number(b.jobs) }),
      h("td", { class: "num", text: fmt.number(b.results) }),
    ),
  );
  byId("leaderboard").querySelector("tbody").replaceChildren(...rows);
}

async function loadContributors() {
  const nodes = await api("/contributors?limit=20");
  byId("contributors").hidden = nodes.length === 0;
  byId("contributors-empty").hidden = nodes.length > 0;
  byId("contributors-empty").textContent = "No contributors yet.";
  const rows = nodes.map((n) =>
    h(
      "tr",
      {},
      h("td", { class: "mono", text: n.node_id }),
      h("td", { class: "num", text: fmt.count(n.work_units) }),
      h("td", { class: "num", text: fmt.number(n.results) }),
      h("td", { class: "num", text: fmt.number(n.records) }),
      h("td", { text: fmt.time(n.last_seen) }),
    ),
  );
  byId("contributors").querySelector("tbody").replaceChildren(...rows);
}

async function loadFreeze() {
  const banner = byId("freeze");
  let freeze;
  try {
    freeze = await api("/fleet/freeze");
  } catch (error) {
    if (error instanceof NotAvailable) {
      banner.hidden = true;
      return;
    }
    throw error;
  }
  banner.hidden = !freeze.active;
  if (freeze.active) {
    const until = freeze.until ? `until ${new Date(freeze.until).toLocaleString()}` : "until lifted";
    banner.textContent = `Dispatch is frozen ${until}${freeze.reason ? `: ${freeze.reason}` : ""}. Running work finishes; no new work is handed out.`;
  }
}

function describe(type, data) {
  const job = data?.job_id ? `job ${fmt.shortId(data.job_id)}` : "";
  switch (type) {
    case "new_record":
      return `New best ${fmt.score(data?.score)} for ${job}${data?.node_id ? ` by ${data.node_id}` : ""}`;
    case "job_status":
      return `${job || "A job"} is now ${data?.status ?? "changed"}`;
    case "node_status":
      return `Node ${data?.node_id ?? "?"} is ${data?.status ?? "changed"}`;
    case "asset_update":
      return `Asset ${data?.path ?? "?"} ${data?.action === "delete" ? "removed" : "published"}`;
    case "fleet_freeze":
      return data?.active === false ? "Dispatch freeze lifted" : "Dispatch freeze changed";
    case "resync":
      return "The event history was trimmed: everything reloaded";
    default:
      return type;
  }
}

function addToFeed(type, data) {
  byId("feed-empty").hidden = true;
  const feed = byId("feed");
  const now = new Date();
  feed.prepend(
    h(
      "li",
      { class: `event event-${type}` },
      h("time", { datetime: now.toISOString(), text: now.toLocaleTimeString() }),
      h("span", { class: "event-type", text: type.replace("_", " ") }),
      h("span", { class: "event-text", text: describe(type, data) }),
    ),
  );
  while (feed.children.length > FEED_LENGTH) feed.lastElementChild.remove();
}

const reloadStats = coalesce(() => panel("stats", loadStats), 500);
const reloadJobs = coalesce(() => panel("jobs", loadJobs), 300);
const reloadJob = coalesce(() => panel("job", loadJob), 300);
const reloadLeaderboard = coalesce(() => panel("leaderboard", loadLeaderboard), 1000);
const reloadContributors = coalesce(() => panel("contributors", loadContributors), 2000);
const reloadFreeze = coalesce(() => panel("freeze", loadFreeze), 200);

function reloadAll() {
  reloadStats();
  reloadJobs();
  reloadLeaderboard();
  reloadContributors();
  reloadFreeze();
}

function onEvent(type, data) {
  addToFeed(type, data);
  switch (type) {
    case "new_record":
      reloadJobs();
      reloadLeaderboard();
      reloadContributors();
      if (data?.job_id === selectedJob) reloadJob();
      break;
    case "job_status":
      reloadJobs();
      reloadStats();
      break;
    case "node_status":
      reloadStats();
      reloadContributors();
      break;
    case "asset_update":
      forgetManifest();
      drawnKeyboard = null;
      if (selectedJob) reloadJob();
      break;
    case "fleet_freeze":
      reloadFreeze();
      break;
    case "resync":
      reloadAll();
      break;
    default:
      break;
  }
}

function setConnection(state, text) {
  const el = byId("connection");
  el.dataset.state = state;
  el.textContent = text;
}

function showReachability(reachable) {
  const banner = byId("unreachable");
  banner.hidden = reachable;
  if (!reachable) {
    banner.textContent = `The API at ${API} is unreachable. This page keeps trying and catches up by itself when it is back.`;
    setConnection("down", "API unreachable");
  }
}

function start() {
  setText("api-url", API.replace(/^https?:\/\//, ""));
  setText("assets-url", ASSETS.replace(/^https?:\/\//, ""));
  byId("jobs").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-job]");
    if (button) selectJob(button.dataset.job, true);
  });
  onReachability(showReachability);
  follow({
    onEvent,
    onOpen() {
      apiReachable(true);
      setConnection("live", "Live");
      // Whatever happened while the stream was away: one reload catches up.
      reloadAll();
    },
    onDown(how) {
      if (how === "closed") apiReachable(false);
      else setConnection("connecting", "Reconnecting…");
    },
  });
  reloadAll();
  setInterval(reloadStats, STATS_POLL_MS);
}

start();
