//! [`Index`]: a read-only, memory-mapped index, validated once when opened.

use std::path::{Path, PathBuf};

use tartan_quantize::{CodecKind, ProductCodec, ResidualCodec, ScalarCodec};

use crate::error::{EngineError, Result};
use crate::format::centroids as centroid_table;
use crate::format::doc_centroids::DocCentroids;
use crate::format::meta::IndexMeta;
use crate::format::npy::{Element, MappedArray};
use crate::format::table::Table;
use crate::format::{
    CENTROIDS, CENTROID_IDS, CENTROID_SCALES, CODEBOOKS, CODES, CUTOFFS, DOC_IDS, DOC_IDS_MAGIC,
    DOC_OFFSETS, EMBEDDINGS, POSTINGS, POSTINGS_MAGIC, WEIGHTS,
};

/// A memory-mapped index. Opening maps the files and checks their headers, sizes and
/// cross-file consistency (never reading the large arrays in full); searching then
/// touches only the pages it needs.
pub struct Index {
    dir: PathBuf,
    meta: IndexMeta,
    pub(crate) codec: ResidualCodec,
    /// Rebuilt from the 8-bit table at open (search reads every row a query).
    pub(crate) centroids: Vec<f32>,
    /// The 8-bit centroid table as stored (`centroids = codes * scales`), which
    /// stage 1 reads: a quarter of the bytes of the widened table.
    pub(crate) centroid_codes: MappedArray<i8>,
    /// One scale a centroid.
    pub(crate) centroid_scales: MappedArray<f32>,
    pub(crate) codes: MappedArray<u8>,
    pub(crate) centroid_ids: DocCentroids,
    pub(crate) doc_offsets: MappedArray<u64>,
    pub(crate) postings: Table,
    doc_ids: Table,
    pub(crate) embeddings: Option<MappedArray<f32>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Index {
    /// Opens the index in `dir`.
    ///
    /// Errors (each naming the file): [`EngineError::MissingFile`],
    /// [`EngineError::UnsupportedVersion`], [`EngineError::Corrupt`] for a truncated,
    /// foreign or inconsistent file.
    pub fn open(dir: &Path) -> Result<Index> {
        let meta = IndexMeta::read(dir)?;
        let meta_path = dir.join(crate::format::META);
        let corrupt_meta = |r: String| EngineError::corrupt(&meta_path, r);
        let (dim, n, k, docs) = (
            meta.dim,
            meta.num_embeddings,
            meta.num_centroids,
            meta.num_documents,
        );
        if dim == 0 || k == 0 || k > u32::MAX as usize || docs > u32::MAX as usize {
            return Err(corrupt_meta(format!(
                "impossible counts: dim {dim}, {k} centroids, {docs} documents"
            )));
        }
        let bpe = meta
            .codec
            .bytes_per_embedding(dim)
            .map_err(|e| corrupt_meta(format!("codec {:?}: {e}", meta.codec)))?;
        if bpe != meta.bytes_per_code {
            return Err(corrupt_meta(format!(
                "bytes_per_code {} where the codec needs {bpe}",
                meta.bytes_per_code
            )));
        }
        check_file_sizes(dir, &meta)?;

        let file = |name: &str| dir.join(name);
        let centroid_codes = MappedArray::<i8>::open(&file(CENTROIDS), &[Some(k), Some(dim)])?;
        let centroid_scales = MappedArray::<f32>::open(&file(CENTROID_SCALES), &[Some(k)])?;
        let centroids =
            centroid_table::dequantize(centroid_codes.as_slice(), centroid_scales.as_slice(), dim);
        if let Some(i) = centroids.iter().position(|x| !x.is_finite()) {
            return Err(EngineError::corrupt(
                file(CENTROIDS),
                format!("non-finite value at centroid {}", i / dim),
            ));
        }
        let codec = open_codec(dir, meta.codec, dim)?;
        let codes = MappedArray::<u8>::open(&file(CODES), &[Some(n), Some(bpe)])?;
        let doc_offsets = MappedArray::<u64>::open(&file(DOC_OFFSETS), &[Some(docs + 1)])?;
        check_offsets(&file(DOC_OFFSETS), doc_offsets.as_slice(), n)?;
        let centroid_ids = DocCentroids::open(&file(CENTROID_IDS), doc_offsets.as_slice(), k)?;
        let postings = Table::open(&file(POSTINGS), POSTINGS_MAGIC, k)?;
        let doc_ids = Table::open(&file(DOC_IDS), DOC_IDS_MAGIC, docs)?;
        for d in 0..docs {
            let id = doc_ids.get(d).unwrap_or_default();
            if std::str::from_utf8(id).is_err() {
                return Err(EngineError::corrupt(
                    file(DOC_IDS),
                    format!("id of document {d} is not UTF-8"),
                ));
            }
        }
        let embeddings = if meta.has_embeddings {
            Some(MappedArray::<f32>::open(
                &file(EMBEDDINGS),
                &[Some(n), Some(dim)],
            )?)
        } else {
            None
        };
        Ok(Index {
            dir: dir.to_path_buf(),
            meta,
            codec,
            centroids,
            centroid_codes,
            centroid_scales,
            codes,
            centroid_ids,
            doc_offsets,
            postings,
            doc_ids,
            embeddings,
        })
    }

    /// The parsed meta.json.
    pub fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// Number of documents (empty ones included).
    pub fn num_documents(&self) -> usize {
        self.meta.num_documents
    }

    /// Number of embeddings.
    pub fn num_embeddings(&self) -> usize {
        self.meta.num_embeddings
    }

    /// Number of centroids.
    pub fn num_centroids(&self) -> usize {
        self.meta.num_centroids
    }

    /// The residual codec.
    pub fn codec(&self) -> &ResidualCodec {
        &self.codec
    }

    /// The centroids, `num_centroids x dim` row-major.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// External id of document `doc`.
    ///
    /// Panics when `doc >= num_documents()` (hits of this index are always in range);
    /// see [`Index::get_doc_id`].
    pub fn doc_id(&self, doc: u32) -> &str {
        self.get_doc_id(doc).unwrap_or_else(|| {
            panic!(
                "document {doc} out of range ({} documents)",
                self.num_documents()
            )
        })
    }

    /// External id of document `doc`, None when out of range.
    pub fn get_doc_id(&self, doc: u32) -> Option<&str> {
        // Every id was checked to be UTF-8 when the index was opened.
        self.doc_ids
            .get(doc as usize)
            .map(|b| std::str::from_utf8(b).unwrap_or_default())
    }

    /// Whether the uncompressed embeddings were kept (exact search available).
    pub fn has_embeddings(&self) -> bool {
        self.embeddings.is_some()
    }

    /// The embedding range `start..end` of document `doc` (`doc < num_documents`).
    #[inline]
    pub(crate) fn doc_range(&self, doc: usize) -> (usize, usize) {
        let o = self.doc_offsets.as_slice();
        (o[doc] as usize, o[doc + 1] as usize)
    }

    /// Number of embeddings of document `doc`, None when out of range.
    pub fn doc_len(&self, doc: u32) -> Option<usize> {
        let doc = doc as usize;
        (doc < self.num_documents()).then(|| {
            let (a, b) = self.doc_range(doc);
            b - a
        })
    }

    /// The decompressed embeddings (centroid + decoded residual) of document `doc`,
    /// `len x dim` into `out` (cleared first), in stored order: sorted by centroid,
    /// the order of [`Index::document_embeddings`].
    pub fn decompress_document(&self, doc: u32, out: &mut Vec<f32>) -> Result<()> {
        let dim = self.dim();
        let (a, b) = self.checked_doc_range(doc)?;
        let mut ids = Vec::with_capacity(b - a);
        self.doc_centroids(doc as usize, &mut ids)?;
        out.clear();
        out.resize((b - a) * dim, 0.0);
        let bpe = self.meta.bytes_per_code;
        let codes = self.codes.as_slice();
        let centroids = &self.centroids;
        for ((e, row), &c) in (a..b).zip(out.chunks_exact_mut(dim)).zip(&ids) {
            let c = c as usize;
            self.codec.decode_into(
                &centroids[c * dim..(c + 1) * dim],
                &codes[e * bpe..(e + 1) * bpe],
                row,
            );
        }
        Ok(())
    }

    /// The kept uncompressed embeddings of document `doc` (`len x dim`), in stored
    /// order: the document's embeddings as given, sorted by centroid id.
    pub fn document_embeddings(&self, doc: u32) -> Result<&[f32]> {
        let kept = self.embeddings.as_ref().ok_or(EngineError::NoEmbeddings)?;
        let (a, b) = self.checked_doc_range(doc)?;
        Ok(&kept.as_slice()[a * self.dim()..b * self.dim()])
    }

    pub(crate) fn checked_doc_range(&self, doc: u32) -> Result<(usize, usize)> {
        if doc as usize >= self.num_documents() {
            return Err(EngineError::InvalidConfig {
                reason: format!(
                    "document {doc} out of range ({} documents)",
                    self.num_documents()
                ),
            });
        }
        Ok(self.doc_range(doc as usize))
    }

    /// The centroid ids of document `doc` (`< num_documents`), ascending, into `out`
    /// (cleared first); each is checked to be below the number of centroids.
    #[inline]
    pub(crate) fn doc_centroids(&self, doc: usize, out: &mut Vec<u32>) -> Result<()> {
        let (a, b) = self.doc_range(doc);
        self.centroid_ids.get(doc, b - a, out)
    }

    /// Total bytes of the index files (meta.json included, embeddings.npy excluded).
    pub fn bytes_on_disk(&self) -> u64 {
        self.meta
            .files
            .iter()
            .filter(|(name, _)| name.as_str() != EMBEDDINGS)
            .map(|(_, &len)| len)
            .sum::<u64>()
            + std::fs::metadata(self.dir.join(crate::format::META)).map_or(0, |m| m.len())
    }
}

/// Every file the codec and the meta need, present with the size meta.json recorded.
fn check_file_sizes(dir: &Path, meta: &IndexMeta) -> Result<()> {
    let mut required = vec![
        CENTROIDS,
        CENTROID_SCALES,
        CODES,
        CENTROID_IDS,
        DOC_OFFSETS,
        POSTINGS,
        DOC_IDS,
    ];
    match meta.codec {
        CodecKind::Product { .. } => required.push(CODEBOOKS),
        CodecKind::Scalar { .. } => required.extend([CUTOFFS, WEIGHTS]),
    }
    if meta.has_embeddings {
        required.push(EMBEDDINGS);
    }
    for name in required {
        let path = dir.join(name);
        let recorded = meta.files.get(name).copied().ok_or_else(|| {
            EngineError::corrupt(
                dir.join(crate::format::META),
                format!("no recorded size for {name}"),
            )
        })?;
        let actual = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EngineError::MissingFile { path })
            }
            Err(e) => return Err(EngineError::io(&path, e)),
        };
        if actual != recorded {
            return Err(EngineError::corrupt(
                path,
                format!("{actual} bytes where meta.json records {recorded}"),
            ));
        }
    }
    Ok(())
}

