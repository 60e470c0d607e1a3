//! `POST /search`: validation, a search slot, the search on the blocking pool.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tartan_engine::{Scoring, SearchParams};

use super::{ApiError, AppState};
use crate::results::QueryResults;
use crate::retrieval::{Mode, Retrieval};
use tartan_engine::metadata::Filter;

/// The body of `POST /search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Query texts (needs a model).
    #[serde(default)]
    pub queries: Option<Vec<String>>,
    /// Query token embeddings: one `[tokens][dim]` array per query.
    #[serde(default)]
    pub embeddings: Option<Vec<Vec<Vec<f32>>>>,
    /// Results per query (default 10).
    #[serde(default)]
    pub k: Option<usize>,
    /// Centroids probed per query token.
    #[serde(default)]
    pub nprobe: Option<usize>,
    /// Centroid score threshold.
    #[serde(default, alias = "centroid_score_threshold")]
    pub threshold: Option<f32>,
    /// Candidates kept after centroid interaction.
    #[serde(default)]
    pub ndocs: Option<usize>,
    /// Brute-force MaxSim (needs kept embeddings).
    #[serde(default)]
    pub exact: bool,
    /// A metadata filter (the language of `tartan search --filter`).
    #[serde(default)]
    pub filter: Option<serde_json::Value>,
    /// `"semantic"` (late interaction, the default), `"lexical"` (BM25 over the stored
    /// text) or `"hybrid"` (both, fused by reciprocal rank fusion).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The rank-fusion constant of hybrid search (default 60).
    #[serde(default)]
    pub rrf_k: Option<f32>,
}

/// The reply of `POST /search`.
#[derive(Debug, Serialize)]
pub struct SearchResponse {
    /// One entry per query, in request order.
    pub results: Vec<QueryResults>,
    /// Time spent searching (and encoding), ms.
    pub took_ms: f64,
}

/// What a request asks for once checked.
enum Work {
    Texts(Vec<String>),
    Vectors(Vec<Vec<f32>>),
}

/// How a checked request is answered.
struct Plan {
    params: SearchParams,
    exact: bool,
    mode: Mode,
    filter: Option<Filter>,
    rrf_k: f32,
}

fn validate(state: &AppState, req: SearchRequest) -> Result<(Work, Plan), ApiError> {
    let limits = &state.limits;
    let k = req.k.unwrap_or(10);
    if k == 0 || k > limits.max_k {
        return Err(ApiError::bad_request(format!(
            "k must be between 1 and {}, got {k}",
            limits.max_k
        )));
    }
    let mut params = SearchParams::for_k(k);
    if let Some(n) = req.nprobe {
        params.nprobe = n;
    }
    if let Some(t) = req.threshold {
        params.centroid_score_threshold = t;
    }
    if let Some(n) = req.ndocs {
        params.ndocs = n;
    }
    // The engine's check, as `tartan search` applies it; then the server's bounds.
    params
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if params.nprobe > 1024 {
        return Err(ApiError::bad_request("nprobe must be at most 1024"));
    }
    if !params.centroid_score_threshold.is_finite() {
        return Err(ApiError::bad_request("threshold must be a finite number"));
    }
    if params.ndocs > 1_000_000 {
        return Err(ApiError::bad_request("ndocs must be at most 1000000"));
    }
    if req.exact && !state.index().has_embeddings() {
        return Err(ApiError::bad_request(
            "exact search needs an index built with --keep-embeddings",
        ));
    }
    let mode = req.mode.unwrap_or_default();
    let filter = req
        .filter
        .as_ref()
        .map(Filter::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let rrf_k = match req.rrf_k {
        None => crate::retrieval::RRF_K,
        Some(k) if k.is_finite() && k >= 0.0 => k,
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "rrf_k must be a finite number, at least 0, got {k}"
            )))
        }
    };
    if mode == Mode::Lexical && req.exact {
        return Err(ApiError::bad_request(
            "\"exact\" is a late-interaction option; lexical search has none",
        ));
    }
    crate::retrieval::check_mode(&state.index(), mode)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if mode != Mode::Semantic && req.queries.is_none() {
        return Err(ApiError::bad_request(
            "lexical and hybrid search need \"queries\" (texts)",
        ));
    }
    let count_ok = |n: usize| -> Result<(), ApiError> {
        if n == 0 {
            Err(ApiError::bad_request("no queries given"))
        } else if n > limits.max_queries {
            Err(ApiError::bad_request(format!(
                "at most {} queries a request, got {n}",
                limits.max_queries
            )))
        } else {
            Ok(())
        }
    };
    let work = match (req.queries, req.embeddings) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either \"queries\" or \"embeddings\", not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "give \"queries\" (texts) or \"embeddings\" ([query][token][dim] numbers)",
            ))
        }
        (Some(texts), None) => {
            count_ok(texts.len())?;
            if state.encoder.is_none() && mode != Mode::Lexical {
                return Err(ApiError::bad_request(
                    "this server has no model for text queries: send \"embeddings\", or restart it with --model",
                ));
            }
            Work::Texts(texts)
        }
        (None, Some(queries)) => {
            count_ok(queries.len())?;
            let dim = state.index().dim();
            let mut flat = Vec::with_capacity(queries.len());
            for (i, tokens) in queries.into_iter().enumerate() {
                if tokens.is_empty() || tokens.len() > limits.max_query_tokens {
                    return Err(ApiError::bad_request(format!(
                        "query {i}: between 1 and {} token vectors needed, got {}",
                        limits.max_query_tokens,
                        tokens.len()
                    )));
                }
                let mut q = Vec::with_capacity(tokens.len() * dim);
                for (t, v) in tokens.iter().enumerate() {
                    if v.len() != dim {
                        return Err(ApiError::bad_request(format!(
                            "query {i}, token {t}: expected {dim} dimensions, got {}",
                            v.len()
                        )));
                    }
                    if v.iter().any(|x| !x.is_finite()) {
                        return Err(ApiError::bad_request(format!(
                            "query {i}, token {t}: numbers must be finite"
                        )));
                    }
                    q.extend_from_slice(v);
                }
                flat.push(q);
            }
            Work::Vectors(flat)
        }
    };
    let plan = Plan {
        params,
        exact: req.exact,
        mode,
        filter,
        rrf_k,
    };
    Ok((work, plan))
}

