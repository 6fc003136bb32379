//! From a delivery to a decision: decode, validate and find the household,
//! producing either an [`Accepted`] message (points to write), an empty
//! batch (ack at once) or a [`DeadLetter`] (poison to move aside).
//!
//! The device comes from the routing key (which the broker's auth backend
//! enforced), never from the payload. The household comes from the
//! [`HouseholdDirectory`]; while the directory is unavailable the delivery is
//! held and the lookup retried, because an outage must not dead-letter good
//! data.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wattline_influx::line_protocol::check_tag;
use wattline_influx::{DeviceKey, InvalidPoint, LineProtocolBuilder};
use wattline_ops::retry::Backoff;
use wattline_proto::wire::CheckedBatch;

use crate::dead_letter::DeadLetter;
use crate::households::HouseholdDirectory;
use crate::ids::{DeviceId, HouseholdId};
use crate::pipeline::write::WRITES;
use crate::validate::{self, Invalid, Reason, Summary, TimeWindow};

/// A delivery as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The channel's delivery tag.
    pub tag: u64,
    pub routing_key: String,
    pub payload: Vec<u8>,
}

/// A valid message whose points are to be written.
///
/// It keeps the checked payload, not decoded readings: the payload is read
/// again in place when its points are built (see `wattline_proto::wire`),
/// which costs far less than holding a decoded copy.
#[derive(Debug)]
pub struct Accepted {
    pub tag: u64,
    pub routing_key: String,
    /// The body: its points are built from it, and it is dead-lettered as
    /// is should InfluxDB refuse it.
    pub batch: CheckedBatch,
    pub device: DeviceId,
    pub household: HouseholdId,
    /// The start of its series keys, escaped once.
    pub key: DeviceKey,
    pub summary: Summary,
    /// When it arrived, for the batch age limit.
    pub received: Instant,
}

impl Accepted {
    /// Appends this message's points. Validation has already made every
    /// point representable, so an error here is a bug upstream; the caller
    /// decides what to do with it.
    pub fn push_points(&self, builder: &mut LineProtocolBuilder) -> Result<(), InvalidPoint> {
        for socket in self.batch.view().sockets() {
            builder.push_wire_series(&self.key, socket.id(), socket.readings())?;
        }
        Ok(())
    }

    /// Points this message becomes.
    pub fn points(&self) -> usize {
        self.summary.readings
    }

    /// This message, to be moved aside because of `why`.
    pub fn into_dead_letter(self, why: Invalid) -> DeadLetter {
        DeadLetter {
            tag: self.tag,
            routing_key: self.routing_key,
            payload: self.batch.into_payload(),
            reason: why.reason,
            detail: why.detail,
        }
    }
}

/// What to do with a delivery.
#[derive(Debug)]
pub enum Intake {
    /// Write its points.
    Accepted(Accepted),
    /// It holds no readings: ack (and count) at once.
    Empty { tag: u64 },
    /// It can never be written: dead-letter it.
    Poison(DeadLetter),
}

/// Decides what to do with a delivery. Returns `None` only when `shutdown`
/// fires while the household directory is unavailable (the delivery then
/// stays unacked and the broker redelivers it).
pub async fn classify(
    incoming: Incoming,
    directory: &dyn HouseholdDirectory,
    max_clock_skew: Duration,
    shutdown: &CancellationToken,
) -> Option<Intake> {
    let received = Instant::now();
    let Incoming {
        tag,
        routing_key,
        payload,
    } = incoming;
    let poison = |payload, invalid: Invalid| {
        Some(Intake::Poison(DeadLetter {
            tag,
            routing_key: routing_key.clone(),
            payload,
            reason: invalid.reason,
            detail: invalid.detail,
        }))
    };
    // The synchronous checks first, in order: routing key, decoding, ids,
    // values, timestamps.
    let device = match device_of(&routing_key) {
        Ok(device) => device,
        Err(invalid) => return poison(payload, invalid),
    };
    let batch = match validate::decode(payload) {
        Ok(batch) => batch,
        Err((payload, invalid)) => return poison(payload, invalid),
    };
    let summary = match validate::check_batch(&batch.view(), TimeWindow::now(max_clock_skew)) {
        Ok(summary) => summary,
        Err(invalid) => return poison(batch.into_payload(), invalid),
    };
    let Some(household) = lookup(directory, &device, shutdown).await? else {
        let detail = format!("device {device:?} is not registered to a household");
        let invalid = Invalid::new(Reason::UnknownDevice, detail);
        return poison(batch.into_payload(), invalid);
    };
    let key = match DeviceKey::new(household.as_str(), device.as_str()) {
        Ok(key) => key,
        Err(e) => {
            let detail = format!("household id {household:?} of device {device:?}: {e}");
            return poison(
                batch.into_payload(),
                Invalid::new(Reason::InvalidId, detail),
            );
        }
    };
    if summary.readings == 0 {
        return Some(Intake::Empty { tag });
    }
    Some(Intake::Accepted(Accepted {
        tag,
        routing_key,
        batch,
        device,
        household,
        key,
        summary,
        received,
    }))
}

/// The sending device, from the routing key.
fn device_of(routing_key: &str) -> Result<DeviceId, Invalid> {
    let device = validate::device_from_routing_key(routing_key)?;
    representable("device", device.as_str())?;
    Ok(device)
}

/// An id that is legal but that line protocol cannot carry faithfully (a
/// trailing backslash, see `wattline_influx::line_protocol`) is dead-lettered
/// as `invalid_id` rather than stored under a different name.
fn representable(tag: &'static str, value: &str) -> Result<(), Invalid> {
    check_tag(tag, value)
        .map_err(|e| Invalid::new(Reason::InvalidId, format!("{tag} id {value:?}: {e}")))
}

