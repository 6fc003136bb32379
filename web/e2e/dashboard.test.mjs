// The dashboard end to end, in Debian's Chromium driven by playwright-core,
// against the whole system: the `web` gateway, auth-service, read-service,
// the rollup job, write-service, a RabbitMQ node with the HTTP auth
// backend and InfluxDB, all real and started by web/tests/browser.rs.
//
// What a household does: registers, sets a tariff, adds a device, starts
// its agent (the real `device-agent`: first three hours of history from a
// CSV file, then live readings piped in as they happen), watches power
// arrive, opens a socket's live and history charts, downloads the CSV, reads
// its energy and cost, and logs out; then a second household registers and
// sees none of it. Every reading is chosen here, so every number on the
// page is checked against one computed from them.
//
// Environment: BASE_URL (the gateway), CHROMIUM (browser binary),
// SCREENSHOT_DIR, AGENT_BIN (device-agent), AMQP_PORT (the test's broker),
// WORK_DIR (a temp dir for CSV files and spools).
//
//   node web/e2e/dashboard.test.mjs   (run by `cargo test -p wattline-web --test browser`)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set (web/tests/browser.rs sets it)`);
  return value;
};
const BASE_URL = env("BASE_URL");
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");
const SCREENSHOT_DIR = env("SCREENSHOT_DIR", "target/screenshots");
const AGENT_BIN = env("AGENT_BIN");
const AMQP_PORT = env("AMQP_PORT");
const WORK_DIR = env("WORK_DIR");

const PASSWORD = "correct horse battery staple";
const MINUTE = 60_000;

// --- the readings ------------------------------------------------------
// History: socket "heater" at a constant 1,200 W, one reading a minute on
// whole minutes, from three hours ago until ten minutes ago (so it is no
// longer reporting); its counter gains 20 Wh a minute. Live: socket
// "kettle" at 1,800 W, one reading every 2 s, gaining 1 Wh each.
// Energy of an interval belongs to the bucket of its later reading, so a
// socket's energy is its counter's last value minus its first.
const HEATER = { socket: "heater", watts: 1200, stepMs: MINUTE, whPerStep: 20, startWh: 50_000 };
const KETTLE = { socket: "kettle", watts: 1800, stepMs: 2000, whPerStep: 1, startWh: 7_000 };
const TARIFF = { currency: "EUR", price: 0.3, daily: 0.25 };

const nowMinute = Math.floor(Date.now() / MINUTE) * MINUTE;
const heaterReadings = [];
for (let t = nowMinute - 180 * MINUTE, i = 0; t <= nowMinute - 10 * MINUTE; t += MINUTE, i += 1) {
  heaterReadings.push({ t, watts: HEATER.watts, wh: HEATER.startWh + i * HEATER.whPerStep });
}
const heaterKwh = (heaterReadings.at(-1).wh - heaterReadings[0].wh) / 1000;

// A household zone where it is mid-afternoon now, so the three hours of
// history and the live minutes all fall on the same local day (and month).
// Etc/GMT-N is UTC+N (POSIX signs).
const offsetHours = ((14 - new Date().getUTCHours() + 36) % 24) - 12;
const TIME_ZONE = offsetHours === 0 ? "UTC" : `Etc/GMT${offsetHours > 0 ? "-" : "+"}${Math.abs(offsetHours)}`;
const localNow = new Date(Date.now() + offsetHours * 3_600_000);
const daysInMonth = new Date(Date.UTC(localNow.getUTCFullYear(), localNow.getUTCMonth() + 1, 0)).getUTCDate();

// --- helpers -----------------------------------------------------------

