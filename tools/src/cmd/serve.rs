//! `tartan serve`: the index over HTTP.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tartan_encoder::{Device, Precision};
use tartan_engine::IndexWriter;

use crate::args::ConnectionArgs;
use crate::cmd::search::open_index;
use crate::model::{self, parse_device, parse_precision};
use crate::server::connections::{self, ConnLimits};
use crate::server::reload::{self, Snapshot};
use crate::server::{self, AppState, Limits};
use crate::Globals;

/// Serve an index over HTTP (JSON).
///
/// `tartan serve --index DIR [--model MODEL] [--addr 127.0.0.1:8080]`
///
/// POST /search with {"queries": ["text", ...], "k": 10} (encoded by the model the
/// index records, or --model) or {"embeddings": [[[f32; dim]; tokens], ...], "k": 10},
/// optionally "nprobe", "threshold", "ndocs", "exact"; the reply is
/// {"results": [{"query": 0, "results": [{"id": "...", "score": 12.3}, ...]}], "took_ms": 1.2}.
/// "filter": {...} restricts the search to documents whose metadata matches (the
/// language of `tartan search --filter`; a malformed one is 400 naming the offending
/// part); "mode": "lexical" ranks by BM25 over the stored text (texts only, no model
/// needed), "hybrid" fuses late interaction and BM25 by reciprocal rank fusion
/// ("rrf_k", default 60); "semantic" (late interaction) is the default.
/// GET /health answers {"status": "ok"}; GET /stats the index counts, queries
/// served, requests, errors and uptime.
///
/// The index is memory-mapped: resident memory stays well below its size. At most
/// --max-concurrent searches run at once (others wait up to --timeout, then get 503);
/// bodies over --max-body-bytes get 413; malformed JSON 400, a wrong shape 422,
/// wrong dimensions or k out of range 400, always as {"error": "..."}.
/// Connections: a request's header must arrive within --header-timeout, its body
/// within --body-timeout (else 408); a connection with no request in flight and quiet
/// for --idle-timeout is closed; at most --max-connections are open, and at the cap
/// a new one closes the idlest (or, when every one has a request in flight, gets 503).
/// SIGTERM or Ctrl-C stops accepting connections, closes idle ones and lets requests
/// in flight finish for up to --shutdown-timeout; then they are cut and the process
/// exits 0. The first line on stdout is "listening on http://ADDR" (useful with port 0).
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// The index directory.
    #[arg(long, short, value_name = "DIR")]
    pub index: PathBuf,
    /// The model for text queries (default: the one recorded in the index, if any).
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: Option<String>,
    /// Serve embeddings only: do not load a model even if the index records one.
    #[arg(long, conflicts_with = "model")]
    pub no_model: bool,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where the model runs: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: Device,
    /// Precision of the model's linear layers on the CPU: auto (bf16 where the CPU has
    /// AVX-512 BF16, f32 elsewhere), f32 (exact), bf16 or int8.
    #[arg(long, default_value = "auto", value_parser = parse_precision)]
    pub precision: Precision,
    /// Searches running at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<usize>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    pub max_body_bytes: usize,
    /// Seconds a search may wait for a slot and run.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Largest k a request may ask for.
    #[arg(long, default_value_t = 1000)]
    pub max_k: usize,
    /// Most queries in one request.
    #[arg(long, default_value_t = 256)]
    pub max_queries: usize,
    /// Seconds between checks for a new generation of the index (a commit by `tartan
    /// add`, `delete`, `optimize` or a `--force` rebuild); 0 checks only on POST /reload.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub reload_interval: f64,
    /// Accept POST /documents (add or upsert) and DELETE /documents; the server then
    /// holds the index's writer lock while it runs. Off: both answer 403.
    #[arg(long)]
    pub writable: bool,
    #[command(flatten)]
    pub connections: ConnectionArgs,
}

/// Runs `tartan serve` until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs, _globals: Globals) -> Result<()> {
    anyhow::ensure!(
        args.reload_interval.is_finite() && args.reload_interval >= 0.0,
        "--reload-interval must be 0 or a positive number of seconds"
    );
    let writer = if args.writable {
        Some(
            IndexWriter::open(&args.index)
                .with_context(|| format!("cannot open {} for writing", args.index.display()))?,
        )
    } else {
        None
    };
    let index = open_index(&args.index)?;
    let model_name = if args.no_model {
        None
    } else {
        args.model
            .clone()
            .or_else(|| model::recorded_model(&index.meta().encoder))
    };
    let encoder = match model_name {
        Some(name) => {
            let encoder = model::load(&name, args.device, args.precision)?;
            anyhow::ensure!(
                encoder.dim() == index.dim(),
                "model {name} makes {}-dim vectors but the index holds {}-dim ones",
                encoder.dim(),
                index.dim()
            );
            Some((name, encoder))
        }
        None => None,
    };
    anyhow::ensure!(
        args.timeout.is_finite() && args.timeout > 0.0,
        "--timeout must be a positive number of seconds"
    );
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_concurrent: args.max_concurrent.unwrap_or(cores).max(1),
        timeout: Duration::from_secs_f64(args.timeout),
        max_k: args.max_k.max(1),
        max_queries: args.max_queries.max(1),
        max_query_tokens: 4096,
        body_timeout: args.connections.body_timeout,
    };
    let conn_limits = connection_limits(&args.connections);
    let snapshot = Arc::new(Snapshot::new(&args.index, index));
    let state = Arc::new(AppState::new(snapshot.clone(), writer, encoder, limits));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let local = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{local}")?;
            out.flush()?;
        }
        let served = state.index();
        eprintln!(
            "serving {} (generation {}, {} documents{}) on http://{local}",
            args.index.display(),
            served.generation(),
            served.num_live_documents(),
            if state.writer.is_some() {
                ", writable"
            } else {
                ""
            }
        );
        drop(served);
        if args.reload_interval > 0.0 {
            tokio::spawn(reload::watch(
                snapshot,
                Duration::from_secs_f64(args.reload_interval),
            ));
        }
        let app = server::router(state.clone());
        let deadline = conn_limits.shutdown_timeout;
        let report = connections::serve(listener, app, state, conn_limits, shutdown_signal()).await;
        if report.cut == 0 {
            eprintln!("shut down cleanly");
        } else {
            eprintln!(
                "shut down: the {} s deadline passed, {} connection(s) with requests in flight cut",
                deadline.as_secs_f64(),
                report.cut
            );
        }
        anyhow::Ok(())
    })?;
    // Searches still running on the blocking pool are abandoned, not awaited.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// The connection limits the options ask for; warns when the cap exceeds what the
/// open-file limit allows.
fn connection_limits(args: &ConnectionArgs) -> ConnLimits {
    let max_connections = args
        .max_connections
        .map_or_else(connections::default_max_connections, |n| n as usize);
    if let Some(fds) = connections::descriptor_limit() {
        if max_connections + 64 > fds {
            eprintln!(
                "warning: --max-connections {max_connections} is close to or over the open-file \
                 limit ({fds}); when descriptors run out, idle connections are closed to make room"
            );
        }
    }
    ConnLimits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_connections,
        shutdown_timeout: args.shutdown_timeout,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("shutting down: finishing requests in flight");
}
