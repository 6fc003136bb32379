//! The picture of one perf run over time, as a standalone SVG: three panels
//! sharing the time axis — throughput (published/s and stored/s), write-queue
//! depth, and p99 publish → acked-write latency — with dashed marks for
//! moments such as the end of warm-up.
//!
//! Hand-written rather than drawn by a plotting crate: the picture is small
//! and fixed, and plain SVG text is easy to test (same input, same bytes) and
//! opens in any browser next to the run's JSON.

/// One sample of a run, taken about once a second.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Readings published (confirmed by the broker) per second over the last interval.
    pub published_per_s: f64,
    /// Points stored (written by the write service(s)) per second over the last interval.
    pub stored_per_s: f64,
    /// Messages waiting in the write queue.
    pub queue_depth: f64,
    /// Publish → acked-write latency over the last interval, p99, in ms (None when nothing was acked).
    pub latency_p99_ms: Option<f64>,
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 700.0;
/// Room left of the panels for tick labels and the rotated axis titles.
const LEFT: f64 = 84.0;
const RIGHT: f64 = 24.0;
/// Room above the panels: the title, the legend and two rows of mark labels.
const TOP: f64 = 84.0;
/// Room below the panels: time tick labels and the time axis title.
const BOTTOM: f64 = 56.0;
const PANEL_GAP: f64 = 28.0;
const PANEL_HEIGHT: f64 = (HEIGHT - TOP - BOTTOM - 2.0 * PANEL_GAP) / 3.0;
/// At most this many intervals between value ticks: 168 px panels fit six
/// 11 px labels with air between them.
const VALUE_INTERVALS: usize = 5;
/// At most this many intervals between time ticks across the 792 px width.
const TIME_INTERVALS: usize = 10;
/// Average width of one character of 11 px sans-serif, to keep mark labels
/// apart without measuring text (which SVG cannot do ahead of rendering).
const CHAR_WIDTH: f64 = 6.2;

const PUBLISHED_COLOR: &str = "#1f77b4";
const STORED_COLOR: &str = "#ff7f0e";
const QUEUE_COLOR: &str = "#2ca02c";
const LATENCY_COLOR: &str = "#d62728";
const GRID_COLOR: &str = "#e4e4e4";
const FRAME_COLOR: &str = "#999999";
const TEXT_COLOR: &str = "#333333";
const MARK_COLOR: &str = "#666666";

/// An SVG document: three panels stacked vertically sharing the time axis:
/// (1) throughput: published/s and stored/s as two lines; (2) queue depth; (3) latency p99 (ms).
/// `title` goes on top (e.g. "perf: 2000 households × 30 sockets, 2 write replicas").
/// `marks` are vertical dashed lines with labels (e.g. (10.0, "warm-up done")).
///
/// The time axis runs from 0 to the last sample or mark. Samples with a
/// non-finite time are left out; a non-finite value (or a `None` latency)
/// leaves a gap in its line rather than a guess.
pub fn svg(title: &str, samples: &[Sample], marks: &[(f64, &str)]) -> String {
    let mut samples: Vec<Sample> = samples
        .iter()
        .filter(|s| s.t_s.is_finite())
        .copied()
        .collect();
    // Lines are drawn in time order whatever order the caller collected in.
    samples.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    let marks: Vec<(f64, &str)> = marks
        .iter()
        .filter(|(t, _)| t.is_finite())
        .copied()
        .collect();

    let mut out = header(title);
    if samples.is_empty() {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"18\" fill=\"{MARK_COLOR}\">no samples</text>\n",
            px(WIDTH / 2.0),
            px(HEIGHT / 2.0)
        ));
        out.push_str("</svg>\n");
        return out;
    }

    // The time axis starts at 0 (the run's start) and reaches the last sample
    // or mark, so a mark the run never got to still shows where it would be.
    let times = samples
        .iter()
        .map(|s| s.t_s)
        .chain(marks.iter().map(|m| m.0));
    let (t_lo, t_hi) = range_with_zero(times);
    let time_axis = nice_axis(t_lo, t_hi, TIME_INTERVALS);
    let time = Scale::new(time_axis.lo, time_axis.hi, LEFT, WIDTH - RIGHT);

    out.push_str(&legend());
    // The id names the line in the document, for tests and for anyone
    // styling or scripting the SVG.
    let series = |id, color, value: fn(&Sample) -> Option<f64>| Series {
        id,
        color,
        points: samples.iter().map(|s| (s.t_s, value(s))).collect(),
    };
    let panels = [
        Panel {
            title: "throughput (readings/s)",
            series: vec![
                series("published", PUBLISHED_COLOR, |s| Some(s.published_per_s)),
                series("stored", STORED_COLOR, |s| Some(s.stored_per_s)),
            ],
        },
        Panel {
            title: "queue depth (messages)",
            series: vec![series("queue", QUEUE_COLOR, |s| Some(s.queue_depth))],
        },
        Panel {
            title: "latency p99 (ms)",
            series: vec![series("latency", LATENCY_COLOR, |s| s.latency_p99_ms)],
        },
    ];
    for (i, p) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL_HEIGHT + PANEL_GAP);
        out.push_str(&panel(p, top, &time, &time_axis, i == panels.len() - 1));
    }
    out.push_str(&time_labels(&time, &time_axis));
    out.push_str(&mark_lines(&marks, &time));
    out.push_str("</svg>\n");
    out
}

