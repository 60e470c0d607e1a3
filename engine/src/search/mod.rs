//! Searching an [`crate::Index`]: PLAID ([`crate::Index::search`], [`Searcher`]) and
//! exhaustive MaxSim ([`crate::Index::search_exact`], [`crate::Index::search_exhaustive`]).

mod block_score;
mod exact;
mod fixed_tables;
pub(crate) mod kernels;
mod params;
mod plaid;
mod recall;
mod searcher;
mod topk;

pub use block_score::{force_final_stage, FinalStage};
pub use exact::{dot, maxsim, query_centroid_scores};
pub use params::{Scoring, SearchHit, SearchParams};
pub use recall::recall;
pub use searcher::{Searcher, DIRECT_SCORING_MAX_EMBEDDINGS, WIDEN_FACTOR};
pub(crate) use topk::top_hits;