/// Runs one validated request (on the blocking pool).
fn execute(state: &AppState, work: Work, plan: &Plan) -> Result<Vec<QueryResults>, ApiError> {
    let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e);
    let (params, exact) = (&plan.params, plan.exact);
    let (vectors, texts) = match work {
        Work::Vectors(v) => (v, None),
        Work::Texts(texts) if plan.mode == Mode::Lexical => (Vec::new(), Some(texts)),
        Work::Texts(texts) => {
            let encoder = state
                .encoder
                .as_ref()
                .ok_or_else(|| ApiError::bad_request("no model"))?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let encoded = encoder
                .encode_queries(&refs)
                .map_err(|e| internal(format!("encoding failed: {:#}", anyhow::Error::new(e))))?;
            (encoded.into_iter().map(|e| e.data).collect(), Some(texts))
        }
    };
    let index = state.index();
    let index = &*index;
    let allowed = crate::retrieval::allowed(index, plan.filter.as_ref())
        .map_err(|e| internal(format!("{e:#}")))?;
    let hits = if plan.mode != Mode::Semantic || allowed.is_some() {
        let retrieval = Retrieval {
            mode: plan.mode,
            params,
            scoring: if exact {
                Scoring::Exact
            } else {
                Scoring::Plaid
            },
            allowed: allowed.as_ref(),
            rrf_k: plan.rrf_k,
        };
        let n = texts.as_ref().map_or(vectors.len(), Vec::len);
        (0..n)
            .map(|i| {
                retrieval.run(
                    index,
                    vectors.get(i).map(Vec::as_slice),
                    texts.as_ref().map(|t| t[i].as_str()),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(|e| internal(format!("{e:#}")))?
    } else {
        if exact {
            vectors
                .iter()
                .map(|q| index.search_exact(q, params.k))
                .collect::<Result<Vec<_>, _>>()
        } else if vectors.len() == 1 {
            index.search(&vectors[0], params).map(|h| vec![h])
        } else {
            index.search_batch(&vectors, params)
        }
        .map_err(|e| internal(format!("search failed: {:#}", anyhow::Error::new(e))))?
    };
    let mut out = Vec::with_capacity(hits.len());
    for (i, hits) in hits.iter().enumerate() {
        let results = crate::cmd::search::to_hits(index, hits, true)
            .map_err(|e| internal(format!("{e:#}")))?;
        out.push(QueryResults {
            query: i,
            query_id: None,
            text: texts.as_ref().map(|t| t[i].clone()),
            results,
        });
    }
    Ok(out)
}

/// `POST /search`.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    body: Result<Json<SearchRequest>, JsonRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let Json(req) = body?;
    let (work, plan) = validate(&state, req)?;
    let started = Instant::now();
    let timeout = state.limits.timeout;
    let permit = tokio::time::timeout(timeout, state.permits.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server busy, try again"))?
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server shutting down"))?;
    let remaining = timeout.saturating_sub(started.elapsed());
    let task_state = state.clone();
    let task = tokio::task::spawn_blocking(move || {
        // The slot is held until the search really ends, even after a timeout reply.
        let _permit = permit;
        execute(&task_state, work, &plan)
    });
    let results = tokio::time::timeout(remaining, task)
        .await
        .map_err(|_| ApiError::new(StatusCode::GATEWAY_TIMEOUT, "search timed out"))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("search task failed: {e}"),
            )
        })??;
    state
        .stats
        .queries_served
        .fetch_add(results.len() as u64, Ordering::Relaxed);
    Ok(Json(SearchResponse {
        results,
        took_ms: started.elapsed().as_secs_f64() * 1e3,
    }))
}
