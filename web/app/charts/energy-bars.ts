// Energy per period as bars, in plain HTML and CSS (no canvas): each bar is
// a list item whose height is its share of the largest, with the period,
// kWh and cost in its accessible name and tooltip. The same numbers are in
// the table on the Energy page.

import { h } from "../dom";

export interface Bar {
  /** Short label under the bar ("14", "Mon", "Mar"). */
  label: string;
  /** Long label for tooltip and screen readers ("Sat, 14 Mar 2026"). */
  title: string;
  value: number;
  /** e.g. "3.21 kWh, €0.96". */
  text: string;
  /** Marks the running period. */
  current?: boolean;
}

/** Renders bars into a figure labelled `label`; `data-points` is the number of bars. */
export function energyBars(label: string, bars: Bar[], summary: string): HTMLElement {
  const max = bars.reduce((m, bar) => Math.max(m, bar.value), 0);
  // Label every bar when few, else every n-th so labels do not collide.
  const every = Math.max(1, Math.ceil(bars.length / 12));
  const list = h(
    "ol",
    { class: "bars", style: `--bar-count: ${Math.max(bars.length, 1)}` },
    bars.map((bar, i) =>
      h(
        "li",
        { class: bar.current ? "bar current" : "bar", title: `${bar.title}: ${bar.text}` },
        h("span", { class: "bar-fill", style: `height: ${max > 0 ? (bar.value / max) * 100 : 0}%`, "aria-hidden": "true" }),
        h("span", { class: i % every === 0 ? "bar-label" : "bar-label sr-only" }, bar.label),
        h("span", { class: "sr-only" }, `: ${bar.title}, ${bar.text}`),
      ),
    ),
  );
  return h(
    "figure",
    { class: "chart energy-chart", "data-testid": "energy-chart", "data-points": String(bars.length), "aria-label": label },
    list,
    h("figcaption", { class: "chart-summary" }, summary),
  );
}
