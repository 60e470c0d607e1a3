//! Centroids: spherical k-means on a seeded sample of the embeddings (ColBERTv2), and
//! nearest-centroid assignment of any number of embeddings.

use crate::check;
use crate::compute::Compute;
use crate::error::{QuantizeError, Result};
use crate::lloyd::{self, Geometry};
use crate::nearest::Targets;

/// faiss's (and so colbert-ai's) cap on training points: 256 a centroid.
pub const DEFAULT_POINTS_PER_CENTROID: usize = 256;

/// `2^floor(log2(16 * sqrt(num_embeddings)))`, at least 1: colbert-ai's centroid count.
pub fn default_num_centroids(num_embeddings: usize) -> usize {
    let target = 16.0 * (num_embeddings as f64).sqrt();
    if target < 2.0 {
        return 1;
    }
    1usize << target.log2().floor() as u32
}

/// Settings of [`Centroids::train`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KMeansConfig {
    /// The number of centroids; `None`: [`default_num_centroids`] of the number of
    /// embeddings, lowered to the number of embeddings when it would exceed it.
    pub num_centroids: Option<usize>,
    /// Lloyd iterations (colbert-ai: 4).
    pub iterations: usize,
    /// Seed of the training sample and of the initial centroids.
    pub seed: u64,
    /// The most embeddings k-means trains on (a seeded sample when there are more);
    /// `None`: [`DEFAULT_POINTS_PER_CENTROID`] per centroid, as faiss does.
    pub max_points: Option<usize>,
}

impl Default for KMeansConfig {
    fn default() -> Self {
        Self {
            num_centroids: None,
            iterations: 4,
            seed: 12345,
            max_points: None,
        }
    }
}

/// `k x dim` centroids, row-major; rows from [`Centroids::train`] are L2-normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct Centroids {
    data: Vec<f32>,
    dim: usize,
}

impl Centroids {
    /// Trains centroids on `embeddings` (`n x dim`, row-major) by spherical k-means.
    ///
    /// Errors: [`QuantizeError::ZeroDim`], [`QuantizeError::EmptyInput`],
    /// [`QuantizeError::DimensionMismatch`] (length not a multiple of `dim`),
    /// [`QuantizeError::NonFinite`], [`QuantizeError::TooManyCentroids`] (an explicit
    /// `num_centroids` above the number of embeddings, or zero).
    pub fn train(embeddings: &[f32], dim: usize, config: &KMeansConfig) -> Result<Self> {
        Self::train_on(&Compute::Cpu, embeddings, dim, config)
    }

    /// [`Centroids::train`] with the assignments of every iteration made on `compute`
    /// (the means are taken here). Errors: as [`Centroids::train`], and
    /// [`QuantizeError::Device`].
    pub fn train_on(
        compute: &Compute,
        embeddings: &[f32],
        dim: usize,
        config: &KMeansConfig,
    ) -> Result<Self> {
        let n = check::rows(embeddings, dim, "embeddings")?;
        let k = match config.num_centroids {
            Some(k) if k == 0 || k > n => {
                return Err(QuantizeError::TooManyCentroids {
                    requested: k,
                    points: n,
                })
            }
            Some(k) => k,
            None => default_num_centroids(n).min(n),
        };
        let cap = config
            .max_points
            .unwrap_or(k.saturating_mul(DEFAULT_POINTS_PER_CENTROID))
            .max(k);
        let sample = lloyd::sample_rows(embeddings, dim, cap, config.seed);
        let mut data = lloyd::kmeans(
            &sample,
            dim,
            k,
            (config.iterations, config.seed.wrapping_add(1)),
            Geometry::Spherical,
            compute,
        )?;
        lloyd::normalise_rows(&mut data, dim);
        Ok(Self { data, dim })
    }

