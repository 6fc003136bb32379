// Energy: kWh and cost per hour (of a day), day (of a month), week (last 12)
// or month (of a year) in the household's zone, with totals and a
// per-socket breakdown; Earlier/Later step a whole period. The choice is
// kept in the URL (`?bucket=day&shift=-1`) so it survives a reload.
//
// Data: GET /api/energy?from&to&bucket (buckets, totals, by_socket); names
// from GET /api/devices.

import { h, replace } from "../dom";
import * as api from "../api/endpoints";
import { isAbort } from "../api/http";
import type { Bucket, EnergyResponse } from "../api/types";
import { energyBars } from "../charts/energy-bars";
import { clearError, errorBox, loading, showError } from "../components/feedback";
import * as format from "../format";
import { household, loadNames, type Names } from "../household";
import type { PageContext } from "../router";
import { startOfDay, startOfMonth, startOfWeek, startOfYear } from "../time";
import { socketHref } from "../links";

const BUCKETS: { bucket: Bucket; label: string }[] = [
  { bucket: "hour", label: "Hours" },
  { bucket: "day", label: "Days" },
  { bucket: "week", label: "Weeks" },
  { bucket: "month", label: "Months" },
];

/** How many weeks the Weeks view shows. */
const WEEKS = 12;

/** The local period shown for `bucket`, `shift` periods before the current one. */
export function periodOf(bucket: Bucket, shift: number, now: number, zone: string): { from: number; to: number } {
  switch (bucket) {
    case "hour":
      return { from: startOfDay(now, zone, shift), to: startOfDay(now, zone, shift + 1) };
    case "day":
      return { from: startOfMonth(now, zone, shift), to: startOfMonth(now, zone, shift + 1) };
    case "week":
      return { from: startOfWeek(now, zone, WEEKS * shift - (WEEKS - 1)), to: startOfWeek(now, zone, WEEKS * shift + 1) };
    case "month":
      return { from: startOfYear(now, zone, shift), to: startOfYear(now, zone, shift + 1) };
  }
}

function periodTitle(bucket: Bucket, from: number, to: number): string {
  switch (bucket) {
    case "hour":
      return format.date(from);
    case "day":
      return format.period(from, "month", true);
    case "week":
      return `${format.date(from)} – ${format.date(to - 1)}`;
    case "month":
      return new Intl.DateTimeFormat(undefined, { timeZone: format.timeZone(), year: "numeric" }).format(from);
  }
}

