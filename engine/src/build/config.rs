//! Build settings, the progress callback and the build report.

use tartan_quantize::{CodecKind, Compute, DEFAULT_PARALLEL_WEIGHT};

/// Embeddings k-means trains on a centroid by default (a seeded sample of the corpus).
///
/// Measured on SciFact's 815,632 token embeddings (8,192 centroids, 300 queries, the
/// same seed): training on 16 a centroid (131,072) instead of every embedding left the
/// codec's ceiling recall@10 / @100 of the exact top-k at 0.883 / 0.893 (0.882 / 0.896)
/// and PLAID's at 0.865 / 0.811 (0.861 / 0.809), all within 0.005, and cut k-means
/// 3.3x; 8 a centroid lost 0.012 of the ceiling's recall@10. faiss (and so colbert-ai)
/// caps at 256 a centroid, which on SciFact is every embedding.
pub const KMEANS_POINTS_PER_CENTROID: usize = 16;

/// How to build an index.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig {
    /// Residual codec and bits a dimension (default: product codes, 2 bits).
    pub codec: CodecKind,
    /// Number of centroids; `None`: `2^floor(log2(16 sqrt(num_embeddings)))`, capped by
    /// the number of k-means training points.
    pub num_centroids: Option<usize>,
    /// k-means iterations (colbert-ai: 4).
    pub kmeans_iterations: usize,
    /// Seed of every random choice (sampling, k-means, codec training).
    pub seed: u64,
    /// Embeddings assigned and compressed a chunk (bounds the build's working memory).
    pub chunk_size: usize,
    /// Also store the uncompressed embeddings (`embeddings.npy`) for exact search.
    pub keep_embeddings: bool,
    /// Free-form encoder settings recorded in meta.json.
    pub encoder: serde_json::Value,
    /// Replace an existing index at the target instead of failing.
    pub overwrite: bool,
    /// Most embeddings k-means trains on; `None`: [`KMEANS_POINTS_PER_CENTROID`] a
    /// centroid.
    pub max_kmeans_points: Option<usize>,
    /// Held-out embeddings (not used by k-means) whose residuals train the codec.
    pub codec_training_points: usize,
    /// Train nothing: quantise with the centroids and codec in this directory (made by
    /// [`super::train_codec`]), so that indexes built from one codec (the shards of a
    /// corpus) score alike. `codec`, `num_centroids` and the training settings above
    /// are then the codec's, not these.
    pub codec_dir: Option<std::path::PathBuf>,
    /// Where k-means' assignments, the codec's training assignments and the compression
    /// (assignment and residual coding) run: this machine's cores (the default) or a
    /// GPU ([`Compute::Candle`], the engine's `candle` / `cuda` features).
    pub compute: Compute,
    /// Weight of the reconstruction error's part along each embedding when choosing its
    /// product code ([`tartan_quantize::ProductCodec::with_parallel_weight`]; 1 = the
    /// nearest entries). Scalar codecs ignore it. Not recorded in the index: documents
    /// added later are coded with [`DEFAULT_PARALLEL_WEIGHT`] (any weight's codes decode
    /// and search alike).
    pub parallel_weight: f32,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            codec: CodecKind::Product { nbits: 2 },
            num_centroids: None,
            kmeans_iterations: 4,
            seed: 42,
            chunk_size: 1 << 16,
            keep_embeddings: false,
            encoder: serde_json::Value::Null,
            overwrite: false,
            max_kmeans_points: None,
            codec_training_points: 1 << 16,
            codec_dir: None,
            compute: Compute::Cpu,
            parallel_weight: DEFAULT_PARALLEL_WEIGHT,
        }
    }
}

/// Receives build progress: a stage starts with `stage`, then `advance`s towards `total`.
pub trait BuildProgress: Sync {
    /// A new stage (`"sample"`, `"kmeans"`, `"codec"`, `"compress"`, `"write"`) of `total` units.
    fn stage(&self, name: &str, total: u64);
    /// `n` more units of the current stage are done.
    fn advance(&self, n: u64);
}

/// A [`BuildProgress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl BuildProgress for NoProgress {
    fn stage(&self, _name: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
}

/// What a finished build produced.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    /// Documents indexed (including empty ones).
    pub num_documents: usize,
    /// Embeddings indexed.
    pub num_embeddings: usize,
    /// Centroids trained.
    pub num_centroids: usize,
    /// Bytes of the index files, `embeddings.npy` excluded.
    pub bytes_total: u64,
    /// `bytes_total / num_embeddings`.
    pub bytes_per_embedding: f64,
    /// Bytes of the optional `embeddings.npy` (0 without `keep_embeddings`).
    pub bytes_embeddings: u64,
    /// Bytes of the segment's `metadata.sqlite` (ids, metadata, stored text and its
    /// full-text index), included in `bytes_total`.
    pub bytes_metadata: u64,
    /// Wall-clock seconds of the build (from `finish`, or the whole `build_from_npy`).
    pub seconds: f64,
    /// The generation the build committed (1 for a new index).
    pub generation: u64,
    /// What the build cleaned up on the way (files of interrupted builds, a replaced
    /// generation), one line each, for the caller to report.
    pub notes: Vec<String>,
    /// Wall-clock seconds of each stage, in order: `"prepare"` (from the start to the
    /// first stage: mapping and checking the input), then the stages reported to
    /// [`BuildProgress::stage`] (`"sample"`, `"kmeans"`, `"codec"`, `"compress"`,
    /// `"write"`).
    pub stages: Vec<StageTime>,
}

/// The wall-clock time of one build stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTime {
    /// The stage's name, as given to [`BuildProgress::stage`].
    pub name: String,
    /// Seconds from its start to the start of the next stage (or the build's end).
    pub seconds: f64,
}
