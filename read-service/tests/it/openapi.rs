//! schemathesis against the served OpenAPI document (`/api/openapi.json`)
//! as a household's owner, with readings and rollups in InfluxDB so that
//! the data routes answer with data: no 5xx, and every answer (status,
//! content type, headers, body, each live event) is one the document
//! describes. Requests without the token are part of it (`ignored_auth`).

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_for_an_owner_with_data() {
    let world = World::start(&[]).await;
    let owner = world
        .household("owner@example.org", "Europe/Berlin", tariff())
        .await;
    let h = owner.household.as_str();
    let now = now_ms();
    let hour = now / 3_600_000 * 3_600_000;
    let mut lines = String::new();
    for minutes_ago in 0..30 {
        let at = now - minutes_ago * 60_000;
        lines += &raw(h, "d-1", "fridge", at, 80.0, 1000.0 - minutes_ago as f64);
        lines += &raw(h, "d-1", "kettle", at, 2000.0, 500.0 - minutes_ago as f64);
    }
    world.write(None, &lines).await;
    let (mut minutes, mut hours) = (String::new(), String::new());
    for step in 1..48 {
        let minute = now / 60_000 * 60_000 - step * 60_000;
        minutes += &socket_rollup(h, "d-1", "fridge", minute, 80.0, 90.0, 1.3, 900.0);
        minutes += &household_rollup(h, minute, 2080.0, 34.7);
        let at = hour - step * 3_600_000;
        hours += &socket_rollup(h, "d-1", "fridge", at, 80.0, 90.0, 80.0, 900.0);
        hours += &household_rollup(h, at, 2080.0, 2080.0);
    }
    world.write(Some("rollup_1m"), &minutes).await;
    world.write(Some("rollup_1h"), &hours).await;

    let schema = format!("{}/api/openapi.json", world.base);
    let header = format!("Authorization: Bearer {}", owner.token);
    testkit::schemathesis::assert_passes(&schema, &["--header", &header]).await;
}