/// The XML prolog, the root element, a white background (so a converted PNG
/// is not transparent) and the title.
fn header(title: &str) -> String {
    let title = escape(title);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\" fill=\"{TEXT_COLOR}\">\n\
         <title>{title}</title>\n\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <text x=\"{x}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{title}</text>\n",
        w = WIDTH,
        h = HEIGHT,
        x = px(LEFT),
    )
}

/// The key to the two throughput lines, on its own row under the title so
/// it never hides data.
fn legend() -> String {
    let entries = [
        (PUBLISHED_COLOR, "published/s (confirmed by the broker)"),
        (STORED_COLOR, "stored/s (written by the write service)"),
    ];
    let mut out = String::from("<g id=\"legend\">\n");
    let mut x = LEFT;
    for (color, label) in entries {
        out.push_str(&format!(
            "<line x1=\"{}\" y1=\"42\" x2=\"{}\" y2=\"42\" stroke=\"{color}\" stroke-width=\"2\"/>\n\
             <text x=\"{}\" y=\"46\">{}</text>\n",
            px(x),
            px(x + 20.0),
            px(x + 26.0),
            escape(label)
        ));
        x += 26.0 + text_width(label) + 24.0;
    }
    out.push_str("</g>\n");
    out
}

/// A linear map from data values to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        Self { d0, d1, r0, r1 }
    }

    fn map(&self, v: f64) -> f64 {
        let f = (v - self.d0) / (self.d1 - self.d0);
        // Only absurd input (values near ±f64::MAX together) overflows here;
        // pin it to the axis rather than write NaN into the document.
        let f = if f.is_finite() { f } else { 0.0 };
        self.r0 + f * (self.r1 - self.r0)
    }
}

/// The smallest and largest of `values` together with 0: every quantity here
/// counts up from zero, and a baseline at zero keeps small changes from
/// looking dramatic.
fn range_with_zero(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((0.0, 0.0), |(lo, hi), v| (v.min(lo), v.max(hi)))
}

/// A value axis: its ends, widened to whole ticks so every line ends inside
/// the panel and the extremes are labelled, and the ticks from end to end.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

