// A power-over-time chart on uPlot, inside a <figure> that carries what the
// browser test and assistive technology read: `data-testid`, `aria-label`,
// `data-points` (readings drawn in the first series, kept current) and a
// text summary as the figure's caption.
//
// Dragging across the plot selects a span; `onZoom` gets it (the history
// chart refetches it at a finer resolution) instead of uPlot just
// rescaling the coarse data it has.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "../dom";
import * as format from "../format";

export interface SeriesStyle {
  label: string;
  /** CSS custom property holding the colour, e.g. `--series-1`. */
  colorVar: string;
  dash?: number[];
  fill?: boolean;
  /** Draw the line across missing steps (readings sparser than the step). */
  spanGaps?: boolean;
}

export interface PowerChartOptions {
  testId: string;
  /** The figure's accessible name, e.g. "Live power of Fridge". */
  label: string;
  series: SeriesStyle[];
  height?: number;
  /** Called with a dragged-over span (Unix ms). */
  onZoom?: (fromMs: number, toMs: number) => void;
}

/** Data in uPlot's columnar form: unix seconds, then one array per series. */
export type Columns = [number[], ...(number | null | undefined)[][]];

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * Aligns two series on the union of their timestamps (uPlot needs one x
 * array); where one has no point, its value is left undefined so its line
 * continues across.
 */
export function joinSeries(a: [number[], (number | null)[]], b: [number[], (number | null)[]]): Columns {
  return uPlot.join([a, b]) as unknown as Columns;
}

/** `#rrggbb` at 15 % opacity, for the area under a line (other colours as they are). */
function translucent(color: string): string {
  return /^#[0-9a-f]{6}$/i.test(color) ? `${color}26` : color;
}

export class PowerChart {
  readonly element: HTMLElement;
  private readonly host: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly plot: uPlot;
  private readonly resize: ResizeObserver;

  constructor(options: PowerChartOptions) {
    this.host = h("div", { class: "chart-canvas" });
    this.caption = h("figcaption", { class: "chart-summary" }, "No data yet.");
    this.element = h(
      "figure",
      { class: "chart", "data-testid": options.testId, "data-points": "0", "aria-label": options.label },
      this.host,
      this.caption,
    );
    const text = cssVar("--fg-muted", "#666");
    const grid = cssVar("--grid", "rgba(128,128,128,0.2)");
    const axis: uPlot.Axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts: uPlot.Options = {
      width: 600,
      height: options.height ?? 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), format.timeZone()),
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(10, (max ?? 0) * 1.1)] } },
      axes: [axis, { ...axis, size: 64, values: (_u, splits) => splits.map((v) => format.powerTick(v)) }],
      series: [
        { label: "Time", value: (_u, v) => (v == null ? "—" : format.dateTime(v * 1000)) },
        ...options.series.map((style): uPlot.Series => {
          const color = cssVar(style.colorVar, "#2563eb");
          return {
            label: style.label,
            stroke: color,
            width: 2,
            dash: style.dash ?? [],
            fill: style.fill ? translucent(color) : undefined,
            points: { show: false },
            spanGaps: style.spanGaps ?? false,
            value: (_u, v) => format.power(v),
          };
        }),
      ],
      cursor: { drag: { x: Boolean(options.onZoom), y: false, setScale: false } },
      legend: { live: true },
      hooks: {
        setSelect: [
          (u) => {
            if (!options.onZoom || u.select.width < 4) return;
            const from = u.posToVal(u.select.left, "x");
            const to = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            options.onZoom(Math.round(from * 1000), Math.round(to * 1000));
          },
        ],
      },
    };
    this.plot = new uPlot(opts, [[], ...options.series.map(() => [])], this.host);
    this.resize = new ResizeObserver(() => {
      const width = Math.floor(this.host.clientWidth);
      if (width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: this.plot.height });
    });
    this.resize.observe(this.host);
  }

  /**
   * Draws `data` and updates `data-points` and the caption. `summary`
   * describes the span (e.g. "Last 15 minutes").
   */
  setData(data: Columns, summary: string): void {
    this.plot.setData(data as uPlot.AlignedData);
    const first = data[1] ?? [];
    const values = first.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    this.element.dataset.points = String(values.length);
    this.caption.textContent = describe(summary, values);
  }

  /** Shows or hides series `index` (1-based, as uPlot counts). */
  showSeries(index: number, show: boolean): void {
    if (this.plot.series[index]?.show !== show) this.plot.setSeries(index, { show });
  }

  /** Shows a sentence instead of a summary (loading, failure). */
  setCaption(text: string): void {
    this.caption.textContent = text;
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot.destroy();
  }
}

/** "Last 15 minutes: 90 readings; now 120 W, average 300 W, peak 1,850 W." */
function describe(span: string, values: number[]): string {
  if (values.length === 0) return `${span}: no readings.`;
  const sum = values.reduce((a, b) => a + b, 0);
  const peak = values.reduce((a, b) => Math.max(a, b), -Infinity);
  const last = values[values.length - 1];
  return `${span}: ${values.length} readings; latest ${format.power(last)}, average ${format.power(sum / values.length)}, peak ${format.power(peak)}.`;
}
