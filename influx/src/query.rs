//! InfluxQL over `/query`, the read API every InfluxDB version shares
//! (1.x natively, 2.x and 3.x through their 1.x-compatible API).
//!
//! Values reach a query only as bound parameters ([`Query::bind`]: `$name` in
//! the text, `params={...}` beside it, never pasted in); identifiers that
//! cannot be bound (database and retention policy names in DDL) come from our
//! own configuration and are quoted by [`quote_ident`].
//!
//! [`QueryClient::query`] reads a whole answer as [`Series`] with typed
//! [`Row`] accessors. [`QueryClient::chunked`] asks for `chunked=true` and
//! hands the answer out as it arrives ([`SeriesStream`]): chunk by chunk, or
//! one whole series at a time, with rows of any `Deserialize` type, so memory
//! holds a chunk or a series, not a whole query's answer.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::writer::{describe_request_error, error_text, shorten};

/// Rows InfluxDB puts in one chunk of a chunked answer, by default.
pub const CHUNK_ROWS: usize = 10_000;
/// Longest a `/ping` may take: a health check must answer quickly.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Refused, timed out or cut connection, or a 5xx or 429: try again later.
    #[error("InfluxDB unavailable: {0}")]
    Unavailable(String),
    /// InfluxDB answered the query with an error.
    #[error("InfluxDB refused the query ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// InfluxDB's error text (shortened).
        message: String,
    },
    /// The answer was not the JSON we asked for.
    #[error("unexpected answer from InfluxDB: {0}")]
    Decode(String),
    /// The client could not be built.
    #[error("invalid InfluxDB configuration: {0}")]
    Config(String),
}

/// A statement and its bound parameters.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    params: Map<String, Value>,
}

impl Query {
    /// `text` is ours (constants, quoted identifiers, computed integers);
    /// values from outside go in through [`Query::bind`].
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            params: Map::new(),
        }
    }

    /// Binds `$name`.
    pub fn bind(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    /// The statement text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// One series of an answer: its tags and rows, by default as JSON values
/// (read them through [`Series::rows`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de>"))]
pub struct Series<R = Vec<Value>> {
    /// Measurement name.
    #[serde(default)]
    pub name: String,
    /// Tag values (with GROUP BY).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Column names.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Rows.
    #[serde(default)]
    pub values: Vec<R>,
}

impl<R> Series<R> {
    /// The tag `name` ("" if absent).
    pub fn tag(&self, name: &str) -> &str {
        self.tags.get(name).map_or("", String::as_str)
    }

    /// Whether `other` is a later piece of this series (chunked answers
    /// split long series).
    fn continued_by(&self, other: &Self) -> bool {
        self.name == other.name && self.tags == other.tags
    }
}

impl Series {
    /// Index of `column`.
    pub fn column(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// Rows as typed views.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.values.iter().map(move |values| Row {
            series: self,
            values,
        })
    }
}

/// One row of a series.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    series: &'a Series,
    values: &'a [Value],
}

impl Row<'_> {
    /// The row's time in Unix ms (queries ask for `epoch=ms`).
    pub fn time_ms(&self) -> Option<i64> {
        self.value("time").and_then(Value::as_i64)
    }

    /// A numeric column; `None` for null or missing.
    pub fn f64(&self, column: &str) -> Option<f64> {
        self.value(column).and_then(Value::as_f64)
    }

    /// A column's value; `None` if there is no such column.
    pub fn value(&self, column: &str) -> Option<&Value> {
        self.series
            .column(column)
            .and_then(|index| self.values.get(index))
    }
}

/// An answer (or one chunk of a chunked answer).
#[derive(Debug, Deserialize)]
struct Answer<R> {
    #[serde(default = "Vec::new")]
    results: Vec<StatementResult<R>>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StatementResult<R> {
    #[serde(default = "Vec::new")]
    series: Vec<Series<R>>,
    error: Option<String>,
}

impl<R> Answer<R> {
    /// Every statement's series, or the first error in the answer.
    fn into_series(self, status: StatusCode) -> Result<Vec<Series<R>>, QueryError> {
        let rejected = |message| QueryError::Rejected {
            status: status.as_u16(),
            message,
        };
        if let Some(message) = self.error {
            return Err(rejected(message));
        }
        let mut series = Vec::new();
        for result in self.results {
            if let Some(message) = result.error {
                return Err(rejected(message));
            }
            series.extend(result.series);
        }
        Ok(series)
    }
}

/// Builds a [`QueryClient`].
#[derive(Clone)]
pub struct QueryClientBuilder {
    url: String,
    database: String,
    token: Option<String>,
    timeout: Duration,
    connect_timeout: Option<Duration>,
    chunk_rows: usize,
}

impl fmt::Debug for QueryClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token stays out.
        f.debug_struct("QueryClientBuilder")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("chunk_rows", &self.chunk_rows)
            .finish_non_exhaustive()
    }
}

