// Shows the state of the live feed next to live values: "Live",
// "Reconnecting in 4 s", "Live updates stopped".

import { h } from "../dom";
import type { LiveStatus } from "../api/live";

export function liveBadge(): { element: HTMLElement; update(status: LiveStatus): void } {
  const element = h("span", { class: "badge", "data-state": "connecting" }, "Connecting…");
  return {
    element,
    update(status) {
      element.dataset.state = status.state;
      element.removeAttribute("title");
      switch (status.state) {
        case "connecting":
          element.textContent = "Connecting…";
          break;
        case "live":
          element.textContent = "Live";
          break;
        case "reconnecting":
          element.textContent = `Reconnecting in ${Math.ceil(status.retryInMs / 1000)} s`;
          element.title = status.reason;
          break;
        case "stopped":
          element.textContent = "Live updates stopped";
          element.title = status.reason;
          break;
      }
    },
  };
}

/**
 * A visually hidden polite live region for a live value. Announcing every
 * 2-second update would drown a screen reader, so it speaks at most once
 * per `everyMs`, and only when the text changed.
 */
export function throttledAnnouncer(everyMs = 30_000): { element: HTMLElement; say(text: string): void } {
  const element = h("p", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true" });
  let last = 0;
  return {
    element,
    say(text) {
      const now = Date.now();
      if (now - last < everyMs || element.textContent === text) return;
      last = now;
      element.textContent = text;
    },
  };
}
