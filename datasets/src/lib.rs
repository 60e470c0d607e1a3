//! tartan-datasets: the evaluation side of tartan.
//!
//! - Readers of real test collections in their upstream layouts, streamed a line
//!   at a time and gzip-transparent: BEIR ([`BeirDataset`]), MS MARCO passage
//!   ([`MsMarcoPassage`]), and the Glasgow collections Cranfield, MEDLINE and ADI
//!   ([`glasgow`]). Malformed input is an error naming the file and line; duplicate
//!   ids are errors; nothing is skipped without being counted.
//! - Relevance judgments ([`Qrels`]) and TREC run files ([`Run`]).
//! - IR measures with exactly trec_eval's definitions as pytrec_eval computes them
//!   ([`evaluate`], [`Measure`]; see [`metrics`] for the definitions, tie-breaking
//!   and which queries count), checked against numbers pytrec_eval printed on real
//!   data (`fixtures/`).
//! - [`download_beir`]: a BEIR dataset by name, downloaded once into a cache,
//!   verified and unzipped atomically.
//!
//! Document text for encoding ([`CorpusDoc::text_for_encoding`]) is
//! `f"{title} {text}".strip()`, the convention of BEIR's dense models and of
//! PyLate's BEIR loader; colbert-ai's `title | text` is [`TitleJoin::Pipe`].
//!
//! ```
//! use tartan_datasets::{evaluate, Measure, Qrels, Run};
//! # fn main() -> tartan_datasets::Result<()> {
//! // Judgments and a ranking (BeirDataset::open(dir)?.qrels("test")? and
//! // Run::read_trec(path)? read them from files).
//! let mut qrels = Qrels::new();
//! qrels.insert("q1", "d1", 1)?;
//! qrels.insert("q1", "d3", 2)?;
//! let mut run = Run::new();
//! for (doc, score) in [("d1", 3.0), ("d2", 2.0), ("d3", 1.0)] {
//!     run.insert("q1", doc, score)?;
//! }
//! let e = evaluate(&qrels, &run, &[Measure::Ndcg(10), Measure::Recall(100), Measure::Mrr(10)]);
//! assert_eq!(e.mean(Measure::Recall(100)), Some(1.0));
//! assert_eq!(e.mean(Measure::Mrr(10)), Some(1.0));
//! for (m, v) in e.means() {
//!     println!("{m}: {v:.4}");
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod beir;
mod download;
mod error;
pub mod glasgow;
mod ids;
mod lines;
pub mod metrics;
mod msmarco;
mod qrels;
mod run;

pub use beir::{read_queries_jsonl, BeirDataset, CorpusDoc, CorpusReader, Query, TitleJoin};
pub use download::{
    beir_md5, download_beir, download_beir_from, verify_layout, BEIR_BASE_URL, BEIR_URL_ENV,
};
pub use error::{DatasetsError, Result};
pub use metrics::{beir_mrr, evaluate, evaluate_with, EvalOptions, Evaluation, Measure};
pub use msmarco::{read_queries_tsv, MsMarcoPassage, TsvCorpusReader};
pub use qrels::{Judgments, Qrels};
pub use run::{trec_eval_cmp, Run};