impl QueryClientBuilder {
    /// Sends `Authorization: Token …` (InfluxDB 2.x/3.x); none for an
    /// unauthenticated 1.x.
    pub fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    /// Longest wait for a connection and, once connected, for the next
    /// piece of an answer (the time between chunks of a streamed one), not
    /// for a whole answer. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest wait for a connection, if shorter than [`timeout`](Self::timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Rows per chunk of streamed answers (InfluxDB's `chunk_size`).
    pub fn chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }

    /// Builds the client. Binaries must install a rustls crypto provider first.
    pub fn build(self) -> Result<QueryClient, QueryError> {
        let url = &self.url;
        let base =
            Url::parse(url).map_err(|e| QueryError::Config(format!("INFLUX URL {url:?}: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(QueryError::Config(format!(
                "INFLUX URL {url:?} is not an http(s) URL"
            )));
        }
        let endpoint = |segment: &str| {
            let mut url = base.clone();
            url.set_query(None);
            if let Ok(mut path) = url.path_segments_mut() {
                // Keeps any path prefix of a reverse proxy: {url}/query.
                path.pop_if_empty().push(segment);
            }
            url
        };
        let auth = self
            .token
            .map(|token| {
                let mut value = HeaderValue::from_str(&format!("Token {token}"))
                    .map_err(|_| QueryError::Config("INFLUX_TOKEN is not a valid header".into()))?;
                value.set_sensitive(true);
                Ok::<_, QueryError>(value)
            })
            .transpose()?;
        // reqwest built with `rustls-no-provider` panics without a
        // process-wide provider; turn that misconfiguration into an error.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(QueryError::Config(
                "no rustls crypto provider installed".into(),
            ));
        }
        // A read timeout, not a total one: streamed answers take as long as
        // they take, as long as they keep coming.
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout.unwrap_or(self.timeout))
            .read_timeout(self.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| QueryError::Config(format!("HTTP client: {e}")))?;
        Ok(QueryClient {
            http,
            query_url: endpoint("query"),
            ping_url: endpoint("ping"),
            database: self.database,
            auth,
            chunk_rows: self.chunk_rows.to_string(),
        })
    }
}

/// Sends InfluxQL to one database. Cheap to clone (shares the connection pool).
#[derive(Debug, Clone)]
pub struct QueryClient {
    http: reqwest::Client,
    query_url: Url,
    ping_url: Url,
    database: String,
    auth: Option<HeaderValue>,
    chunk_rows: String,
}

impl QueryClient {
    /// A builder for a client of `database` at `url` (the base URL, e.g.
    /// `http://127.0.0.1:8086`), without credentials, 30 s timeout,
    /// [`CHUNK_ROWS`] rows per chunk.
    pub fn builder(url: &str, database: &str) -> QueryClientBuilder {
        QueryClientBuilder {
            url: url.to_owned(),
            database: database.to_owned(),
            token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: None,
            chunk_rows: CHUNK_ROWS,
        }
    }

    /// The database queried.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// GET `/ping`: whether InfluxDB answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), QueryError> {
        let request = self.http.get(self.ping_url.clone()).timeout(PING_TIMEOUT);
        check(self.authorize(request).send().await).await.map(drop)
    }

    /// Runs InfluxQL (DDL too) and returns the series of its statements
    /// (empty when nothing matched), failing on the first statement error.
    #[tracing::instrument(level = "debug", skip_all, fields(q = %query.text))]
    pub async fn query(&self, query: &Query) -> Result<Vec<Series>, QueryError> {
        let response = self.send(query, false).await?;
        let status = response.status();
        let body = response.bytes().await.map_err(unavailable)?;
        parse_answer(status, &body)
    }

    /// Runs a statement with a chunked answer (at most the client's
    /// `chunk_rows` rows per chunk), read as it arrives.
    pub async fn chunked<R: DeserializeOwned>(
        &self,
        query: &Query,
    ) -> Result<SeriesStream<R>, QueryError> {
        let response = self.send(query, true).await?;
        Ok(SeriesStream {
            response,
            buf: Vec::new(),
            chunks: VecDeque::new(),
            pieces: VecDeque::new(),
            current: None,
            done: false,
        })
    }

    async fn send(&self, query: &Query, chunked: bool) -> Result<reqwest::Response, QueryError> {
        let params = Value::Object(query.params.clone()).to_string();
        let mut form = vec![
            ("db", self.database.as_str()),
            ("q", query.text.as_str()),
            ("params", params.as_str()),
            ("epoch", "ms"),
        ];
        if chunked {
            form.extend([
                ("chunked", "true"),
                ("chunk_size", self.chunk_rows.as_str()),
            ]);
        }
        let request = self.http.post(self.query_url.clone()).form(&form);
        check(self.authorize(request).send().await).await
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(auth) => request.header(AUTHORIZATION, auth.clone()),
            None => request,
        }
    }
}

