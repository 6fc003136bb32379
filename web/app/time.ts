// Calendar arithmetic in the household's IANA time zone, with nothing but
// Intl: "today" on the Overview, the Energy page's periods and the custom
// date range all mean local days there, not in the browser's zone.

/** A wall-clock time in some zone. Months are 1–12. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const partFormats = new Map<string, Intl.DateTimeFormat>();

function partFormat(timeZone: string): Intl.DateTimeFormat {
  let format = partFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    partFormats.set(timeZone, format);
  }
  return format;
}

/** The wall-clock time in `timeZone` at the instant `ms` (Unix milliseconds). */
export function localTime(ms: number, timeZone: string): LocalTime {
  const parts: Record<string, number> = {};
  for (const part of partFormat(timeZone).formatToParts(new Date(ms))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

function wallClockAsUtc(t: LocalTime): number {
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
}

/** The zone's offset from UTC at instant `ms`, in milliseconds. */
export function offsetAt(ms: number, timeZone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return wallClockAsUtc(localTime(whole, timeZone)) - whole;
}

/**
 * The instant a wall-clock time happens in `timeZone`. Fields may overflow
 * (day 32 is the 1st of the next month). A time skipped by a DST change
 * moves forward by the gap (so a midnight that does not exist resolves to the
 * day's first instant), as Temporal's "compatible" disambiguation does.
 */
export function instantOf(t: Partial<LocalTime> & Pick<LocalTime, "year" | "month" | "day">, timeZone: string): number {
  const guess = wallClockAsUtc({ hour: 0, minute: 0, second: 0, ...t });
  const first = guess - offsetAt(guess, timeZone);
  const second = guess - offsetAt(first, timeZone);
  return Math.max(first, second);
}

/** Local midnight starting the day that contains `ms`, plus `days` days. */
export function startOfDay(ms: number, timeZone: string, days = 0): number {
  const t = localTime(ms, timeZone);
  return instantOf({ year: t.year, month: t.month, day: t.day + days }, timeZone);
}

/** Local midnight starting the week (Monday) that contains `ms`, plus `weeks` weeks. */
export function startOfWeek(ms: number, timeZone: string, weeks = 0): number {
  const t = localTime(ms, timeZone);
  const weekday = (new Date(Date.UTC(t.year, t.month - 1, t.day)).getUTCDay() + 6) % 7;
  return instantOf({ year: t.year, month: t.month, day: t.day - weekday + 7 * weeks }, timeZone);
}

/** Local midnight starting the month that contains `ms`, plus `months` months. */
export function startOfMonth(ms: number, timeZone: string, months = 0): number {
  const t = localTime(ms, timeZone);
  return instantOf({ year: t.year, month: t.month + months, day: 1 }, timeZone);
}

/** Local midnight starting the year that contains `ms`, plus `years` years. */
export function startOfYear(ms: number, timeZone: string, years = 0): number {
  const t = localTime(ms, timeZone);
  return instantOf({ year: t.year + years, month: 1, day: 1 }, timeZone);
}

/** RFC 3339 in UTC, as the read API takes it. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** `YYYY-MM-DD` of the local day containing `ms`, for `<input type="date">`. */
export function dateInputValue(ms: number, timeZone: string): string {
  const t = localTime(ms, timeZone);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(t.year, 4)}-${pad(t.month)}-${pad(t.day)}`;
}

/** Local midnight of a `YYYY-MM-DD` date input value, or null when malformed. */
export function parseDateInput(value: string, timeZone: string, days = 0): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return null;
  return instantOf({ year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) + days }, timeZone);
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
