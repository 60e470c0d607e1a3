//! [`Segment`]: one immutable, memory-mapped part of an index (its documents' codes,
//! centroid ids, offsets, posting lists, ids and optional kept embeddings), and
//! [`CodecData`]: the centroids and residual codec every segment shares.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use tartan_quantize::{CodecKind, ProductCodec, ResidualCodec, ScalarCodec};

use crate::error::{EngineError, Result};
use crate::format::centroids as centroid_table;
use crate::format::checksum::FileSum;
use crate::format::doc_centroids::DocCentroids;
use crate::format::npy::{Element, MappedArray};
use crate::format::table::Table;
use crate::format::{
    CENTROIDS, CENTROID_IDS, CENTROID_SCALES, CODEBOOKS, CODES, CUTOFFS, DOC_IDS, DOC_IDS_MAGIC,
    DOC_OFFSETS, EMBEDDINGS, METADATA, POSTINGS, POSTINGS_MAGIC, WEIGHTS,
};

/// What a segment or codec directory's files are checked against at open.
pub(crate) enum Expected<'a> {
    /// Format 3: size and checksum of each file, from the manifest. Small files are
    /// read in full and checksummed; large ones have their size checked.
    Sums(&'a BTreeMap<String, FileSum>),
    /// Format 2: sizes from meta.json.
    Sizes(&'a BTreeMap<String, u64>),
}

impl Expected<'_> {
    /// Checks the size of `name` in `dir` (and nothing else).
    fn check_size(&self, dir: &Path, name: &str, record: &Path) -> Result<()> {
        let path = dir.join(name);
        let recorded = match self {
            Expected::Sums(s) => s.get(name).map(|f| f.size),
            Expected::Sizes(s) => s.get(name).copied(),
        }
        .ok_or_else(|| EngineError::corrupt(record, format!("no recorded size for {name}")))?;
        let actual = std::fs::metadata(&path)
            .map_err(|e| EngineError::open(&path, e))?
            .len();
        if actual != recorded {
            return Err(EngineError::corrupt(
                path,
                format!("{actual} bytes where the index records {recorded}"),
            ));
        }
        Ok(())
    }

    /// Checks the checksum of a small file already mapped (format 3 only).
    fn check_content(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        if let Expected::Sums(sums) = self {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if let Some(sum) = sums.get(name) {
                sum.check_bytes(path, bytes)?;
            }
        }
        Ok(())
    }
}

/// The centroids and the residual codec, shared by every segment.
pub(crate) struct CodecData {
    pub codec: ResidualCodec,
    /// Rebuilt from the 8-bit table at open (search reads every row a query).
    pub centroids: Vec<f32>,
    /// The 8-bit centroid table as stored (`centroids = codes * scales`), which stage 1
    /// reads: a quarter of the bytes of the widened table.
    pub centroid_codes: MappedArray<i8>,
    /// One scale a centroid.
    pub centroid_scales: MappedArray<f32>,
}

/// The files of a codec directory for `kind`.
pub(crate) fn codec_file_names(kind: CodecKind) -> Vec<&'static str> {
    let mut names = vec![CENTROIDS, CENTROID_SCALES];
    match kind {
        CodecKind::Product { .. } => names.push(CODEBOOKS),
        CodecKind::Scalar { .. } => names.extend([CUTOFFS, WEIGHTS]),
    }
    names
}