/// Ticks at the smallest "nice" step (1, 2 or 5 × 10^k) that covers
/// `lo..=hi` in at most `max_intervals` intervals.
fn nice_axis(lo: f64, hi: f64, max_intervals: usize) -> Axis {
    // A flat range (one sample, all zeros) still needs an axis to draw on.
    let pad = lo.abs().max(1.0);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if (lo + pad).is_finite() {
        (lo, lo + pad)
    } else {
        (lo - pad, lo)
    };
    let fallback = Axis {
        lo,
        hi,
        ticks: vec![lo, hi],
    };
    let intervals = max_intervals.max(1) as f64;
    let raw = (hi - lo) / intervals;
    if !(raw.is_finite() && raw > 0.0) {
        return fallback;
    }
    let first_exp = raw.log10().floor() as i32;
    // A step of 10^(first_exp + 2) is at least ten times `raw`, so the search
    // ends within a few exponents; the bound only guards against a loop.
    for exp in first_exp..first_exp + 4 {
        for mantissa in [1, 2, 5] {
            let step = tick_value(1, mantissa, exp);
            if !(step.is_finite() && step > 0.0) {
                return fallback;
            }
            // The slack keeps float noise (1.0 / 0.2 = 5.000000000000001)
            // from adding an empty interval.
            let first = (lo / step + 1e-9).floor();
            let last = (hi / step - 1e-9).ceil();
            if last - first <= intervals {
                let (first, last) = (first as i64, last as i64);
                let ticks: Vec<f64> = (first..=last)
                    .map(|i| tick_value(i, mantissa, exp))
                    .collect();
                // Whole steps past f64::MAX overflow; such a range gets just its ends.
                if ticks.iter().any(|t| !t.is_finite()) {
                    return fallback;
                }
                return Axis {
                    lo: ticks[0],
                    hi: ticks[ticks.len() - 1],
                    ticks,
                };
            }
        }
    }
    fallback
}

/// `i` × `mantissa` × 10^`exp`, dividing for negative exponents: 3 × 2 / 10
/// is exactly the double nearest 0.6, where 3 × 0.2 is not.
fn tick_value(i: i64, mantissa: i64, exp: i32) -> f64 {
    let n = (i * mantissa) as f64;
    if exp >= 0 {
        n * 10f64.powi(exp)
    } else {
        n / 10f64.powi(-exp)
    }
}

/// `v` with an SI prefix and at most three significant digits: 250k, 1.2M, 0.5.
fn si(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // Ticks are always finite; anything else is at least printed truthfully.
    if !v.is_finite() {
        return format!("{v}");
    }
    // Round to three significant digits before choosing the prefix, so
    // 999 999 reads "1M" rather than "1000k".
    let unit = 10f64.powi(v.abs().log10().floor() as i32 - 2);
    let rounded = (v / unit).round() * unit;
    // Rounding up next to f64::MAX overflows; keep the value as it is there.
    let rounded = if rounded.is_finite() { rounded } else { v };
    let (scale, prefix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(scale, _)| rounded.abs() >= *scale)
        .unwrap_or((1.0, ""));
    let scaled = rounded / scale;
    let decimals = (2 - scaled.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{scaled:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{prefix}")
}

/// `s` safe to put in SVG text or an attribute value.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A pixel coordinate with fixed precision, so the same run always gives the
/// same bytes (a tenth of a pixel is finer than any screen shows).
fn px(v: f64) -> String {
    let s = format!("{v:.1}");
    // -0.0 and 0.0 are the same place; write them the same way.
    if s == "-0.0" {
        "0.0".into()
    } else {
        s
    }
}

fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_WIDTH
}

/// One line of a panel: `(t_s, value)` per sample, `None` where nothing was measured.
#[derive(Debug)]
struct Series<'a> {
    id: &'a str,
    color: &'a str,
    points: Vec<(f64, Option<f64>)>,
}

/// One panel: a value axis titled with its unit, and its lines.
#[derive(Debug)]
struct Panel<'a> {
    title: &'a str,
    series: Vec<Series<'a>>,
}

