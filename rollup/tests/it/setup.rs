//! `rollup setup`: retention policies created, adjusted and left alone.

use std::time::Duration;

use testkit::InfluxDatabase;
use wattline_influx::query::Query;
use wattline_rollup::setup::{setup, Retention};

use crate::support::query_client;

/// (name, duration, default) of every retention policy.
async fn policies(db: &InfluxDatabase) -> Vec<(String, String, bool)> {
    let result = db
        .query(&format!("SHOW RETENTION POLICIES ON \"{}\"", db.name))
        .await
        .expect("show");
    let mut policies: Vec<_> = result["series"][0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|row| {
            (
                row[0].as_str().expect("name").to_owned(),
                row[1].as_str().expect("duration").to_owned(),
                row[4].as_bool().expect("default"),
            )
        })
        .collect();
    policies.sort();
    policies
}

#[tokio::test]
async fn setup_creates_the_policies_once_and_fixes_drifted_ones() {
    testkit::init_crypto();
    let db = InfluxDatabase::create().await.expect("database");
    let client = query_client(&db);
    let raw = Retention::Duration(Duration::from_secs(400 * 86_400));

    let report = setup(&client, raw).await.expect("setup");
    assert_eq!(report.changes.len(), 3, "{report:?}");
    let want = vec![
        ("autogen".to_owned(), "9600h0m0s".to_owned(), true),
        ("rollup_1h".to_owned(), "0s".to_owned(), false),
        ("rollup_1m".to_owned(), "19200h0m0s".to_owned(), false),
    ];
    assert_eq!(policies(&db).await, want);

    let again = setup(&client, raw).await.expect("setup again");
    assert!(again.changes.is_empty(), "{again:?}");
    assert_eq!(policies(&db).await, want);

    // Someone changed a policy by hand: setup puts it back.
    client
        .query(&Query::new(format!(
            "ALTER RETENTION POLICY rollup_1m ON \"{}\" DURATION 30d",
            db.name
        )))
        .await
        .expect("alter");
    let fixed = setup(&client, raw).await.expect("setup after drift");
    assert_eq!(fixed.changes.len(), 1, "{fixed:?}");
    assert_eq!(policies(&db).await, want);
}

#[tokio::test]
async fn setup_creates_a_missing_database() {
    testkit::init_crypto();
    let db = InfluxDatabase::create().await.expect("database");
    db.query(&format!("DROP DATABASE \"{}\"", db.name))
        .await
        .expect("drop");
    setup(&query_client(&db), Retention::Infinite)
        .await
        .expect("setup");
    let names: Vec<String> = policies(&db).await.into_iter().map(|p| p.0).collect();
    assert_eq!(names, ["autogen", "rollup_1h", "rollup_1m"]);
}
