//! `POST /documents` (add or upsert, as embeddings or texts) and `DELETE /documents`
//! (by id), on a server started with `--writable`; a read-only server answers 403.
//! Each request is one commit; the served snapshot is swapped to it before the reply.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tartan_engine::{EngineError, NoProgress};

use super::{ApiError, AppState};

/// The body of `POST /documents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    /// One id a document.
    pub ids: Vec<String>,
    /// Token embeddings, one `[tokens][dim]` array a document.
    #[serde(default)]
    pub embeddings: Option<Vec<Vec<Vec<f32>>>>,
    /// Texts, encoded with the server's model.
    #[serde(default)]
    pub texts: Option<Vec<String>>,
    /// Flat JSON metadata, one object (or null) a document.
    #[serde(default)]
    pub metadata: Option<Vec<Option<serde_json::Map<String, Value>>>>,
    /// Store the texts in the index (the default when it stores text already).
    #[serde(default)]
    pub store_text: bool,
    /// Replace documents whose id exists (else such an id is a 409).
    #[serde(default)]
    pub upsert: bool,
}

/// The body of `DELETE /documents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    /// Ids to delete; unknown ones are counted.
    pub ids: Vec<String>,
}

fn writable(state: &AppState) -> Result<(), ApiError> {
    if state.writer.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this server is read-only: start it with --writable to add or delete documents",
        ));
    }
    Ok(())
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::DuplicateId { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        EngineError::DimensionMismatch { .. }
        | EngineError::NonFinite { .. }
        | EngineError::InvalidConfig { .. }
        | EngineError::InvalidInput { .. }
        | EngineError::Metadata(tartan_engine::metadata::MetadataError::InvalidMetadata {
            ..
        }) => ApiError::bad_request(e.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// `POST /documents`.
pub async fn add(
    State(state): State<Arc<AppState>>,
    body: Result<Json<AddRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    writable(&state)?;
    let Json(req) = body?;
    let dim = state.snapshot.get().dim();
    if req.ids.is_empty() {
        return Err(ApiError::bad_request("no documents given"));
    }
    if let Some(m) = &req.metadata {
        if m.len() != req.ids.len() {
            return Err(ApiError::bad_request(format!(
                "{} ids for {} metadata entries",
                req.ids.len(),
                m.len()
            )));
        }
    }
    let store_text = req.store_text || state.snapshot.get().has_text();
    let work = state.clone();
    tokio::task::spawn_blocking(move || -> Result<Json<Value>, ApiError> {
        let (mut flat, mut lens) = (Vec::new(), Vec::with_capacity(req.ids.len()));
        let mut metadata = req.metadata.unwrap_or_default();
        let mut stored_texts = Vec::new();
        match (req.embeddings, req.texts) {
            (Some(docs), None) => {
                if docs.len() != req.ids.len() {
                    return Err(ApiError::bad_request(format!(
                        "{} ids for {} documents",
                        req.ids.len(),
                        docs.len()
                    )));
                }
                for (d, doc) in docs.iter().enumerate() {
                    for (t, row) in doc.iter().enumerate() {
                        if row.len() != dim {
                            return Err(ApiError::bad_request(format!(
                                "document {d}, token {t}: {} numbers where the index holds {dim}",
                                row.len()
                            )));
                        }
                        flat.extend_from_slice(row);
                    }
                    lens.push(doc.len());
                }
            }
            (None, Some(texts)) => {
                let encoder = work.encoder.as_ref().ok_or_else(|| {
                    ApiError::bad_request("this server has no model: send \"embeddings\"")
                })?;
                if texts.len() != req.ids.len() {
                    return Err(ApiError::bad_request(format!(
                        "{} ids for {} texts",
                        req.ids.len(),
                        texts.len()
                    )));
                }
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let encoded = encoder
                    .encode_documents(&refs, 32)
                    .map_err(|e| ApiError::bad_request(format!("encoding failed: {e}")))?;
                for e in encoded {
                    lens.push(e.data.len() / dim);
                    flat.extend_from_slice(&e.data);
                }
                if store_text {
                    stored_texts = texts;
                }
            }
            _ => {
                return Err(ApiError::bad_request(
                    "give either \"embeddings\" or \"texts\" (one a document)",
                ))
            }
        }
        let writer = work.writer.as_ref().expect("checked writable");
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        let fields: Vec<tartan_engine::StoredFields> =
            if metadata.is_empty() && stored_texts.is_empty() {
                Vec::new()
            } else {
                metadata.resize(req.ids.len(), None);
                let mut texts = stored_texts.into_iter().map(Some).collect::<Vec<_>>();
                texts.resize(req.ids.len(), None);
                metadata
                    .into_iter()
                    .zip(texts)
                    .map(|(metadata, text)| tartan_engine::StoredFields { metadata, text })
                    .collect()
            };
        let report = writer
            .add_with(&req.ids, &flat, &lens, &fields, req.upsert, &NoProgress)
            .map_err(engine_error)?;
        let (generation, _) = work
            .snapshot
            .reload(true)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        Ok(Json(json!({
            "added": report.added,
            "replaced": report.deleted,
            "generation": generation,
        })))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// `DELETE /documents`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    body: Result<Json<DeleteRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    writable(&state)?;
    let Json(req) = body?;
    let work = state.clone();
    tokio::task::spawn_blocking(move || -> Result<Json<Value>, ApiError> {
        let writer = work.writer.as_ref().expect("checked writable");
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        let report = writer.delete(&req.ids).map_err(engine_error)?;
        let (generation, _) = work
            .snapshot
            .reload(true)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        Ok(Json(json!({
            "deleted": report.deleted,
            "unknown": report.unknown.len(),
            "generation": generation,
        })))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}
