//! The built dashboard (`npm run build` → `web/dist`): files from
//! `--assets-dir`, compressed for the browser, with caching that suits
//! Vite's output, and the app's own page for every other path (the app
//! routes in the browser, so `/sockets/d-1/fridge` is index.html too).
//!
//! Caching: files under `/assets/` have a content hash in their names, so a
//! new build means new names and they may be kept for a year; everything
//! else (index.html above all, which names the current assets) is
//! revalidated on every use (`no-cache`, answered with 304 when unchanged).

use std::path::Path;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use wattline_ops::http::ApiError;

/// `Cache-Control` of content-hashed files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else.
pub const REVALIDATE: &str = "no-cache";

/// The static router: `/assets/*` from `dir/assets` (404 when missing: a
/// script that is not there must not come back as HTML), any other path
/// from `dir`, falling back to `dir/index.html`.
pub fn router(dir: &Path) -> Router {
    let index = ServeFile::new(dir.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    // Serves `name.br`/`name.gz` if the build wrote them; otherwise the
    // compression layer compresses on the fly.
    let hashed = ServeDir::new(dir.join("assets"))
        .precompressed_br()
        .precompressed_gzip();
    let pages = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    Router::new()
        .nest_service("/assets", hashed)
        .fallback_service(pages)
        .layer(middleware::from_fn(cache_control))
        .layer(middleware::map_response(json_errors))
        .layer(CompressionLayer::new())
}

/// `ServeDir` refuses a path it will not serve (a missing asset, dot
/// segments, a NUL) with an empty 4xx: give it the JSON error body every
/// other answer has.
async fn json_errors(response: Response) -> Response {
    if response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    match response.status() {
        StatusCode::NOT_FOUND => ApiError::not_found("file").into_response(),
        StatusCode::BAD_REQUEST => {
            ApiError::invalid("invalid_path", "that path cannot name a file here").into_response()
        }
        _ => response,
    }
}

/// Sets `Cache-Control` by path (see the module's header).
async fn cache_control(request: Request, next: Next) -> Response {
    let hashed = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let value = if hashed && response.status().is_success() {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

/// Whether `dir` holds a built dashboard.
pub fn built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}