    /// Wraps persisted centroids (`k x dim`, row-major) as they are (no normalisation).
    pub fn from_vec(data: Vec<f32>, dim: usize) -> Result<Self> {
        check::rows(&data, dim, "centroids")?;
        if data.len() / dim > u32::MAX as usize {
            return Err(QuantizeError::InvalidParameters {
                reason: format!("{} centroids do not fit u32 ids", data.len() / dim),
            });
        }
        Ok(Self { data, dim })
    }

    /// Runs `iterations` more spherical k-means iterations on `embeddings` (all of them,
    /// no sample), starting from these centroids; rows end L2-normalised.
    ///
    /// Errors: as [`Centroids::assign`].
    pub fn refine(&mut self, embeddings: &[f32], iterations: usize) -> Result<()> {
        check::rows(embeddings, self.dim, "embeddings")?;
        lloyd::iterate(
            embeddings,
            self.dim,
            &mut self.data,
            iterations,
            Geometry::Spherical,
            &Compute::Cpu,
        )?;
        lloyd::normalise_rows(&mut self.data, self.dim);
        Ok(())
    }

    /// All centroids, `k x dim` row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The number of centroids `k`.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Always false: there is at least one centroid.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Centroid `i`. Panics when `i >= len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        lloyd::row(&self.data, self.dim, i)
    }

    /// The nearest centroid (maximum inner product, lowest id on ties) of each embedding
    /// (`n x dim`), streamed in blocks in parallel. An empty input gives an empty result.
    pub fn assign(&self, embeddings: &[f32]) -> Result<Vec<u32>> {
        let (ids, _) = self.assign_with_scores(embeddings)?;
        Ok(ids)
    }

    /// Like [`Centroids::assign`], also returning each embedding's best inner product.
    pub fn assign_with_scores(&self, embeddings: &[f32]) -> Result<(Vec<u32>, Vec<f32>)> {
        self.assign_on(&Compute::Cpu, embeddings)
    }

    /// [`Centroids::assign_with_scores`] on `compute`. Errors: as [`Centroids::assign`],
    /// and [`QuantizeError::Device`].
    pub fn assign_on(&self, compute: &Compute, embeddings: &[f32]) -> Result<(Vec<u32>, Vec<f32>)> {
        if embeddings.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let n = check::rows(embeddings, self.dim, "embeddings")?;
        let mut ids = vec![0u32; n];
        let mut scores = vec![0f32; n];
        compute.nearest(embeddings, self.targets(), &mut ids, &mut scores)?;
        Ok((ids, scores))
    }

    /// The kernel's view of these centroids (maximum inner product, no bias).
    pub(crate) fn targets(&self) -> Targets<'_> {
        Targets {
            rows: &self.data,
            dim: self.dim,
            bias: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_num_centroids_follows_colbert() {
        assert_eq!(default_num_centroids(0), 1);
        assert_eq!(default_num_centroids(1), 16);
        // 16 * sqrt(815_632) = 14_450 -> 8_192
        assert_eq!(default_num_centroids(815_632), 8_192);
        assert_eq!(default_num_centroids(262_144), 8_192);
        assert_eq!(default_num_centroids(1_000_000), 8_192);
        assert_eq!(default_num_centroids(4_000_000), 16_384);
    }

    #[test]
    fn default_count_is_capped_by_the_points() {
        let data: Vec<f32> = (0..20).map(|i| (i as f32).sin()).collect();
        let c = Centroids::train(&data, 2, &KMeansConfig::default()).unwrap();
        assert_eq!(c.len(), 10);
    }

    #[test]
    fn trained_rows_are_unit_norm() {
        let data: Vec<f32> = (0..400).map(|i| ((i * 7) as f32).sin()).collect();
        let config = KMeansConfig {
            num_centroids: Some(8),
            ..KMeansConfig::default()
        };
        let c = Centroids::train(&data, 4, &config).unwrap();
        for i in 0..c.len() {
            let norm: f32 = c.row(i).iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-5);
        }
    }
}
