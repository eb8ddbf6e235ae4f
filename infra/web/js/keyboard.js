// A layout drawn on its keyboard's geometry, each key tinted by how often the
// corpus types it. The share is also written on the key and drawn as a bar, so
// colour is never the only signal.

import { s } from "./dom.js";

const U = 56; // one key unit, in SVG units
const GAP = 4;

// Pale sand for a rarely typed key to a deep ember for the busiest letters.
function heat(t) {
  const hue = 48 - 36 * t;
  const sat = 70 + 20 * t;
  const light = 94 - 52 * t;
  return `hsl(${hue.toFixed(0)} ${sat.toFixed(0)}% ${light.toFixed(0)}%)`;
}

export function drawKeyboard(container, keys, layout, codes, shares) {
  const slots = layout ? layout.split(/\s+/).filter(Boolean) : [];
  const usage = keys.map((_, i) => {
    const info = codes.get(slots[i]);
    return info?.char != null && shares ? (shares.get(info.char) ?? 0) : null;
  });
  // Space alone would wash every letter out: the scale tops out at the busiest
  // other key, and space is simply drawn at the top of it.
  const busiest = Math.max(
    0.0001,
    ...usage.filter((u, i) => u !== null && codes.get(slots[i])?.char !== " "),
  );
  const maxX = Math.max(...keys.map((k) => k.x + (k.w ?? 1)));
  const maxY = Math.max(...keys.map((k) => k.y + (k.h ?? 1)));
  const svg = s("svg", {
    viewBox: `${-GAP} ${-GAP} ${maxX * U + 2 * GAP} ${maxY * U + 2 * GAP}`,
    class: "keyboard-svg",
    role: "img",
    "aria-label": `The best layout on ${keys.length} keys: ${slots.map((id) => codes.get(id)?.label || id).join(" ")}`,
  });
  keys.forEach((key, i) => {
    const id = slots[i] ?? "";
    const label = codes.get(id)?.label || id.replace(/^KC_/, "");
    const share = usage[i];
    const t = share === null ? 0 : Math.min(1, Math.sqrt(share / busiest));
    const w = (key.w ?? 1) * U - GAP;
    const hgt = (key.h ?? 1) * U - GAP;
    const x = key.x * U;
    const y = key.y * U;
    const dark = t > 0.85; // white legends only where dark ones would lose contrast
    const group = s("g", { class: share === null ? "key key-idle" : "key", "data-slot": i, "data-keycode": id });
    group.append(
      s("title", {
        text: share === null ? `${label}: types no corpus character` : `${label}: ${(share * 100).toFixed(2)}% of key presses`,
      }),
      s("rect", { x, y, width: w, height: hgt, rx: 7, fill: share === null ? "hsl(215 14% 80%)" : heat(t), class: "key-cap" }),
      s("text", {
        x: x + w / 2,
        y: y + hgt * 0.46,
        "text-anchor": "middle",
        class: dark ? "key-label on-dark" : "key-label",
        "font-size": label.length > 3 ? 12 : label.length > 1 ? 15 : 19,
        text: label,
      }),
    );
    if (share !== null) {
      group.append(
        s("text", {
          x: x + w / 2,
          y: y + hgt * 0.76,
          "text-anchor": "middle",
          class: dark ? "key-share on-dark" : "key-share",
          text: `${(share * 100).toFixed(1)}%`,
        }),
        s("rect", {
          x: x + 5,
          y: y + hgt - 7,
          width: Math.max(1, (w - 10) * Math.min(1, share / busiest)),
          height: 3,
          rx: 1.5,
          class: dark ? "key-bar on-dark" : "key-bar",
        }),
      );
    }
    svg.append(group);
  });
  container.replaceChildren(svg);
}
