//! [`Index`]: a read-only snapshot of an index, memory-mapped and validated once when
//! opened: the generation `CURRENT` named at that moment (format 3), or a format-2
//! directory (one segment, read-only).
//!
//! Documents are numbered across segments in manifest order: segment `s` owns the
//! numbers `base[s] .. base[s + 1]`. Hits carry these numbers; they are stable for the
//! life of the snapshot, not across commits (ids are).

use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use tartan_quantize::ResidualCodec;

use crate::error::{EngineError, Result};
use crate::format::manifest::{read_current, Manifest, SegmentEntry, SEGMENTED_VERSION};
use crate::format::meta::{IndexMeta, FORMAT_NAME};
use crate::format::npy::MappedArray;
use crate::format::EMBEDDINGS;
use crate::segment::{read_deletes, CodecData, Expected, Segment, SegmentShape};

/// A memory-mapped index snapshot. Opening maps the files and checks their headers,
/// sizes, the checksums of the small files and cross-file consistency (never reading
/// the large arrays in full: [`Index::verify`] does); searching then touches only the
/// pages it needs. Later commits by a writer do not change an open snapshot: reopen to
/// see them.
pub struct Index {
    dir: PathBuf,
    meta: IndexMeta,
    manifest: Option<Manifest>,
    pub(crate) codec: ResidualCodec,
    /// Rebuilt from the 8-bit table at open (search reads every row a query).
    pub(crate) centroids: Vec<f32>,
    /// The 8-bit centroid table as stored.
    pub(crate) centroid_codes: MappedArray<i8>,
    /// One scale a centroid.
    pub(crate) centroid_scales: MappedArray<f32>,
    codec_dir: PathBuf,
    pub(crate) segments: Vec<Segment>,
    /// `segments.len() + 1` document-number bases.
    bases: Vec<u32>,
    /// Deleted documents (global numbers).
    pub(crate) deleted: RoaringBitmap,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("generation", &self.generation())
            .field("segments", &self.segments.len())
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Index {
    /// Opens the index in `dir`: the generation `CURRENT` names (format 3), or a
    /// format-2 index.
    ///
    /// Errors (each naming the file): [`EngineError::NoIndex`] when `dir` does not
    /// exist, [`EngineError::MissingFile`], [`EngineError::UnsupportedVersion`],
    /// [`EngineError::Corrupt`] for a truncated, damaged, foreign or inconsistent file.
    pub fn open(dir: &Path) -> Result<Index> {
        if !dir.exists() {
            return Err(EngineError::NoIndex {
                path: dir.to_path_buf(),
            });
        }
        // A writer may commit and remove the previous generation's files between our
        // reading CURRENT and opening them: then CURRENT has moved on, and we retry.
        let mut attempts = 0;
        loop {
            let Some((path, manifest)) = read_current(dir)? else {
                return open_format2(dir);
            };
            let generation = manifest.generation;
            match open_segmented(dir, &path, manifest) {
                Err(e @ EngineError::MissingFile { .. }) => {
                    attempts += 1;
                    let now = read_current(dir)?.map(|(_, m)| m.generation);
                    if attempts >= 3 || now == Some(generation) {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// The index's description (for a format-3 index, drawn from its manifest: counts
    /// over every segment, deleted documents included).
    pub fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    /// The manifest of this snapshot's generation (None for a format-2 index).
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// This snapshot's generation (0 for a format-2 index).
    pub fn generation(&self) -> u64 {
        self.manifest.as_ref().map_or(0, |m| m.generation)
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The directory of the centroids and codec files.
    pub fn codec_dir(&self) -> &Path {
        &self.codec_dir
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// Number of document numbers: every segment's documents, deleted and empty ones
    /// included (hits are below this).
    pub fn num_documents(&self) -> usize {
        self.meta.num_documents
    }

    /// Documents not deleted (empty ones included).
    pub fn num_live_documents(&self) -> usize {
        self.num_documents() - self.deleted.len() as usize
    }

    /// Number of embeddings (deleted documents' included until `optimize`).
    pub fn num_embeddings(&self) -> usize {
        self.meta.num_embeddings
    }

    /// Number of centroids.
    pub fn num_centroids(&self) -> usize {
        self.meta.num_centroids
    }

    /// Number of segments.
    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// A CRC-32C over the centroids (as stored) and the codec's parameters: equal for
    /// indexes that quantise alike (built from one codec), different otherwise.
    pub fn codec_fingerprint(&self) -> u32 {
        let floats =
            |crc: u32, values: &[f32]| crc32c::crc32c_append(crc, bytemuck::cast_slice(values));
        let kind = format!("{:?}", self.codec.kind());
        let mut crc = crc32c::crc32c(kind.as_bytes());
        crc = crc32c::crc32c_append(crc, bytemuck::cast_slice(self.centroid_codes.as_slice()));
        crc = floats(crc, self.centroid_scales.as_slice());
        match &self.codec {
            ResidualCodec::Product(p) => floats(crc, p.codebooks()),
            ResidualCodec::Scalar(s) => floats(floats(crc, s.cutoffs()), s.weights()),
        }
    }

    /// The residual codec.
    pub fn codec(&self) -> &ResidualCodec {
        &self.codec
    }

    /// The centroids, `num_centroids x dim` row-major.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// Whether document `doc` is deleted (out-of-range numbers are not).
    pub fn is_deleted(&self, doc: u32) -> bool {
        self.deleted.contains(doc)
    }

    /// The live (not deleted) document numbers, in order.
    pub fn live_documents(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.num_documents() as u32).filter(|&d| !self.is_deleted(d))
    }

    /// The deleted documents.
    pub fn deleted(&self) -> &RoaringBitmap {
        &self.deleted
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
        if doc as usize >= self.num_documents() {
            return None;
        }
        let (s, local) = self.locate(doc as usize);
        self.segments[s].doc_id(local)
    }

    /// Whether every segment kept its uncompressed embeddings (exact search available).
    pub fn has_embeddings(&self) -> bool {
        !self.segments.is_empty() && self.segments.iter().all(|s| s.embeddings.is_some())
    }

    /// The segment and local number of document `doc` (`< num_documents`).
    #[inline]
    pub(crate) fn locate(&self, doc: usize) -> (usize, usize) {
        if self.segments.len() == 1 {
            return (0, doc);
        }
        let s = self.bases.partition_point(|&b| b as usize <= doc) - 1;
        (s, doc - self.bases[s] as usize)
    }

    /// The first document number of segment `s`.
    #[inline]
    pub(crate) fn base(&self, s: usize) -> u32 {
        self.bases[s]
    }

    /// Number of embeddings of document `doc`, None when out of range.
    pub fn doc_len(&self, doc: u32) -> Option<usize> {
        let doc = doc as usize;
        (doc < self.num_documents()).then(|| {
            let (s, local) = self.locate(doc);
            let (a, b) = self.segments[s].doc_range(local);
            b - a
        })
    }

    /// The residual codes of document `doc` (`< num_documents`), `len x bytes_per_code`.
    #[inline]
    pub(crate) fn doc_codes(&self, doc: usize) -> &[u8] {
        let (s, local) = self.locate(doc);
        let seg = &self.segments[s];
        let (a, b) = seg.doc_range(local);
        let bpe = self.meta.bytes_per_code;
        &seg.codes.as_slice()[a * bpe..b * bpe]
    }

    /// The decompressed embeddings (centroid + decoded residual) of document `doc`,
    /// `len x dim` into `out` (cleared first), in stored order: sorted by centroid,
    /// the order of [`Index::document_embeddings`].
    pub fn decompress_document(&self, doc: u32, out: &mut Vec<f32>) -> Result<()> {
        let dim = self.dim();
        self.checked_doc(doc)?;
        let mut ids = Vec::new();
        self.doc_centroids(doc as usize, &mut ids)?;
        let codes = self.doc_codes(doc as usize);
        out.clear();
        out.resize(ids.len() * dim, 0.0);
        let bpe = self.meta.bytes_per_code;
        for ((code, row), &c) in codes
            .chunks_exact(bpe)
            .zip(out.chunks_exact_mut(dim))
            .zip(&ids)
        {
            let c = c as usize;
            self.codec
                .decode_into(&self.centroids[c * dim..(c + 1) * dim], code, row);
        }
        Ok(())
    }

    /// The kept uncompressed embeddings of document `doc` (`len x dim`), in stored
    /// order: the document's embeddings as given, sorted by centroid id.
    pub fn document_embeddings(&self, doc: u32) -> Result<&[f32]> {
        self.checked_doc(doc)?;
        let (s, local) = self.locate(doc as usize);
        let seg = &self.segments[s];
        let kept = seg.embeddings.as_ref().ok_or(EngineError::NoEmbeddings)?;
        let (a, b) = seg.doc_range(local);
        Ok(&kept.as_slice()[a * self.dim()..b * self.dim()])
    }

    pub(crate) fn checked_doc(&self, doc: u32) -> Result<()> {
        if doc as usize >= self.num_documents() {
            return Err(EngineError::InvalidConfig {
                reason: format!(
                    "document {doc} out of range ({} documents)",
                    self.num_documents()
                ),
            });
        }
        Ok(())
    }

    /// The centroid ids of document `doc` (`< num_documents`), ascending, into `out`
    /// (cleared first); each is checked to be below the number of centroids.
    #[inline]
    pub(crate) fn doc_centroids(&self, doc: usize, out: &mut Vec<u32>) -> Result<()> {
        let (s, local) = self.locate(doc);
        let seg = &self.segments[s];
        let (a, b) = seg.doc_range(local);
        seg.centroid_ids.get(local, b - a, out)
    }

    /// Total bytes of the index files of this snapshot (manifest included, kept
    /// embeddings excluded).
    pub fn bytes_on_disk(&self) -> u64 {
        match &self.manifest {
            Some(m) => {
                let manifest_len =
                    std::fs::metadata(self.dir.join(Manifest::file_name(m.generation)))
                        .map_or(0, |f| f.len());
                manifest_len + m.listed_bytes()
            }
            None => {
                self.meta
                    .files
                    .iter()
                    .filter(|(name, _)| name.as_str() != EMBEDDINGS)
                    .map(|(_, &len)| len)
                    .sum::<u64>()
                    + std::fs::metadata(self.dir.join(crate::format::META)).map_or(0, |m| m.len())
            }
        }
    }
}

/// Opens generation `manifest` (read from `manifest_path`) of the index in `dir`.
fn open_segmented(dir: &Path, manifest_path: &Path, manifest: Manifest) -> Result<Index> {
    let corrupt = |r: String| EngineError::corrupt(manifest_path, r);
    let (dim, k) = (manifest.dim, manifest.num_centroids);
    if dim == 0 || k == 0 || k > u32::MAX as usize {
        return Err(corrupt(format!(
            "impossible counts: dim {dim}, {k} centroids"
        )));
    }
    let bpe = manifest
        .codec
        .bytes_per_embedding(dim)
        .map_err(|e| corrupt(format!("codec {:?}: {e}", manifest.codec)))?;
    if bpe != manifest.bytes_per_code {
        return Err(corrupt(format!(
            "bytes_per_code {} where the codec needs {bpe}",
            manifest.bytes_per_code
        )));
    }
    let total: u64 = manifest
        .segments
        .iter()
        .map(|s| s.num_documents as u64)
        .sum();
    if total > u32::MAX as u64 {
        return Err(corrupt(format!("{total} documents do not fit u32 numbers")));
    }
    let codec_dir = dir.join(&manifest.codec_dir);
    let codec = CodecData::open(
        &codec_dir,
        manifest.codec,
        dim,
        k,
        &Expected::Sums(&manifest.codec_files),
        manifest_path,
    )?;
    let mut segments = Vec::with_capacity(manifest.segments.len());
    let mut bases = vec![0u32];
    let mut deleted = RoaringBitmap::new();
    for entry in &manifest.segments {
        let seg = open_segment_entry(dir, manifest_path, entry, dim, bpe, k)?;
        let base = *bases.last().expect("non-empty");
        deleted.extend(seg.deleted.iter().map(|d| d + base));
        bases.push(base + entry.num_documents as u32);
        segments.push(seg);
    }
    let meta = IndexMeta {
        format: FORMAT_NAME.into(),
        format_version: SEGMENTED_VERSION,
        dim,
        codec: manifest.codec,
        bytes_per_code: bpe,
        num_documents: manifest.num_documents(),
        num_embeddings: manifest.num_embeddings(),
        num_centroids: k,
        empty_documents: manifest.segments.iter().map(|s| s.empty_documents).sum(),
        has_embeddings: !manifest.segments.is_empty()
            && manifest.segments.iter().all(|s| s.has_embeddings),
        build: manifest.build.clone(),
        encoder: manifest.encoder.clone(),
        files: manifest
            .codec_files
            .iter()
            .map(|(n, f)| (n.clone(), f.size))
            .collect(),
    };
    Ok(Index {
        dir: dir.to_path_buf(),
        meta,
        manifest: Some(manifest),
        codec: codec.codec,
        centroids: codec.centroids,
        centroid_codes: codec.centroid_codes,
        centroid_scales: codec.centroid_scales,
        codec_dir,
        segments,
        bases,
        deleted,
    })
}

/// Opens one segment of a manifest, with its deletes.
pub(crate) fn open_segment_entry(
    dir: &Path,
    manifest_path: &Path,
    entry: &SegmentEntry,
    dim: usize,
    bpe: usize,
    k: usize,
) -> Result<Segment> {
    let shape = SegmentShape {
        num_documents: entry.num_documents,
        num_embeddings: entry.num_embeddings,
        has_embeddings: entry.has_embeddings,
        dim,
        bytes_per_code: bpe,
        num_centroids: k,
    };
    let mut seg = Segment::open(
        &dir.join(&entry.name),
        &entry.name,
        &shape,
        &Expected::Sums(&entry.files),
        manifest_path,
    )?;
    if let Some(d) = &entry.deletes {
        seg.deleted = read_deletes(&dir.join(&d.file), &d.sum, entry.num_documents)?;
        if seg.deleted.len() != d.count {
            return Err(EngineError::corrupt(
                dir.join(&d.file),
                format!(
                    "{} deletions where the manifest records {}",
                    seg.deleted.len(),
                    d.count
                ),
            ));
        }
    }
    Ok(seg)
}

/// Opens a format-2 index (meta.json and every file in `dir`).
fn open_format2(dir: &Path) -> Result<Index> {
    let meta_path = dir.join(crate::format::META);
    if !meta_path.exists() {
        // Neither CURRENT nor a format-2 meta.json: not an index.
        return Err(EngineError::MissingFile {
            path: dir.join(crate::format::manifest::CURRENT),
        });
    }
    let meta = IndexMeta::read(dir)?;
    let corrupt_meta = |r: String| EngineError::corrupt(&meta_path, r);
    let (dim, k, docs) = (meta.dim, meta.num_centroids, meta.num_documents);
    if meta.format_version >= SEGMENTED_VERSION {
        return Err(corrupt_meta(format!(
            "format {} needs a CURRENT file",
            meta.format_version
        )));
    }
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
    let expected = Expected::Sizes(&meta.files);
    let codec = CodecData::open(dir, meta.codec, dim, k, &expected, &meta_path)?;
    let shape = SegmentShape {
        num_documents: docs,
        num_embeddings: meta.num_embeddings,
        has_embeddings: meta.has_embeddings,
        dim,
        bytes_per_code: bpe,
        num_centroids: k,
    };
    let seg = Segment::open(dir, ".", &shape, &expected, &meta_path)?;
    Ok(Index {
        dir: dir.to_path_buf(),
        meta,
        manifest: None,
        codec: codec.codec,
        centroids: codec.centroids,
        centroid_codes: codec.centroid_codes,
        centroid_scales: codec.centroid_scales,
        codec_dir: dir.to_path_buf(),
        segments: vec![seg],
        bases: vec![0, docs as u32],
        deleted: RoaringBitmap::new(),
    })
}