/// The response if it is a success, else why not.
async fn check(sent: reqwest::Result<reqwest::Response>) -> Result<reqwest::Response, QueryError> {
    let response = sent.map_err(unavailable)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(status_error(status, &body))
}

fn unavailable(error: reqwest::Error) -> QueryError {
    QueryError::Unavailable(shorten(&describe_request_error(&error)))
}

/// A non-2xx answer: 5xx and 429 are InfluxDB's trouble (retry later), the
/// rest a refusal of the query.
fn status_error(status: StatusCode, body: &str) -> QueryError {
    let message = shorten(&error_text(body));
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        QueryError::Unavailable(format!("{status}: {message}"))
    } else {
        QueryError::Rejected {
            status: status.as_u16(),
            message,
        }
    }
}

fn parse_answer<R: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<Vec<Series<R>>, QueryError> {
    serde_json::from_slice::<Answer<R>>(body)
        .map_err(|e| QueryError::Decode(e.to_string()))?
        .into_series(status)
}

/// The series of a chunked answer, as they arrive.
#[derive(Debug)]
pub struct SeriesStream<R = Vec<Value>> {
    response: reqwest::Response,
    /// Bytes received and not yet parsed (an incomplete JSON object).
    buf: Vec<u8>,
    /// Parsed chunks not yet handed out.
    chunks: VecDeque<Vec<Series<R>>>,
    /// Pieces of series not yet handed out by [`next_series`](Self::next_series).
    pieces: VecDeque<Series<R>>,
    /// The series [`next_series`](Self::next_series) is assembling.
    current: Option<Series<R>>,
    done: bool,
}

impl<R: DeserializeOwned> SeriesStream<R> {
    /// The series (or pieces of series) of the next chunk, `None` at the
    /// end of the answer.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<Series<R>>>, QueryError> {
        loop {
            if let Some(chunk) = self.chunks.pop_front() {
                return Ok(Some(chunk));
            }
            if self.done {
                return Ok(None);
            }
            self.fill().await?;
        }
    }

    /// The next whole series (its pieces from consecutive chunks joined),
    /// `None` at the end of the answer.
    pub async fn next_series(&mut self) -> Result<Option<Series<R>>, QueryError> {
        loop {
            while let Some(piece) = self.pieces.pop_front() {
                match &mut self.current {
                    Some(current) if current.continued_by(&piece) => {
                        current.values.extend(piece.values);
                    }
                    _ => {
                        if let Some(finished) = self.current.replace(piece) {
                            return Ok(Some(finished));
                        }
                    }
                }
            }
            match self.next_chunk().await? {
                Some(chunk) => self.pieces.extend(chunk),
                None => return Ok(self.current.take()),
            }
        }
    }

    /// Reads the next piece of the body and parses every complete JSON
    /// object in what has arrived.
    ///
    /// InfluxDB ends each chunk's object with a newline (and JSON text holds
    /// none of its own), so parsing waits for one: re-parsing a large
    /// incomplete object on every network read would cost far more than the
    /// parse itself. A server that sent no newlines would be parsed once, at
    /// the end.
    async fn fill(&mut self) -> Result<(), QueryError> {
        let complete = match self.response.chunk().await.map_err(unavailable)? {
            Some(bytes) => {
                self.buf.extend_from_slice(&bytes);
                match bytes.iter().rposition(|&b| b == b'\n') {
                    Some(at) => self.buf.len() - bytes.len() + at + 1,
                    None => return Ok(()),
                }
            }
            None => {
                self.done = true;
                self.buf.len()
            }
        };
        let chunks = parse_chunks(&self.buf[..complete]);
        self.buf.drain(..complete);
        self.chunks.extend(chunks?);
        Ok(())
    }
}