impl CodecData {
    /// Opens the codec files in `dir`; every one is small, so each is checked in full
    /// against `expected`. `record` names the file holding the records (for errors).
    pub fn open(
        dir: &Path,
        kind: CodecKind,
        dim: usize,
        k: usize,
        expected: &Expected<'_>,
        record: &Path,
    ) -> Result<CodecData> {
        for name in codec_file_names(kind) {
            expected.check_size(dir, name, record)?;
        }
        let file = |name: &str| dir.join(name);
        let centroid_codes = MappedArray::<i8>::open(&file(CENTROIDS), &[Some(k), Some(dim)])?;
        expected.check_content(&file(CENTROIDS), centroid_codes.file_bytes())?;
        let centroid_scales = MappedArray::<f32>::open(&file(CENTROID_SCALES), &[Some(k)])?;
        expected.check_content(&file(CENTROID_SCALES), centroid_scales.file_bytes())?;
        if let Some(c) = centroid_scales
            .as_slice()
            .iter()
            .position(|x| !x.is_finite() || *x < 0.0)
        {
            return Err(EngineError::corrupt(
                file(CENTROID_SCALES),
                format!("invalid scale at centroid {c}"),
            ));
        }
        let centroids =
            centroid_table::dequantize(centroid_codes.as_slice(), centroid_scales.as_slice(), dim);
        if let Some(i) = centroids.iter().position(|x| !x.is_finite()) {
            return Err(EngineError::corrupt(
                file(CENTROIDS),
                format!("non-finite value at centroid {}", i / dim),
            ));
        }
        let codec = open_codec(dir, kind, dim, expected)?;
        Ok(CodecData {
            codec,
            centroids,
            centroid_codes,
            centroid_scales,
        })
    }
}

/// One immutable segment, memory-mapped.
pub(crate) struct Segment {
    /// The segment directory.
    pub dir: PathBuf,
    /// Its name in the manifest (the directory's name; "." for a format-2 index).
    pub name: String,
    pub num_documents: usize,
    pub codes: MappedArray<u8>,
    pub centroid_ids: DocCentroids,
    pub doc_offsets: MappedArray<u64>,
    pub postings: Table,
    pub doc_ids: Table,
    pub embeddings: Option<MappedArray<f32>>,
    /// Its metadata and text (None for a segment written before metadata existed).
    pub store: Option<tartan_metadata::SegmentStore>,
    /// Deleted documents (local numbers).
    pub deleted: RoaringBitmap,
}

/// Counts and shape a segment is opened against.
pub(crate) struct SegmentShape {
    pub num_documents: usize,
    pub num_embeddings: usize,
    pub has_embeddings: bool,
    pub dim: usize,
    pub bytes_per_code: usize,
    pub num_centroids: usize,
}

impl Segment {
    /// Opens the segment in `dir`: sizes of every file, checksums of the small ones
    /// (offsets and ids, read in full anyway), headers and cross-file consistency.
    pub fn open(
        dir: &Path,
        name: &str,
        shape: &SegmentShape,
        expected: &Expected<'_>,
        record: &Path,
    ) -> Result<Segment> {
        let SegmentShape {
            num_documents: docs,
            num_embeddings: n,
            has_embeddings,
            dim,
            bytes_per_code: bpe,
            num_centroids: k,
        } = *shape;
        let mut names = vec![CODES, CENTROID_IDS, DOC_OFFSETS, POSTINGS, DOC_IDS];
        if has_embeddings {
            names.push(EMBEDDINGS);
        }
        let has_store = matches!(expected, Expected::Sums(sums) if sums.contains_key(METADATA));
        if has_store {
            names.push(METADATA);
        }
        for name in names {
            expected.check_size(dir, name, record)?;
        }
        let file = |name: &str| dir.join(name);
        let doc_offsets = MappedArray::<u64>::open(&file(DOC_OFFSETS), &[Some(docs + 1)])?;
        expected.check_content(&file(DOC_OFFSETS), doc_offsets.file_bytes())?;
        check_offsets(&file(DOC_OFFSETS), doc_offsets.as_slice(), n)?;
        let doc_ids = Table::open(&file(DOC_IDS), DOC_IDS_MAGIC, docs)?;
        expected.check_content(&file(DOC_IDS), doc_ids.file_bytes())?;
        for d in 0..docs {
            let id = doc_ids.get(d).unwrap_or_default();
            if std::str::from_utf8(id).is_err() {
                return Err(EngineError::corrupt(
                    file(DOC_IDS),
                    format!("id of document {d} is not UTF-8"),
                ));
            }
        }
        let codes = MappedArray::<u8>::open(&file(CODES), &[Some(n), Some(bpe)])?;
        let centroid_ids = DocCentroids::open(&file(CENTROID_IDS), doc_offsets.as_slice(), k)?;
        let postings = Table::open(&file(POSTINGS), POSTINGS_MAGIC, k)?;
        let embeddings = if has_embeddings {
            Some(MappedArray::<f32>::open(
                &file(EMBEDDINGS),
                &[Some(n), Some(dim)],
            )?)
        } else {
            None
        };
        let store = if has_store {
            let store = tartan_metadata::SegmentStore::open(file(METADATA))?;
            if store.count() != docs as u64 {
                return Err(EngineError::corrupt(
                    file(METADATA),
                    format!("{} documents where the segment has {docs}", store.count()),
                ));
            }
            Some(store)
        } else {
            None
        };
        Ok(Segment {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            num_documents: docs,
            codes,
            centroid_ids,
            doc_offsets,
            postings,
            doc_ids,
            embeddings,
            store,
            deleted: RoaringBitmap::new(),
        })
    }

