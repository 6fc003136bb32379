//! Household settings (time zone and tariff): defaults, what the owner may
//! change and viewers may only read, the checks on both, the internal
//! endpoint read-service uses, and other households kept apart.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::{expect_error, expect_json, Auth, Db, Session, PASSWORD};

on_both_databases!(owner_sets_viewer_reads, owner_sets_viewer_reads_body);
on_both_databases!(bad_settings_are_refused, bad_settings_are_refused_body);
on_both_databases!(register_with_time_zone, register_with_time_zone_body);
on_both_databases!(households_are_apart, households_are_apart_body);

fn tariff() -> Value {
    json!({"currency": "EUR", "price_per_kwh": 0.3, "daily_charge": 0.25,
        "bands": [{"from": "22:00", "to": "06:00", "price_per_kwh": 0.12}]})
}

impl Auth {
    async fn household(&self, session: &Session) -> Value {
        expect_json(
            self.get("/api/household", Some(&session.access)).await,
            StatusCode::OK,
        )
        .await
    }

    async fn put_settings(&self, session: &Session, body: Value) -> reqwest::Response {
        self.send(
            Method::PUT,
            "/api/household/settings",
            &session.access,
            Some(body),
        )
        .await
    }

    /// Saves `body` as the settings: the answer, which must be a 200.
    async fn save_settings(&self, session: &Session, body: Value) -> Value {
        expect_json(self.put_settings(session, body).await, StatusCode::OK).await
    }

    /// What the internal listener tells read-service about `household`,
    /// which must be a 200.
    async fn internal_settings(&self, household: &str) -> Value {
        expect_json(self.internal_household(household).await, StatusCode::OK).await
    }

    /// What the internal listener tells read-service about `household`.
    async fn internal_household(&self, household: &str) -> reqwest::Response {
        self.http
            .get(format!(
                "{}/internal/households/{}",
                self.internal,
                crate::support::encode(household)
            ))
            .send()
            .await
            .unwrap()
    }

