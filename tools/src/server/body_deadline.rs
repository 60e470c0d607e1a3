//! The request body's deadline: the whole body must arrive within
//! `Limits::body_timeout` of the header, or the reply is 408 and the connection
//! closes. A client that stalls its upload can then hold a connection (and delay a
//! shutdown) no longer than that.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Reads the body within the deadline (and the size limit), then runs the route
/// on the buffered body.
pub async fn read_body_within(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    let error = match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(Ok(bytes)) => {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {} s",
                limits.body_timeout.as_secs_f64()
            ),
        ),
        Ok(Err(e)) if is_length_limit(&e) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body over the limit of {} bytes",
                limits.max_body_bytes
            ),
        ),
        Ok(Err(_)) => {
            ApiError::bad_request("the request body could not be read (connection broken)")
        }
    };
    // The rest of the body is unread: the connection cannot carry another request,
    // and must not wait to drain it.
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Whether a body error is the size limit (ours or an outer layer's).
fn is_length_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}