/** Retries `check` (which throws while not yet true) until it passes or `timeoutMs` runs out. */
async function eventually(what, check, { timeoutMs = 60_000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}: ${last?.message ?? last}`);
    }
    await sleep(intervalMs);
  }
}

/** A number shown on the page ("€1,234.50", "3.21 kWh", "1,800 W"). */
function numberIn(text) {
  const digits = (text ?? "").replace(/[^0-9.\-]/g, "");
  assert.ok(digits !== "" && !Number.isNaN(Number(digits)), `no number in ${JSON.stringify(text)}`);
  return Number(digits);
}

/** Asserts `text` shows `expected` to its displayed precision (`decimals`). */
function assertShows(text, expected, decimals, what) {
  const shown = numberIn(text);
  const tolerance = 0.5 * 10 ** -decimals + 1e-9;
  assert.ok(Math.abs(shown - expected) <= tolerance, `${what}: shows ${JSON.stringify(text)}, expected ${expected.toFixed(decimals + 2)}`);
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  const path = join(SCREENSHOT_DIR, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
}

/** A device-agent process: its output is kept for failure messages. */
function startAgent(name, device, secret, args, { stdin = "ignore" } = {}) {
  const child = spawn(
    AGENT_BIN,
    [
      "--device-id", device,
      "--amqp-url", `amqp://127.0.0.1:${AMQP_PORT}/%2f`,
      "--spool-dir", join(WORK_DIR, `spool-${name}`),
      "--max-backoff", "1s",
      "--interval", "1s",
      "--status-interval", "5s",
      ...args,
    ],
    { env: { ...process.env, DEVICE_SECRET: secret, RUST_LOG: "info" }, stdio: [stdin, "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => output };
}

async function expectExit(agent, what, timeoutMs = 90_000) {
  const result = await Promise.race([agent.exited, sleep(timeoutMs).then(() => null)]);
  if (result === null) {
    agent.child.kill("SIGKILL");
    assert.fail(`${what} did not exit within ${timeoutMs / 1000} s:\n${agent.output()}`);
  }
  assert.equal(result.code, 0, `${what} failed (${JSON.stringify(result)}):\n${agent.output()}`);
}

function csvOf(socket, readings) {
  return ["socket,timestamp_ms,watts,energy_wh", ...readings.map((r) => `${socket},${r.t},${r.watts},${r.wh}`)].join("\n") + "\n";
}

/** RFC 4180 fields of one CSV line. */
function csvFields(line) {
  const fields = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      fields.push(field);
      field = "";
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** The averaging step a range label names ("… · 2-minute averages"), ms. */
function stepOf(label) {
  const match = /(?:(\d+)-)?(second|minute|hour)\b|hourly/.exec(label ?? "");
  assert.ok(match, `no resolution in ${JSON.stringify(label)}`);
  if (match[0] === "hourly") return 3_600_000;
  const unit = { second: 1000, minute: MINUTE, hour: 3_600_000 }[match[2]];
  return Number(match[1] ?? 1) * unit;
}

const nav = (page, name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();

// --- the test ----------------------------------------------------------

test("a household's dashboard, end to end", { timeout: 15 * 60_000 }, async (t) => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  t.after(() => browser.close());
  const newPage = async () => {
    const context = await browser.newContext({
      baseURL: BASE_URL,
      locale: "en-US",
      timezoneId: TIME_ZONE,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    // Browser-side errors (CSP violations among them) go to the test's output.
    page.on("pageerror", (error) => console.error(`[page error] ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") console.error(`[console] ${message.text()}`);
    });
    return page;
  };

  const page = await newPage();

  // Steps run in order; after a failure the rest are skipped, not failed
  // (unless the failed step was `independent`: nothing after it relies on
  // it), and the page as it was goes to the screenshots.
  let failed = false;
  const step = (name, body, { independent = false } = {}) =>
    t.test(name, { skip: failed ? "an earlier step failed" : false }, async () => {
      try {
        await body();
      } catch (error) {
        failed ||= !independent;
        await screenshot(page, "FAILED").catch(() => {});
        // What the page said went wrong, if anything.
        const alerts = await page.getByRole("alert").allTextContents().catch(() => []);
        const said = alerts.map((text) => text.trim()).filter(Boolean);
        if (said.length > 0) error.message += `\n(the page at ${page.url()} shows: ${said.join(" | ")})`;
        throw error;
      }
    });

  const email = `ann-${Date.now()}@example.org`;
  let device;
  let secret;
  let live;
  const kettleReadings = [];

  await step("a visitor registers and sees the empty overview", async () => {
    await page.goto("/");
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByText("No readings yet").waitFor();
    await screenshot(page, "overview-empty");
    // The session survives a reload: the refresh cookie through the gateway.
    await page.reload();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByRole("button", { name: "Log out" }).waitFor();
  });

  await step("the owner sets a tariff", async () => {
    await nav(page, "Settings");
    await page.getByLabel("Currency").fill(TARIFF.currency);
    await page.getByLabel("Price per kWh").fill(String(TARIFF.price));
    await page.getByLabel("Daily charge").fill(String(TARIFF.daily));
    assert.equal(await page.getByLabel("Time zone").inputValue(), TIME_ZONE);
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText(/Saved at/).waitFor();
    await screenshot(page, "settings");
  });

  await step("the owner adds a device and gets its id, secret and agent command", async () => {
    await nav(page, "Devices");
    await page.getByRole("button", { name: "Add device" }).click();
    await page.getByLabel("Device name").fill("Garage Pi");
    await page.getByRole("button", { name: "Create", exact: true }).click();
    device = (await page.getByTestId("device-id").textContent()).trim();
    secret = (await page.getByTestId("device-secret").textContent()).trim();
    const command = await page.getByTestId("agent-command").textContent();
    assert.match(device, /\S/);
    assert.match(secret, /\S/);
    assert.ok(command.includes("device-agent") && command.includes(device) && command.includes(secret), command);
    await screenshot(page, "device-added");
  });

  await step("the agent sends three hours of history, then live readings", async () => {
    const file = join(WORK_DIR, "history.csv");
    writeFileSync(file, csvOf(HEATER.socket, heaterReadings));
    const history = startAgent("history", device, secret, ["--source", "csv", "--input", file]);
    await expectExit(history, "the history agent");

    live = startAgent("live", device, secret, ["--source", "csv", "--input", "-"], { stdin: "pipe" });
    const feed = async () => {
      let i = 0;
      while (live.feeding) {
        const reading = { t: Date.now(), watts: KETTLE.watts, wh: KETTLE.startWh + i * KETTLE.whPerStep };
        kettleReadings.push(reading);
        live.child.stdin.write(`${KETTLE.socket},${reading.t},${reading.watts},${reading.wh}\n`);
        i += 1;
        await sleep(KETTLE.stepMs);
      }
      live.child.stdin.end();
    };
    live.feeding = true;
    live.fed = feed();
  });

  await step("the overview shows the live total within seconds", async () => {
    await nav(page, "Overview");
    await eventually("total power 1,800 W", async () => {
      assert.equal((await page.getByTestId("total-power").textContent()).trim(), "1,800 W");
    });
    assert.equal(await page.getByTestId("no-readings").isVisible(), false, "the empty state is gone");
    await screenshot(page, "overview-live");
  });

  await step("the sockets list shows the live and the silent socket", async () => {
    await nav(page, "Sockets");
    const rows = page.getByTestId("socket-row");
    await eventually("both sockets listed", async () => {
      const texts = await rows.allTextContents();
      assert.equal(texts.length, 2, texts.join(" | "));
      const kettle = texts.find((text) => text.includes("kettle"));
      const heater = texts.find((text) => text.includes("heater"));
      assert.ok(kettle?.includes("1,800 W") && kettle.includes("Reporting"), kettle);
      assert.ok(heater?.includes("Not reporting"), heater);
    });
    await screenshot(page, "sockets");
  });

  await step("a live socket's chart grows as readings arrive", async () => {
    await page.getByRole("link", { name: "kettle" }).click();
    const chart = page.getByTestId("live-chart");
    await chart.waitFor();
    const points = async () => Number(await chart.getAttribute("data-points"));
    const before = await eventually("live points", async () => {
      const n = await points();
      assert.ok(n > 0, `data-points=${n}`);
      return n;
    });
    await eventually("the live chart to grow", async () => {
      const n = await points();
      assert.ok(n >= before + 2, `data-points ${before} → ${n}`);
    }, { timeoutMs: 30_000 });
    assert.equal((await page.getByTestId("current-power").textContent()).trim(), "1,800 W");
    await screenshot(page, "socket-live");
  });

  await step("the history chart shows the history", async () => {
    await page.goto(`/sockets/${encodeURIComponent(device)}/heater`);
    const chart = page.getByTestId("history-chart");
    await eventually("the history drawn", async () => {
      // One point per step (the page names it: "2-minute averages") that
      // holds a reading; steps are aligned to the Unix epoch.
      const label = await page.locator(".range-label").textContent();
      const stepMs = stepOf(label);
      const expected = new Set(heaterReadings.map((r) => Math.floor(r.t / stepMs))).size;
      const n = Number(await chart.getAttribute("data-points"));
      assert.equal(n, expected, `data-points with ${label}`);
    }, { timeoutMs: 90_000 });
    await screenshot(page, "socket-history");
  });

  await step("Download CSV saves every reading of the range", async () => {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download CSV" }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^wattline-\d{8}-\d{8}\.csv$/);
    const file = join(WORK_DIR, "export.csv");
    await download.saveAs(file);
    const lines = readFileSync(file, "utf8").split(/\r?\n/).filter((line) => line !== "");
    assert.equal(lines[0], "time,device,socket,watts,energy_wh");
    const rows = lines.slice(1).map(csvFields);
    assert.equal(rows.length, heaterReadings.length, `rows: ${lines.slice(0, 4).join(" / ")} …`);
    rows.forEach(([time, rowDevice, socket, watts, wh], i) => {
      const expected = heaterReadings[i];
      assert.equal(Date.parse(time), expected.t, `row ${i + 1} time ${time}`);
      assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.deepEqual([rowDevice, socket, Number(watts), Number(wh)], [device, "heater", expected.watts, expected.wh], `row ${i + 1}`);
    });
    await screenshot(page, "socket-exported");
  }, { independent: true });

  await step("the live agent stops cleanly once everything is confirmed", async () => {
    // At least ten live readings first, however fast the steps above were.
    await eventually("ten live readings sent", () => assert.ok(kettleReadings.length >= 10));
    live.feeding = false;
    await live.fed;
    await expectExit(live, "the live agent");
  });

  const kettleKwh = () => (kettleReadings.at(-1).wh - kettleReadings[0].wh) / 1000;
  const totalKwh = () => heaterKwh + kettleKwh();

  await step("the energy view shows today's hours, totals and cost per socket", async () => {
    await nav(page, "Energy");
    await page.getByRole("heading", { name: "Energy" }).waitFor();
    await eventually("today's energy", async () => {
      // Choosing "Hours" again fetches again (no page reload: each one
      // spends the refresh cookie, and rollups take a while).
      await page.getByRole("button", { name: "Hours" }).click();
      await page.getByRole("table", { name: /Energy by socket/ }).waitFor({ timeout: 5000 });
      assertShows(await page.getByTestId("energy-total-kwh").textContent(), totalKwh(), 2, "total kWh");
      // Hour buckets have no daily charge.
      assertShows(await page.getByTestId("energy-total-cost").textContent(), totalKwh() * TARIFF.price, 2, "total cost");
      const rows = await page.getByTestId("socket-energy-row").allTextContents();
      assert.equal(rows.length, 2, rows.join(" | "));
      const heater = rows.find((row) => row.includes("heater"));
      assert.ok(heater?.includes(`${heaterKwh.toFixed(2)} kWh`), `heater row ${heater}, expected ${heaterKwh.toFixed(2)} kWh`);
    }, { timeoutMs: 150_000, intervalMs: 3000 });
    await screenshot(page, "energy-hours");

    await page.getByRole("button", { name: "Days" }).click();
    await eventually("this month's energy", async () => {
      assertShows(await page.getByTestId("energy-total-kwh").textContent(), totalKwh(), 2, "month kWh");
      // Every local day of the month carries its daily charge.
      const expected = totalKwh() * TARIFF.price + daysInMonth * TARIFF.daily;
      assertShows(await page.getByTestId("energy-total-cost").textContent(), expected, 2, "month cost");
    }, { timeoutMs: 30_000 });
    await screenshot(page, "energy-days");
  });

  await step("the overview shows today's energy and cost", async () => {
    await nav(page, "Overview");
    await eventually("today's totals", async () => {
      assertShows(await page.getByTestId("today-energy").textContent(), totalKwh(), 2, "today kWh");
      assertShows(await page.getByTestId("today-cost").textContent(), totalKwh() * TARIFF.price + TARIFF.daily, 2, "today cost");
    });
    await screenshot(page, "overview-today");
  });

  await step("the owner logs out", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    await screenshot(page, "logged-out");
    // The cookie is gone too: a reload stays logged out.
    await page.reload();
    await page.getByRole("button", { name: "Log in" }).waitFor();
  });

  await step("another household sees none of the first one's readings", async () => {
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.getByLabel("Email").fill(`bob-${Date.now()}@example.org`);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByText("No readings yet").waitFor();
    // Give live power a few events to (wrongly) show anything.
    await sleep(5000);
    const total = (await page.getByTestId("total-power").textContent()).trim();
    assert.ok(total === "0 W" || total === "—", `total power ${total}`);
    const overview = await page.locator("main").innerText();
    for (const leaked of ["heater", "kettle", "1,800"]) assert.ok(!overview.includes(leaked), `overview shows ${leaked}`);
    await screenshot(page, "second-household-overview");

    await nav(page, "Sockets");
    await page.getByText("No readings yet").waitFor();
    assert.equal(await page.getByTestId("socket-row").count(), 0);
    await screenshot(page, "second-household-sockets");

    await nav(page, "Devices");
    await page.getByText("No devices yet").waitFor();
    assert.ok(!(await page.locator("main").innerText()).includes("Garage Pi"));
    await screenshot(page, "second-household-devices");

    await page.goto("/energy?bucket=day");
    await page.getByText("No socket used energy in this period.").waitFor();
    assertShows(await page.getByTestId("energy-total-kwh").textContent(), 0, 2, "second household kWh");
    await screenshot(page, "second-household-energy");
  });

  if (live && live.feeding) {
    live.feeding = false;
    live.child.kill("SIGTERM");
  }
});
