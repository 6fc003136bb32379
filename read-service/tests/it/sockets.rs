use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn sockets_show_the_latest_reading_and_who_is_reporting() {
    let world = World::start(&[]).await;
    let a = world
        .household("a@example.com", "Europe/Berlin", tariff())
        .await;
    let b = world.household("b@example.com", "UTC", Value::Null).await;
    let now = now_ms();
    let (h, hb) = (a.household.as_str(), b.household.as_str());
    let mut lines = String::new();
    // fridge: reporting, latest 30 s ago.
    lines += &raw(h, "d-1", "fridge", now - 90_000, 80.0, 1234.0);
    lines += &raw(h, "d-1", "fridge", now - 30_000, 82.5, 1234.5);
    // tv: last reading 10 minutes ago: listed, not reporting.
    lines += &raw(h, "d-1", "tv", now - 600_000, 5.0, 50.0);
    // B's socket, reporting.
    lines += &raw(hb, "d-b", "heater", now - 5_000, 999.0, 9.0);
    world.write(None, &lines).await;
    // An old socket only the hourly rollups remember (30 days ago).
    let old = (now - 30 * 86_400_000) / 3_600_000 * 3_600_000;
    world
        .write(
            Some("rollup_1h"),
            &socket_rollup(h, "d-0", "lamp", old, 12.0, 20.0, 12.0, 777.0),
        )
        .await;

    let answer = world.get("/api/sockets", Some(&a.token)).await;
    let body = answer.ok();
    assert_eq!(answer.header("cache-control"), "private, no-cache");
    let sockets = body["sockets"].as_array().expect("sockets");
    let names: Vec<(&str, &str)> = sockets
        .iter()
        .map(|s| (s["device"].as_str().unwrap(), s["socket"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("d-0", "lamp"), ("d-1", "fridge"), ("d-1", "tv")]);
    let (lamp, fridge, tv) = (&sockets[0], &sockets[1], &sockets[2]);
    close(&fridge["watts"], 82.5);
    close(&fridge["energy_wh"], 1234.5);
    assert_eq!(fridge["reporting"], true);
    assert_eq!(
        fridge["last_seen"],
        read_service::api::rfc3339_ms(now - 30_000)
    );
    assert_eq!(tv["reporting"], false);
    close(&tv["watts"], 5.0);
    assert_eq!(lamp["reporting"], false);
    close(&lamp["energy_wh"], 777.0);
    assert_eq!(lamp["last_seen"], read_service::api::rfc3339_ms(old));
    // Only reporting sockets count towards the total.
    close(&body["total_watts"], 82.5);

    let theirs = world.get("/api/sockets", Some(&b.token)).await.ok();
    assert_eq!(theirs["sockets"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["sockets"][0]["socket"], "heater");
    close(&theirs["total_watts"], 999.0);
}
