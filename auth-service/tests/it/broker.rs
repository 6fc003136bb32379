//! Device logins in a real RabbitMQ whose `rabbitmq_auth_backend_http` asks
//! this auth-service: a registered device logs in and publishes under its own
//! routing key, and the broker refuses everything else it tries: other
//! routing keys and exchanges, the write service's queues (reading, binding,
//! purging, deleting), queues and exchanges of its own, other vhosts, the
//! management API, messages above `max_message_size`, channels above
//! `channel_max`.

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use testkit::PrivateRabbit;
use wattline_proto::{routing_key, EXCHANGE};

use crate::support::{Auth, Db};

/// lapin may hang on a refused login or a closed channel: bound every call.
const PATIENCE: Duration = Duration::from_secs(15);

async fn connect(rabbit: &PrivateRabbit, user: &str, password: &str) -> Result<Connection, String> {
    connect_to(rabbit, user, password, "/").await
}

/// [`connect`] to another vhost.
async fn connect_to(
    rabbit: &PrivateRabbit,
    user: &str,
    password: &str,
    vhost: &str,
) -> Result<Connection, String> {
    let uri = format!(
        "amqp://{}:{}@127.0.0.1:{}/{}",
        crate::support::encode(user),
        crate::support::encode(password),
        rabbit.amqp_port(),
        crate::support::encode(vhost),
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

/// The write service's queues (as its topology declares them, by guest).
const WRITE_QUEUE: &str = "wattline.readings.write";
const DEAD_LETTERS: &str = "wattline.readings.dead";

/// A private broker asking a fresh auth-service, with the write service's
/// topology declared by guest, and one registered device.
struct Broker {
    // Field order: the node goes before the auth-service it asks.
    rabbit: PrivateRabbit,
    auth: Auth,
    owner: crate::support::Session,
    admin: Channel,
    _admin_connection: Connection,
    device: String,
    secret: String,
}

impl Broker {
    async fn start(with_management: bool) -> Self {
        testkit::init_crypto();
        let auth = Auth::start(Db::Sqlite, &[]).await;
        let rabbit = if with_management {
            PrivateRabbit::start_with_http_auth_and_management(&auth.internal).await
        } else {
            PrivateRabbit::start_with_http_auth(&auth.internal).await
        }
        .expect("rabbit");
        let owner = auth.register("ann@example.org").await;
        let (device, secret) = auth.create_device(&owner, "Kitchen Pi").await;
        let admin_connection = connect(&rabbit, "guest", "guest").await.expect("guest");
        let admin = admin_connection.create_channel().await.unwrap();
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for (exchange, kind, queue, key) in [
            (EXCHANGE, ExchangeKind::Topic, WRITE_QUEUE, "readings.#"),
            (DEAD_LETTERS, ExchangeKind::Fanout, DEAD_LETTERS, ""),
        ] {
            admin
                .exchange_declare(exchange.into(), kind, durable, FieldTable::default())
                .await
                .unwrap();
            admin
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions::durable(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
            admin
                .queue_bind(
                    queue.into(),
                    exchange.into(),
                    key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        Self {
            rabbit,
            auth,
            owner,
            admin,
            _admin_connection: admin_connection,
            device,
            secret,
        }
    }

    async fn device_connection(&self) -> Connection {
        connect(&self.rabbit, &self.device, &self.secret)
            .await
            .expect("the device logs in")
    }

    /// Messages in the write queue and the dead-letter queue, taken with guest.
    async fn queued(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        (
            drain(&self.admin, WRITE_QUEUE).await,
            drain(&self.admin, DEAD_LETTERS).await,
        )
    }
}

/// Whether `attempt`, made on a fresh channel of `connection`, is refused
/// (a refusal closes the channel, so each attempt gets its own).
async fn refused_on_fresh_channel<F, Fut, T>(connection: &Connection, attempt: F) -> bool
where
    F: FnOnce(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<T, lapin::Error>>,
{
    let channel = connection.create_channel().await.expect("channel");
    refused(attempt(channel)).await
}

#[tokio::test]
async fn a_device_cannot_reach_the_write_services_queues_nor_make_queues_or_exchanges() {
    let broker = Broker::start(false).await;
    let connection = broker.device_connection().await;
    let own_key = routing_key(&broker.device);

    // Straight to the write queue (the default exchange routes by queue
    // name) or the dead letters, or through the built-in exchanges.
    for (exchange, key) in [
        ("", WRITE_QUEUE),
        ("", DEAD_LETTERS),
        (DEAD_LETTERS, own_key.as_str()),
        ("amq.fanout", own_key.as_str()),
        ("amq.direct", WRITE_QUEUE),
        ("amq.headers", own_key.as_str()),
        ("amq.match", own_key.as_str()),
    ] {
        // A connection each: lapin may report a refused publish's channel
        // error again on the connection's next channel.
        let connection = broker.device_connection().await;
        let channel = confirming_channel(&connection).await;
        let result = publish(&channel, exchange, key, b"sneaked in").await;
        assert!(
            result.is_err(),
            "publishing to {exchange:?} with {key} was accepted"
        );
    }

    // The write service's queues: no reading, binding, unbinding, purging
    // or deleting.
    for queue in [WRITE_QUEUE, DEAD_LETTERS] {
        let consumed = refused_on_fresh_channel(&connection, |c| async move {
            c.basic_consume(
                queue.into(),
                "sneaky".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        });
        assert!(consumed.await, "the device consumed {queue}");
        let got = refused_on_fresh_channel(&connection, |c| async move {
            c.basic_get(queue.into(), BasicGetOptions::default()).await
        });
        assert!(got.await, "the device read {queue}");
        let bound = refused_on_fresh_channel(&connection, |c| async move {
            c.queue_bind(
                queue.into(),
                "amq.fanout".into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
        });
        assert!(bound.await, "the device bound {queue}");
        let purged = refused_on_fresh_channel(&connection, |c| async move {
            c.queue_purge(queue.into(), QueuePurgeOptions::default())
                .await
        });
        assert!(purged.await, "the device purged {queue}");
        let deleted = refused_on_fresh_channel(&connection, |c| async move {
            c.queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
        });
        assert!(deleted.await, "the device deleted {queue}");
    }
    let unbound = refused_on_fresh_channel(&connection, |c| async move {
        c.queue_unbind(
            WRITE_QUEUE.into(),
            EXCHANGE.into(),
            "readings.#".into(),
            FieldTable::default(),
        )
        .await
    });
    assert!(unbound.await, "the device unbound the write queue");

    // Nothing of its own: no server-named exclusive queue, no exchange, no
    // exchange-to-exchange binding, no deleting the readings exchange.
    let declared = refused_on_fresh_channel(&connection, |c| async move {
        c.queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
    });
    assert!(declared.await, "the device declared a server-named queue");
    let declared = refused_on_fresh_channel(&connection, |c| async move {
        c.exchange_declare(
            "devices-own".into(),
            ExchangeKind::Fanout,
            Default::default(),
            FieldTable::default(),
        )
        .await
    });
    assert!(declared.await, "the device declared an exchange");
    let bound = refused_on_fresh_channel(&connection, |c| async move {
        c.exchange_bind(
            EXCHANGE.into(),
            "amq.fanout".into(),
            "".into(),
            Default::default(),
            FieldTable::default(),
        )
        .await
    });
    assert!(
        bound.await,
        "the device bound an exchange to the readings exchange"
    );
    let deleted = refused_on_fresh_channel(&connection, |c| async move {
        c.exchange_delete(EXCHANGE.into(), Default::default()).await
    });
    assert!(deleted.await, "the device deleted the readings exchange");

    // Nothing arrived anywhere, and the topology is intact: its own key
    // still reaches the write queue, and only that.
    assert_eq!(broker.queued().await, (vec![], vec![]));
    let channel = confirming_channel(&connection).await;
    publish(&channel, EXCHANGE, &own_key, b"mine")
        .await
        .expect("own routing key");
    assert_eq!(broker.queued().await, (vec![b"mine".to_vec()], vec![]));
}

#[tokio::test]
async fn a_message_above_max_message_size_is_refused_and_a_largest_batch_is_not() {
    let broker = Broker::start(false).await;
    let connection = broker.device_connection().await;
    let own_key = routing_key(&broker.device);

    let channel = confirming_channel(&connection).await;
    let huge = vec![7u8; 100 * 1024 * 1024];
    let result = publish(&channel, EXCHANGE, &own_key, &huge).await;
    let error = result.expect_err("a 100 MB message was accepted");
    assert!(
        error.contains("PRECONDITION") || error.contains("max size"),
        "refused for its size: {error}"
    );
    drop(huge);
    assert_eq!(broker.queued().await, (vec![], vec![]));

    // Just under the limit (far above the agent's largest batch) goes
    // through, on a fresh channel of the same connection.
    let channel = confirming_channel(&connection).await;
    let largest = vec![1u8; PrivateRabbit::MAX_MESSAGE_SIZE - 64 * 1024];
    publish(&channel, EXCHANGE, &own_key, &largest)
        .await
        .expect("a message under the limit");
    let (written, dead) = broker.queued().await;
    assert_eq!((written.len(), dead.len()), (1, 0));
    assert_eq!(written[0].len(), largest.len());
}

#[tokio::test]
async fn a_device_is_held_to_channel_max_and_another_device_still_publishes() {
    let broker = Broker::start(false).await;
    let connection = broker.device_connection().await;
    // The broker negotiates channel_max at connection.tune; opening channels
    // until refused shows the limit the client was held to.
    let mut channels = Vec::new();
    let refusal = loop {
        match tokio::time::timeout(PATIENCE, connection.create_channel()).await {
            Ok(Ok(channel)) => channels.push(channel),
            Ok(Err(error)) => break error.to_string(),
            Err(_) => break "no answer".to_owned(),
        }
        assert!(channels.len() <= 2048, "no channel limit");
    };
    assert_eq!(
        channels.len(),
        usize::from(PrivateRabbit::CHANNEL_MAX),
        "refused after {} channels: {refusal}",
        channels.len()
    );

    // Another device of the household, meanwhile: unaffected.
    let (other, other_secret) = broker.auth.create_device(&broker.owner, "Hall Pi").await;
    let other_connection = connect(&broker.rabbit, &other, &other_secret)
        .await
        .expect("the other device logs in");
    let channel = confirming_channel(&other_connection).await;
    publish(&channel, EXCHANGE, &routing_key(&other), b"other")
        .await
        .expect("the other device publishes");
    assert_eq!(broker.queued().await, (vec![b"other".to_vec()], vec![]));
}

#[tokio::test]
async fn a_device_cannot_use_the_management_api_nor_another_vhost() {
    let broker = Broker::start(true).await;
    let api = broker.rabbit.management_url().expect("management");
    let http = reqwest::Client::new();
    // The plugin may answer a moment after AMQP does.
    testkit::eventually(PATIENCE, "the management API as guest", || async {
        let response = http
            .get(format!("{api}/api/whoami"))
            .basic_auth("guest", Some("guest"))
            .send()
            .await?;
        Ok(response.status().is_success().then_some(()))
    })
    .await
    .expect("guest uses the management API");
    let vhost = http
        .put(format!("{api}/api/vhosts/other"))
        .basic_auth("guest", Some("guest"))
        .send()
        .await
        .unwrap();
    assert!(vhost.status().is_success(), "{vhost:?}");

    // The HTTP backend grants devices no tags, and the management plugin
    // wants at least `management`.
    let publish_body = serde_json::json!({
        "properties": {}, "routing_key": WRITE_QUEUE,
        "payload": "sneaked in", "payload_encoding": "string"
    });
    for (method, path) in [
        (reqwest::Method::GET, "/api/whoami"),
        (reqwest::Method::GET, "/api/overview"),
        (
            reqwest::Method::GET,
            "/api/queues/%2F/wattline.readings.write",
        ),
        (reqwest::Method::GET, "/api/connections"),
        (
            reqwest::Method::POST,
            "/api/exchanges/%2F/amq.default/publish",
        ),
        (
            reqwest::Method::DELETE,
            "/api/queues/%2F/wattline.readings.dead/contents",
        ),
        (reqwest::Method::PUT, "/api/vhosts/mine"),
    ] {
        let response = http
            .request(method.clone(), format!("{api}{path}"))
            .basic_auth(&broker.device, Some(&broker.secret))
            .json(&publish_body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "{method} {path} with a device's credentials"
        );
    }

    // Another vhost that exists: refused at connection.open.
    let other = connect_to(&broker.rabbit, &broker.device, &broker.secret, "other").await;
    assert!(other.is_err(), "the device opened vhost other");
    assert_eq!(broker.queued().await, (vec![], vec![]));
    broker.device_connection().await;
}
