//! What a real InfluxDB will not do on demand, provoked with stand-ins: a refused port, a
//! server that accepts and never answers, a 503, and a capture of the v2 request (InfluxDB 1.6
//! has no `/api/v2/write`, so the v2 request shape is checked here, not against a v2 server).

use std::io::Read as _;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use wattline_influx::{InfluxApi, InfluxWriter, WriteError, WriterConfig};

const BODY: &[u8] = b"power,device=d,household=h,socket=s watts=1.0 1795000000000\n";

fn writer(url: &str, api: InfluxApi, gzip: bool, timeout: Duration) -> Result<InfluxWriter> {
    testkit::init_crypto();
    Ok(InfluxWriter::new(WriterConfig {
        url: url.to_owned(),
        api,
        gzip,
        timeout,
    })?)
}

#[tokio::test]
async fn refused_port_is_unavailable() -> Result<()> {
    // Free, and nothing listens on it.
    let port = testkit::free_port()?;
    let writer = writer(
        &format!("http://127.0.0.1:{port}"),
        InfluxApi::v1("wattline"),
        false,
        Duration::from_secs(5),
    )?;
    match writer.write(BODY).await {
        Err(e @ WriteError::Unavailable(_)) => assert!(e.is_retryable()),
        other => bail!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(
        writer.ping().await,
        Err(WriteError::Unavailable(_))
    ));
    Ok(())
}

#[tokio::test]
async fn silent_server_times_out_as_unavailable() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // accept, read nothing, answer nothing
        }
    });
    let writer = writer(
        &format!("http://127.0.0.1:{port}"),
        InfluxApi::v1("wattline"),
        false,
        Duration::from_millis(300),
    )?;
    match writer.write(BODY).await {
        Err(WriteError::Unavailable(message)) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => bail!("expected Unavailable, got {other:?}"),
    }
    server.abort();
    Ok(())
}

/// A stand-in server on a free port that takes one request and answers `response`: its URL,
/// and the task that yields the request's head and body (see [`serve_once`]).
async fn stand_in(
    response: &'static str,
) -> Result<(String, JoinHandle<Result<(String, Vec<u8>)>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    Ok((url, tokio::spawn(serve_once(listener, response))))
}

/// The value of header `name` (case-insensitive) in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads one HTTP/1.1 request (headers + Content-Length body) and answers `response`.
async fn serve_once(listener: TcpListener, response: &'static str) -> Result<(String, Vec<u8>)> {
    let (mut socket, _) = listener.accept().await?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            bail!("client closed before sending headers");
        }
        data.extend_from_slice(&chunk[..n]);
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .context("request has a Content-Length")?;
    while data.len() < head_end + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            bail!("client closed mid-body");
        }
        data.extend_from_slice(&chunk[..n]);
    }
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await?;
    Ok((head, data[head_end..head_end + length].to_vec()))
}

#[tokio::test]
async fn http_503_is_unavailable() -> Result<()> {
    let (url, server) = stand_in(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Content-Length: 27\r\nConnection: close\r\n\r\n{\"error\":\"engine is busy\"}\n",
    )
    .await?;
    let writer = writer(
        &url,
        InfluxApi::v1("wattline"),
        false,
        Duration::from_secs(5),
    )?;
    match writer.write(BODY).await {
        Err(WriteError::Unavailable(message)) => {
            assert!(
                message.contains("503") && message.contains("engine is busy"),
                "{message}"
            )
        }
        other => bail!("expected Unavailable, got {other:?}"),
    }
    server.await??;
    Ok(())
}

#[tokio::test]
async fn v2_request_shape_with_gzip() -> Result<()> {
    let (url, server) = stand_in("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await?;
    let api = InfluxApi::V2 {
        org: "my org".into(),
        bucket: "wattline".into(),
        token: "s3cr3t==".into(),
    };
    let writer = writer(&url, api, true, Duration::from_secs(5))?;
    assert_eq!(
        writer.write(BODY).await?,
        wattline_influx::WriteOutcome::Written
    );
    let (head, body) = server.await??;
    let request_line = head.lines().next().unwrap_or_default();
    assert_eq!(
        request_line,
        "POST /api/v2/write?org=my+org&bucket=wattline&precision=ms HTTP/1.1"
    );
    assert_eq!(header(&head, "authorization"), Some("Token s3cr3t=="));
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut unzipped)?;
    assert_eq!(unzipped, BODY);
    Ok(())
}

#[tokio::test]
async fn v1_basic_auth_and_rp() -> Result<()> {
    let (url, server) = stand_in(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
         Content-Length: 37\r\nConnection: close\r\n\r\n{\"error\":\"authorization failed\"}\n\n\n\n\n",
    )
    .await?;
    let api = InfluxApi::V1 {
        database: "wattline".into(),
        retention_policy: Some("autogen".into()),
        username: Some("writer".into()),
        password: Some("pw".into()),
    };
    let writer = writer(&url, api, false, Duration::from_secs(5))?;
    match writer.write(BODY).await {
        Err(e @ WriteError::Unauthorized { status: 401, .. }) => assert!(e.is_retryable()),
        other => bail!("expected Unauthorized, got {other:?}"),
    }
    let (head, body) = server.await??;
    assert!(
        head.starts_with("POST /write?db=wattline&rp=autogen&precision=ms HTTP/1.1\r\n"),
        "{head}"
    );
    // base64("writer:pw")
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: basic d3jpdgvyonb3"),
        "{head}"
    );
    assert_eq!(body, BODY);
    Ok(())
}
