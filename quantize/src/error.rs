//! The error type of the crate: every invalid input is one of these, never a panic.

/// Everything that can go wrong while training or using centroids and codecs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantizeError {
    /// A buffer's length does not fit the dimension (or another buffer).
    /// Fix: pass `n x dim` row-major buffers with the dimension they were made with.
    #[error("dimension mismatch in {what}: expected {expected}, found {found}")]
    DimensionMismatch {
        /// Which buffer or parameter.
        what: &'static str,
        /// The length or dimension that was expected (or a number it must divide).
        expected: usize,
        /// The length or dimension that was found.
        found: usize,
    },
    /// The dimension cannot be cut into whole bytes at this many bits a dimension
    /// (scalar codes) or into whole sub-vectors (product codes).
    /// Fix: use a dimension that is a multiple of `multiple`, or another `nbits`.
    #[error("dimension {dim} cannot be coded at {nbits} bits a dimension: it must be a multiple of {multiple}")]
    UnpackableDim {
        /// The embedding dimension.
        dim: usize,
        /// The requested bits a dimension.
        nbits: u8,
        /// What the dimension must be a multiple of.
        multiple: usize,
    },
    /// Only 1, 2 and 4 bits a dimension are supported.
    #[error("unsupported nbits {nbits}: expected 1, 2 or 4")]
    UnsupportedNbits {
        /// The requested bits a dimension.
        nbits: u8,
    },
    /// The dimension is zero.
    #[error("the embedding dimension must be at least 1")]
    ZeroDim,
    /// No embeddings (or no centroids) were given where some are needed.
    #[error("empty input: at least one embedding is needed")]
    EmptyInput,
    /// A NaN or infinite value was found.
    /// Fix: clean the embeddings (an encoder overflow usually shows up here).
    #[error("non-finite value {value} in {what} at row {row}, column {column}")]
    NonFinite {
        /// Which buffer.
        what: &'static str,
        /// The row (embedding) that holds it.
        row: usize,
        /// The column (dimension) that holds it.
        column: usize,
        /// The offending value.
        value: f32,
    },
    /// More centroids were requested than there are points to train them on.
    /// Fix: ask for fewer centroids, or leave `num_centroids` as `None`.
    #[error("{requested} centroids requested but only {points} points to train them on")]
    TooManyCentroids {
        /// The requested number of centroids.
        requested: usize,
        /// The number of training points.
        points: usize,
    },
    /// A centroid id is not below the number of centroids.
    #[error("centroid id {id} out of range: there are {num_centroids} centroids")]
    CentroidOutOfRange {
        /// The offending id.
        id: u32,
        /// The number of centroids.
        num_centroids: usize,
    },
    /// The compute device failed (it could not be opened, ran out of memory, or lacks
    /// an operation). Fix: build on `cpu`, or check the device named.
    #[error("compute device: {reason}")]
    Device {
        /// What the device reported.
        reason: String,
    },
    /// Persisted codec parameters are inconsistent (for instance unsorted bucket cutoffs).
    #[error("invalid codec parameters: {reason}")]
    InvalidParameters {
        /// What is wrong.
        reason: String,
    },
}

impl QuantizeError {
    /// A [`QuantizeError::Device`] error from what the device reported.
    pub fn device(reason: impl std::fmt::Display) -> Self {
        QuantizeError::Device {
            reason: reason.to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, QuantizeError>;
