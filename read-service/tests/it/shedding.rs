//! Admission control: with one InfluxDB slot and (almost) no queue, a burst of
//! requests is partly shed with well-formed 429s, the rest answered
//! correctly, never a 5xx; /healthz stays 200; the shed counter is exported.

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_burst_beyond_the_limit_is_shed_with_429s_never_5xx() {
    let world = World::start(&["--max-concurrent-queries", "1", "--queue-timeout", "1ms"]).await;
    let a = world.household("a@example.com", "UTC", tariff()).await;
    let now = now_ms();
    world
        .write(
            None,
            &raw(&a.household, "d-1", "fridge", now - 30_000, 82.5, 1234.5),
        )
        .await;

    let burst = (0..40).map(|_| world.get("/api/sockets", Some(&a.token)));
    let health = world.get("/healthz", None);
    let (answers, health) = tokio::join!(join_all(burst), health);

    let (mut answered, mut shed) = (0, 0);
    for answer in &answers {
        match answer.status {
            StatusCode::OK => {
                answered += 1;
                let body = answer.json();
                assert_eq!(body["sockets"][0]["socket"], "fridge", "{}", answer.text);
                close(&body["total_watts"], 82.5);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                shed += 1;
                assert_eq!(answer.error(StatusCode::TOO_MANY_REQUESTS), "busy");
                assert_eq!(answer.header("retry-after"), "1");
            }
            other => panic!("{other}: {}", answer.text),
        }
    }
    assert!(
        answered >= 1 && shed >= 1,
        "answered {answered}, shed {shed}"
    );
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);

    let metrics = world.get("/metrics", None).await.text;
    // The recorder is the test process's, shared by parallel tests: the
    // counter exists, its exact value is not this test's alone.
    assert!(
        metrics.contains("wattline_read_shed_total{route=\"/api/sockets\"}"),
        "no shed counter in:\n{metrics}"
    );
}