/// The series of each chunk (JSON object) in `text`, an error in any of them
/// failing the whole.
fn parse_chunks<R: DeserializeOwned>(text: &[u8]) -> Result<Vec<Vec<Series<R>>>, QueryError> {
    serde_json::Deserializer::from_slice(text)
        .into_iter::<Answer<R>>()
        .map(|answer| {
            answer
                .map_err(|e| QueryError::Decode(e.to_string()))?
                .into_series(StatusCode::OK)
        })
        .collect()
}

/// An InfluxQL identifier in double quotes, `\` and `"` escaped.
pub fn quote_ident(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_escaped() {
        assert_eq!(quote_ident("wattline"), "\"wattline\"");
        assert_eq!(quote_ident("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn answers_become_series_with_typed_rows() {
        let body = br#"{"results":[{"statement_id":0,"series":[{"name":"power","tags":{"device":"d,1","socket":"a"},"columns":["time","watts"],"values":[[1000,1.5],[2000,null]]}]}]}"#;
        let series: Vec<Series> = parse_answer(StatusCode::OK, body).expect("parses");
        assert_eq!(series[0].tag("device"), "d,1");
        assert_eq!(series[0].tag("household"), "");
        let rows: Vec<_> = series[0].rows().collect();
        assert_eq!(rows[0].time_ms(), Some(1000));
        assert_eq!(rows[0].f64("watts"), Some(1.5));
        assert_eq!(rows[1].f64("watts"), None);
        assert_eq!(rows[1].value("energy_wh"), None);

        let empty: Vec<Series> =
            parse_answer(StatusCode::OK, br#"{"results":[{"statement_id":0}]}"#).expect("parses");
        assert!(empty.is_empty());
    }

    #[test]
    fn statement_errors_and_bad_statuses_become_errors() {
        let refused = parse_answer::<Vec<Value>>(
            StatusCode::OK,
            br#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#,
        );
        assert!(
            matches!(refused, Err(QueryError::Rejected { status: 200, message }) if message.contains("not found"))
        );
        let bad = status_error(StatusCode::BAD_REQUEST, r#"{"error":"parse error"}"#);
        assert!(
            matches!(bad, QueryError::Rejected { status: 400, ref message } if message == "parse error"),
            "{bad:?}"
        );
        let down = status_error(StatusCode::BAD_GATEWAY, "<html>");
        assert!(
            matches!(down, QueryError::Unavailable(ref m) if m.contains("502")),
            "{down:?}"
        );
        let busy = status_error(StatusCode::TOO_MANY_REQUESTS, "");
        assert!(matches!(busy, QueryError::Unavailable(_)), "{busy:?}");
        let garbled = parse_answer::<Vec<Value>>(StatusCode::OK, b"<html>");
        assert!(matches!(garbled, Err(QueryError::Decode(_))));
    }

    #[test]
    fn chunks_parse_into_typed_rows_and_an_error_fails_them() {
        type Raw = (i64, Option<f64>, Option<f64>);
        let text = concat!(
            r#"{"results":[{"statement_id":0,"series":[{"name":"power","tags":{"socket":"s"},"columns":["time","watts","energy_wh"],"values":[[1,2.5,null],[2,null,3]],"partial":true}],"partial":true}]}"#,
            "\n",
            r#"{"results":[{"statement_id":0,"series":[{"name":"power","tags":{"socket":"s"},"columns":["time","watts","energy_wh"],"values":[[3,4,5.5]]}]}]}"#,
            "\n"
        );
        let chunks = parse_chunks::<Raw>(text.as_bytes()).expect("parses");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0][0].tag("socket"), "s");
        assert_eq!(
            chunks[0][0].values,
            vec![(1, Some(2.5), None), (2, None, Some(3.0))]
        );
        assert!(chunks[0][0].continued_by(&chunks[1][0]));
        assert_eq!(chunks[1][0].values, vec![(3, Some(4.0), Some(5.5))]);

        let error = parse_chunks::<Raw>(br#"{"results":[{"statement_id":0,"error":"boom"}]}"#);
        assert!(matches!(error, Err(QueryError::Rejected { message, .. }) if message == "boom"));
    }

    #[test]
    fn bound_values_are_kept_apart_from_the_text() {
        let query = Query::new("SELECT * FROM power WHERE household = $h").bind("h", "x' OR 1=1");
        assert_eq!(query.text(), "SELECT * FROM power WHERE household = $h");
        assert_eq!(query.params["h"], "x' OR 1=1");
    }
}
