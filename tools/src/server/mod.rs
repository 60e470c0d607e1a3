//! The HTTP JSON server behind `tartan serve`.
//!
//! - `POST /search`: `{"queries": ["text", ...]}` or `{"embeddings": [[[f32; dim]; tokens], ...]}`,
//!   plus `"k"` and optional `"nprobe"`, `"threshold"`, `"ndocs"`, `"exact"`, `"filter"`
//!   (metadata filter), `"mode"` (`"semantic"`, `"lexical"`, `"hybrid"`), `"rrf_k"`; replies
//!   `{"results": [{"query": i, "results": [{"id", "score", "text"?}]}], "took_ms"}`.
//! - `GET /health`: `{"status": "ok"}`.
//! - `GET /stats`: index counts, queries served, requests, errors, uptime.
//!
//! Searches run on the blocking pool, at most `max_concurrent` at a time; a request
//! that cannot start within the timeout gets 503, one that cannot finish within it
//! 504. Bodies over the limit get 413, bodies not received within the body timeout
//! 408. Every error reply is `{"error": ...}`. Connections (cap, header and idle
//! timeouts, the shutdown deadline) are handled by [`connections::serve`].

mod body_deadline;
pub mod connections;
mod documents;
mod error;
pub mod reload;
mod search;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tartan_encoder::Encoder;
use tartan_engine::{Index, IndexWriter};
use tokio::sync::Semaphore;
use tower::ServiceBuilder;

pub use error::ApiError;

/// Limits that keep one client from taking the server down.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Searches running at once.
    pub max_concurrent: usize,
    /// Longest wait for a search slot plus the search itself.
    pub timeout: Duration,
    /// Largest k.
    pub max_k: usize,
    /// Most queries in one request.
    pub max_queries: usize,
    /// Most tokens in one query given as embeddings.
    pub max_query_tokens: usize,
    /// Longest time for a request's whole body to arrive after its header.
    pub body_timeout: Duration,
}

/// Counters for `/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP requests answered.
    pub requests: AtomicU64,
    /// Of which errors (4xx/5xx).
    pub errors: AtomicU64,
    /// Queries searched successfully.
    pub queries_served: AtomicU64,
    /// Idle connections closed to make room for new ones at the connection cap.
    pub connections_evicted: AtomicU64,
    /// Connections refused (503) at the cap because every open one had a request
    /// in flight.
    pub connections_refused: AtomicU64,
}

/// What every handler shares.
pub struct AppState {
    /// The memory-mapped index, swapped on reload.
    pub snapshot: Arc<reload::Snapshot>,
    /// The index's writer, held for the server's life with `--writable`.
    pub writer: Option<std::sync::Mutex<IndexWriter>>,
    /// The query encoder, when the server has a model.
    pub encoder: Option<Arc<Encoder>>,
    /// The model's name, for `/stats`.
    pub model: Option<String>,
    /// The limits.
    pub limits: Limits,
    /// Search slots.
    pub permits: Arc<Semaphore>,
    /// Counters.
    pub stats: Stats,
    /// When the server started.
    pub started: Instant,
}

impl AppState {
    /// The snapshot to serve this request from (kept by the request until it ends).
    pub fn index(&self) -> Arc<Index> {
        self.snapshot.get()
    }

    /// The state of a server over `snapshot` (writing through `writer` when given).
    pub fn new(
        snapshot: Arc<reload::Snapshot>,
        writer: Option<IndexWriter>,
        encoder: Option<(String, Encoder)>,
        limits: Limits,
    ) -> Self {
        let (model, encoder) = match encoder {
            Some((name, e)) => (Some(name), Some(Arc::new(e))),
            None => (None, None),
        };
        Self {
            snapshot,
            writer: writer.map(std::sync::Mutex::new),
            encoder,
            model,
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            limits,
            stats: Stats::default(),
            started: Instant::now(),
        }
    }
}

/// The routes, with body limit, timeout and JSON error replies.
pub fn router(state: Arc<AppState>) -> Router {
    let timeout = state.limits.timeout + Duration::from_secs(5);
    Router::new()
        .route("/search", post(search::handle))
        .route("/health", get(health))
        .route("/stats", get(stats))
        .route("/reload", post(reload_now))
        .route("/documents", post(documents::add).delete(documents::delete))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_deadline::read_body_within,
        ))
        .layer(
            // A last guard: the search handler enforces its own, shorter timeout.
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    ApiError::new(StatusCode::REQUEST_TIMEOUT, "request timed out")
                }))
                .layer(tower::timeout::TimeoutLayer::new(timeout)),
        )
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            state.limits.max_body_bytes,
        ))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            error::json_errors,
        ))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn stats(State(state): State<Arc<AppState>>) -> Json<Value> {
    let index = state.index();
    let meta = index.meta();
    Json(json!({
        "generation": index.generation(),
        "segments": index.num_segments(),
        "reloads": state.snapshot.reloads.load(Ordering::Relaxed),
        "writable": state.writer.is_some(),
        "documents": index.num_live_documents(),
        "deleted": index.deleted().len(),
        "embeddings": index.num_embeddings(),
        "dim": index.dim(),
        "centroids": meta.num_centroids,
        "codec": meta.codec,
        "has_embeddings": index.has_embeddings(),
        "stores_text": index.has_text(),
        "model": state.model,
        "queries_served": state.stats.queries_served.load(Ordering::Relaxed),
        "requests": state.stats.requests.load(Ordering::Relaxed),
        "errors": state.stats.errors.load(Ordering::Relaxed),
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "max_concurrent": state.limits.max_concurrent,
        "searches_running": state.limits.max_concurrent - state.permits.available_permits().min(state.limits.max_concurrent),
        "connections_evicted": state.stats.connections_evicted.load(Ordering::Relaxed),
        "connections_refused": state.stats.connections_refused.load(Ordering::Relaxed),
    }))
}

/// `POST /reload`: reopens the index when `CURRENT` names a new generation.
async fn reload_now(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot.clone();
    let (generation, reloaded) = tokio::task::spawn_blocking(move || snapshot.reload(false))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    if reloaded {
        eprintln!("reloaded on request: now serving generation {generation}");
    }
    Ok(Json(
        json!({ "generation": generation, "reloaded": reloaded }),
    ))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route (POST /search, GET /health, GET /stats, POST /reload, POST or DELETE /documents)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
