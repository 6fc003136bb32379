// One socket (`/sockets/:device/:socket`) or the household total
// (`/sockets/total`): power now, a live chart of the last 15 minutes, and a
// history chart with ranges, drag-to-zoom, comparison with the previous
// period and CSV export.
//
// Data: GET /api/power (the live chart's first 15 minutes; each history
// range, and the previous period when comparing), the /api/live feed
// (appended to the live chart), GET /api/export.csv (Download CSV), names
// from GET /api/devices.

import { h } from "../dom";
import * as api from "../api/endpoints";
import { isAbort } from "../api/http";
import { subscribeLive } from "../api/live";
import type { LiveEvent, PowerSeries, SocketKey } from "../api/types";
import { PowerChart, joinSeries, type Columns } from "../charts/power-chart";
import { clearError, errorBox, messageOf, showError, whileBusy } from "../components/feedback";
import { liveBadge, throttledAnnouncer } from "../components/live-badge";
import { presetRange, rangePicker, type Range } from "../components/range-picker";
import { saveResponse } from "../download";
import * as format from "../format";
import { loadNames } from "../household";
import type { PageContext } from "../router";
import { DAY, MINUTE } from "../time";

const LIVE_WINDOW = 15 * MINUTE;
/** Longest range the CSV export serves. */
const EXPORT_LIMIT = 366 * DAY;
/** Shortest span a drag may zoom into. */
const MIN_ZOOM = 2 * MINUTE;

