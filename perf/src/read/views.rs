//! The dashboard's views as read-service requests, and the mix users pick
//! them by (`--mix day=5,month=3,year=2`).
//!
//! A view's requests are sent together, as the dashboard does when a page
//! opens: the day view lists the sockets and charts the last 24 h (the
//! household total and one socket) beside today's energy by hour; the month
//! and year views chart 30 or 365 days and sum energy by day or month.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::Serialize;

/// A dashboard view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Day,
    Month,
    Year,
}

impl View {
    pub const ALL: [View; 3] = [View::Day, View::Month, View::Year];

    pub fn as_str(self) -> &'static str {
        match self {
            View::Day => "day",
            View::Month => "month",
            View::Year => "year",
        }
    }

    /// The view's read-service paths (with query) for `socket`
    /// (`(device, socket)`), its ranges ending at `now_ms`.
    pub fn paths(self, now_ms: i64, socket: (&str, &str)) -> Vec<String> {
        let to = rfc3339(now_ms);
        let from = |days: i64| rfc3339(now_ms - days * 86_400_000);
        let one = format!(
            "&device={}&socket={}",
            crate::setup::encode(socket.0),
            crate::setup::encode(socket.1)
        );
        match self {
            View::Day => {
                // Today: from midnight UTC (households are registered in UTC).
                let midnight = rfc3339(now_ms.div_euclid(86_400_000) * 86_400_000);
                vec![
                    "/api/sockets".to_owned(),
                    format!("/api/power?from={}&to={to}", from(1)),
                    format!("/api/power?from={}&to={to}{one}", from(1)),
                    format!("/api/energy?from={midnight}&to={to}&bucket=hour"),
                ]
            }
            View::Month => vec![
                format!("/api/power?from={}&to={to}", from(30)),
                format!("/api/energy?from={}&to={to}&bucket=day", from(30)),
            ],
            View::Year => vec![
                format!("/api/power?from={}&to={to}", from(365)),
                format!("/api/energy?from={}&to={to}&bucket=month", from(365)),
            ],
        }
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for View {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        View::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown view {s:?} (day, month, year)"))
    }
}

/// A time as RFC 3339 UTC, percent-encoded for a query string.
fn rfc3339(ms: i64) -> String {
    let text = jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string();
    crate::setup::encode(&text)
}

/// How often users pick each view: relative weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix(Vec<(View, u32)>);

impl Mix {
    /// The views with a weight above zero.
    pub fn views(&self) -> impl Iterator<Item = View> + '_ {
        self.0.iter().filter(|(_, w)| *w > 0).map(|(v, _)| *v)
    }

    /// A weighted random pick.
    pub fn pick(&self, rng: &mut impl Rng) -> View {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut roll = rng.random_range(0..total);
        for (view, weight) in &self.0 {
            if roll < *weight {
                return *view;
            }
            roll -= weight;
        }
        // Unreachable: the weights sum to `total` > 0 (checked when parsed).
        self.0[0].0
    }

    /// The weights, for the report.
    pub fn weights(&self) -> std::collections::BTreeMap<View, u32> {
        self.0.iter().copied().collect()
    }
}

impl Default for Mix {
    fn default() -> Self {
        Mix(vec![(View::Day, 5), (View::Month, 3), (View::Year, 2)])
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `day=5,month=3,year=2`; a view left out has weight 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected view=weight"))?;
            let view: View = name.trim().parse()?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: the weight is not a whole number"))?;
            if weights.iter().any(|(v, _)| *v == view) {
                return Err(format!("{view} given twice"));
            }
            weights.push((view, weight));
        }
        let total = weights
            .iter()
            .try_fold(0u32, |sum, (_, w)| sum.checked_add(*w));
        match total {
            Some(t) if t > 0 => Ok(Mix(weights)),
            Some(_) => Err("the mix needs a view with a weight above 0".into()),
            None => Err("the weights are too large".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_refuse_nonsense() {
        let mix: Mix = "day=5,month=3,year=2".parse().unwrap();
        assert_eq!(mix, Mix::default());
        let only: Mix = "year=1, day=0".parse().unwrap();
        assert_eq!(only.views().collect::<Vec<_>>(), vec![View::Year]);
        for bad in [
            "",
            "day",
            "day=x",
            "week=1",
            "day=0",
            "day=1,day=2",
            "day=-1",
            "day=4294967295,month=1",
        ] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn picks_follow_the_weights() {
        let mix: Mix = "day=3,year=1".parse().unwrap();
        let mut rng = rand::rng();
        let picks: Vec<View> = (0..4000).map(|_| mix.pick(&mut rng)).collect();
        let days = picks.iter().filter(|v| **v == View::Day).count();
        assert!(!picks.contains(&View::Month));
        assert!((2700..3300).contains(&days), "{days}");
    }

    #[test]
    fn views_ask_for_what_the_dashboard_shows() {
        let now = 1_795_392_000_000 + 3_600_000;
        let day = View::Day.paths(now, ("d 1", "s1"));
        assert_eq!(day.len(), 4);
        assert_eq!(day[0], "/api/sockets");
        assert!(day[2].ends_with("&device=d%201&socket=s1"), "{}", day[2]);
        assert!(day[3].contains("from=2026-11-22T00%3A00%3A00Z") || day[3].contains("bucket=hour"));
        let year = View::Year.paths(now, ("d", "s"));
        assert!(year[1].ends_with("bucket=month"));
        assert!(year.iter().all(|p| !p.contains("device=")));
    }
}
