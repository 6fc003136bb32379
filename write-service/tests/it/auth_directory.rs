//! Households from auth-service's device registry (`--auth-url`).
//!
//! A stand-in for auth-service's internal listener, in this process, keeps
//! the HTTP contract (`GET /internal/devices/{id}` → 200 / 404
//! `unknown_device`) and provokes on demand what the real one will not: a
//! 500 or 503, a broken body, a hang, a foreign 404, a vanished server. The
//! real auth-service is tested against this client where it lives.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use write_service::households::{
    AuthDirectory, AuthUrl, CacheSettings, CachedDirectory, HouseholdDirectory,
};
use write_service::ids::{DeviceId, HouseholdId};

use crate::helpers::*;

/// What the stand-in knows and how it behaves; shared with its handler.
#[derive(Debug, Clone, Default)]
struct Registry {
    households: Arc<Mutex<HashMap<String, String>>>,
    /// Non-zero: every lookup is answered with this status (an outage).
    outage: Arc<AtomicU16>,
    /// Device ids as the handler received them, decoded.
    received: Arc<Mutex<Vec<String>>>,
}

impl Registry {
    fn register(&self, device: &str, household: &str) {
        self.households
            .lock()
            .expect("lock")
            .insert(device.into(), household.into());
    }

    fn set_outage(&self, status: Option<StatusCode>) {
        self.outage
            .store(status.map_or(0, |s| s.as_u16()), Ordering::SeqCst);
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }
}

/// Devices with special behaviour.
const HANGS: &str = "hang";
const GARBAGE: &str = "garbage";

async fn lookup_handler(
    State(registry): State<Registry>,
    Path(device_id): Path<String>,
) -> Response {
    registry
        .received
        .lock()
        .expect("lock")
        .push(device_id.clone());
    let outage = registry.outage.load(Ordering::SeqCst);
    if outage != 0 {
        let status = StatusCode::from_u16(outage).expect("status");
        let body = json!({"error": {"code": "unavailable", "message": "database down"}});
        return (status, Json(body)).into_response();
    }
    match device_id.as_str() {
        HANGS => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
        GARBAGE => (StatusCode::OK, "<html>surprise</html>").into_response(),
        _ => {
            let household = registry
                .households
                .lock()
                .expect("lock")
                .get(&device_id)
                .cloned();
            match household {
                Some(household_id) => {
                    Json(json!({"device_id": device_id, "household_id": household_id}))
                        .into_response()
                }
                None => {
                    let body =
                        json!({"error": {"code": "unknown_device", "message": "no such device"}});
                    (StatusCode::NOT_FOUND, Json(body)).into_response()
                }
            }
        }
    }
}

/// The stand-in server, on a free port.
struct StandIn {
    addr: SocketAddr,
    registry: Registry,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl StandIn {
    async fn start() -> Self {
        testkit::init_crypto();
        let registry = Registry::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let app = Router::new()
            .route("/internal/devices/{device_id}", get(lookup_handler))
            .with_state(registry.clone());
        let stop = CancellationToken::new();
        let serve = axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future();
        let task = tokio::spawn(async move {
            serve.await.expect("stand-in server");
        });
        Self {
            addr,
            registry,
            stop,
            task,
        }
    }

    fn url(&self) -> AuthUrl {
        format!("http://{}", self.addr).parse().expect("URL")
    }

    fn directory(&self) -> AuthDirectory {
        AuthDirectory::new(&self.url()).expect("directory")
    }

    /// Stops accepting and closes its connections.
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("stand-in task");
    }
}

fn device(id: &str) -> DeviceId {
    DeviceId::parse(id).expect("device id")
}

/// The household as text; `Err` as its message.
async fn lookup(directory: &dyn HouseholdDirectory, id: &str) -> Result<Option<String>, String> {
    directory
        .household_of(&device(id))
        .await
        .map(|household| household.map(|h: HouseholdId| h.as_str().to_owned()))
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_registered_device_has_its_household_and_an_unknown_one_none() {
    let auth = StandIn::start().await;
    auth.registry.register("dev-1", "Familie Müller, Haus 2");
    let directory = auth.directory();
    assert_eq!(
        lookup(&directory, "dev-1").await,
        Ok(Some("Familie Müller, Haus 2".into()))
    );
    assert_eq!(lookup(&directory, "nobody").await, Ok(None));
    assert_eq!(auth.registry.received(), ["dev-1", "nobody"]);
}

#[tokio::test]
async fn awkward_device_ids_arrive_as_one_path_segment_decoded_exactly() {
    let auth = StandIn::start().await;
    let ids = [
        "a/b c%?#é",
        "../../etc/passwd",
        "%2F%2e%2e",
        "living room, \"north\"",
        "a+b&c=d;e@f:g",
        "Küche – Kühlschrank 🔌",
        "...",
        "back\\slash",
    ];
    for (n, id) in ids.iter().enumerate() {
        auth.registry.register(id, &format!("home {n}"));
    }
    let directory = auth.directory();
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            lookup(&directory, id).await,
            Ok(Some(format!("home {n}"))),
            "{id:?}"
        );
    }
    assert_eq!(auth.registry.received(), ids);
}

