// Numbers and times for people, with Intl in the browser's locale; times
// are shown in the household's time zone (set by `useTimeZone` once the
// household is loaded), not the browser's.

const numberFormats = new Map<string, Intl.NumberFormat>();

function numberFormat(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = JSON.stringify(options);
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(undefined, options);
    numberFormats.set(key, format);
  }
  return format;
}

const DASH = "—";

function finite(value: number | null | undefined): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** A number with exactly `digits` decimals, grouped: "1,234.50". */
export function decimal(value: number | null | undefined, digits = 2): string {
  if (!finite(value)) return DASH;
  return numberFormat({ minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

/** Power: "82 W", "1,234 W", above 10 kW "12.35 kW". */
export function power(watts: number | null | undefined): string {
  if (!finite(watts)) return DASH;
  if (Math.abs(watts) >= 10_000) return `${decimal(watts / 1000, 2)} kW`;
  return `${numberFormat({ maximumFractionDigits: 0 }).format(watts)} W`;
}

/** Power for a chart axis: short, "500 W", "1.5 kW". */
export function powerTick(watts: number): string {
  if (Math.abs(watts) >= 1000) return `${numberFormat({ maximumFractionDigits: 1 }).format(watts / 1000)} kW`;
  return `${numberFormat({ maximumFractionDigits: 0 }).format(watts)} W`;
}

/** Energy: "3.21 kWh". */
export function energy(kwh: number | null | undefined): string {
  return finite(kwh) ? `${decimal(kwh, 2)} kWh` : DASH;
}

/** Money in the tariff's currency: "€1.23"; a dash when there is no tariff. */
export function money(amount: number | null | undefined, currency: string | null | undefined): string {
  if (!finite(amount) || !currency) return DASH;
  try {
    return numberFormat({ style: "currency", currency }).format(amount);
  } catch {
    return `${decimal(amount, 2)} ${currency}`;
  }
}

/** A share as a percentage: "42 %". */
export function percent(fraction: number): string {
  return finite(fraction) ? numberFormat({ style: "percent", maximumFractionDigits: 0 }).format(fraction) : DASH;
}

let zone = "UTC";

/** Sets the zone every time below is shown in. */
export function useTimeZone(timeZone: string): void {
  zone = timeZone;
  dateFormats.clear();
}

/** The zone times are shown in. */
export function timeZone(): string {
  return zone;
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();

function dateFormat(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = JSON.stringify(options);
  let format = dateFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(undefined, { timeZone: zone, ...options });
    dateFormats.set(key, format);
  }
  return format;
}

/** "23 Nov 2026, 17:05". */
export function dateTime(ms: number): string {
  return dateFormat({ dateStyle: "medium", timeStyle: "short" }).format(ms);
}

/** "17:05:12". */
export function clock(ms: number): string {
  return dateFormat({ timeStyle: "medium" }).format(ms);
}

/** "23 Nov 2026". */
export function date(ms: number): string {
  return dateFormat({ dateStyle: "medium" }).format(ms);
}

/** A bucket's label on the Energy page. */
export function period(ms: number, bucket: "hour" | "day" | "week" | "month", long = false): string {
  switch (bucket) {
    case "hour":
      return dateFormat(long ? { dateStyle: "medium", timeStyle: "short" } : { hour: "2-digit", minute: "2-digit" }).format(ms);
    case "day":
      return dateFormat(long ? { weekday: "short", day: "numeric", month: "short", year: "numeric" } : { day: "numeric" }).format(ms);
    case "week":
      return `${long ? "Week of " : ""}${dateFormat({ day: "numeric", month: "short" }).format(ms)}`;
    case "month":
      return dateFormat(long ? { month: "long", year: "numeric" } : { month: "short" }).format(ms);
  }
}

/** A range "23 Nov 2026, 00:00 – 24 Nov 2026, 00:00" (end exclusive). */
export function range(fromMs: number, toMs: number): string {
  return dateFormat({ dateStyle: "medium", timeStyle: "short" }).formatRange(fromMs, toMs);
}

/** "3 minutes ago". */
export function ago(ms: number, now = Date.now()): string {
  const seconds = Math.round((ms - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86_400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86_400), "day");
}
