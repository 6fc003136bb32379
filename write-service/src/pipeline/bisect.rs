//! Finding the message(s) that make InfluxDB reject a batch.
//!
//! A 400 (other than a retention drop) refuses the *whole* body, good points
//! included. Writing message by message would cost one request per message;
//! bisection costs about `2 · log2(n)` requests per offending message: split
//! the rejected range in halves, write each half, and keep splitting only
//! the halves that are rejected again, down to single messages.
//!
//! The search is pure: the caller passes the function that writes a range of
//! messages (re-encoding them and retrying unavailability inside), so the
//! logic is unit-tested with a fake writer.

use std::future::Future;
use std::ops::Range;

/// What writing one range of messages came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Written; `dropped` points were beyond the retention policy.
    Written { dropped: u64 },
    /// Refused as a whole, with InfluxDB's message.
    Rejected(String),
}

/// The result of a bisection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bisection {
    /// Indices of the messages InfluxDB refused on their own, with its message.
    pub rejected: Vec<(usize, String)>,
    /// Points dropped for retention in the ranges that were written.
    pub dropped: u64,
    /// Write requests made.
    pub writes: usize,
}

/// Bisects `0..len`, a range InfluxDB has just rejected with `message`.
///
/// Every index ends up either inside a range that `write` reported
/// [`Attempt::Written`] or in [`Bisection::rejected`]; nothing is written
/// twice by the search itself.
pub async fn bisect<F, Fut>(len: usize, message: String, mut write: F) -> Bisection
where
    F: FnMut(Range<usize>) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut outcome = Bisection::default();
    // Rejected ranges still to split; a stack keeps this iterative (no boxed
    // recursion) and processes the left half first.
    let mut stack = vec![(0..len, message)];
    while let Some((range, message)) = stack.pop() {
        if range.len() <= 1 {
            if !range.is_empty() {
                outcome.rejected.push((range.start, message));
            }
            continue;
        }
        let middle = range.start + range.len() / 2;
        let halves = [range.start..middle, middle..range.end];
        let mut rejected_halves = Vec::new();
        for half in halves {
            outcome.writes += 1;
            match write(half.clone()).await {
                Attempt::Written { dropped } => outcome.dropped += dropped,
                Attempt::Rejected(message) => rejected_halves.push((half, message)),
            }
        }
        // Push right first so the left half is split first (results in order).
        stack.extend(rejected_halves.into_iter().rev());
    }
    outcome.rejected.sort_by_key(|(index, _)| *index);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::cell::RefCell;

    /// A fake InfluxDB: rejects any range holding a poison index and
    /// records every range written.
    fn run(len: usize, poison: &[usize], dropped_each: u64) -> (Bisection, Vec<Range<usize>>) {
        let written = RefCell::new(Vec::new());
        let outcome = bisect(len, "field type conflict".into(), |range: Range<usize>| {
            let hit = poison.iter().any(|p| range.contains(p));
            if !hit {
                written.borrow_mut().push(range.clone());
            }
            let attempt = if hit {
                Attempt::Rejected(format!("conflict in {range:?}"))
            } else {
                Attempt::Written {
                    dropped: dropped_each,
                }
            };
            std::future::ready(attempt)
        })
        .now_or_never()
        .expect("the fake writer never waits");
        (outcome, written.into_inner())
    }

    fn covered(ranges: &[Range<usize>]) -> Vec<usize> {
        let mut all: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn finds_a_single_offender_in_about_two_log_n_writes() {
        let (outcome, written) = run(100, &[37], 0);
        assert_eq!(
            outcome.rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
            [37]
        );
        assert_eq!(outcome.rejected[0].1, "conflict in 37..38");
        let expected: Vec<usize> = (0..100).filter(|i| *i != 37).collect();
        assert_eq!(
            covered(&written),
            expected,
            "every other message written exactly once"
        );
        assert!(outcome.writes <= 2 * 7, "{} writes", outcome.writes);
    }

    #[test]
    fn finds_several_offenders_including_the_edges() {
        let (outcome, written) = run(10, &[0, 4, 5, 9], 0);
        let found: Vec<usize> = outcome.rejected.iter().map(|r| r.0).collect();
        assert_eq!(found, [0, 4, 5, 9]);
        assert_eq!(covered(&written), [1, 2, 3, 6, 7, 8]);
    }

    #[test]
    fn everything_poison_and_trivial_sizes() {
        let (outcome, written) = run(4, &[0, 1, 2, 3], 0);
        assert_eq!(outcome.rejected.len(), 4);
        assert!(written.is_empty());
        // A batch of one message that was rejected needs no further write.
        let (outcome, _) = run(1, &[0], 0);
        assert_eq!(outcome.rejected.len(), 1);
        assert_eq!(outcome.writes, 0);
        let (outcome, _) = run(0, &[], 0);
        assert_eq!(outcome, Bisection::default());
    }

    #[test]
    fn retention_drops_of_the_written_halves_are_summed() {
        let (outcome, written) = run(8, &[3], 2);
        assert_eq!(outcome.dropped, 2 * written.len() as u64);
    }
}
