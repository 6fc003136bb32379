// Overview: total power now (live), today's energy and cost, and the
// biggest consumers now and today.
//
// Data: GET /api/sockets (first values, and whether anything ever
// reported), the /api/live feed (power now), GET /api/energy for today in
// the household's zone with bucket=day (energy, cost, by_socket; refreshed
// every minute), /api/devices for names.

import { h, replace } from "../dom";
import * as api from "../api/endpoints";
import { subscribeLive } from "../api/live";
import type { EnergyResponse, LiveEvent } from "../api/types";
import { errorBox, loading, noReadings, showError, clearError } from "../components/feedback";
import { liveBadge, throttledAnnouncer } from "../components/live-badge";
import * as format from "../format";
import { household, loadNames, type Names } from "../household";
import { socketHref } from "../links";
import type { PageContext } from "../router";
import { startOfDay } from "../time";

const TOP = 5;

export async function render(root: HTMLElement, { signal }: PageContext): Promise<void> {
  const badge = liveBadge();
  const announcer = throttledAnnouncer();
  const total = h("p", { class: "big-number", "data-testid": "total-power" }, "—");
  const todayEnergy = h("p", { class: "big-number", "data-testid": "today-energy" }, "—");
  const todayCost = h("p", { class: "number", "data-testid": "today-cost" }, "—");
  const costNote = h("p", { class: "hint" });
  const nowList = h("div", {}, loading());
  const todayList = h("div", {}, loading());
  const empty = h("div", { hidden: true }, noReadings());
  const error = errorBox();

  root.append(
    h("h1", {}, "Overview"),
    error,
    empty,
    h("div", { class: "tiles" },
      h("section", { class: "card tile", "aria-labelledby": "now-heading" },
        h("h2", { id: "now-heading" }, "Power now ", badge.element),
        total,
        announcer.element,
        h("p", { class: "hint" }, h("a", { href: "/sockets/total" }, "Household total over time")),
      ),
      h("section", { class: "card tile", "aria-labelledby": "today-heading" },
        h("h2", { id: "today-heading" }, "Today"),
        todayEnergy,
        todayCost,
        costNote,
      ),
    ),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "top-now-heading" }, h("h2", { id: "top-now-heading" }, "Biggest consumers now"), nowList),
      h("section", { class: "card", "aria-labelledby": "top-today-heading" }, h("h2", { id: "top-today-heading" }, "Biggest consumers today"), todayList),
    ),
  );

  const names = await loadNames();
  if (signal.aborted) return;

  const showTotal = (watts: number | null) => {
    total.textContent = format.power(watts);
    announcer.say(`Total power now ${format.power(watts)}`);
  };
  const showNow = (sockets: { device: string; socket: string; watts: number | null }[]) => {
    replace(nowList, consumersNow(sockets, names));
  };

  try {
    const initial = await api.sockets(signal);
    showTotal(initial.total_watts);
    empty.hidden = initial.sockets.length > 0;
    showNow(initial.sockets.filter((s) => s.reporting));
  } catch (e) {
    showError(error, e);
    replace(nowList, h("p", { class: "hint" }, "Unavailable."));
  }

  subscribeLive(
    {
      onPower(event: LiveEvent) {
        showTotal(event.total_watts);
        if (event.sockets.length > 0) empty.hidden = true;
        showNow(event.sockets);
      },
      onStatus: badge.update,
    },
    signal,
  );

  const loadToday = async () => {
    const zone = household().time_zone;
    const now = Date.now();
    try {
      const today = await api.energy(startOfDay(now, zone), startOfDay(now, zone, 1), "day", null, signal);
      clearError(error);
      showToday(today);
    } catch (e) {
      showError(error, e);
      if (todayList.querySelector(".loading")) replace(todayList, h("p", { class: "hint" }, "Unavailable."));
    }
  };
  const showToday = (today: EnergyResponse) => {
    todayEnergy.textContent = format.energy(today.total_kwh);
    todayCost.textContent = format.money(today.total_cost, today.currency);
    const fixed = today.buckets[0]?.fixed_cost;
    costNote.replaceChildren(
      today.currency === null
        ? h("span", {}, "No tariff set. ", h("a", { href: "/settings" }, "Set your tariff"), " to see costs.")
        : `Including the daily charge of ${format.money(fixed ?? 0, today.currency)}.`,
    );
    replace(todayList, consumersToday(today, names));
  };
  await loadToday();
  const timer = window.setInterval(() => void loadToday(), 60_000);
  signal.addEventListener("abort", () => window.clearInterval(timer));
}

function consumersNow(sockets: { device: string; socket: string; watts: number | null }[], names: Names): HTMLElement {
  const top = [...sockets].filter((s) => (s.watts ?? 0) > 0).sort((a, b) => (b.watts ?? 0) - (a.watts ?? 0)).slice(0, TOP);
  if (top.length === 0) return h("p", { class: "hint" }, "Nothing is drawing power right now.");
  const max = top[0]?.watts ?? 1;
  return h(
    "ol",
    { class: "ranking" },
    top.map((s) =>
      h("li", {},
        h("a", { href: socketHref(s) }, names.socket(s)),
        h("span", { class: "meter", style: `--share: ${((s.watts ?? 0) / max) * 100}%`, "aria-hidden": "true" }),
        h("span", { class: "number" }, format.power(s.watts)),
      ),
    ),
  );
}

function consumersToday(today: EnergyResponse, names: Names): HTMLElement {
  const top = [...today.by_socket].filter((s) => s.energy_kwh > 0).sort((a, b) => b.energy_kwh - a.energy_kwh).slice(0, TOP);
  if (top.length === 0) return h("p", { class: "hint" }, "No energy used yet today.");
  const max = top[0]?.energy_kwh ?? 1;
  return h(
    "ol",
    { class: "ranking" },
    top.map((s) =>
      h("li", {},
        h("a", { href: socketHref(s) }, names.socket(s)),
        h("span", { class: "meter", style: `--share: ${(s.energy_kwh / max) * 100}%`, "aria-hidden": "true" }),
        h("span", { class: "number" }, format.energy(s.energy_kwh), today.currency ? ` · ${format.money(s.cost, today.currency)}` : ""),
      ),
    ),
  );
}