/// The household of `device`, retrying while the directory is unavailable.
/// `Some(None)`: unknown device; `None`: shut down while retrying.
async fn lookup(
    directory: &dyn HouseholdDirectory,
    device: &DeviceId,
    shutdown: &CancellationToken,
) -> Option<Option<HouseholdId>> {
    let mut backoff = Backoff::new(WRITES);
    loop {
        match directory.household_of(device).await {
            Ok(household) => return Some(household),
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, %device, attempt = backoff.attempts(), "household lookup failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::households::{DirectoryError, StaticDirectory};
    use futures_util::future::BoxFuture;
    use std::sync::atomic::{AtomicU32, Ordering};
    use wattline_proto::{Batch, Reading, SocketSeries};

    fn directory() -> StaticDirectory {
        let mut d = StaticDirectory::new();
        d.insert(
            DeviceId::parse("dev 1").unwrap(),
            HouseholdId::parse("home, 1").unwrap(),
        );
        d
    }

    fn payload(socket: &str, readings: Vec<Reading>) -> Vec<u8> {
        Batch {
            device_id: "whatever the payload claims".into(),
            sequence: 1,
            sockets: vec![SocketSeries {
                socket_id: socket.into(),
                readings,
            }],
        }
        .encode()
    }

    fn incoming(routing_key: &str, payload: Vec<u8>) -> Incoming {
        Incoming {
            tag: 7,
            routing_key: routing_key.into(),
            payload,
        }
    }

    async fn run(incoming: Incoming, dir: &dyn HouseholdDirectory) -> Intake {
        classify(
            incoming,
            dir,
            Duration::from_secs(300),
            &CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    fn reason(intake: Intake) -> Option<Reason> {
        match intake {
            Intake::Poison(p) => Some(p.reason),
            _ => None,
        }
    }

    #[tokio::test]
    async fn device_comes_from_the_routing_key_and_household_from_the_directory() {
        let now = wattline_proto::now_ms();
        let body = payload("plug", vec![Reading::new(now, 12.5)]);
        let Intake::Accepted(a) = run(incoming("readings.dev 1", body), &directory()).await else {
            panic!("expected accepted");
        };
        assert_eq!(a.device.as_str(), "dev 1");
        assert_eq!(a.household.as_str(), "home, 1");
        assert_eq!(a.points(), 1);
        let mut builder = LineProtocolBuilder::new();
        a.push_points(&mut builder).unwrap();
        let line = String::from_utf8(builder.as_bytes().to_vec()).unwrap();
        assert!(
            line.starts_with("power,device=dev\\ 1,household=home\\,\\ 1,socket=plug watts=12.5 "),
            "{line}"
        );
    }

    #[tokio::test]
    async fn poison_reasons() {
        let now = wattline_proto::now_ms();
        let good = || payload("plug", vec![Reading::new(now, 1.0)]);
        let d = directory();
        assert_eq!(
            reason(run(incoming("readings.dev 1", b"\x08\xff\xff".to_vec()), &d).await),
            Some(Reason::Undecodable)
        );
        assert_eq!(
            reason(run(incoming("nope", good()), &d).await),
            Some(Reason::InvalidRoutingKey)
        );
        assert_eq!(
            reason(run(incoming("readings.unknown", good()), &d).await),
            Some(Reason::UnknownDevice)
        );
        assert_eq!(
            reason(run(incoming("readings.trailing\\", good()), &d).await),
            Some(Reason::InvalidId)
        );
        let bad_socket = payload("plug\\", vec![Reading::new(now, 1.0)]);
        assert_eq!(
            reason(run(incoming("readings.dev 1", bad_socket), &d).await),
            Some(Reason::InvalidId)
        );
        let negative = payload("plug", vec![Reading::new(now, -3.0)]);
        assert_eq!(
            reason(run(incoming("readings.dev 1", negative), &d).await),
            Some(Reason::InvalidValue)
        );
        let future = payload("plug", vec![Reading::new(now + 3_600_000, 1.0)]);
        assert_eq!(
            reason(run(incoming("readings.dev 1", future), &d).await),
            Some(Reason::TimestampOutOfRange)
        );
        let empty = Batch {
            device_id: String::new(),
            sequence: 0,
            sockets: vec![],
        }
        .encode();
        assert!(matches!(
            run(incoming("readings.dev 1", empty), &d).await,
            Intake::Empty { tag: 7 }
        ));
    }

    /// Unavailable twice, then answers.
    #[derive(Debug, Default)]
    struct Flaky(AtomicU32);

    impl HouseholdDirectory for Flaky {
        fn household_of<'a>(
            &'a self,
            _: &'a DeviceId,
        ) -> BoxFuture<'a, Result<Option<HouseholdId>, DirectoryError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < 2 {
                    Err(DirectoryError("auth-service down".into()))
                } else {
                    Ok(Some(HouseholdId::parse("h").unwrap()))
                }
            })
        }
    }

    #[tokio::test]
    async fn an_unavailable_directory_is_retried_not_dead_lettered() {
        let flaky = Flaky::default();
        let body = payload("plug", vec![Reading::new(wattline_proto::now_ms(), 1.0)]);
        let intake = run(incoming("readings.d", body.clone()), &flaky).await;
        assert!(matches!(intake, Intake::Accepted(_)), "{intake:?}");
        assert_eq!(flaky.0.load(Ordering::SeqCst), 3);

        // Shutting down while it is unavailable leaves the delivery alone.
        let down = Flaky::default();
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let intake = classify(
            incoming("readings.d", body),
            &down,
            Duration::from_secs(1),
            &shutdown,
        )
        .await;
        assert!(intake.is_none());
    }
}
