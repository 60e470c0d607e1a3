//! Lloyd's k-means iterations, shared by the centroids (spherical) and the product-code
//! codebooks (Euclidean).
//!
//! Deterministic for a seed: the initial centroids are a seeded sample of distinct
//! points, assignment uses the sequential-per-block kernel of [`crate::nearest`], the
//! means are accumulated in point order in f64, and an empty cluster is re-seeded with
//! the point farthest from its centroid (ties to the lowest point index).

use rand::seq::index;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use crate::compute::Compute;
use crate::nearest::Targets;
use crate::Result;

/// Whether centroids live on the unit sphere (renormalised after every update).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Geometry {
    /// Spherical k-means: centroids L2-normalised after every update.
    Spherical,
    /// Plain k-means in Euclidean space.
    Euclidean,
}

/// Runs `iterations` Lloyd iterations on `points` (`n x dim`, finite, `n >= 1`) and
/// returns `k x dim` centroids, the assignments made on `compute`. `k` may exceed the
/// number of distinct points; the surplus centroids then repeat points.
pub(crate) fn kmeans(
    points: &[f32],
    dim: usize,
    k: usize,
    (iterations, seed): (usize, u64),
    geometry: Geometry,
    compute: &Compute,
) -> Result<Vec<f32>> {
    let n = points.len() / dim;
    debug_assert!(n >= 1 && k >= 1);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let distinct = distinct_rows(points, dim);
    let mut centroids = Vec::with_capacity(k * dim);
    if distinct.len() >= k {
        for i in index::sample(&mut rng, distinct.len(), k) {
            centroids.extend_from_slice(row(points, dim, distinct[i]));
        }
    } else {
        for j in 0..k {
            centroids.extend_from_slice(row(points, dim, distinct[j % distinct.len()]));
        }
    }
    if geometry == Geometry::Spherical {
        normalise_rows(&mut centroids, dim);
    }
    iterate(points, dim, &mut centroids, iterations, geometry, compute)?;
    Ok(centroids)
}

/// Runs `iterations` Lloyd iterations from the given `k x dim` centroids, the
/// assignments made on `compute`.
pub(crate) fn iterate(
    points: &[f32],
    dim: usize,
    centroids: &mut [f32],
    iterations: usize,
    geometry: Geometry,
    compute: &Compute,
) -> Result<()> {
    let n = points.len() / dim;
    let norms: Vec<f32> = points.par_chunks(dim).map(|x| dot(x, x)).collect();
    let mut ids = vec![0u32; n];
    let mut scores = vec![0f32; n];
    for _ in 0..iterations {
        let centroid_norms: Vec<f32> = centroids.par_chunks(dim).map(|c| dot(c, c)).collect();
        // Spherical centroids have unit norm (or are zero, never better than a unit one
        // here), so the nearest is the maximum inner product: no bias to add.
        let bias: Option<Vec<f32>> = match geometry {
            Geometry::Spherical => None,
            Geometry::Euclidean => Some(centroid_norms.iter().map(|&c| -0.5 * c).collect()),
        };
        let targets = Targets {
            rows: centroids,
            dim,
            bias: bias.as_deref(),
        };
        compute.nearest(points, targets, &mut ids, &mut scores)?;
        // Squared distance of each point to its centroid, for re-seeding empty clusters.
        let far = |i: usize| {
            let c = centroid_norms[ids[i] as usize];
            let inner = match geometry {
                Geometry::Spherical => scores[i],
                Geometry::Euclidean => scores[i] + 0.5 * c,
            };
            (norms[i] + c - 2.0 * inner).max(0.0)
        };
        update(points, dim, &ids, far, centroids);
        if geometry == Geometry::Spherical {
            normalise_rows(centroids, dim);
        }
    }
    Ok(())
}

/// Replaces every centroid by the mean of its points; re-seeds empty ones.
fn update(
    points: &[f32],
    dim: usize,
    ids: &[u32],
    distance: impl Fn(usize) -> f32 + Sync,
    centroids: &mut [f32],
) {
    let k = centroids.len() / dim;
    // Points grouped by centroid (a counting sort, in point order within a group), so
    // every centroid is averaged independently and in parallel, always in the same
    // order: the result does not depend on the thread count.
    let mut starts = vec![0usize; k + 1];
    for &id in ids {
        starts[id as usize + 1] += 1;
    }
    for j in 0..k {
        starts[j + 1] += starts[j];
    }
    let mut next = starts.clone();
    let mut members = vec![0usize; ids.len()];
    for (i, &id) in ids.iter().enumerate() {
        members[next[id as usize]] = i;
        next[id as usize] += 1;
    }
    centroids
        .par_chunks_mut(dim)
        .enumerate()
        .for_each(|(j, c)| {
            let group = &members[starts[j]..starts[j + 1]];
            if group.is_empty() {
                return;
            }
            let mut sum = vec![0f64; dim];
            for &i in group {
                for (s, &v) in sum.iter_mut().zip(row(points, dim, i)) {
                    *s += f64::from(v);
                }
            }
            let inv = 1.0 / group.len() as f64;
            for (c, s) in c.iter_mut().zip(sum) {
                *c = (s * inv) as f32;
            }
        });
    let empty: Vec<usize> = (0..k).filter(|&j| starts[j] == starts[j + 1]).collect();
    if empty.is_empty() {
        return;
    }
    let mut far: Vec<(f32, usize)> = (0..ids.len())
        .map(|i| (distance(i), i))
        .filter(|&(d, _)| d > 0.0)
        .collect();
    far.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (j, &(_, i)) in empty.iter().zip(&far) {
        centroids[j * dim..(j + 1) * dim].copy_from_slice(row(points, dim, i));
    }
}

