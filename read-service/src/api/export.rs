//! `GET /api/export.csv?from&to[&device&socket]`: raw readings as CSV
//! (`time,device,socket,watts,energy_wh`, RFC 4180 quoting by the `csv`
//! crate, times RFC 3339 UTC with milliseconds), streamed: InfluxDB answers
//! in chunks and each chunk becomes a piece of the body as it arrives, so a
//! year of readings never sits in memory.
//!
//! The ids are selected as columns (not grouped by), so rows come in time
//! order across sockets.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::{stream, StreamExt, TryStreamExt};
use wattline_influx::query::{Query, QueryError, Series};

use super::power::RangeParams;
use super::{rfc3339_ms, ApiError, ApiQuery, AppState, Household, Range, SocketRef};
use crate::schema;

/// Longest range one export may span.
pub const MAX_EXPORT_RANGE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 366);
/// Rows per InfluxDB chunk (the client's default), and so per body piece.
const CHUNK_ROWS: usize = wattline_influx::query::CHUNK_ROWS;

#[utoipa::path(get, path = "/api/export.csv", tag = "export", params(RangeParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Raw readings as CSV", content_type = "text/csv", body = String),
        (status = 400, description = "Bad time, range or socket", body = super::error::ErrorBody),
        (status = 401, description = "No valid access token", body = super::error::ErrorBody),
        (status = 429, description = "Too many requests are reading data (see --max-concurrent-queries): try again after Retry-After", body = super::error::ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    household: Household,
    ApiQuery(params): ApiQuery<RangeParams>,
) -> Result<Response, ApiError> {
    let range = Range::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        MAX_EXPORT_RANGE,
    )?;
    let socket = SocketRef::parse(params.device.as_deref(), params.socket.as_deref())?;
    let query = Query::new(format!(
        "SELECT \"device\", \"socket\", \"watts\", \"energy_wh\" FROM \"{m}\" \
         WHERE \"household\" = $household AND time >= $from AND time < $to{cond}",
        m = schema::RAW_MEASUREMENT,
        cond = socket.as_ref().map_or("", |_| SocketRef::CONDITION),
    ))
    .bind("household", household.id())
    .bind("from", range.from.to_string())
    .bind("to", range.to.to_string());
    let query = match &socket {
        Some(socket) => socket.bind(query),
        None => query,
    };
    let header_row = stream::once(async { Ok::<_, std::io::Error>(csv_rows(&[], true)) });
    let influx = state.influx.clone();
    // Admitted before the head is sent (a refusal is still a 429); the slot
    // then moves into the body and is given back when the body ends.
    let slot = state.admission.enter("/api/export.csv").await?;
    // Sent when the body is first polled; each chunk of the answer then
    // becomes a piece of the body.
    let chunks = stream::once(async move {
        let answer = influx.chunked(&query).await;
        answer.map(|answer| (answer, slot))
    })
    .map_ok(|answer_and_slot| {
        stream::try_unfold(answer_and_slot, |(mut answer, slot)| async move {
            Ok::<_, QueryError>(
                answer
                    .next_chunk()
                    .await?
                    .map(|chunk| (chunk, (answer, slot))),
            )
        })
    })
    .try_flatten();
    let rows = chunks.map(|chunk| match chunk {
        Ok(series) => Ok(csv_rows(&series, false)),
        Err(error) => {
            // The head is sent already: all we can do is cut the body
            // short, which the client sees as a failed download.
            tracing::error!(%error, "export failed mid-stream");
            Err(std::io::Error::other(error.to_string()))
        }
    });
    let filename = format!(
        "attachment; filename=\"wattline-{}-{}.csv\"",
        range.from.strftime("%Y%m%d"),
        range.to.strftime("%Y%m%d")
    );
    let mut response = Body::from_stream(header_row.chain(rows)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, range.cache_control());
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// CSV text of the rows of `series` (with the header line first if `header`).
fn csv_rows(series: &[Series], header: bool) -> bytes::Bytes {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(64 * CHUNK_ROWS));
    let mut write = || -> csv::Result<()> {
        if header {
            writer.write_record(["time", "device", "socket", "watts", "energy_wh"])?;
        }
        for row in series.iter().flat_map(Series::rows) {
            let text = |column: &str| match row.value(column) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let time = row.time_ms().map(rfc3339_ms).unwrap_or_default();
            writer.write_record([
                time,
                text("device"),
                text("socket"),
                text("watts"),
                text("energy_wh"),
            ])?;
        }
        Ok(())
    };
    if let Err(error) = write() {
        tracing::error!(%error, "CSV encoding failed");
    }
    bytes::Bytes::from(writer.into_inner().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_commas_and_quotes_are_quoted_per_rfc_4180() {
        let series: Series = serde_json::from_str(
            r#"{"name":"power","columns":["time","device","socket","watts","energy_wh"],
                "values":[[1795000000123,"d,1","the \"fridge\"",85.5,null]]}"#,
        )
        .unwrap();
        let text = String::from_utf8(csv_rows(&[series], true).to_vec()).unwrap();
        assert_eq!(
            text,
            "time,device,socket,watts,energy_wh\r\n\
             2026-11-18T11:06:40.123Z,\"d,1\",\"the \"\"fridge\"\"\",85.5,\r\n"
        );
    }
}
