//! `perf chaos` end to end: real agents, write-service replicas, a private
//! RabbitMQ node and InfluxDB, every kind of fault at least once; every
//! reading the broker accepted must be stored once, with its value.
//!
//! The soak's length comes from `WATTLINE_CHAOS_DURATION` (default 75 s, a
//! round of every fault kind); `deploy/test.sh --soak 10m` runs a long one.
//! Its seed from `WATTLINE_CHAOS_SEED` (default: the clock, printed).

use std::time::Duration;

use perf::chaos::faults::FaultKind;
use perf::chaos::fleet::FleetSettings;
use perf::chaos::{self, ChaosSettings};

#[tokio::test]
async fn under_every_fault_each_accepted_reading_is_stored_exactly_once() {
    testkit::init_crypto();
    let duration = std::env::var("WATTLINE_CHAOS_DURATION")
        .ok()
        .map(|d| humantime::parse_duration(&d).expect("WATTLINE_CHAOS_DURATION"))
        .unwrap_or(Duration::from_secs(75));
    let seed = std::env::var("WATTLINE_CHAOS_SEED")
        .ok()
        .map(|s| s.parse().expect("WATTLINE_CHAOS_SEED"))
        .unwrap_or_else(chaos::fresh_seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = ChaosSettings {
        fleet: FleetSettings {
            agents: 8,
            sockets: 30,
            sample_interval: Duration::from_millis(200),
            write_replicas: 2,
            write_timeout: Duration::from_secs(2),
            small_spool_bytes: 8 * 1024,
            work_dir: dir.path().to_owned(),
            write_service_bin: Some(testkit::binary("write-service")),
            agent_bin: Some(testkit::binary("device-agent")),
        },
        duration,
        seed,
        fault_every: Duration::from_secs(2),
        recovery_limit: Duration::from_secs(120),
        verbose: true,
    };
    let report = chaos::run(settings).await.expect("chaos run");
    chaos::print_report(&report, &mut std::io::stderr()).expect("print");

    for kind in FaultKind::ALL {
        assert!(
            report.by_kind.get(&kind).is_some_and(|k| k.count >= 1),
            "no {} fault in the run (seed {seed})",
            kind.name()
        );
    }
    assert!(
        report.failures().is_empty(),
        "seed {seed}: {:?}",
        report.failures()
    );
    let tally = report.tally;
    assert!(tally.stored > 10_000, "too little load to mean anything");
    assert_eq!(tally.stored, report.accepted_readings);
    assert_eq!(
        (tally.lost, tally.duplicated, tally.value_mismatches),
        (0, 0, 0)
    );
    // The full-spool fault really overflowed a spool, and it was counted.
    assert!(report.dropped_by_full_spool > 0);
    assert_eq!(report.corrupt_spooled_batches, 0);
}
