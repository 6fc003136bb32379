// Errors, loading and busy states, the same way on every page: errors in a
// `role="alert"` box in the API's own words, loading as a polite status.

import { h } from "../dom";
import { ApiError, isAbort } from "../api/http";

/** What to tell the user about a failure. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return `Something went wrong: ${error.message}`;
  return "Something went wrong.";
}

/** An (initially empty) error box; screen readers announce what is put in it. */
export function errorBox(): HTMLElement {
  return h("p", { class: "error", role: "alert", hidden: true });
}

/** Shows `error` in `box` (aborts, from leaving the page, are ignored). */
export function showError(box: HTMLElement, error: unknown): void {
  if (isAbort(error)) return;
  box.textContent = messageOf(error);
  box.hidden = false;
}

export function clearError(box: HTMLElement): void {
  box.textContent = "";
  box.hidden = true;
}

/** A loading line. */
export function loading(text = "Loading…"): HTMLElement {
  return h("p", { class: "loading", role: "status" }, text);
}

/** Runs `task` with `button` disabled and labelled `busyText`; restores it after. */
export async function whileBusy<T>(button: HTMLButtonElement, busyText: string, task: () => Promise<T>): Promise<T> {
  const text = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = busyText;
  try {
    return await task();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = text;
  }
}

/** The Overview and Sockets empty state, pointing at the agent command on Devices. */
export function noReadings(): HTMLElement {
  return h(
    "div",
    { class: "empty", "data-testid": "no-readings" },
    h("p", {}, "No readings yet: start your agent with the command shown on ", h("a", { href: "/devices" }, "Devices"), "."),
    h("p", { class: "hint" }, "Add a device there, run the agent on your Raspberry Pi, and power shows up here within a minute."),
  );
}