/// Indices of the first occurrence of every distinct row, in increasing order.
pub(crate) fn distinct_rows(points: &[f32], dim: usize) -> Vec<usize> {
    let n = points.len() / dim;
    let key = |i: usize| row(points, dim, i).iter().map(|v| v.to_bits());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
    order.dedup_by(|b, a| key(*a).eq(key(*b)));
    order.sort_unstable();
    order
}

/// Scales every row to unit L2 norm (rows of norm zero stay zero).
pub(crate) fn normalise_rows(data: &mut [f32], dim: usize) {
    data.par_chunks_mut(dim).for_each(|r| {
        let norm = dot(r, r).sqrt();
        if norm > 0.0 {
            r.iter_mut().for_each(|v| *v /= norm);
        }
    });
}

#[inline]
pub(crate) fn row(data: &[f32], dim: usize, i: usize) -> &[f32] {
    &data[i * dim..(i + 1) * dim]
}

#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A seeded sample of at most `cap` rows of `data`, in their original order (all rows
/// when there are not more than `cap`).
pub(crate) fn sample_rows(
    data: &[f32],
    dim: usize,
    cap: usize,
    seed: u64,
) -> std::borrow::Cow<'_, [f32]> {
    let n = data.len() / dim;
    if n <= cap {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut picked = index::sample(&mut rng, n, cap).into_vec();
    picked.sort_unstable();
    let mut out = Vec::with_capacity(cap * dim);
    for i in picked {
        out.extend_from_slice(row(data, dim, i));
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_rows_keeps_first_occurrences() {
        let pts = [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0];
        assert_eq!(distinct_rows(&pts, 2), vec![0, 1, 3]);
    }

    #[test]
    fn more_centroids_than_distinct_points_repeats_points() {
        let pts = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let c = kmeans(&pts, 2, 3, (3, 1), Geometry::Euclidean, &Compute::Cpu).unwrap();
        assert_eq!(c.len(), 6);
        for r in c.chunks_exact(2) {
            assert!(r == [1.0, 0.0] || r == [0.0, 1.0], "{r:?}");
        }
    }

    #[test]
    fn empty_clusters_are_reseeded_with_far_points() {
        // Two tight groups, far apart; start both centroids in the same group by
        // duplicating points so the sample can only pick one group... the re-seed
        // must move one centroid to the other group.
        let mut pts = vec![0.0f32; 0];
        for _ in 0..50 {
            pts.extend_from_slice(&[0.0, 0.0]);
        }
        pts.extend_from_slice(&[10.0, 10.0]);
        let c = kmeans(&pts, 2, 2, (2, 3), Geometry::Euclidean, &Compute::Cpu).unwrap();
        let mut rows: Vec<_> = c.chunks_exact(2).map(|r| (r[0], r[1])).collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(rows, vec![(0.0, 0.0), (10.0, 10.0)]);
    }

    #[test]
    fn sample_rows_is_seeded_and_ordered() {
        let data: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let a = sample_rows(&data, 1, 10, 5);
        let b = sample_rows(&data, 1, 10, 5);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_rows(&data, 1, 200, 5).len(), 100);
    }
}

/// linfa-clustering is the design's named k-means; it is slower than the faer path
/// (see the `quantize` bench), so it stays here as the reference of one Lloyd step.
#[cfg(test)]
mod linfa_reference {
    use super::*;
    use linfa::traits::Fit;
    use linfa::DatasetBase;
    use linfa_clustering::{KMeans, KMeansInit};
    use ndarray::Array2;
    use rand::Rng;
    use rand_xoshiro::Xoshiro256Plus;

    #[test]
    fn one_step_matches_linfa() {
        let (n, dim, k) = (600, 24, 20);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let points: Vec<f32> = (0..n * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let init = points[..k * dim].to_vec();

        let dataset = DatasetBase::from(Array2::from_shape_vec((n, dim), points.clone()).unwrap());
        let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(0))
            .n_runs(1)
            .max_n_iterations(1)
            .tolerance(1e-6)
            .init_method(KMeansInit::Precomputed(
                Array2::from_shape_vec((k, dim), init.clone()).unwrap(),
            ))
            .fit(&dataset)
            .unwrap();

        // Our assignment kernel, then linfa's update rule (m_k-means: the old centroid
        // counts as one more point of its cluster).
        let bias: Vec<f32> = init.chunks_exact(dim).map(|c| -0.5 * dot(c, c)).collect();
        let mut ids = vec![0u32; n];
        let mut scores = vec![0f32; n];
        let targets = Targets {
            rows: &init,
            dim,
            bias: Some(&bias),
        };
        crate::nearest::nearest(&points, targets, &mut ids, &mut scores);
        let mut sums: Vec<f64> = init.iter().map(|&v| f64::from(v)).collect();
        let mut counts = vec![1usize; k];
        for (x, &id) in points.chunks_exact(dim).zip(&ids) {
            counts[id as usize] += 1;
            for (s, &v) in sums[id as usize * dim..][..dim].iter_mut().zip(x) {
                *s += f64::from(v);
            }
        }
        for (j, linfa_row) in model.centroids().rows().into_iter().enumerate() {
            for (d, &v) in linfa_row.iter().enumerate() {
                let ours = (sums[j * dim + d] / counts[j] as f64) as f32;
                assert!(
                    (ours - v).abs() < 1e-4,
                    "centroid {j} dim {d}: {ours} vs {v}"
                );
            }
        }
    }
}