    /// Invites `email` into the owner's household and registers them.
    async fn add_viewer(&self, owner: &Session, email: &str, extra: Value) -> Session {
        let invite = expect_json(
            self.post(
                "/api/household/invites",
                Some(&owner.access),
                json!({"email": email}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        let mut body = json!({"email": email, "password": PASSWORD,
            "invite_token": invite["invite_token"]});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let registered = self.post("/api/auth/register", None, body).await;
        Session::from(expect_json(registered, StatusCode::CREATED).await)
    }
}

async fn owner_sets_viewer_reads_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let owner = auth.register("ann@example.org").await;
    let viewer = auth.add_viewer(&owner, "bob@example.org", json!({})).await;

    // New households: UTC, no tariff.
    assert_eq!(
        auth.household(&owner).await,
        json!({"id": owner.household, "time_zone": "UTC", "tariff": null, "role": "owner"})
    );
    assert_eq!(auth.household(&viewer).await["role"], "viewer");

    // The owner sets both; the answer is what GET shows, to everyone.
    let saved = auth
        .save_settings(
            &owner,
            json!({"time_zone": "Europe/Berlin", "tariff": tariff()}),
        )
        .await;
    let expected = json!({"id": owner.household, "time_zone": "Europe/Berlin",
        "tariff": tariff(), "role": "owner"});
    assert_eq!(saved, expected);
    assert_eq!(auth.household(&owner).await, expected);
    let seen_by_viewer = auth.household(&viewer).await;
    assert_eq!(seen_by_viewer["time_zone"], "Europe/Berlin");
    assert_eq!(seen_by_viewer["tariff"], tariff());
    assert_eq!(seen_by_viewer["role"], "viewer");

    // read-service's view, on the internal listener.
    let internal = auth.internal_settings(&owner.household).await;
    assert_eq!(
        internal,
        json!({"id": owner.household, "time_zone": "Europe/Berlin", "tariff": tariff()})
    );

    // A viewer may not change them; nothing changes.
    let refused = auth
        .put_settings(&viewer, json!({"time_zone": "Asia/Tokyo", "tariff": null}))
        .await;
    assert_eq!(
        expect_error(refused, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    assert_eq!(auth.household(&owner).await, expected);

    // A time zone in any case is stored in the database's spelling;
    // `"tariff": null` removes the tariff.
    let cleared = auth
        .save_settings(
            &owner,
            json!({"time_zone": "america/new_york", "tariff": null}),
        )
        .await;
    assert_eq!(cleared["time_zone"], "America/New_York");
    assert_eq!(cleared["tariff"], Value::Null);
    let internal = auth.internal_settings(&owner.household).await;
    assert_eq!(
        internal,
        json!({"id": owner.household, "time_zone": "America/New_York", "tariff": null})
    );

    // No token, no settings.
    assert_eq!(
        auth.get("/api/household", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    auth.stop().await;
}

async fn bad_settings_are_refused_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let owner = auth.register("ann@example.org").await;
    let good = json!({"time_zone": "Europe/Berlin", "tariff": tariff()});
    auth.save_settings(&owner, good.clone()).await;

    // (body, error code, words the message must contain)
    let with_tariff = |change: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        change(&mut body["tariff"]);
        body
    };
    let cases = [
        (
            json!({"time_zone": "Mars/Olympus_Mons", "tariff": null}),
            "invalid_time_zone",
            "Mars/Olympus_Mons",
        ),
        (
            json!({"time_zone": "+01:00", "tariff": null}),
            "invalid_time_zone",
            "IANA",
        ),
        (
            with_tariff(&|t| t["currency"] = json!("eur")),
            "invalid_tariff",
            "currency must be three uppercase letters",
        ),
        (
            with_tariff(&|t| t["daily_charge"] = json!(-1)),
            "invalid_tariff",
            "daily_charge must be a number from 0 to 100",
        ),
        (
            with_tariff(&|t| {
                t["bands"] = json!([
                    {"from": "07:00", "to": "09:00", "price_per_kwh": 0.2},
                    {"from": "17:00", "to": "20:00", "price_per_kwh": 150},
                ])
            }),
            "invalid_tariff",
            "bands[1].price_per_kwh must be a number from 0 to 100",
        ),
        (
            with_tariff(&|t| {
                t["bands"] = json!([{"from": "07:00", "to": "07:00", "price_per_kwh": 0.2}])
            }),
            "invalid_tariff",
            "bands[0] starts and ends at 07:00",
        ),
        (
            with_tariff(&|t| {
                t["bands"] = json!(vec![
                    json!({"from": "07:00", "to": "08:00", "price_per_kwh": 0.2});
                    13
                ])
            }),
            "invalid_tariff",
            "at most 12 bands",
        ),
        // Shapes the JSON types refuse: named by their path.
        (
            with_tariff(&|t| t["bands"][0]["from"] = json!("7:00")),
            "invalid_body",
            "tariff.bands[0].from",
        ),
        (
            with_tariff(&|t| t["vat"] = json!(0.19)),
            "invalid_body",
            "unknown field `vat`",
        ),
        (
            json!({"time_zone": "UTC"}),
            "invalid_body",
            "missing field `tariff`",
        ),
        (
            json!({"tariff": null}),
            "invalid_body",
            "missing field `time_zone`",
        ),
    ];
    for (body, code, words) in cases {
        let response = auth.put_settings(&owner, body.clone()).await;
        let error = expect_json(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{body}: {message}");
    }
    // Nothing was saved.
    let household = auth.household(&owner).await;
    assert_eq!(household["time_zone"], "Europe/Berlin");
    assert_eq!(household["tariff"], tariff());
}

async fn register_with_time_zone_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let registered = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD, "time_zone": "Asia/Kolkata"}),
        )
        .await;
    let owner = Session::from(expect_json(registered, StatusCode::CREATED).await);
    assert_eq!(auth.household(&owner).await["time_zone"], "Asia/Kolkata");

    // An unknown zone refuses the registration: no account is created.
    let refused = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "carl@example.org", "password": PASSWORD, "time_zone": "Berlin"}),
        )
        .await;
    assert_eq!(
        expect_error(refused, StatusCode::UNPROCESSABLE_ENTITY).await,
        "invalid_time_zone"
    );
    assert_eq!(
        auth.login("carl@example.org", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Joining by invite keeps the household's zone, whatever the browser says.
    let viewer = auth
        .add_viewer(
            &owner,
            "bob@example.org",
            json!({"time_zone": "America/Chicago"}),
        )
        .await;
    let seen = auth.household(&viewer).await;
    assert_eq!(seen["id"], owner.household.as_str());
    assert_eq!(seen["time_zone"], "Asia/Kolkata");
}

async fn households_are_apart_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let ann = auth.register("ann@example.org").await;
    let bob = auth.register("bob@example.org").await;
    auth.save_settings(
        &ann,
        json!({"time_zone": "Europe/Berlin", "tariff": tariff()}),
    )
    .await;

    // Bob sees and changes only his own household, whatever Ann did.
    let bobs = auth.household(&bob).await;
    assert_eq!(
        bobs,
        json!({"id": bob.household, "time_zone": "UTC", "tariff": null, "role": "owner"})
    );
    // There is no way to name another household: the token decides.
    let with_id = auth
        .put_settings(
            &bob,
            json!({"id": ann.household, "time_zone": "Asia/Tokyo", "tariff": null}),
        )
        .await;
    assert_eq!(
        expect_error(with_id, StatusCode::UNPROCESSABLE_ENTITY).await,
        "invalid_body"
    );
    auth.save_settings(&bob, json!({"time_zone": "Asia/Tokyo", "tariff": null}))
        .await;
    let anns = auth.household(&ann).await;
    assert_eq!(anns["time_zone"], "Europe/Berlin");
    assert_eq!(anns["tariff"], tariff());

    assert_eq!(
        auth.internal_settings(&ann.household).await["time_zone"],
        "Europe/Berlin"
    );
    assert_eq!(
        auth.internal_settings(&bob.household).await["time_zone"],
        "Asia/Tokyo"
    );
    assert_eq!(
        expect_error(
            auth.internal_household("h-nonexistent").await,
            StatusCode::NOT_FOUND
        )
        .await,
        "unknown_household"
    );

    // A deleted household is unknown to read-service at once.
    let deleted = auth
        .send(
            Method::DELETE,
            "/api/auth/me",
            &ann.access,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        expect_error(
            auth.internal_household(&ann.household).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "unknown_household"
    );
}

on_both_databases!(
    existing_households_get_the_defaults,
    existing_households_get_the_defaults_body
);

/// Migration 0002 on a database that 0001 created and that has a household:
/// the service upgrades it at start, and the household reads as UTC without
/// a tariff.
async fn existing_households_get_the_defaults_body(db: Db) {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let postgres = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(testkit::PostgresDatabase::create().await.unwrap()),
    };
    let url = match &postgres {
        Some(pg) => pg.url(),
        None => format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display()),
    };
    // The schema as the previous release left it: only the first migration.
    let first_only = dir.path().join("migrations");
    std::fs::create_dir(&first_only).unwrap();
    let first = "0001_accounts_devices_tokens.sql";
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(first),
        first_only.join(first),
    )
    .unwrap();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(first_only.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO households (id, created_at) VALUES ('h-old', 1)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let auth = Auth::start(db, &[&format!("--database-url={url}")]).await;
    let internal = auth.internal_settings("h-old").await;
    assert_eq!(
        internal,
        json!({"id": "h-old", "time_zone": "UTC", "tariff": null})
    );
    auth.stop().await;
    drop(postgres);
}
