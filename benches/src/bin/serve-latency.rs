//! One query at a time through `tartan serve`, as an application sends them: the latency of a
//! request carrying the query's text (tokenise, encode, search) against the same query sent
//! as its token embeddings (search alone), for each thread count and encoder precision.
//!
//! ```sh
//! cargo build --release -p tartan-tools -p tartan-benches
//! target/release/serve-latency --index IDX --model ../shared/models/minilm-colbert-pylate \
//!     --queries ../shared/datasets/scifact/queries.jsonl --threads 1,2 --precision f32,bf16
//! ```
//!
//! For every setting a fresh server is started (`tartan --threads T serve --precision P`, on
//! a free loopback port) and each query is sent as text and as embeddings, the order of the
//! two turning every query, `--rounds` times over the queries. The embeddings come from this
//! program's own f32 encoder, so the search work is the same in both requests. Reported per
//! setting: p50 / p95 of the round trip and of the server's `took_ms` for both kinds, and the
//! encoding's share (text minus embeddings at the median). Prints one JSON object.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use tartan_encoder::{Encoder, LoadOptions, Precision};

#[derive(Parser)]
#[command(
    about = "Latency of one query through `tartan serve`: text (encode + search) vs embeddings"
)]
struct Args {
    /// The index to serve.
    #[arg(long)]
    index: PathBuf,
    /// The model the server encodes with.
    #[arg(long)]
    model: String,
    /// Queries, one JSON object a line with a "text" field (a BEIR queries.jsonl).
    #[arg(long)]
    queries: PathBuf,
    /// Use the first N queries.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Server thread counts (`tartan --threads`), comma-separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Server encoder precisions (`serve --precision`), comma-separated.
    #[arg(long, default_value = "f32,bf16", value_delimiter = ',')]
    precision: Vec<String>,
    /// Passes over the queries per setting.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// The `tartan` binary (default: the one next to this program).
    #[arg(long)]
    tartan: Option<PathBuf>,
}

/// A server child process, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(args: &Args, tartan: &PathBuf, threads: usize, precision: &str) -> Result<Self> {
        let mut child = Command::new(tartan)
            .arg("--threads")
            .arg(threads.to_string())
            .arg("serve")
            .arg("--index")
            .arg(&args.index)
            .arg("--model")
            .arg(&args.model)
            .arg("--precision")
            .arg(precision)
            .arg("--addr")
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", tartan.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            bail!("the server did not start: {line:?}");
        };
        Ok(Self {
            url: format!("{addr}/search"),
            child,
        })
    }

    /// One request: (round trip ms, the server's took_ms).
    fn search(&self, body: &Value) -> Result<(f64, f64)> {
        let text = body.to_string();
        let t = Instant::now();
        let reply = ureq::post(&self.url)
            .set("Content-Type", "application/json")
            .send_string(&text)
            .context("POST /search")?
            .into_string()?;
        let wall = t.elapsed().as_secs_f64() * 1e3;
        let reply: Value = serde_json::from_str(&reply)?;
        let took = reply["took_ms"]
            .as_f64()
            .context("no took_ms in the reply")?;
        Ok((wall, took))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn summary(values: &mut [f64]) -> Value {
    json!({ "p50_ms": percentile(values, 50.0), "p95_ms": percentile(values, 95.0) })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tartan = match &args.tartan {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory for this program")?
            .join("tartan"),
    };
    let texts: Vec<String> = std::fs::read_to_string(&args.queries)
        .with_context(|| format!("reading {}", args.queries.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(args.limit)
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            v["text"]
                .as_str()
                .map(str::to_string)
                .context("a query line without \"text\"")
        })
        .collect::<Result<_>>()?;
    if texts.is_empty() {
        bail!("no queries in {}", args.queries.display());
    }
    let encoder = Encoder::load_with(
        &args.model,
        &LoadOptions {
            precision: Precision::F32,
            ..LoadOptions::default()
        },
    )?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dim = encoder.dim();
    let embedded: Vec<Value> = encoder
        .encode_queries(&refs)?
        .iter()
        .map(|e| json!(e.data.chunks(dim).collect::<Vec<_>>()))
        .collect();
    drop(encoder);

    let mut settings = Vec::new();
    for &threads in &args.threads {
        for precision in &args.precision {
            let server = Server::start(&args, &tartan, threads, precision)?;
            let bodies: Vec<(Value, Value)> = texts
                .iter()
                .zip(&embedded)
                .map(|(t, e)| {
                    (
                        json!({ "queries": [t], "k": args.k }),
                        json!({ "embeddings": [e], "k": args.k }),
                    )
                })
                .collect();
            for (text, emb) in bodies.iter().take(5) {
                server.search(text)?;
                server.search(emb)?;
            }
            let (mut text_wall, mut text_took, mut emb_wall, mut emb_took) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for round in 0..args.rounds {
                for (i, (text, emb)) in bodies.iter().enumerate() {
                    let text_first = (i + round) % 2 == 0;
                    let mut run = |body: &Value, is_text: bool| -> Result<()> {
                        let (wall, took) = server.search(body)?;
                        if is_text {
                            text_wall.push(wall);
                            text_took.push(took);
                        } else {
                            emb_wall.push(wall);
                            emb_took.push(took);
                        }
                        Ok(())
                    };
                    if text_first {
                        run(text, true)?;
                        run(emb, false)?;
                    } else {
                        run(emb, false)?;
                        run(text, true)?;
                    }
                }
            }
            let text_p50 = percentile(&mut text_took, 50.0);
            let search_p50 = percentile(&mut emb_took, 50.0);
            let report = json!({
                "threads": threads,
                "precision": precision,
                "text": { "round_trip": summary(&mut text_wall), "server": summary(&mut text_took) },
                "embeddings": { "round_trip": summary(&mut emb_wall), "server": summary(&mut emb_took) },
                "encode_p50_ms": text_p50 - search_p50,
                "encode_over_search": (text_p50 - search_p50) / search_p50,
            });
            eprintln!("{report}");
            settings.push(report);
        }
    }
    println!(
        "{}",
        json!({
            "index": args.index,
            "model": args.model,
            "queries": texts.len(),
            "k": args.k,
            "rounds": args.rounds,
            "settings": settings,
        })
    );
    Ok(())
}
