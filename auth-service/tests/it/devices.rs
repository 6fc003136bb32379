//! Devices, socket names and household members: what owners may do, what
//! viewers may only read, and what other households cannot even see.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_databases;
use crate::support::{expect_error, expect_json, Auth, Db, Session, PASSWORD};

on_both_databases!(device_lifecycle, device_lifecycle_body);
on_both_databases!(read_only_members, read_only_members_body);

async fn device_lifecycle_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let owner = auth.register("ann@example.org").await;
    let created = expect_json(
        auth.post(
            "/api/devices",
            Some(&owner.access),
            json!({"name": " Kitchen Pi "}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["device"]["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(created["device"]["name"], "Kitchen Pi");
    assert_eq!(created["routing_key"], format!("readings.{id}"));
    assert!(secret.len() >= 43, "256-bit secret");

    // Listed, without the secret (it is shown once).
    let list = auth.get("/api/devices", Some(&owner.access)).await;
    let text = list.text().await.unwrap();
    assert!(text.contains(&id) && !text.contains(&secret), "{text}");

    // Broker login with the secret; the registry knows its household.
    let login = |secret: String| {
        let id = id.clone();
        let auth = &auth;
        async move {
            auth.broker("user", &[("username", &id), ("password", &secret)])
                .await
        }
    };
    assert_eq!(login(secret.clone()).await, "allow");
    assert_eq!(login("wrong".into()).await, "deny");
    let registry = auth.registry(&id).await;
    let registry = expect_json(registry, StatusCode::OK).await;
    assert_eq!(registry["household_id"], owner.household.as_str());

    // Rename, name sockets (awkward ids are fine), rotate the secret.
    let renamed = expect_json(
        auth.send(
            Method::PATCH,
            &format!("/api/devices/{id}"),
            &owner.access,
            Some(json!({"name": "Hall Pi"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "Hall Pi");
    let socket_path = format!(
        "/api/devices/{id}/sockets/{}",
        crate::support::encode("fridge, left/1")
    );
    let socket = expect_json(
        auth.send(
            Method::PUT,
            &socket_path,
            &owner.access,
            Some(json!({"name": "Fridge"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(socket["socket_id"], "fridge, left/1");
    let device = expect_json(
        auth.get(&format!("/api/devices/{id}"), Some(&owner.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        device["sockets"],
        json!([{"socket_id": "fridge, left/1", "name": "Fridge"}])
    );
    let bad_socket = auth
        .send(
            Method::PUT,
            &format!("/api/devices/{id}/sockets/{}", "x".repeat(65)),
            &owner.access,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        expect_error(bad_socket, StatusCode::BAD_REQUEST).await,
        "invalid_socket_id"
    );

    let rotated = expect_json(
        auth.post(
            &format!("/api/devices/{id}/secret"),
            Some(&owner.access),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(
        login(secret.clone()).await,
        "deny",
        "the old secret is dead"
    );
    assert_eq!(login(new_secret.clone()).await, "allow");

    // Another household sees none of it: 404, not 403.
    let stranger = auth.register("eve@example.org").await;
    let path = format!("/api/devices/{id}");
    assert_eq!(
        expect_error(
            auth.get(&path, Some(&stranger.access)).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "not_found"
    );
    for (method, body) in [
        (Method::PATCH, Some(json!({"name": "mine"}))),
        (Method::DELETE, None),
    ] {
        let response = auth.send(method, &path, &stranger.access, body).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let rotate = auth
        .post(&format!("{path}/secret"), Some(&stranger.access), json!({}))
        .await;
    assert_eq!(rotate.status(), StatusCode::NOT_FOUND);
    let list = expect_json(
        auth.get("/api/devices", Some(&stranger.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list, json!([]));
    assert_eq!(
        login(new_secret.clone()).await,
        "allow",
        "untouched by the stranger"
    );

    // Delete: gone from the list, the registry and the broker.
    let deleted = auth.send(Method::DELETE, &path, &owner.access, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(login(new_secret).await, "deny");
    let registry = auth.registry(&id).await;
    assert_eq!(
        expect_error(registry, StatusCode::NOT_FOUND).await,
        "unknown_device"
    );
    let list = expect_json(
        auth.get("/api/devices", Some(&owner.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list, json!([]));
}

async fn read_only_members_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let owner = auth.register("ann@example.org").await;
    let (device, _) = auth.create_device(&owner, "Kitchen Pi").await;

    let invite = expect_json(
        auth.post(
            "/api/household/invites",
            Some(&owner.access),
            json!({"email": "Bob@example.org"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let token = invite["invite_token"].as_str().unwrap().to_owned();
    // The invite is for Bob only.
    let eve = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "eve@example.org", "password": PASSWORD, "invite_token": token}),
        )
        .await;
    assert_eq!(
        expect_error(eve, StatusCode::BAD_REQUEST).await,
        "invalid_invite"
    );
    let bob = Session::from(
        expect_json(
            auth.post(
                "/api/auth/register",
                None,
                json!({"email": "bob@example.org", "password": PASSWORD, "invite_token": token}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    );
    assert_eq!(
        bob.household, owner.household,
        "joined the owner's household"
    );
    // An invite works once.
    let again = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "bob2@example.org", "password": PASSWORD, "invite_token": token}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Bob reads ...
    let me = expect_json(
        auth.get("/api/auth/me", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "viewer");
    let devices = expect_json(
        auth.get("/api/devices", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(devices[0]["id"], device.as_str());
    let members = expect_json(
        auth.get("/api/household/members", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(members.as_array().unwrap().len(), 2);

    // ... but changes nothing.
    let path = format!("/api/devices/{device}");
    let attempts = [
        auth.post("/api/devices", Some(&bob.access), json!({"name": "mine"}))
            .await,
        auth.send(
            Method::PATCH,
            &path,
            &bob.access,
            Some(json!({"name": "mine"})),
        )
        .await,
        auth.send(Method::DELETE, &path, &bob.access, None).await,
        auth.post(&format!("{path}/secret"), Some(&bob.access), json!({}))
            .await,
        auth.send(
            Method::PUT,
            &format!("{path}/sockets/s1"),
            &bob.access,
            Some(json!({"name": "x"})),
        )
        .await,
        auth.post(
            "/api/household/invites",
            Some(&bob.access),
            json!({"email": "c@example.org"}),
        )
        .await,
        auth.send(
            Method::DELETE,
            &format!("/api/household/members/{}", owner.user_id),
            &bob.access,
            None,
        )
        .await,
    ];
    for response in attempts {
        assert_eq!(
            expect_error(response, StatusCode::FORBIDDEN).await,
            "forbidden"
        );
    }
    let devices = expect_json(
        auth.get("/api/devices", Some(&owner.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(devices[0]["name"], "Kitchen Pi", "unchanged");

    // The owner removes Bob; his login and sessions go.
    let remove = auth
        .send(
            Method::DELETE,
            &format!("/api/household/members/{}", bob.user_id),
            &owner.access,
            None,
        )
        .await;
    assert_eq!(remove.status(), StatusCode::NO_CONTENT);
    let refresh = auth.refresh(&bob.refresh).await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        auth.get("/api/auth/me", Some(&bob.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The owner cannot be removed as a member.
    let remove_owner = auth
        .send(
            Method::DELETE,
            &format!("/api/household/members/{}", owner.user_id),
            &owner.access,
            None,
        )
        .await;
    assert_eq!(remove_owner.status(), StatusCode::NOT_FOUND);
    // ... and the refused removal ended none of the owner's sessions.
    let refresh = auth.refresh(&owner.refresh).await;
    assert_eq!(refresh.status(), StatusCode::OK);
}
