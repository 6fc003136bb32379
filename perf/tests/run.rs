//! `perf run` end to end, small: real publishers, RabbitMQ, two write-service
//! processes and InfluxDB, both baselines; the report must say that every
//! confirmed reading is stored exactly once and carry every number the
//! operators read. No timing is asserted: speed is what perf reports.

use std::time::Duration;

use perf::run::{run, RunSettings};
use perf::workload::Workload;

#[tokio::test]
async fn a_small_run_stores_every_confirmed_reading_once_and_reports_it() {
    testkit::init_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let plot = dir.path().join("run.svg");
    let api = testkit::rabbit_api().replacen("http://", "http://guest:guest@", 1);
    let settings = RunSettings {
        workload: Workload::new(20, 3, 10, testkit::unique_name("t").replace('_', "-")),
        amqp_host_port: testkit::amqp_host(),
        rabbit_api: api,
        influx_url: testkit::influx_url(),
        rate: Some(200.0),
        connections: 2,
        max_in_flight: 100,
        max_backlog: None,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(4),
        write_replicas: 2,
        write_service_bin: Some(testkit::binary("write-service")),
        baselines: true,
        baseline_points: 20_000,
        baseline_messages: 2_000,
        plot: Some(plot.clone()),
        keep: false,
        work_dir: dir.path().to_owned(),
        progress: false,
    };
    let report = run(settings).await.expect("perf run");

    assert!(report.published > 0);
    assert_eq!(report.published % 30, 0, "whole messages of 30 readings");
    assert_eq!(report.stored, report.published);
    assert_eq!((report.lost, report.duplicated), (0, 0));
    assert_eq!(report.write_replicas, 2);
    assert!(report.pipeline_points_per_s > 0.0);
    let limit = report.limit_points_per_s.expect("baselines give a limit");
    assert!(limit > 0.0 && report.ratio_to_limit.is_some());
    assert!(report.latency_ms.p50.is_some() && report.latency_ms.p99.is_some());
    assert!(report.write_service_cpu_us_per_point.is_some());
    assert!(report.write_service_rss_mb.is_some_and(|mb| mb > 1.0));
    assert!(report.bytes_per_reading > 0.0 && report.bytes_per_reading < 30.0);
    let json = serde_json::to_value(&report).expect("json");
    for field in [
        "pipeline_points_per_s",
        "influx_points_per_s",
        "broker_msgs_per_s",
        "readings_per_msg",
        "limit_points_per_s",
        "ratio_to_limit",
        "latency_ms",
        "write_service_cpu_us_per_point",
        "write_service_rss_mb",
        "bytes_per_reading",
        "published",
        "stored",
        "lost",
        "duplicated",
    ] {
        assert!(
            json.get(field).is_some(),
            "{field} missing from the JSON report"
        );
    }
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..svg.len().min(80)]
    );
    for part in [
        "<path id=\"published\"",
        "<path id=\"stored\"",
        "<path id=\"queue\"",
        "publishing stopped",
        "</svg>",
    ] {
        assert!(svg.contains(part), "{part} missing from the plot");
    }
    let mut table = Vec::new();
    perf::run::print_table(&report, &mut table).expect("table");
    assert!(String::from_utf8_lossy(&table).contains("lost 0, duplicated 0"));
}

/// Closed loop with a backlog limit: publishers go as fast as the pipeline
/// takes the messages, the queue stays near the limit, nothing is lost.
#[tokio::test]
async fn a_closed_loop_keeps_the_backlog_near_its_limit() {
    testkit::init_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let api = testkit::rabbit_api().replacen("http://", "http://guest:guest@", 1);
    let max_backlog = 200;
    let settings = RunSettings {
        workload: Workload::new(50, 30, 1, testkit::unique_name("t").replace('_', "-")),
        amqp_host_port: testkit::amqp_host(),
        rabbit_api: api,
        influx_url: testkit::influx_url(),
        rate: None,
        connections: 2,
        max_in_flight: 50,
        max_backlog: Some(max_backlog),
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(4),
        write_replicas: 1,
        write_service_bin: Some(testkit::binary("write-service")),
        baselines: false,
        baseline_points: 0,
        baseline_messages: 0,
        plot: None,
        keep: false,
        work_dir: dir.path().to_owned(),
        progress: false,
    };
    let report = run(settings).await.expect("perf run");
    assert!(report.published > 0);
    assert_eq!(report.stored, report.published);
    assert_eq!((report.lost, report.duplicated), (0, 0));
    // The limit, plus what the publishers have in flight and what they can
    // publish while the watcher looks again (20 ms), with room to spare.
    assert!(
        report.queue_depth_max <= f64::from(max_backlog) + 1_000.0,
        "queue depth peaked at {}",
        report.queue_depth_max
    );
}
