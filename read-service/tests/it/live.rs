use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn live_sends_power_events_with_the_latest_watts_uncompressed() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let b = world.household("b@example.com", "UTC", Value::Null).await;
    let now = now_ms();
    world
        .write(
            None,
            &(raw(&a.household, "d-1", "fridge", now - 20_000, 80.0, 1.0)
                + &raw(&a.household, "d-1", "fridge", now - 5_000, 82.5, 2.0)
                + &raw(&a.household, "d-1", "tv", now - 3_000, 17.5, 2.0)
                // Outside the 2-minute reporting window.
                + &raw(&a.household, "d-1", "lamp", now - 600_000, 40.0, 2.0)
                + &raw(&b.household, "d-b", "heater", now - 1_000, 999.0, 2.0)),
        )
        .await;

    let response = world
        .http
        .get(format!("{}/api/live", world.base))
        .bearer_auth(&a.token)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect("live");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("").to_owned())
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("content-encoding"), None);
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));

    // Two events (the first at once, the next after --live-interval).
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let events = tokio::time::timeout(Duration::from_secs(10), async {
        while text.matches("\n\n").count() < 2 {
            let chunk = body.next().await.expect("stream open").expect("chunk");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(events.is_ok(), "no events in 10 s: {text:?}");
    let first = text.split("\n\n").next().unwrap();
    assert!(first.contains("event: power"), "{first}");
    let data = first
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .expect("data line");
    let event: Value = serde_json::from_str(data).expect("json");
    close(&event["total_watts"], 100.0);
    let sockets = event["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 2);
    assert_eq!(sockets[0]["socket"], "fridge");
    close(&sockets[0]["watts"], 82.5);
    assert_eq!(sockets[0]["t"], now - 5_000);
    assert!(event["t"].as_i64().unwrap() >= now);
    assert!(!text.contains("heater"));
}
