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
//! ```no_run
//! use tartan_datasets::{evaluate, BeirDataset, Measure, Run};
//! # fn main() -> tartan_datasets::Result<()> {
//! let ds = BeirDataset::open("../shared/datasets/scifact")?;
//! for doc in ds.corpus() {
//!     let doc = doc?;
//!     let _text = doc.text_for_encoding();
//! }
//! let qrels = ds.qrels("test")?;
//! let run = Run::read_trec("run.trec".as_ref())?;
//! let e = evaluate(&qrels, &run, &[Measure::Ndcg(10), Measure::Recall(100), Measure::Mrr(10)]);
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