export async function render(root: HTMLElement, { params, signal }: PageContext): Promise<void> {
  const key: SocketKey | null = params.device !== undefined && params.socket !== undefined ? { device: params.device, socket: params.socket } : null;
  const names = await loadNames();
  if (signal.aborted) return;
  const title = key ? names.socket(key) : "Household total";
  document.title = `${title} · Wattline`;

  // --- power now and the live chart ---
  const badge = liveBadge();
  const announcer = throttledAnnouncer();
  const now = h("p", { class: "big-number", "data-testid": "current-power" }, "—");
  const liveChart = new PowerChart({
    testId: "live-chart",
    label: `Live power of ${title}, last 15 minutes`,
    // A socket that reports once a minute leaves the 10 s steps between its
    // readings empty: join them, or nothing would be drawn.
    series: [{ label: "Power", colorVar: "--series-1", fill: true, spanGaps: true }],
    height: 200,
  });
  const liveError = errorBox();

  // --- history ---
  const historyError = errorBox();
  const rangeLabel = h("p", { class: "range-label", "aria-live": "polite" });
  const compare = h("input", { type: "checkbox", id: "compare" });
  const resetZoom = h("button", { type: "button", class: "secondary small", hidden: true }, "Reset zoom");
  const earlier = h("button", { type: "button", class: "secondary small" }, "Earlier");
  const later = h("button", { type: "button", class: "secondary small" }, "Later");
  const download = h("button", { type: "button", class: "secondary" }, "Download CSV");
  const downloadStatus = h("p", { class: "hint", role: "status" });
  const historyChart = new PowerChart({
    testId: "history-chart",
    label: `Power history of ${title}`,
    series: [
      { label: "Power", colorVar: "--series-1", fill: true },
      { label: "Previous period", colorVar: "--series-2", dash: [6, 4] },
    ],
    onZoom: (from, to) => zoom(from, to),
  });
  historyChart.showSeries(2, false);
  signal.addEventListener("abort", () => {
    liveChart.destroy();
    historyChart.destroy();
  });

  let range: Range = presetRange("day");
  let unzoomed: Range | null = null;
  let fetching: AbortController | null = null;
  const picker = rangePicker((next) => {
    unzoomed = null;
    void loadHistory(next);
  });

  root.append(
    h("p", { class: "breadcrumbs" }, h("a", { href: "/sockets" }, "Sockets"), " / "),
    h("h1", {}, title),
    key ? h("p", { class: "hint" }, `Socket ${key.socket} on ${names.device(key.device)}`) : h("p", { class: "hint" }, "All sockets together."),
    h("section", { class: "card", "aria-labelledby": "live-heading" },
      h("h2", { id: "live-heading" }, "Power now ", badge.element),
      now,
      announcer.element,
      liveError,
      liveChart.element,
    ),
    h("section", { class: "card", "aria-labelledby": "history-heading" },
      h("h2", { id: "history-heading" }, "History"),
      picker.element,
      h("div", { class: "toolbar" },
        earlier, later, resetZoom,
        h("label", { class: "checkbox", for: "compare" }, compare, " Compare with previous period"),
        download,
      ),
      rangeLabel,
      historyError,
      historyChart.element,
      h("p", { class: "hint" }, "Drag across the chart to zoom in."),
      downloadStatus,
    ),
  );

  // Live chart: the last 15 minutes from /api/power, then live readings.
  const live: { t: number[]; w: (number | null)[] } = { t: [], w: [] };
  const drawLive = () => {
    const cutoff = (Date.now() - LIVE_WINDOW) / 1000;
    let drop = 0;
    while (drop < live.t.length && (live.t[drop] ?? 0) < cutoff) drop += 1;
    live.t.splice(0, drop);
    live.w.splice(0, drop);
    liveChart.setData([live.t, live.w], "Last 15 minutes");
  };
  const onPower = (event: LiveEvent) => {
    let t: number;
    let watts: number | null;
    if (key) {
      const reading = event.sockets.find((s) => s.device === key.device && s.socket === key.socket);
      if (!reading) {
        now.textContent = "—";
        return;
      }
      t = reading.t / 1000;
      watts = reading.watts;
    } else {
      t = event.t / 1000;
      watts = event.total_watts;
    }
    now.textContent = format.power(watts);
    announcer.say(`${title}: ${format.power(watts)}`);
    const last = live.t[live.t.length - 1];
    if (watts !== null && (last === undefined || t > last)) {
      live.t.push(t);
      live.w.push(watts);
    }
    drawLive();
  };
  try {
    const to = Date.now();
    const recent = await api.power(to - LIVE_WINDOW, to, key, signal);
    live.t = [...recent.t];
    live.w = [...recent.watts];
    drawLive();
  } catch (e) {
    showError(liveError, e);
    liveChart.setCaption("The last 15 minutes could not be loaded; live readings are added as they come.");
  }
  if (signal.aborted) return;
  subscribeLive({ onPower, onStatus: badge.update }, signal);

  // History.
  async function loadHistory(next: Range): Promise<void> {
    range = next;
    picker.show(range);
    resetZoom.hidden = unzoomed === null;
    later.disabled = range.to >= Date.now() - MINUTE;
    rangeLabel.textContent = format.range(range.from, range.to);
    fetching?.abort();
    const controller = new AbortController();
    fetching = controller;
    const abort = () => controller.abort();
    signal.addEventListener("abort", abort);
    historyChart.element.setAttribute("aria-busy", "true");
    historyChart.setCaption("Loading…");
    clearError(historyError);
    const length = range.to - range.from;
    try {
      const [current, previous] = await Promise.all([
        api.power(range.from, range.to, key, controller.signal),
        compare.checked ? api.power(range.from - length, range.to - length, key, controller.signal) : null,
      ]);
      const data: Columns = previous
        ? joinSeries([current.t, current.watts], [previous.t.map((t) => t + length / 1000), previous.watts])
        : [current.t, current.watts, current.t.map(() => null)];
      historyChart.showSeries(2, previous !== null);
      historyChart.setData(data, `${format.range(range.from, range.to)} (${resolution(current)})`);
      rangeLabel.textContent = `${format.range(range.from, range.to)} · ${resolution(current)}`;
    } catch (e) {
      if (!isAbort(e)) {
        showError(historyError, e);
        historyChart.setCaption(`No chart: ${messageOf(e)}`);
      }
    } finally {
      signal.removeEventListener("abort", abort);
      if (fetching === controller) historyChart.element.removeAttribute("aria-busy");
    }
  }

  function zoom(from: number, to: number): void {
    if (to - from < MIN_ZOOM) {
      const middle = (from + to) / 2;
      from = middle - MIN_ZOOM / 2;
      to = middle + MIN_ZOOM / 2;
    }
    unzoomed ??= range;
    void loadHistory({ kind: "free", from: Math.round(from), to: Math.round(to) });
  }

  const step = (direction: -1 | 1) => {
    const length = range.to - range.from;
    const kind = range.kind === "custom" ? "custom" : "free";
    void loadHistory({ kind, from: range.from + direction * length, to: Math.min(range.to + direction * length, Date.now()) });
  };
  earlier.addEventListener("click", () => step(-1));
  later.addEventListener("click", () => step(1));
  resetZoom.addEventListener("click", () => {
    const back = unzoomed ?? presetRange("day");
    unzoomed = null;
    void loadHistory(back);
  });
  compare.addEventListener("change", () => void loadHistory(range));
  download.addEventListener("click", async () => {
    clearError(historyError);
    downloadStatus.textContent = "";
    if (range.to - range.from > EXPORT_LIMIT) {
      showError(historyError, new Error("the CSV export covers at most 366 days; choose a shorter range."));
      return;
    }
    try {
      const name = await whileBusy(download, "Preparing CSV…", async () =>
        saveResponse(await api.exportCsv(range.from, range.to, key), "wattline-export.csv"),
      );
      downloadStatus.textContent = `Saved ${name}.`;
    } catch (e) {
      showError(historyError, e);
    }
  });

  await loadHistory(range);
}

/** "10-second averages", "1-minute averages", "hourly averages". */
function resolution(series: PowerSeries): string {
  const step = series.step_s;
  if (step % 3600 === 0) return step === 3600 ? "hourly averages" : `${step / 3600}-hour averages`;
  if (step % 60 === 0) return `${step / 60}-minute averages`;
  return `${step}-second averages`;
}
