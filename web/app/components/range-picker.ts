// The history chart's range controls: Day / Week / Month / Year (the span
// ending now) and Custom (two dates, whole local days in the household's
// zone), plus Earlier / Later to step by the span's length.

import { field, h, uid } from "../dom";
import { household } from "../household";
import { DAY, dateInputValue, parseDateInput } from "../time";

/** Which control chose the range; "free" is a zoomed or stepped span (no button pressed). */
export type RangeKind = "day" | "week" | "month" | "year" | "custom" | "free";

export interface Range {
  kind: RangeKind;
  from: number;
  to: number;
}

const PRESETS: { kind: RangeKind; label: string; length: number }[] = [
  { kind: "day", label: "Day", length: DAY },
  { kind: "week", label: "Week", length: 7 * DAY },
  { kind: "month", label: "Month", length: 30 * DAY },
  { kind: "year", label: "Year", length: 365 * DAY },
];

/** The preset span `kind` ending now. */
export function presetRange(kind: "day" | "week" | "month" | "year", now = Date.now()): Range {
  const length = PRESETS.find((p) => p.kind === kind)?.length ?? DAY;
  return { kind, from: now - length, to: now };
}

export interface RangePicker {
  element: HTMLElement;
  /** Reflects `range` in the buttons and date inputs. */
  show(range: Range): void;
}

export function rangePicker(onChange: (range: Range) => void): RangePicker {
  const buttons = new Map<RangeKind, HTMLButtonElement>();
  for (const preset of PRESETS) {
    buttons.set(
      preset.kind,
      h("button", {
        type: "button",
        class: "segment",
        "aria-pressed": "false",
        onclick: () => onChange(presetRange(preset.kind as "day")),
      }, preset.label),
    );
  }
  const fromInput = h("input", { type: "date", required: true });
  const toInput = h("input", { type: "date", required: true });
  const custom = h(
    "form",
    { class: "custom-range", id: uid("custom-range"), hidden: true },
    field("From date", fromInput),
    field("To date", toInput),
    h("button", { type: "submit" }, "Show"),
  );
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  custom.addEventListener("submit", (event) => {
    event.preventDefault();
    const zone = household().time_zone;
    const from = parseDateInput(fromInput.value, zone);
    const to = parseDateInput(toInput.value, zone, 1);
    problem.hidden = !(from === null || to === null || from >= to);
    if (!problem.hidden || from === null || to === null) {
      problem.textContent = "Choose a start date on or before the end date.";
      return;
    }
    onChange({ kind: "custom", from, to });
  });
  const customButton = h("button", {
    type: "button",
    class: "segment",
    "aria-pressed": "false",
    "aria-controls": custom.id,
    onclick: () => {
      custom.hidden = false;
      customButton.setAttribute("aria-pressed", "true");
      for (const [kind, button] of buttons) if (kind !== "custom") button.setAttribute("aria-pressed", "false");
      fromInput.focus();
    },
  }, "Custom");
  buttons.set("custom", customButton);

  const element = h(
    "div",
    { class: "range-picker" },
    h("div", { class: "segments", role: "group", "aria-label": "Range" }, [...buttons.values()]),
    custom,
    problem,
  );
  return {
    element,
    show(range) {
      for (const [kind, button] of buttons) button.setAttribute("aria-pressed", String(kind === range.kind));
      custom.hidden = range.kind !== "custom";
      const zone = household().time_zone;
      fromInput.value = dateInputValue(range.from, zone);
      // The end is exclusive: show the last day included.
      toInput.value = dateInputValue(range.to - 1, zone);
    },
  };
}
