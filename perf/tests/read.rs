//! `perf read` end to end, small: real auth-service and read-service
//! processes, real JWTs, the real InfluxDB. The report must show every view
//! measured without an error, the InfluxQL replayed straight to InfluxDB,
//! and every number the operators read. No timing is asserted.

use std::time::Duration;

use perf::read::{run, ReadSettings};

#[tokio::test]
async fn a_small_read_run_measures_every_view_on_both_sides() {
    testkit::init_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = ReadSettings {
        influx_url: testkit::influx_url(),
        run_id: testkit::unique_name("t"),
        households: 2,
        sockets: 4,
        minute_days: 2,
        users: 3,
        live_users: 2,
        mix: "day=5,month=3,year=2".parse().expect("mix"),
        rate: None,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(3),
        record_households: 2,
        auth_service_bin: Some(testkit::binary("auth-service")),
        read_service_bin: Some(testkit::binary("read-service")),
        keep: false,
        work_dir: dir.path().to_owned(),
        progress: false,
    };
    let report = run(settings).await.expect("perf read");

    for (side, name) in [
        (&report.read_service, "read-service"),
        (&report.influx_alone, "InfluxDB alone"),
    ] {
        assert_eq!(side.by_view.len(), 3, "{name}: {:?}", side.by_view.keys());
        for (view, measured) in &side.by_view {
            assert!(measured.requests > 0, "{name} {view}: no requests");
            assert_eq!(
                measured.errors, 0,
                "{name} {view}: {:?}",
                report.first_error
            );
            assert!(measured.latency_ms.p50.is_some());
        }
    }
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert!(report.influx_alone.overall.requests > 0);
    assert!(report.influx_alone_statements_per_s > 0.0);
    let ratio = report.ratio.expect("a ratio");
    assert!(ratio.is_finite() && ratio > 0.0, "{ratio}");
    assert!(report.latency_ratio.p50.is_some_and(f64::is_finite));
    assert_eq!(
        (report.cross_household_checks, report.cross_household_errors),
        (2, 0)
    );
    assert!(report.live.events > 0, "{:?}", report.live);
    assert!(report.read_service_rss_mb.is_some_and(|mb| mb > 1.0));
    assert!(report.read_service_cpu_us_per_request.is_some());
    for (view, recorded) in &report.recorded {
        assert!(
            recorded.statements >= recorded.requests,
            "{view}: {recorded:?}"
        );
    }

    let json = serde_json::to_value(&report).expect("json");
    for field in [
        "households",
        "sockets",
        "users",
        "live_users",
        "mix",
        "duration_s",
        "points_written",
        "recorded",
        "read_service",
        "influx_alone",
        "influx_alone_statements_per_s",
        "ratio",
        "latency_ratio",
        "read_service_cpu_us_per_request",
        "read_service_rss_mb",
        "influx_cpu_percent",
        "influx_alone_cpu_percent",
        "live",
        "cross_household_checks",
        "cross_household_errors",
        "errors",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from the JSON");
    }
    for side in ["read_service", "influx_alone"] {
        for field in [
            "views_per_s",
            "requests_per_s",
            "latency_ms",
            "view_latency_ms",
            "errors",
            "by_view",
        ] {
            assert!(json[side].get(field).is_some(), "{side}.{field} missing");
        }
        for view in ["day", "month", "year"] {
            let p99 = &json[side]["by_view"][view]["latency_ms"]["p99"];
            assert!(
                p99.is_number(),
                "{side}.by_view.{view}.latency_ms.p99: {p99}"
            );
        }
    }
    let mut table = Vec::new();
    perf::read::print_table(&report, &mut table).expect("table");
    let table = String::from_utf8_lossy(&table);
    assert!(
        table.contains("InfluxDB alone") && table.contains("ratio"),
        "{table}"
    );
    // Nothing left behind but the temporary directory.
    assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none());
}