fn check_offsets(path: &Path, offsets: &[u64], n: usize) -> Result<()> {
    if offsets.first() != Some(&0) || offsets.last() != Some(&(n as u64)) {
        return Err(EngineError::corrupt(
            path,
            format!("offsets must run from 0 to {n}"),
        ));
    }
    if let Some(d) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(EngineError::corrupt(
            path,
            format!("offsets decrease at document {d}"),
        ));
    }
    Ok(())
}

fn read_vec<T: Element>(path: &Path, shape: &[Option<usize>]) -> Result<Vec<T>> {
    Ok(MappedArray::<T>::open(path, shape)?.as_slice().to_vec())
}

fn open_codec(dir: &Path, kind: CodecKind, dim: usize) -> Result<ResidualCodec> {
    match kind {
        CodecKind::Product { nbits } => {
            let path = dir.join(CODEBOOKS);
            let sub_dim = (8 / nbits.max(1)) as usize;
            let books = read_vec::<f32>(
                &path,
                &[
                    Some(dim / sub_dim),
                    Some(tartan_quantize::CODEBOOK_SIZE),
                    Some(sub_dim),
                ],
            )?;
            ProductCodec::from_codebooks(dim, nbits, books)
                .map(ResidualCodec::Product)
                .map_err(|e| EngineError::corrupt(path, e.to_string()))
        }
        CodecKind::Scalar { nbits } => {
            let buckets = 1usize << nbits.min(8);
            let cutoffs = read_vec::<f32>(&dir.join(CUTOFFS), &[Some(buckets - 1)])?;
            let weights = read_vec::<f32>(&dir.join(WEIGHTS), &[Some(buckets)])?;
            ScalarCodec::from_buckets(dim, nbits, cutoffs, weights)
                .map(ResidualCodec::Scalar)
                .map_err(|e| EngineError::corrupt(dir.join(CUTOFFS), e.to_string()))
        }
    }
}
