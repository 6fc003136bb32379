// The live power feed: one `/api/live` stream per tab, shared by every
// subscriber (Overview, Sockets, a socket's live chart), opened while
// someone listens and closed a little after the last one leaves (so moving
// between pages keeps it). A dropped stream reconnects with exponential
// backoff and jitter; a stream silent for longer than a few intervals is
// treated as dropped.

import { send } from "./client";
import { ApiError, isAbort } from "./http";
import { readEvents } from "./sse";
import type { LiveEvent } from "./types";

export type LiveStatus =
  | { state: "connecting" }
  | { state: "live" }
  | { state: "reconnecting"; retryInMs: number; reason: string }
  | { state: "stopped"; reason: string };

export interface LiveSubscriber {
  onPower(event: LiveEvent): void;
  onStatus?(status: LiveStatus): void;
}

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
/** The server sends every 2 s; this long without a byte means the stream is stuck. */
const SILENCE_MS = 15_000;
/** How long the stream stays open after the last subscriber leaves. */
const LINGER_MS = 10_000;

const subscribers = new Set<LiveSubscriber>();
let running: AbortController | null = null;
let lingerTimer: number | undefined;
let status: LiveStatus = { state: "stopped", reason: "" };
let latest: LiveEvent | null = null;

function setStatus(next: LiveStatus): void {
  status = next;
  for (const subscriber of subscribers) subscriber.onStatus?.(next);
}

/**
 * Subscribes until `signal` aborts. The subscriber gets the current status
 * and the latest event (if any) at once.
 */
export function subscribeLive(subscriber: LiveSubscriber, signal: AbortSignal): void {
  if (signal.aborted) return;
  subscribers.add(subscriber);
  window.clearTimeout(lingerTimer);
  subscriber.onStatus?.(status);
  if (latest) subscriber.onPower(latest);
  if (!running) {
    running = new AbortController();
    void run(running.signal);
  }
  signal.addEventListener("abort", () => {
    subscribers.delete(subscriber);
    if (subscribers.size === 0) lingerTimer = window.setTimeout(stopLive, LINGER_MS);
  });
}

/** Closes the stream now (e.g. at logout). */
export function stopLive(): void {
  window.clearTimeout(lingerTimer);
  running?.abort();
  running = null;
  latest = null;
  status = { state: "stopped", reason: "" };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      window.clearTimeout(timer);
      resolve();
    });
  });
}

async function run(signal: AbortSignal): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    setStatus({ state: "connecting" });
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    signal.addEventListener("abort", stop);
    let watchdog: number | undefined;
    const feed = () => {
      window.clearTimeout(watchdog);
      watchdog = window.setTimeout(() => attempt.abort(), SILENCE_MS);
    };
    let reason = "the live stream ended";
    try {
      feed();
      const response = await send("GET", "/api/live", {
        signal: attempt.signal,
        headers: { Accept: "text/event-stream" },
      });
      if (!response.body) throw new Error("no response body");
      setStatus({ state: "live" });
      for await (const event of readEvents(response.body)) {
        feed();
        if (event.event !== "power") continue;
        failures = 0;
        try {
          latest = JSON.parse(event.data) as LiveEvent;
        } catch {
          continue;
        }
        for (const subscriber of subscribers) subscriber.onPower(latest);
      }
    } catch (error) {
      if (signal.aborted) break;
      if (error instanceof ApiError) {
        if (error.status === 401) {
          setStatus({ state: "stopped", reason: error.message });
          break;
        }
        reason = error.message;
      } else if (isAbort(error)) {
        reason = "the live stream went silent";
      } else {
        reason = "the live stream was interrupted";
      }
    } finally {
      window.clearTimeout(watchdog);
      signal.removeEventListener("abort", stop);
    }
    if (signal.aborted) break;
    const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** failures);
    const retryInMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    failures += 1;
    setStatus({ state: "reconnecting", retryInMs, reason });
    await sleep(retryInMs, signal);
  }
  if (running?.signal === signal) running = null;
}
