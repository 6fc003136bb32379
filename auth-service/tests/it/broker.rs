//! Device logins in a real RabbitMQ whose `rabbitmq_auth_backend_http` asks
//! this auth-service: a registered device logs in and publishes under its own
//! routing key, and the broker refuses everything else it tries.

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use testkit::PrivateRabbit;
use wattline_proto::{routing_key, EXCHANGE};

use crate::support::{Auth, Db};

/// lapin may hang on a refused login or a closed channel: bound every call.
const PATIENCE: Duration = Duration::from_secs(15);

async fn connect(rabbit: &PrivateRabbit, user: &str, password: &str) -> Result<Connection, String> {
    let uri = format!(
        "amqp://{}:{}@127.0.0.1:{}/%2f",
        crate::support::encode(user),
        crate::support::encode(password),
        rabbit.amqp_port()
    );
    match tokio::time::timeout(
        PATIENCE,
        Connection::connect(&uri, ConnectionProperties::default()),
    )
    .await
    {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("no answer".into()),
    }
}

/// Publishes one message with confirms; `Ok` only if the broker acked it.
async fn publish(channel: &Channel, exchange: &str, key: &str, body: &[u8]) -> Result<(), String> {
    let attempt = async {
        let confirm = channel
            .basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        match confirm.await.map_err(|e| e.to_string())? {
            lapin::Confirmation::Ack(_) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    };
    tokio::time::timeout(PATIENCE, attempt)
        .await
        .unwrap_or_else(|_| Err("no answer".into()))
}

/// Whether the broker refused an AMQP call (an error, or no answer within
/// the patience: lapin may never resolve a call on a closed channel).
async fn refused<T, E>(call: impl std::future::Future<Output = Result<T, E>>) -> bool {
    !matches!(tokio::time::timeout(PATIENCE, call).await, Ok(Ok(_)))
}

/// A channel with publisher confirms on.
async fn confirming_channel(connection: &Connection) -> Channel {
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    channel
}

/// The messages waiting in `queue`, taken with guest.
async fn drain(admin: &Channel, queue: &str) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    while let Some(message) = admin
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        messages.push(message.delivery.data.clone());
    }
    messages
}

