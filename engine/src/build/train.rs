//! Training the centroids and the residual codec on a seeded sample of the corpus.
//!
//! One sample is drawn without replacement; its first part trains k-means, the rest
//! (held out from k-means, as in ColBERTv2) gives the residuals the codec is trained
//! on, so the codec sees residuals like those of unseen embeddings.

use crate::format::centroids as centroid_table;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use tartan_quantize::{default_num_centroids, Centroids, KMeansConfig, ResidualCodec};

use super::config::{BuildConfig, BuildProgress, KMEANS_POINTS_PER_CENTROID};
use super::segment_writer::MappedPages;
use crate::error::{EngineError, Result};
use crate::format::meta::BuildParams;

/// Trained centroids and codec, with the sample sizes used.
pub(crate) struct Trained {
    pub centroids: Centroids,
    /// `centroids` as stored: i8 rows ...
    pub centroid_codes: Vec<i8>,
    /// ... and one scale a row (format::centroids).
    pub centroid_scales: Vec<f32>,
    pub codec: ResidualCodec,
    pub kmeans_points: usize,
    pub codec_points: usize,
}

impl Trained {
    /// The training parameters recorded in a manifest (or a codec directory's record).
    pub fn build_params(&self, config: &BuildConfig) -> BuildParams {
        BuildParams {
            seed: config.seed,
            kmeans_iterations: config.kmeans_iterations,
            kmeans_points: self.kmeans_points,
            codec_training_points: self.codec_points,
            chunk_size: config.chunk_size,
            created_by: concat!("tartan-engine ", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// Training points for k-means and held-out points for the codec, out of `n`.
/// Returns `(num_centroids, kmeans_points, codec_points)`.
pub(crate) fn plan(n: usize, config: &BuildConfig) -> Result<(usize, usize, usize)> {
    let k_wanted = config
        .num_centroids
        .unwrap_or_else(|| default_num_centroids(n));
    if k_wanted == 0 {
        return Err(EngineError::InvalidConfig {
            reason: "num_centroids must be at least 1".into(),
        });
    }
    // A tenth at most is held out; below ten embeddings the codec trains on the
    // k-means sample itself.
    let held_out = config.codec_training_points.min(n / 10);
    let cap = config
        .max_kmeans_points
        .unwrap_or(k_wanted.saturating_mul(KMEANS_POINTS_PER_CENTROID))
        .max(k_wanted);
    let kmeans_points = cap.min(n - held_out);
    let k = match config.num_centroids {
        Some(k) if k > kmeans_points => {
            return Err(EngineError::InvalidConfig {
                reason: format!(
                "num_centroids {k} exceeds the {kmeans_points} embeddings available to train them"
            ),
            })
        }
        Some(k) => k,
        None => k_wanted.min(kmeans_points),
    };
    Ok((k, kmeans_points, held_out))
}

/// Samples, trains k-means, then the codec on held-out residuals.
pub(crate) fn train(
    embeddings: &[f32],
    pages: Option<MappedPages<'_>>,
    dim: usize,
    config: &BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<Trained> {
    let n = embeddings.len() / dim;
    let (k, kmeans_points, codec_points) = plan(n, config)?;

    progress.stage("sample", (kmeans_points + codec_points) as u64);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let picked = rand::seq::index::sample(&mut rng, n, kmeans_points + codec_points).into_vec();
    let mut kmeans_rows = gather(embeddings, dim, &picked, pages)?;
    let codec_rows = kmeans_rows.split_off(kmeans_points * dim);
    progress.advance((kmeans_points + codec_points) as u64);

    progress.stage("kmeans", 1);
    let centroids = Centroids::train_on(
        &config.compute,
        &kmeans_rows,
        dim,
        &KMeansConfig {
            num_centroids: Some(k),
            iterations: config.kmeans_iterations,
            seed: config.seed,
            max_points: Some(kmeans_points),
        },
    )?;
    // The index stores centroids with 8 bits a coordinate: quantize them now, so that
    // residuals (codec training and compression) are taken from the centroids search
    // will read.
    let (centroid_codes, centroid_scales) = centroid_table::quantize(centroids.as_slice(), dim);
    let centroids = Centroids::from_vec(
        centroid_table::dequantize(&centroid_codes, &centroid_scales, dim),
        dim,
    )?;
    progress.advance(1);

    progress.stage("codec", 1);
    let mut residuals = if codec_points > 0 {
        codec_rows
    } else {
        kmeans_rows
    };
    let (assigned, _) = centroids.assign_on(&config.compute, &residuals)?;
    for (row, &c) in residuals.chunks_exact_mut(dim).zip(&assigned) {
        for (x, &m) in row.iter_mut().zip(centroids.row(c as usize)) {
            *x -= m;
        }
    }
    let codec = ResidualCodec::train(config.codec, &residuals, dim, config.seed)?
        .with_parallel_weight(config.parallel_weight)?;
    progress.advance(1);

    Ok(Trained {
        centroids,
        centroid_codes,
        centroid_scales,
        codec,
        kmeans_points,
        codec_points: if codec_points > 0 {
            codec_points
        } else {
            kmeans_points
        },
    })
}

/// Rows of the file passed over between two lets-go of a mapped input's pages while
/// sampling (32 MB at dim 128).
const RELEASE_ROWS: usize = 65_536;

/// Copies the sampled rows `rows` of `embeddings`, in that order, checking that they are
/// finite (errors name the corpus row). They are read in file order, so that with
/// `pages` the part of the file already passed is let go as the reading moves on (a sample
/// touches pages all over the file), and the whole file once done.
fn gather(
    embeddings: &[f32],
    dim: usize,
    rows: &[usize],
    pages: Option<MappedPages<'_>>,
) -> Result<Vec<f32>> {
    let mut by_position: Vec<usize> = (0..rows.len()).collect();
    by_position.sort_unstable_by_key(|&i| rows[i]);
    let mut out = vec![0f32; rows.len() * dim];
    let mut released = 0usize;
    for &i in &by_position {
        let r = rows[i];
        let row = &embeddings[r * dim..(r + 1) * dim];
        check_finite(row, dim, r)?;
        out[i * dim..(i + 1) * dim].copy_from_slice(row);
        if let Some(pages) = pages.filter(|_| r - released >= RELEASE_ROWS) {
            pages.release(&embeddings[released * dim..r * dim]);
            released = r;
        }
    }
    if let Some(pages) = pages {
        pages.release(embeddings);
    }
    Ok(out)
}

/// Errors with the first non-finite value of `rows` (`first_row` is the corpus row
/// of `rows[0..dim]`).
pub(crate) fn check_finite(rows: &[f32], dim: usize, first_row: usize) -> Result<()> {
    match rows.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(EngineError::NonFinite {
            what: "embeddings".into(),
            row: first_row + i / dim,
            column: i % dim,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_holds_out_a_tenth_and_caps_centroids() {
        let config = BuildConfig::default();
        let (k, km, held) = plan(1000, &config).unwrap();
        assert_eq!(held, 100);
        assert_eq!(km, 900);
        assert_eq!(k, 256); // 2^floor(log2(16 sqrt(1000)))
        let (k, km, held) = plan(3, &config).unwrap();
        assert_eq!((held, km), (0, 3));
        assert!(k <= 3);
    }

    #[test]
    fn plan_rejects_impossible_centroid_counts() {
        let config = BuildConfig {
            num_centroids: Some(50),
            ..BuildConfig::default()
        };
        assert!(plan(40, &config).is_err());
        let zero = BuildConfig {
            num_centroids: Some(0),
            ..BuildConfig::default()
        };
        assert!(plan(40, &zero).is_err());
    }

    #[test]
    fn plan_respects_the_kmeans_cap() {
        let config = BuildConfig {
            num_centroids: Some(16),
            max_kmeans_points: Some(100),
            codec_training_points: 50,
            ..BuildConfig::default()
        };
        assert_eq!(plan(10_000, &config).unwrap(), (16, 100, 50));
    }
}
