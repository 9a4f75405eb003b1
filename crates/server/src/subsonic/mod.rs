//! The Subsonic API over HTTP (axum): `/rest/<method>` and
//! `/rest/<method>.view`, GET query strings and POST form bodies, XML by
//! default and JSON with `f=json`.
//!
//! Every failure a client can cause is answered as a Subsonic error
//! envelope with HTTP 200 and the standard code; nothing a request sends
//! makes the server answer 500.

pub mod auth;
mod methods;
pub mod params;
pub mod response;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use crate::db::ReadPool;
use crate::media::Media;
use crate::status::SyncState;
pub use auth::{Access, Credentials};
pub use params::{ApiError, Params};
pub use response::{Elem, Envelope, Format, Val};

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Who may use the server.
    pub access: Access,
    /// Read-only connections to the library.
    pub pool: Arc<ReadPool>,
    /// Audio and images from the bucket.
    pub media: Arc<Media>,
    /// Sync progress, for `/health`.
    pub sync: Arc<SyncState>,
}

/// The HTTP routes: the Subsonic API and `/health`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/rest/{method}", any(rest))
        .route("/health", get(crate::status::health))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: the Subsonic API is under /rest/<method>, health under /health\n",
    )
        .into_response()
}

/// A method's answer: a document, or bytes (audio, images).
pub(crate) enum Reply {
    Doc(Envelope),
    Raw(Response),
}

/// Renders a document in the requested format, always with HTTP 200.
pub(crate) fn document(format: &Format, envelope: &Envelope) -> Response {
    let mut response = envelope.render(format).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

fn is_form(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(ct) => ct
            .to_str()
            .map(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
            .unwrap_or(false),
    }
}

async fn rest(
    State(app): State<Arc<AppState>>,
    Path(method): Path<String>,
    http_method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = Params::parse(query.as_deref().unwrap_or(""));
    if http_method == Method::POST && !body.is_empty() && is_form(&headers) {
        params.extend(&String::from_utf8_lossy(&body));
    }
    let format = Format::from_params(params.get("f"), params.get("callback"));
    let name = method.strip_suffix(".view").unwrap_or(&method);
    if let Err(e) = app.access.check(&params) {
        tracing::info!(method = name, code = e.code, "refused: {}", e.message);
        return document(&format, &Envelope::error(e.code, &e.message));
    }
    match methods::dispatch(&app, name, &params, &headers, http_method == Method::HEAD).await {
        Ok(Reply::Doc(envelope)) => document(&format, &envelope),
        Ok(Reply::Raw(response)) => response,
        Err(e) => {
            tracing::debug!(method = name, code = e.code, "error: {}", e.message);
            document(&format, &Envelope::error(e.code, &e.message))
        }
    }
}

/// A byte response with the given status and headers.
pub(crate) fn bytes_response(
    status: StatusCode,
    headers: Vec<(header::HeaderName, String)>,
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}