#[tokio::test]
async fn a_server_error_or_a_broken_answer_means_unavailable() {
    let auth = StandIn::start().await;
    auth.registry.register("bad household", "");
    auth.registry.register("d", "h");
    let directory = auth.directory();

    auth.registry
        .set_outage(Some(StatusCode::INTERNAL_SERVER_ERROR));
    let error = lookup(&directory, "d").await.unwrap_err();
    assert!(error.contains("500"), "{error}");
    auth.registry
        .set_outage(Some(StatusCode::SERVICE_UNAVAILABLE));
    assert!(lookup(&directory, "d").await.is_err());
    auth.registry.set_outage(None);

    let error = lookup(&directory, GARBAGE).await.unwrap_err();
    assert!(error.contains("surprise"), "{error}");
    let error = lookup(&directory, "bad household").await.unwrap_err();
    assert!(error.contains("household id"), "{error}");

    // A 404 that is not the contract's (here: a wrong path prefix) must not
    // pass for "unknown device", or every reading would be dead-lettered.
    let misconfigured: AuthUrl = format!("http://{}/elsewhere", auth.addr).parse().unwrap();
    let wrong = AuthDirectory::new(&misconfigured).unwrap();
    let error = lookup(&wrong, "d").await.unwrap_err();
    assert!(error.contains("unknown_device"), "{error}");

    assert_eq!(lookup(&directory, "d").await, Ok(Some("h".into())));
}

#[tokio::test]
async fn a_hung_server_times_out_as_unavailable() {
    let auth = StandIn::start().await;
    let short = Duration::from_millis(300);
    let directory = AuthDirectory::with_timeouts(&auth.url(), short, short).unwrap();
    let error = lookup(&directory, HANGS).await.unwrap_err();
    assert!(error.contains("timed out"), "{error}");
    // The hung handler is left to the runtime's end; no graceful stop.
}

#[tokio::test]
async fn a_server_gone_means_unavailable() {
    let auth = StandIn::start().await;
    auth.registry.register("d", "h");
    let url = auth.url();
    let directory = auth.directory();
    assert_eq!(lookup(&directory, "d").await, Ok(Some("h".into())));
    auth.stop().await;
    assert!(lookup(&directory, "d").await.is_err());
    // Nothing listens any more: a fresh client is refused too.
    let fresh = AuthDirectory::new(&url).unwrap();
    let error = lookup(&fresh, "d").await.unwrap_err();
    assert!(error.contains("connect"), "{error}");
}

#[tokio::test]
async fn through_the_cache_known_devices_are_answered_while_auth_service_is_down() {
    let auth = StandIn::start().await;
    auth.registry.register("known", "h");
    auth.registry.register("new", "h2");
    // TTL zero: every lookup asks, so the outage is seen at once.
    let cached = CachedDirectory::new(
        auth.directory(),
        CacheSettings::new(Duration::ZERO, Duration::ZERO),
    );
    assert_eq!(lookup(&cached, "known").await, Ok(Some("h".into())));
    auth.registry
        .set_outage(Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(lookup(&cached, "known").await, Ok(Some("h".into())));
    assert!(
        lookup(&cached, "new").await.is_err(),
        "never seen: unavailable"
    );
    auth.registry.set_outage(None);
    assert_eq!(lookup(&cached, "new").await, Ok(Some("h2".into())));
}

/// The whole service with `--auth-url`: households from the registry, unknown
/// devices dead-lettered; during a 503 outage known devices keep being
/// stored while a device not yet cached is held, not dead-lettered, and
/// stored once auth-service answers again.
#[tokio::test]
async fn the_service_takes_households_from_auth_service_and_rides_out_its_outage() {
    let auth = StandIn::start().await;
    auth.registry.register("dev 1", "home, 1");
    auth.registry.register("newcomer", "home 2");
    let env = Env::new().await.unwrap();
    let mut config = env.config();
    config.auth_url = Some(auth.url());
    // Every delivery asks auth-service, so the outage below is felt at once.
    config.auth_cache_ttl = Duration::ZERO;
    config.auth_negative_ttl = Duration::ZERO;
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    let start = now_ms() - 600_000;
    let publish = |device: &'static str, n: i64| {
        let body = batch(device, &["a", "b"], 5, start + n * 10_000, 1_000).encode();
        let publisher = &publisher;
        async move {
            publisher
                .publish(&format!("readings.{device}"), &body)
                .await
                .unwrap()
        }
    };

    for n in 0..3 {
        publish("dev 1", n).await;
    }
    publish("ghost", 0).await;
    env.wait_points(30).await.unwrap();
    let dead = wait_dead_letters(&publisher, 1).await.unwrap();
    assert_eq!(dead[0].reason(), "unknown_device");

    auth.registry
        .set_outage(Some(StatusCode::SERVICE_UNAVAILABLE));
    for n in 3..6 {
        publish("dev 1", n).await;
    }
    env.wait_points(60).await.unwrap();
    let stale = service
        .counter("wattline_write_household_lookups_total{outcome=\"stale_served\"}")
        .await
        .unwrap();
    assert!(stale >= 1.0, "stale households served: {stale}");

    publish("newcomer", 0).await;
    testkit::eventually(PATIENCE, "newcomer looked up twice", || async {
        let asked = auth.registry.received();
        Ok((asked.iter().filter(|id| *id == "newcomer").count() >= 2).then_some(()))
    })
    .await
    .unwrap();
    assert!(take_dead_letters(&publisher).await.unwrap().is_empty());
    assert_eq!(env.db.count_points("power").await.unwrap(), 60);

    auth.registry.set_outage(None);
    env.wait_points(70).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    let counts = counts_per_series(&env.db).await.unwrap();
    let households: Vec<_> = counts
        .keys()
        .map(|(device, household, _)| (device.as_str(), household.as_str()))
        .collect();
    assert_eq!(
        households,
        [
            ("dev 1", "home, 1"),
            ("dev 1", "home, 1"),
            ("newcomer", "home 2"),
            ("newcomer", "home 2")
        ]
    );
    assert!(take_dead_letters(&publisher).await.unwrap().is_empty());
    service.stop().await.unwrap();
    auth.stop().await;
}