/// The panel's frame, grid, value ticks, axis title and lines, with its top
/// edge at `top`. Only the `bottom` panel's grid lines reach the time labels.
fn panel(panel: &Panel, top: f64, time: &Scale, time_axis: &Axis, bottom: bool) -> String {
    let values = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1));
    let (lo, hi) = range_with_zero(values);
    let value_axis = nice_axis(lo, hi, VALUE_INTERVALS);
    let base = top + PANEL_HEIGHT;
    let value = Scale::new(value_axis.lo, value_axis.hi, base, top);
    let (left, right) = (LEFT, WIDTH - RIGHT);

    let mut out = format!(
        "<g id=\"panel-{}\">\n",
        panel.series.first().map_or("", |s| s.id)
    );
    for &t in &time_axis.ticks {
        let x = px(time.map(t));
        // The bottom panel's time grid lines poke out as tick marks.
        let y2 = if bottom { base + 4.0 } else { base };
        out.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{GRID_COLOR}\"/>\n",
            px(top),
            px(y2)
        ));
    }
    for &v in &value_axis.ticks {
        let y = px(value.map(v));
        out.push_str(&format!(
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{GRID_COLOR}\"/>\n\
             <text x=\"{}\" y=\"{y}\" dy=\"0.35em\" text-anchor=\"end\">{}</text>\n",
            px(left - 4.0),
            px(right),
            px(left - 7.0),
            escape(&si(v))
        ));
    }
    out.push_str(&format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"{FRAME_COLOR}\"/>\n",
        px(left),
        px(top),
        px(right - left),
        px(PANEL_HEIGHT)
    ));
    // Rotated along the axis: horizontal titles would not fit in the margin.
    let (tx, ty) = (px(18.0), px(top + PANEL_HEIGHT / 2.0));
    out.push_str(&format!(
        "<text x=\"{tx}\" y=\"{ty}\" transform=\"rotate(-90 {tx} {ty})\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
        escape(panel.title)
    ));

    let mut drawn = false;
    for series in &panel.series {
        let segments = segments(&series.points, time, &value);
        drawn |= !segments.is_empty();
        out.push_str(&series_svg(series, &segments));
    }
    if !drawn {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{MARK_COLOR}\">no data</text>\n",
            px((left + right) / 2.0),
            px(top + PANEL_HEIGHT / 2.0)
        ));
    }
    out.push_str("</g>\n");
    out
}

/// The series in pixels, split into runs of consecutive measured values: a
/// missing value (no acked write, NaN) breaks the line instead of bridging
/// the gap with a line that was never measured.
fn segments(points: &[(f64, Option<f64>)], time: &Scale, value: &Scale) -> Vec<Vec<(f64, f64)>> {
    let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for &(t, v) in points {
        match v.filter(|v| v.is_finite()) {
            Some(v) => current.push((time.map(t), value.map(v))),
            None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// One `<path>` with an `M` (move) per segment; a segment of a single point
/// gets a dot too, since a path through one point draws nothing.
fn series_svg(series: &Series, segments: &[Vec<(f64, f64)>]) -> String {
    let mut d = String::new();
    for segment in segments {
        for (i, &(x, y)) in segment.iter().enumerate() {
            let command = if i == 0 { 'M' } else { 'L' };
            d.push_str(&format!("{command}{} {}", px(x), px(y)));
        }
    }
    let mut out = format!(
        "<path id=\"{}\" d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>\n",
        escape(series.id),
        series.color
    );
    for segment in segments.iter().filter(|s| s.len() == 1) {
        let (x, y) = segment[0];
        out.push_str(&format!(
            "<circle cx=\"{}\" cy=\"{}\" r=\"2\" fill=\"{}\"/>\n",
            px(x),
            px(y),
            series.color
        ));
    }
    out
}

/// The time tick labels under the bottom panel and the time axis title.
fn time_labels(time: &Scale, time_axis: &Axis) -> String {
    let mut out = String::from("<g id=\"time-axis\" text-anchor=\"middle\">\n");
    let y = px(HEIGHT - BOTTOM + 17.0);
    for &t in &time_axis.ticks {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{y}\">{}</text>\n",
            px(time.map(t)),
            escape(&si(t))
        ));
    }
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"12\">time since start (s)</text>\n</g>\n",
        px((LEFT + WIDTH - RIGHT) / 2.0),
        px(HEIGHT - 14.0)
    ));
    out
}