    /// The embedding range `start..end` of local document `doc` (`< num_documents`).
    #[inline]
    pub fn doc_range(&self, doc: usize) -> (usize, usize) {
        let o = self.doc_offsets.as_slice();
        (o[doc] as usize, o[doc + 1] as usize)
    }

    /// External id of local document `doc`, None when out of range.
    pub fn doc_id(&self, doc: usize) -> Option<&str> {
        // Every id was checked to be UTF-8 when the segment was opened.
        self.doc_ids
            .get(doc)
            .map(|b| std::str::from_utf8(b).unwrap_or_default())
    }
}

/// Reads a delete file: a portable roaring bitmap of local document numbers, each below
/// `num_documents`, checked against its recorded checksum.
pub(crate) fn read_deletes(
    path: &Path,
    sum: &FileSum,
    num_documents: usize,
) -> Result<RoaringBitmap> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::open(path, e))?;
    sum.check_bytes(path, &bytes)?;
    let bitmap = RoaringBitmap::deserialize_from(&bytes[..])
        .map_err(|e| EngineError::corrupt(path, format!("not a roaring bitmap: {e}")))?;
    if let Some(max) = bitmap.max() {
        if max as usize >= num_documents {
            return Err(EngineError::corrupt(
                path,
                format!("deletes document {max} of a segment of {num_documents}"),
            ));
        }
    }
    Ok(bitmap)
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

fn read_vec<T: Element>(
    path: &Path,
    shape: &[Option<usize>],
    expected: &Expected<'_>,
) -> Result<Vec<T>> {
    let array = MappedArray::<T>::open(path, shape)?;
    expected.check_content(path, array.file_bytes())?;
    Ok(array.as_slice().to_vec())
}

fn open_codec(
    dir: &Path,
    kind: CodecKind,
    dim: usize,
    expected: &Expected<'_>,
) -> Result<ResidualCodec> {
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
                expected,
            )?;
            ProductCodec::from_codebooks(dim, nbits, books)
                .map(ResidualCodec::Product)
                .map_err(|e| EngineError::corrupt(path, e.to_string()))
        }
        CodecKind::Scalar { nbits } => {
            let buckets = 1usize << nbits.min(8);
            let cutoffs = read_vec::<f32>(&dir.join(CUTOFFS), &[Some(buckets - 1)], expected)?;
            let weights = read_vec::<f32>(&dir.join(WEIGHTS), &[Some(buckets)], expected)?;
            ScalarCodec::from_buckets(dim, nbits, cutoffs, weights)
                .map(ResidualCodec::Scalar)
                .map_err(|e| EngineError::corrupt(dir.join(CUTOFFS), e.to_string()))
        }
    }
}
