//! Reading the write services' `/metrics`: points written, and the lag
//! histogram (ack time − reading time; perf stamps readings when it sends
//! them, so that is publish → acked-write latency) turned into percentiles.

use anyhow::Result;

const POINTS_WRITTEN: &str = "wattline_write_points_written_total";
const LAG_BUCKET: &str = "wattline_write_end_to_end_lag_seconds_bucket";

/// What one scrape (of one or several services, summed) says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    pub points_written: f64,
    /// Cumulative lag histogram: (upper bound in seconds, count), ascending,
    /// the last bound infinite.
    pub lag: Vec<(f64, f64)>,
}

impl Scrape {
    /// Parses one service's Prometheus text.
    pub fn parse(text: &str) -> Self {
        let mut scrape = Self::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if series == POINTS_WRITTEN || series.starts_with(&format!("{POINTS_WRITTEN}{{")) {
                scrape.points_written += value;
            } else if let Some(labels) = series.strip_prefix(LAG_BUCKET) {
                if let Some(le) = label(labels, "le") {
                    let bound = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(f64::NAN)
                    };
                    if !bound.is_nan() {
                        scrape.lag.push((bound, value));
                    }
                }
            }
        }
        scrape.lag.sort_by(|a, b| a.0.total_cmp(&b.0));
        scrape
    }

    /// Adds another service's scrape (replicas are summed).
    pub fn add(&mut self, other: &Scrape) {
        self.points_written += other.points_written;
        if self.lag.is_empty() {
            self.lag = other.lag.clone();
        } else {
            for (mine, theirs) in self.lag.iter_mut().zip(&other.lag) {
                mine.1 += theirs.1;
            }
        }
    }

    /// The histogram of what happened between `earlier` and `self`.
    pub fn lag_since(&self, earlier: &Scrape) -> Vec<(f64, f64)> {
        self.lag
            .iter()
            .map(|(bound, count)| {
                let before = earlier
                    .lag
                    .iter()
                    .find(|(b, _)| b == bound)
                    .map_or(0.0, |(_, c)| *c);
                (*bound, count - before)
            })
            .collect()
    }
}

/// Scrapes every URL and sums them.
pub async fn scrape_all(http: &reqwest::Client, urls: &[String]) -> Result<Scrape> {
    let mut total = Scrape::default();
    for url in urls {
        let text = http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        total.add(&Scrape::parse(&text));
    }
    Ok(total)
}

/// The `q` quantile (0..=1) of a cumulative histogram, as the upper bound
/// of the bucket it falls in (so never an underestimate), in ms; `None`
/// when the histogram is empty.
pub fn quantile_ms(histogram: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = histogram.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = (q * total).max(1.0);
    histogram
        .iter()
        .find(|(_, count)| *count >= rank)
        .map(|(bound, _)| bound * 1000.0)
}

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE wattline_write_points_written_total counter
wattline_write_points_written_total 1200
wattline_write_end_to_end_lag_seconds_bucket{le="0.005"} 10
wattline_write_end_to_end_lag_seconds_bucket{le="0.01"} 60
wattline_write_end_to_end_lag_seconds_bucket{le="0.1"} 99
wattline_write_end_to_end_lag_seconds_bucket{le="+Inf"} 100
wattline_write_end_to_end_lag_seconds_sum 1.5
"#;

    #[test]
    fn parses_points_and_the_lag_histogram() {
        let scrape = Scrape::parse(TEXT);
        assert_eq!(scrape.points_written, 1200.0);
        assert_eq!(scrape.lag.len(), 4);
        assert_eq!(scrape.lag[3], (f64::INFINITY, 100.0));
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let lag = Scrape::parse(TEXT).lag;
        assert_eq!(quantile_ms(&lag, 0.5), Some(10.0));
        assert_eq!(quantile_ms(&lag, 0.99), Some(100.0));
        assert_eq!(quantile_ms(&lag, 0.05), Some(5.0));
        assert_eq!(quantile_ms(&lag, 1.0), Some(f64::INFINITY));
        assert_eq!(quantile_ms(&[], 0.5), None);
    }

    #[test]
    fn replicas_add_and_intervals_subtract() {
        let one = Scrape::parse(TEXT);
        let mut two = one.clone();
        two.add(&one);
        assert_eq!(two.points_written, 2400.0);
        assert_eq!(two.lag[1], (0.01, 120.0));
        let delta = two.lag_since(&one);
        assert_eq!(delta[1], (0.01, 60.0));
    }
}
