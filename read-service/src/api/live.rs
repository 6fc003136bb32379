//! `GET /api/live`: server-sent events, one `power` event every
//! `--live-interval` with the latest reading of every socket that reported
//! within the reporting window. The first event is sent at once.
//!
//! Under load (see [`crate::admission`]) opening a feed is never refused:
//! each tick's query takes an InfluxDB slot like any request, waiting at most
//! `--queue-timeout`; a tick that gets none sends an `error` event with code
//! `busy` and the feed stays open for the next tick. So open feeds keep
//! working (they only skip beats) and cannot starve the other routes.
//!
//! The feed ends when the client goes away or the service shuts down (so a
//! graceful shutdown does not wait on open feeds). It is never compressed:
//! the compression layer skips `text/event-stream`, so every event leaves
//! when it is written.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::{stream, Stream, StreamExt};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::sockets::latest_raw;
use super::{ApiError, AppState, Household};

/// One `power` event's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveEvent {
    /// When the event was made, Unix ms.
    pub t: i64,
    /// Sum of the sockets' latest power, W.
    pub total_watts: f64,
    pub sockets: Vec<LiveSocket>,
}

/// A socket's latest reading.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveSocket {
    pub device: String,
    pub socket: String,
    pub watts: f64,
    /// Time of the reading, Unix ms.
    pub t: i64,
}

/// One event of the stream as a client parses it: for `text/event-stream`
/// the OpenAPI schema describes each event (its `event` and `data` fields),
/// not the stream, so this is the schema the document gives.
#[derive(Debug, ToSchema)]
pub struct LiveStreamEvent {
    pub event: LiveEventName,
    /// JSON: a LiveEvent for `power`, an ErrorBody for `error`.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// `power` every --live-interval; `error` when the data was unavailable at
/// that tick (the feed stays open and tries again at the next).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum LiveEventName {
    Power,
    Error,
}

#[utoipa::path(get, path = "/api/live", tag = "live", security(("bearer" = [])),
    responses(
        (status = 200, description = "`event: power`, data a LiveEvent, every --live-interval (`event: error`, data an ErrorBody, when the data is unavailable)", content_type = "text/event-stream", body = LiveStreamEvent),
        (status = 401, description = "No valid access token", body = super::error::ErrorBody),
    ))]
pub async fn live(
    State(state): State<AppState>,
    household: Household,
) -> Result<impl IntoResponse, ApiError> {
    metrics::counter!(crate::telemetry::names::LIVE_STREAMS).increment(1);
    let events = events(state.clone(), household.id().to_owned())
        .take_until(state.shutdown.clone().cancelled_owned());
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    ))
}

fn events(state: AppState, household: String) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut tick = tokio::time::interval(state.limits.live_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold(
        (state, household, tick),
        |(state, household, mut tick)| async move {
            tick.tick().await;
            let event = snapshot(&state, &household).await;
            Some((Ok(event), (state, household, tick)))
        },
    )
}

async fn snapshot(state: &AppState, household: &str) -> Event {
    let now = Timestamp::now();
    let window = jiff::SignedDuration::try_from(state.limits.reporting_window)
        .unwrap_or(jiff::SignedDuration::from_hours(1));
    let since = now.checked_sub(window).unwrap_or(now);
    let Ok(_slot) = state.admission.admit().await else {
        metrics::counter!(crate::telemetry::names::SHED, "route" => "/api/live").increment(1);
        return Event::default()
            .event("error")
            .data(r#"{"error":{"code":"busy","message":"too many requests are reading data"}}"#);
    };
    match latest_raw(&state.influx, household, since).await {
        Ok(latest) => {
            let mut sockets: Vec<LiveSocket> = latest
                .into_iter()
                .filter_map(|l| {
                    Some(LiveSocket {
                        watts: l.watts?,
                        t: l.t_ms,
                        device: l.device,
                        socket: l.socket,
                    })
                })
                .collect();
            // Stable order for the client, whatever order the series came in.
            sockets.sort_by(|a, b| (&a.device, &a.socket).cmp(&(&b.device, &b.socket)));
            let data = LiveEvent {
                t: now.as_millisecond(),
                // Not sum(): an empty f64 sum is -0.0, which shows as "-0 W".
                total_watts: sockets.iter().fold(0.0, |total, s| total + s.watts),
                sockets,
            };
            Event::default()
                .event("power")
                .json_data(&data)
                .unwrap_or_else(|_| Event::default().event("error"))
        }
        Err(error) => {
            // The feed stays open: the next tick may succeed.
            tracing::warn!(%error, "live snapshot failed");
            Event::default()
                .event("error")
                .data(r#"{"error":{"code":"unavailable","message":"data unavailable"}}"#)
        }
    }
}
