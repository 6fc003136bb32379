// Sockets: every socket read-service has seen, with its name, device,
// power now and whether it is reporting; links to each socket's charts and
// to the household total.
//
// Data: GET /api/sockets, then the /api/live feed (power and reporting);
// names from GET /api/devices.

import { h, replace } from "../dom";
import * as api from "../api/endpoints";
import { subscribeLive } from "../api/live";
import type { SocketReading } from "../api/types";
import { clearError, errorBox, loading, noReadings, showError } from "../components/feedback";
import { liveBadge } from "../components/live-badge";
import * as format from "../format";
import { loadNames, socketId, type Names } from "../household";
import type { PageContext } from "../router";
import { socketHref } from "../links";

interface Row {
  reading: SocketReading;
  watts: HTMLElement;
  status: HTMLElement;
}

export async function render(root: HTMLElement, { signal }: PageContext): Promise<void> {
  const badge = liveBadge();
  const error = errorBox();
  const body = h("div", {}, loading("Loading sockets…"));
  const total = h("span", { class: "number" }, "—");
  root.append(
    h("h1", {}, "Sockets"),
    error,
    h("p", { class: "lead" },
      h("a", { href: "/sockets/total", class: "button-link" }, "Household total"),
      " ", total, " ", badge.element,
    ),
    body,
  );

  const names: Names = await loadNames();
  if (signal.aborted) return;
  const rows = new Map<string, Row>();
  let reloading = false;
  let loadedAt = 0;

  /** (Re)builds the table from GET /api/sockets. */
  const load = async () => {
    reloading = true;
    loadedAt = Date.now();
    try {
      const readings = (await api.sockets(signal)).sockets;
      clearError(error);
      rows.clear();
      replace(body, readings.length === 0 ? noReadings() : table(readings, names, rows));
    } catch (e) {
      showError(error, e);
      if (body.querySelector(".loading")) replace(body);
    } finally {
      reloading = false;
    }
  };
  await load();
  if (signal.aborted) return;

  subscribeLive(
    {
      onPower(event) {
        total.textContent = format.power(event.total_watts);
        const live = new Set<string>();
        for (const s of event.sockets) {
          const id = socketId(s.device, s.socket);
          live.add(id);
          const row = rows.get(id);
          if (!row) {
            // A socket reporting for the first time: fetch the list again.
            if (!reloading && Date.now() - loadedAt > 10_000) void load();
            continue;
          }
          row.reading = { ...row.reading, watts: s.watts, reporting: true, last_seen: new Date(s.t).toISOString() };
          paint(row);
        }
        // Sockets missing from the event have not reported within the window.
        for (const [id, row] of rows) {
          if (!live.has(id) && row.reading.reporting) {
            row.reading = { ...row.reading, reporting: false };
            paint(row);
          }
        }
      },
      onStatus: badge.update,
    },
    signal,
  );
}

function table(readings: SocketReading[], names: Names, rows: Map<string, Row>): HTMLElement {
  const tbody = h("tbody");
  const sorted = [...readings].sort(
    (a, b) => names.device(a.device).localeCompare(names.device(b.device)) || names.socket(a).localeCompare(names.socket(b)),
  );
  for (const reading of sorted) {
    const row: Row = { reading, watts: h("td", { class: "number" }), status: h("td") };
    rows.set(socketId(reading.device, reading.socket), row);
    tbody.append(
      h("tr", { "data-testid": "socket-row" },
        h("th", { scope: "row" }, h("a", { href: socketHref(reading) }, names.socket(reading))),
        h("td", {}, names.device(reading.device)),
        row.watts,
        row.status,
      ),
    );
    paint(row);
  }
  return h("div", { class: "table-scroll" },
    h("table", { class: "data" },
      h("caption", { class: "sr-only" }, "Sockets, their power now and whether they are reporting"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Socket"),
        h("th", { scope: "col" }, "Device"),
        h("th", { scope: "col", class: "number" }, "Power now"),
        h("th", { scope: "col" }, "Status"),
      )),
      tbody,
    ),
  );
}

function paint(row: Row): void {
  const { reading } = row;
  row.watts.textContent = reading.reporting ? format.power(reading.watts) : "—";
  const seen = reading.last_seen ? Date.parse(reading.last_seen) : NaN;
  replace(
    row.status,
    h("span", { class: "badge", "data-state": reading.reporting ? "live" : "stopped" }, reading.reporting ? "Reporting" : "Not reporting"),
    Number.isFinite(seen) ? h("span", { class: "hint" }, ` last reading ${format.ago(seen)}`) : null,
  );
}
