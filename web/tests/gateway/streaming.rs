//! Bodies stream through the gateway: live power arrives event by event,
//! uploads go up as they come, paths and queries arrive as sent, and a
//! shutdown ends the streams still open.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{assets_dir, client, nowhere, Upstream, Web};

/// Reads from `body` until `text` has arrived (or fails after 10 s).
async fn read_until<S>(body: &mut S, seen: &mut String, text: &str)
where
    S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(text) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap_or_else(|_| panic!("{text:?} did not arrive; got {seen:?}"))
            .expect("the stream ended early")
            .expect("chunk");
        seen.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
}

#[tokio::test]
async fn server_sent_events_reach_the_client_one_by_one() {
    let assets = assets_dir();
    let upstream = Upstream::start().await;
    let web = Web::start(&nowhere(), &upstream.base, assets.path(), &[]).await;
    let response = client()
        .get(web.url("/api/live"))
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect("live");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(
        !response.headers().contains_key("content-encoding"),
        "an event stream is never compressed (it would be buffered)"
    );
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    // The upstream writes the next event only when told: each one must
    // arrive while the stream stays open.
    for n in 1..=3 {
        upstream
            .events
            .send(format!("{{\"total_watts\":{n}}}"))
            .await
            .expect("send");
        read_until(
            &mut body,
            &mut seen,
            &format!("event: power\ndata: {{\"total_watts\":{n}}}\n\n"),
        )
        .await;
    }
}

#[tokio::test]
async fn the_path_query_method_and_body_arrive_as_sent_with_forwarding_headers() {
    let assets = assets_dir();
    let upstream = Upstream::start().await;
    let web = Web::start(&nowhere(), &upstream.base, assets.path(), &[]).await;
    let uri = "/api/echo/d%2C%20x/%E2%9A%A1?device=d%2C1&socket=fridge%20A&from=2026-03-29T00:00:00%2B01:00";
    let chunks =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024])));
    let response = client()
        .put(web.url(uri))
        .bearer_auth("token-abc")
        .header("x-forwarded-for", "198.51.100.7")
        .header("connection", "x-hop")
        .header("x-hop", "not for the next hop")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("echo");
    assert_eq!(response.status(), StatusCode::OK);
    let echo: Value = response.json().await.expect("json");
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["uri"], uri);
    assert_eq!(echo["body_length"], 64 * 1024);
    assert_eq!(echo["authorization"], "Bearer token-abc");
    assert_eq!(echo["x_forwarded_for"], "198.51.100.7, 127.0.0.1");
    assert_eq!(echo["x_forwarded_proto"], "http");
    assert!(
        echo["x_forwarded_host"]
            .as_str()
            .is_some_and(|host| web.base.ends_with(host)),
        "{echo}"
    );
    assert_eq!(
        echo["connection_named"], "",
        "hop-by-hop headers stay behind"
    );
}

#[tokio::test]
async fn a_shutdown_ends_open_streams_and_the_gateway_stops() {
    let assets = assets_dir();
    let upstream = Upstream::start().await;
    let mut web = Web::start(&nowhere(), &upstream.base, assets.path(), &[]).await;
    let response = client()
        .get(web.url("/api/live"))
        .send()
        .await
        .expect("live");
    let mut body = response.bytes_stream();
    upstream.events.send("1".into()).await.expect("send");
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "data: 1\n\n").await;

    web.stop.cancel();
    let task = web.task.take().expect("running");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the gateway stops although a stream was open")
        .expect("gateway task");
    let rest = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("the stream ends");
    assert!(
        matches!(rest, None | Some(Err(_))),
        "no more events after shutdown: {rest:?}"
    );
}

#[tokio::test]
async fn an_answer_that_breaks_off_upstream_breaks_off_for_the_client_and_is_counted() {
    let assets = assets_dir();
    let upstream = Upstream::start().await;
    let web = Web::start(&nowhere(), &upstream.base, assets.path(), &[]).await;
    let response = client()
        .get(web.url("/api/broken.csv"))
        .send()
        .await
        .expect("head");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.bytes().await.is_err(),
        "the client must see an incomplete body, not a complete short one"
    );
    let metrics = web.metrics().await;
    assert!(
        testkit::metric(
            &metrics,
            "wattline_web_upstream_errors_total{upstream=\"read\",kind=\"mid_stream\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}