/// Dashed vertical lines through all three panels, labelled above the top
/// one where no data can be hidden. A label that would run into the one
/// before it moves up a row; near the right edge a label reads leftwards
/// from its line so it stays on the canvas.
fn mark_lines(marks: &[(f64, &str)], time: &Scale) -> String {
    const ROWS: usize = 2;
    let mut marks = marks.to_vec();
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Where each row of labels ends so far.
    let mut row_ends = [f64::NEG_INFINITY; ROWS];
    let mut out = String::from("<g id=\"marks\">\n");
    let bottom = HEIGHT - BOTTOM;
    for (t, label) in marks {
        let x = time.map(t);
        let width = text_width(label);
        let (anchor, start, end, text_x) = if x + 4.0 + width > WIDTH - RIGHT {
            ("end", x - 4.0 - width, x - 4.0, x - 4.0)
        } else {
            ("start", x + 4.0, x + 4.0 + width, x + 4.0)
        };
        // With every row taken, overlap on the top row rather than drop a label.
        let row = row_ends
            .iter()
            .position(|&e| e + 8.0 <= start)
            .unwrap_or(ROWS - 1);
        row_ends[row] = end;
        out.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{MARK_COLOR}\" stroke-dasharray=\"5 4\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"{MARK_COLOR}\">{}</text>\n",
            px(TOP - 16.0 - 13.0 * row as f64),
            px(bottom),
            px(text_x),
            px(TOP - 6.0 - 13.0 * row as f64),
            escape(label),
            x = px(x),
        ));
    }
    out.push_str("</g>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, published: f64, stored: f64, queue: f64, latency: Option<f64>) -> Sample {
        Sample {
            t_s,
            published_per_s: published,
            stored_per_s: stored,
            queue_depth: queue,
            latency_p99_ms: latency,
        }
    }

    /// A minute of load: a 10 s warm-up ramp to 250k readings/s, the write
    /// queue growing while the writers catch up, a latency gap while nothing
    /// was acked, and the load stopping at 50 s.
    fn synthetic_run() -> Vec<Sample> {
        (0..60)
            .map(|i| {
                let t = i as f64;
                let wiggle = (t * 0.7).sin() * 6_000.0;
                let published = if t < 10.0 {
                    25_000.0 * t
                } else if t < 50.0 {
                    250_000.0 + wiggle
                } else {
                    0.0
                };
                let stored = if t < 3.0 {
                    0.0
                } else if t < 50.0 {
                    (published * 0.97).min(240_000.0) + wiggle / 2.0
                } else if t < 54.0 {
                    180_000.0
                } else {
                    0.0
                };
                let queue = if t < 50.0 {
                    (t * 40.0).min(600.0)
                } else {
                    (600.0 - (t - 49.0) * 150.0).max(0.0)
                };
                let latency = match i {
                    0..=2 => None,
                    30..=32 => None,
                    _ => Some(80.0 + queue * 0.5 + (t * 1.3).cos() * 10.0),
                };
                sample(t, published, stored, queue, latency)
            })
            .collect()
    }

    const TITLE: &str = "perf: 2000 households × 30 sockets, 2 write replicas";
    const MARKS: [(f64, &str); 3] = [
        (10.0, "warm-up done"),
        (12.0, "replica #2 <up> & \"ready\""),
        (50.0, "load stopped"),
    ];

    /// Checks the document is well-formed as far as tags go: every element
    /// opened is closed, in order, under one root; and every `&` starts an
    /// entity. Enough XML for what [`svg`] writes (no comments or CDATA).
    fn assert_well_formed(doc: &str) {
        let body = doc
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("XML prolog");
        let mut open: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = body;
        while let Some(start) = rest.find('<') {
            assert!(
                !rest[..start].contains('>'),
                "stray '>' in text: {:?}",
                &rest[..start]
            );
            let end = rest[start..].find('>').expect("unterminated tag") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name.trim()), "mismatched </{name}>");
            } else {
                let name = tag
                    .split_whitespace()
                    .next()
                    .expect("tag name")
                    .trim_end_matches('/');
                if open.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    open.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed elements: {open:?}");
        assert_eq!(roots, 1, "one root element");
        for (i, _) in doc.match_indices('&') {
            let entity = &doc[i..doc[i..].find(';').map_or(doc.len(), |e| i + e + 1)];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
                "bare & at {i}: {entity:?}"
            );
        }
    }

    /// The `d` attribute of the path with this id.
    fn path_data<'a>(doc: &'a str, id: &str) -> &'a str {
        let open = format!("<path id=\"{id}\" d=\"");
        let start = doc.find(&open).expect("path present") + open.len();
        &doc[start..start + doc[start..].find('"').expect("end of d")]
    }

    fn ticks(lo: f64, hi: f64, max_intervals: usize) -> Vec<f64> {
        nice_axis(lo, hi, max_intervals).ticks
    }

    #[test]
    fn nice_ticks_cover_the_range_in_1_2_5_steps() {
        assert_eq!(ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(0.0, 7.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(0.0, 1234.0, 5), [0.0, 500.0, 1000.0, 1500.0]);
        assert_eq!(
            ticks(0.0, 250_000.0, 5),
            [0.0, 50_000.0, 100_000.0, 150_000.0, 200_000.0, 250_000.0]
        );
        assert_eq!(
            ticks(0.0, 59.0, 10),
            [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
        );
        assert_eq!(ticks(0.0, 0.03, 5), [0.0, 0.01, 0.02, 0.03]);
        assert_eq!(ticks(-3.0, 4.0, 5), [-4.0, -2.0, 0.0, 2.0, 4.0]);
    }

    #[test]
    fn a_flat_range_still_gets_an_axis() {
        assert_eq!(ticks(0.0, 0.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let axis = nice_axis(f64::MAX, f64::MAX, 5);
        assert!(axis.hi > axis.lo && axis.ticks.iter().all(|t| t.is_finite()));
    }

    #[test]
    fn si_keeps_three_significant_digits_with_a_prefix() {
        let cases = [
            (0.0, "0"),
            (0.2, "0.2"),
            (0.05, "0.05"),
            (7.0, "7"),
            (12.5, "12.5"),
            (500.0, "500"),
            (1_000.0, "1k"),
            (1_500.0, "1.5k"),
            (1_234.0, "1.23k"),
            (250_000.0, "250k"),
            (1_200_000.0, "1.2M"),
            (999_999.0, "1M"),
            (3e9, "3G"),
            (-2_500.0, "-2.5k"),
        ];
        for (v, want) in cases {
            assert_eq!(si(v), want, "si({v})");
        }
    }

    #[test]
    fn escape_covers_the_five_xml_specials() {
        assert_eq!(
            escape(r#"a & b < c > d "e" 'f'"#),
            "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;"
        );
        assert_eq!(escape("× ok"), "× ok");
    }

    #[test]
    fn a_run_is_a_well_formed_svg_with_its_text_escaped() {
        let doc = svg("<b>&'\"", &synthetic_run(), &MARKS);
        assert_well_formed(&doc);
        assert!(doc.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(doc.contains("width=\"900\" height=\"700\" viewBox=\"0 0 900 700\""));
        assert!(doc.contains("&lt;b&gt;&amp;&apos;&quot;"));
        assert!(doc.contains("replica #2 &lt;up&gt; &amp; &quot;ready&quot;"));
        assert!(!doc.contains("NaN") && !doc.contains("inf"));
        // Throughput ticks are SI-formatted and the legend names both lines.
        assert!(doc.contains(">300k</text>") && doc.contains(">100k</text>"));
        assert!(doc.contains("published/s") && doc.contains("stored/s"));
    }

    #[test]
    fn latency_gaps_split_the_line() {
        let doc = svg(TITLE, &synthetic_run(), &MARKS);
        // None for samples 0..=2 (no leading segment) and 30..=32: two runs.
        assert_eq!(path_data(&doc, "latency").matches('M').count(), 2);
        assert_eq!(path_data(&doc, "published").matches('M').count(), 1);
    }

    #[test]
    fn non_finite_values_are_skipped() {
        let mut run = synthetic_run();
        run[20].published_per_s = f64::NAN;
        run[21].queue_depth = f64::INFINITY;
        run[40].t_s = f64::NAN;
        run[41].latency_p99_ms = Some(f64::NEG_INFINITY);
        let doc = svg(TITLE, &run, &[(f64::NAN, "never"), (10.0, "warm-up done")]);
        assert_well_formed(&doc);
        assert!(!doc.contains("NaN") && !doc.contains("inf") && !doc.contains("never"));
        assert_eq!(path_data(&doc, "published").matches('M').count(), 2);
        assert_eq!(path_data(&doc, "queue").matches('M').count(), 2);
        // Sample 40 is gone entirely (the lines join 39 to 41); 41's latency
        // leaves a gap.
        assert_eq!(path_data(&doc, "latency").matches('M').count(), 3);
    }

    #[test]
    fn extreme_values_still_give_finite_coordinates() {
        let run = [
            sample(0.0, f64::MAX, -f64::MAX, 0.0, None),
            sample(1.0, 0.0, f64::MAX, 1.0, Some(1.0)),
        ];
        let doc = svg(TITLE, &run, &[]);
        assert_well_formed(&doc);
        assert!(!doc.contains("NaN") && !doc.contains("inf"));
    }

    #[test]
    fn the_same_run_gives_the_same_bytes() {
        let run = synthetic_run();
        assert_eq!(svg(TITLE, &run, &MARKS), svg(TITLE, &run, &MARKS));
    }

    #[test]
    fn no_samples_says_so() {
        let doc = svg(TITLE, &[], &MARKS);
        assert_well_formed(&doc);
        assert!(doc.contains(">no samples</text>"));
        assert!(!doc.contains("<path"));
    }

    #[test]
    fn one_sample_and_all_zeros_still_draw() {
        let doc = svg(TITLE, &[sample(0.0, 0.0, 0.0, 0.0, None)], &[]);
        assert_well_formed(&doc);
        // A single point is a dot; the latency panel says it has nothing.
        assert!(doc.contains("<circle"));
        assert!(doc.contains(">no data</text>"));
        assert!(doc.contains(">1</text>"), "the flat axis runs 0..1");

        let zeros: Vec<Sample> = (0..5)
            .map(|i| sample(i as f64, 0.0, 0.0, 0.0, Some(0.0)))
            .collect();
        let doc = svg(TITLE, &zeros, &[]);
        assert_well_formed(&doc);
        assert!(!doc.contains("NaN"));
        assert_eq!(path_data(&doc, "latency").matches('L').count(), 4);
    }

    #[test]
    fn every_line_stays_inside_the_panels() {
        let doc = svg(TITLE, &synthetic_run(), &MARKS);
        for (id, panel) in [
            ("published", 0),
            ("stored", 0),
            ("queue", 1),
            ("latency", 2),
        ] {
            let top = TOP + panel as f64 * (PANEL_HEIGHT + PANEL_GAP);
            let d = path_data(&doc, id);
            let numbers: Vec<f64> = d
                .split(['M', 'L', ' '])
                .filter(|n| !n.is_empty())
                .map(|n| n.parse().expect("a coordinate"))
                .collect();
            for xy in numbers.chunks(2) {
                assert!((LEFT..=WIDTH - RIGHT).contains(&xy[0]), "{id}: x {}", xy[0]);
                let y = xy[1];
                assert!((top..=top + PANEL_HEIGHT).contains(&y), "{id}: y {y}");
            }
        }
    }

    /// Writes the synthetic run where a person can look at it, and a PNG of
    /// it next to it when `rsvg-convert` (Debian: librsvg2-bin) is installed.
    #[test]
    fn writes_the_synthetic_run_for_a_look() {
        let path = std::env::temp_dir().join("wattline-perf-plot.svg");
        std::fs::write(&path, svg(TITLE, &synthetic_run(), &MARKS))
            .expect("write the SVG to the temp dir");
        println!("wrote {}", path.display());
        let png = path.with_extension("png");
        // Optional: without the converter there is still the SVG to open.
        let converted = std::process::Command::new("rsvg-convert")
            .arg(&path)
            .arg("-o")
            .arg(&png)
            .status();
        if converted.is_ok_and(|status| status.success()) {
            println!("wrote {}", png.display());
        }
    }
}