#[tokio::test]
async fn the_broker_lets_a_device_publish_only_under_its_own_routing_key() {
    testkit::init_crypto();
    let auth = Auth::start(Db::Sqlite, &[]).await;
    let rabbit = PrivateRabbit::start_with_http_auth(&auth.internal)
        .await
        .expect("rabbit");
    let owner = auth.register("ann@example.org").await;
    let (device, secret) = auth.create_device(&owner, "Kitchen Pi").await;
    let (other_device, _) = auth.create_device(&owner, "Hall Pi").await;

    // guest (an internal user, a service account here) sets up the topology
    // the write service would, plus a queue to look into.
    let admin_connection = connect(&rabbit, "guest", "guest")
        .await
        .expect("guest logs in");
    let admin = admin_connection.create_channel().await.unwrap();
    admin
        .exchange_declare(
            EXCHANGE.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    admin
        .exchange_declare(
            "elsewhere".into(),
            ExchangeKind::Topic,
            Default::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    admin
        .queue_declare(
            "observed".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for exchange in [EXCHANGE, "elsewhere"] {
        admin
            .queue_bind(
                "observed".into(),
                exchange.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }

    // A wrong secret, an unknown device, and guest's password for a device: refused at login.
    for (user, password) in [
        (device.as_str(), "wrong"),
        ("d-nobody", secret.as_str()),
        (device.as_str(), "guest"),
    ] {
        let refused = connect(&rabbit, user, password).await;
        assert!(refused.is_err(), "{user} with a wrong password logged in");
    }

    // The right secret: in, and its own routing key is accepted.
    let connection = connect(&rabbit, &device, &secret)
        .await
        .expect("the device logs in");
    let channel = confirming_channel(&connection).await;
    publish(&channel, EXCHANGE, &routing_key(&device), b"mine")
        .await
        .expect("own routing key");
    assert_eq!(drain(&admin, "observed").await, vec![b"mine".to_vec()]);

    // Another device's routing key, a wildcard-looking key, another exchange:
    // each refused by the broker (the channel is closed), nothing delivered.
    for (exchange, key) in [
        (EXCHANGE, routing_key(&other_device)),
        (EXCHANGE, "readings.#".to_owned()),
        (EXCHANGE, format!("{}.extra", routing_key(&device))),
        ("elsewhere", routing_key(&device)),
        ("amq.topic", routing_key(&device)),
    ] {
        let channel = confirming_channel(&connection).await;
        let result = publish(&channel, exchange, &key, b"not mine").await;
        assert!(
            result.is_err(),
            "publishing to {exchange} with {key} was accepted"
        );
    }
    assert!(
        drain(&admin, "observed").await.is_empty(),
        "a refused message was delivered"
    );

    // No reading, consuming or declaring (each tried on a fresh channel:
    // a refusal closes the channel).
    let channel = connection.create_channel().await.unwrap();
    let consume = channel.basic_consume(
        "observed".into(),
        "sneaky".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    );
    assert!(refused(consume).await, "the device consumed a queue");
    let channel = connection.create_channel().await.unwrap();
    let get = channel.basic_get("observed".into(), BasicGetOptions::default());
    assert!(refused(get).await, "the device read a queue");
    let channel = connection.create_channel().await.unwrap();
    let declare = channel.queue_declare(
        "its-own".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    );
    assert!(refused(declare).await, "the device declared a queue");
    let channel = connection.create_channel().await.unwrap();
    let declare = channel.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Fanout,
        Default::default(),
        FieldTable::default(),
    );
    assert!(
        refused(declare).await,
        "the device (re)declared the exchange"
    );

    // Its own routing key still works on a fresh channel: refusals were per
    // channel, the connection and the device are fine.
    let channel = confirming_channel(&connection).await;
    publish(&channel, EXCHANGE, &routing_key(&device), b"still mine")
        .await
        .expect("own key again");
    assert_eq!(
        drain(&admin, "observed").await,
        vec![b"still mine".to_vec()]
    );
}

#[tokio::test]
async fn a_rotated_or_deleted_device_can_no_longer_log_in() {
    testkit::init_crypto();
    let auth = Auth::start(Db::Sqlite, &[]).await;
    let rabbit = PrivateRabbit::start_with_http_auth(&auth.internal)
        .await
        .expect("rabbit");
    let owner = auth.register("ann@example.org").await;
    let (device, secret) = auth.create_device(&owner, "Kitchen Pi").await;
    connect(&rabbit, &device, &secret).await.expect("logs in");

    let rotated = auth
        .post(
            &format!("/api/devices/{device}/secret"),
            Some(&owner.access),
            serde_json::json!({}),
        )
        .await;
    let new_secret = rotated.json::<serde_json::Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // The broker caches logins for its auth_cache TTL; wait it out.
    tokio::time::sleep(PrivateRabbit::AUTH_CACHE_TTL + Duration::from_millis(500)).await;
    assert!(
        connect(&rabbit, &device, &secret).await.is_err(),
        "the old secret still logs in"
    );
    connect(&rabbit, &device, &new_secret)
        .await
        .expect("the new secret logs in");

    let deleted = auth
        .send(
            reqwest::Method::DELETE,
            &format!("/api/devices/{device}"),
            &owner.access,
            None,
        )
        .await;
    assert_eq!(deleted.status(), reqwest::StatusCode::NO_CONTENT);
    tokio::time::sleep(PrivateRabbit::AUTH_CACHE_TTL + Duration::from_millis(500)).await;
    assert!(
        connect(&rabbit, &device, &new_secret).await.is_err(),
        "a deleted device logs in"
    );
}