export async function render(root: HTMLElement, { query, signal }: PageContext): Promise<void> {
  let bucket: Bucket = BUCKETS.some((b) => b.bucket === query.get("bucket")) ? (query.get("bucket") as Bucket) : "day";
  let shift = Math.min(0, Math.trunc(Number(query.get("shift") ?? 0)) || 0);

  const buttons = BUCKETS.map((b) =>
    h("button", { type: "button", class: "segment", "aria-pressed": "false", onclick: () => { bucket = b.bucket; shift = 0; void load(); } }, b.label),
  );
  const earlier = h("button", { type: "button", class: "secondary small", onclick: () => { shift -= 1; void load(); } }, "Earlier");
  const later = h("button", { type: "button", class: "secondary small", onclick: () => { shift += 1; void load(); } }, "Later");
  const title = h("h2", { id: "period-heading", "aria-live": "polite" });
  const totalKwh = h("span", { class: "big-number", "data-testid": "energy-total-kwh" }, "—");
  const totalCost = h("span", { class: "big-number", "data-testid": "energy-total-cost" }, "—");
  const chart = h("div", {}, loading());
  const bySocket = h("div", {});
  const periods = h("div", {});
  const error = errorBox();

  root.append(
    h("h1", {}, "Energy"),
    h("div", { class: "toolbar" },
      h("div", { class: "segments", role: "group", "aria-label": "Period length" }, buttons),
      h("div", { class: "stepper" }, earlier, later),
    ),
    error,
    h("section", { class: "card", "aria-labelledby": "period-heading" },
      title,
      h("div", { class: "tiles" },
        h("div", { class: "tile" }, h("p", { class: "label" }, "Energy"), h("p", {}, totalKwh, " kWh")),
        h("div", { class: "tile" }, h("p", { class: "label" }, "Cost"), h("p", {}, totalCost)),
      ),
      chart,
      h("details", {}, h("summary", {}, "Table of periods"), periods),
    ),
    h("section", { class: "card", "aria-labelledby": "by-socket-heading" }, h("h2", { id: "by-socket-heading" }, "By socket"), bySocket),
  );

  const names = await loadNames();
  if (signal.aborted) return;
  let fetching: AbortController | null = null;

  async function load(): Promise<void> {
    const zone = household().time_zone;
    const now = Date.now();
    const { from, to } = periodOf(bucket, shift, now, zone);
    buttons.forEach((button, i) => button.setAttribute("aria-pressed", String(BUCKETS[i]?.bucket === bucket)));
    later.disabled = shift >= 0;
    title.textContent = periodTitle(bucket, from, to);
    history.replaceState(null, "", `/energy?bucket=${bucket}${shift ? `&shift=${shift}` : ""}`);
    fetching?.abort();
    const controller = new AbortController();
    fetching = controller;
    const abort = () => controller.abort();
    signal.addEventListener("abort", abort);
    chart.setAttribute("aria-busy", "true");
    try {
      const result = await api.energy(from, to, bucket, null, controller.signal);
      clearError(error);
      show(result, now);
    } catch (e) {
      if (!isAbort(e)) {
        showError(error, e);
        replace(chart, h("p", { class: "hint" }, "No data to show."));
      }
    } finally {
      signal.removeEventListener("abort", abort);
      chart.removeAttribute("aria-busy");
    }
  }

  function show(result: EnergyResponse, now: number): void {
    const currency = result.currency;
    totalKwh.textContent = format.decimal(result.total_kwh, 2);
    totalCost.textContent = currency ? format.money(result.total_cost, currency) : "—";
    const bars = result.buckets.map((b) => {
      const start = Date.parse(b.start);
      const end = Date.parse(b.end);
      return {
        label: format.period(start, bucket),
        title: format.period(start, bucket, true),
        value: b.energy_kwh,
        text: currency ? `${format.energy(b.energy_kwh)}, ${format.money(b.cost, currency)}` : format.energy(b.energy_kwh),
        current: start <= now && now < end,
      };
    });
    const summary = `${bars.length} ${BUCKETS.find((b) => b.bucket === bucket)?.label.toLowerCase()}: ${format.energy(result.total_kwh)} in total${currency ? `, ${format.money(result.total_cost, currency)}` : ""}.`;
    replace(chart, energyBars(`Energy per ${bucket} for ${title.textContent}`, bars, summary));
    replace(periods, periodTable(result));
    replace(bySocket, socketTable(result, names));
  }

  await load();
}

function periodTable(result: EnergyResponse): HTMLElement {
  const currency = result.currency;
  return h("div", { class: "table-scroll" },
    h("table", { class: "data" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Period"),
        h("th", { scope: "col", class: "number" }, "Energy"),
        currency ? [h("th", { scope: "col", class: "number" }, "Energy cost"), h("th", { scope: "col", class: "number" }, "Daily charges"), h("th", { scope: "col", class: "number" }, "Cost")] : null,
      )),
      h("tbody", {}, result.buckets.map((b) =>
        h("tr", {},
          h("th", { scope: "row" }, format.period(Date.parse(b.start), result.bucket, true)),
          h("td", { class: "number" }, format.energy(b.energy_kwh)),
          currency ? [
            h("td", { class: "number" }, format.money(b.energy_cost, currency)),
            h("td", { class: "number" }, format.money(b.fixed_cost, currency)),
            h("td", { class: "number" }, format.money(b.cost, currency)),
          ] : null,
        ),
      )),
    ),
  );
}

function socketTable(result: EnergyResponse, names: Names): HTMLElement {
  if (result.by_socket.length === 0) return h("p", { class: "hint" }, "No socket used energy in this period.");
  const currency = result.currency;
  const sorted = [...result.by_socket].sort((a, b) => b.energy_kwh - a.energy_kwh);
  return h("div", { class: "table-scroll" },
    h("table", { class: "data" },
      h("caption", { class: "sr-only" }, "Energy by socket in this period"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Socket"),
        h("th", { scope: "col" }, "Device"),
        h("th", { scope: "col", class: "number" }, "Energy"),
        currency ? h("th", { scope: "col", class: "number" }, "Cost") : null,
        h("th", { scope: "col", class: "number" }, "Share"),
      )),
      h("tbody", {}, sorted.map((s) =>
        h("tr", { "data-testid": "socket-energy-row" },
          h("th", { scope: "row" }, h("a", { href: socketHref(s) }, names.socket(s))),
          h("td", {}, names.device(s.device)),
          h("td", { class: "number" }, format.energy(s.energy_kwh)),
          currency ? h("td", { class: "number" }, format.money(s.cost, currency)) : null,
          h("td", { class: "number" }, format.percent(result.total_kwh > 0 ? s.energy_kwh / result.total_kwh : 0)),
        ),
      )),
    ),
  );
}
