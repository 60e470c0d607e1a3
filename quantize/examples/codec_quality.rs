//! Product codes vs ColBERTv2 scalar codes on real token embeddings: mean cosine of the
//! reconstructions (centroid + decoded residual) against the originals, at 1, 2 and 4 bits
//! a dimension (equal bytes for both families).
//!
//! ```sh
//! tartan encode --model ../shared/models/minilm-colbert-pylate --embeddings e.npy \
//!     --doclens l.npy ../shared/datasets/scifact
//! cargo run --release -p tartan-quantize --example codec_quality -- e.npy [num_centroids]
//! ```

use std::time::Instant;

use tartan_quantize::{Centroids, CodecKind, KMeansConfig, ResidualCodec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: codec_quality EMBEDDINGS.npy [NUM_CENTROIDS]")?;
    let num_centroids = args.next().map(|k| k.parse()).transpose()?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(std::fs::File::open(&path)?))?;
    let shape = npy.shape().to_vec();
    let [n, dim] = shape[..] else {
        return Err(format!("{path}: expected a 2-d array, found shape {shape:?}").into());
    };
    let (n, dim) = (n as usize, dim as usize);
    let embeddings: Vec<f32> = npy.into_vec()?;

    let t = Instant::now();
    let config = KMeansConfig {
        num_centroids,
        ..KMeansConfig::default()
    };
    let centroids = Centroids::train(&embeddings, dim, &config)?;
    println!(
        "{n} embeddings x {dim}: {} centroids in {:.1} s",
        centroids.len(),
        t.elapsed().as_secs_f64()
    );
    let ids = centroids.assign(&embeddings)?;
    let residuals: Vec<f32> = embeddings
        .chunks_exact(dim)
        .zip(&ids)
        .flat_map(|(x, &id)| {
            let c = centroids.row(id as usize);
            x.iter().zip(c).map(|(a, b)| a - b).collect::<Vec<_>>()
        })
        .collect();
    let centroid_only = mean_cosine(&embeddings, centroids.as_slice(), &ids, dim, None);
    println!("centroid only: mean cosine {centroid_only:.4}");

    for nbits in [1, 2, 4] {
        for kind in [CodecKind::Product { nbits }, CodecKind::Scalar { nbits }] {
            let t = Instant::now();
            let codec = ResidualCodec::train(kind, &residuals, dim, 7)?;
            let compressed = codec.compress(&centroids, &embeddings)?;
            let decoded = codec.decode(&centroids, &compressed.centroid_ids, &compressed.codes)?;
            let cosine = mean_cosine(&embeddings, &decoded, &[], dim, Some(()));
            println!(
                "{kind:?}: {} bytes, mean cosine {cosine:.4} ({:.1} s)",
                codec.bytes_per_embedding(),
                t.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Mean cosine of each embedding with its reconstruction: row `i` of `other` when
/// `rowwise` is set, else the centroid `other[ids[i]]`.
fn mean_cosine(
    embeddings: &[f32],
    other: &[f32],
    ids: &[u32],
    dim: usize,
    rowwise: Option<()>,
) -> f64 {
    let n = embeddings.len() / dim;
    let total: f64 = embeddings
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, x)| {
            let j = if rowwise.is_some() {
                i
            } else {
                ids[i] as usize
            };
            let y = &other[j * dim..(j + 1) * dim];
            let dot: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
            let nx: f32 = x.iter().map(|a| a * a).sum();
            let ny: f32 = y.iter().map(|a| a * a).sum();
            f64::from(dot / (nx.sqrt() * ny.sqrt()).max(f32::MIN_POSITIVE))
        })
        .sum();
    total / n as f64
}
