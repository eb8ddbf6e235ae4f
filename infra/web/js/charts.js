// Small SVG charts: a sparkline for a stat, a step chart for a job's best score.

import { s } from "./dom.js";
import { score as fmtScore, time as fmtTime } from "./format.js";

export function sparkline(container, values, label) {
  const width = 200;
  const height = 48;
  const pad = 3;
  const points = values.filter((v) => Number.isFinite(v));
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "sparkline",
    role: "img",
    "aria-label": `${label}: the last ${points.length} samples`,
    preserveAspectRatio: "none",
  });
  if (points.length >= 2) {
    const min = Math.min(...points);
    const max = Math.max(...points);
    const span = max - min || 1;
    const x = (i) => pad + (i * (width - 2 * pad)) / (points.length - 1);
    const y = (v) => height - pad - ((v - min) * (height - 2 * pad)) / span;
    const line = points.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(
      s("polygon", {
        class: "spark-area",
        points: `${x(0)},${height - pad} ${line} ${x(points.length - 1)},${height - pad}`,
      }),
      s("polyline", { class: "spark-line", points: line }),
      s("circle", {
        class: "spark-dot",
        cx: x(points.length - 1),
        cy: y(points.at(-1)),
        r: 2.5,
      }),
    );
  } else {
    svg.append(s("line", { class: "spark-base", x1: pad, x2: width - pad, y1: height - pad, y2: height - pad }));
  }
  container.replaceChildren(svg);
}

// history: [{at, score, node_id}], oldest first; a step down at every record.
export function stepChart(container, history, currentBest) {
  const width = 420;
  const height = 170;
  const left = 64;
  const right = 12;
  const top = 12;
  const bottom = 30;
  const records = history.filter((r) => Number.isFinite(r.score));
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "step-chart",
    role: "img",
    "aria-label":
      records.length === 0
        ? "No records yet"
        : `${records.length} records, from ${fmtScore(records[0].score)} to ${fmtScore(records.at(-1).score)}`,
  });
  if (records.length === 0) {
    svg.append(s("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle", text: "No records yet" }));
    container.replaceChildren(svg);
    return;
  }
  const times = records.map((r) => new Date(r.at).getTime());
  const scores = records.map((r) => r.score);
  if (Number.isFinite(currentBest)) scores.push(currentBest);
  const t0 = Math.min(...times);
  const t1 = Math.max(Date.now(), ...times);
  const lo = Math.min(...scores);
  const hi = Math.max(...scores);
  const span = hi - lo || Math.abs(hi) * 0.05 || 1;
  const x = (t) => left + ((t - t0) * (width - left - right)) / (t1 - t0 || 1);
  const y = (v) => top + ((hi - v) * (height - top - bottom)) / span;
  let path = `M${x(times[0]).toFixed(1)},${y(records[0].score).toFixed(1)}`;
  for (let i = 1; i < records.length; i += 1) {
    path += ` H${x(times[i]).toFixed(1)} V${y(records[i].score).toFixed(1)}`;
  }
  path += ` H${x(t1).toFixed(1)}`;
  svg.append(
    s("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }),
    s("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }),
    s("text", { class: "tick", x: left - 6, y: y(hi) + 4, "text-anchor": "end", text: fmtScore(hi) }),
    s("text", { class: "tick", x: left - 6, y: y(lo) + 4, "text-anchor": "end", text: fmtScore(lo) }),
    s("text", { class: "tick", x: left, y: height - 10, text: fmtTime(new Date(t0).toISOString()) }),
    s("text", { class: "tick", x: width - right, y: height - 10, "text-anchor": "end", text: "now" }),
    s("path", { class: "step-line", d: path }),
  );
  records.forEach((r, i) => {
    svg.append(
      s(
        "circle",
        { class: "step-dot", cx: x(times[i]), cy: y(r.score), r: 3 },
        s("title", { text: `${fmtScore(r.score)} at ${fmtTime(r.at)} by ${r.node_id ?? "?"}` }),
      ),
    );
  });
  container.replaceChildren(svg);
}
