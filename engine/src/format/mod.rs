//! The index directory: one file per structure, every array a memory-mappable `.npy`.
//!
//! ```text
//! <index>/
//!   meta.json            IndexMeta: format name and version, dim, codec kind + nbits,
//!                        counts, build parameters, the caller's `encoder` settings and
//!                        the size of every other file (see meta.rs)
//!   centroids.npy        i8  [num_centroids, dim]   k-means centroids, 8 bits a coordinate
//!   centroid_scales.npy  f32 [num_centroids]        centroid c = centroids[c] * scales[c]
//!                        (centroids.rs; residuals are taken from these vectors)
//!   codec_codebooks.npy  f32 [dim / (8 / nbits), 2^8, 8 / nbits]  product codes: one
//!                        256-entry codebook per sub-space (8 / nbits dims a byte)
//!   codec_cutoffs.npy    f32 [2^nbits - 1]  scalar codes: bucket cutoffs   } instead of
//!   codec_weights.npy    f32 [2^nbits]      scalar codes: bucket weights   } codebooks
//!   codes.npy            u8  [num_embeddings, bytes_per_code]  packed residual codes
//!   centroid_ids.bin     magic TARTNCID, then one Elias–Fano record a document: the
//!                        centroid of each of its embeddings, ascending (a document's
//!                        embeddings are stored sorted by centroid; doc_centroids.rs)
//!   doc_offsets.npy      u64 [num_documents + 1]  document d owns embeddings
//!                        offsets[d] .. offsets[d+1] (contiguous, in build order)
//!   postings.bin         table (table.rs), magic TARTNPST, num_centroids records:
//!                        record c lists the documents with an embedding assigned to
//!                        centroid c, ascending, Elias–Fano coded (elias_fano.rs)
//!   doc_ids.bin          table (table.rs), magic TARTNIDS, num_documents records:
//!                        record d is document d's external id, UTF-8
//!   embeddings.npy       f32 [num_embeddings, dim]  optional (keep_embeddings): the
//!                        uncompressed embeddings, for exact search
//!   metadata.sqlite      format 3, in every segment written since metadata exists:
//!                        SQLite (tartan_metadata's schema) with each document's id,
//!                        flat JSON metadata and optional text (+ FTS5), row = local
//!                        document number; size and CRC-32C in the manifest like the
//!                        rest, opened read-only (immutable) with the segment
//! ```
//!
//! All integers are little endian. At 2 bits and dim 128 an embedding costs 32 code
//! bytes + about 10 bits of centroid id + its share of the posting lists (about 11 bits a
//! distinct (centroid, document) pair), of the centroids (132 bytes each), offsets and ids.
//!
//! The builder writes everything into a temporary sibling directory, `meta.json`
//! last, and renames the directory into place as its final step.

pub mod centroids;
pub mod checksum;
pub mod doc_centroids;
pub mod elias_fano;
pub mod manifest;
pub mod meta;
pub mod npy;
pub mod npy_input;
pub mod table;

/// `meta.json`
pub const META: &str = "meta.json";
/// `centroids.npy`
pub const CENTROIDS: &str = "centroids.npy";
/// `centroid_scales.npy`
pub const CENTROID_SCALES: &str = "centroid_scales.npy";
/// `codec_codebooks.npy` (product codes)
pub const CODEBOOKS: &str = "codec_codebooks.npy";
/// `codec_cutoffs.npy` (scalar codes)
pub const CUTOFFS: &str = "codec_cutoffs.npy";
/// `codec_weights.npy` (scalar codes)
pub const WEIGHTS: &str = "codec_weights.npy";
/// `codes.npy`
pub const CODES: &str = "codes.npy";
/// `centroid_ids.bin`
pub const CENTROID_IDS: &str = "centroid_ids.bin";
/// `doc_offsets.npy`
pub const DOC_OFFSETS: &str = "doc_offsets.npy";
/// `postings.bin`
pub const POSTINGS: &str = "postings.bin";
/// `doc_ids.bin`
pub const DOC_IDS: &str = "doc_ids.bin";
/// `embeddings.npy`
pub const EMBEDDINGS: &str = "embeddings.npy";
/// A segment's metadata and stored text (SQLite, written by `tartan_metadata`): ids,
/// flat JSON metadata, optional text and its full-text index. Absent from segments
/// written before metadata existed, which then read as documents without any.
pub const METADATA: &str = tartan_metadata::FILE_NAME;

/// Magic of `postings.bin`.
pub const POSTINGS_MAGIC: &[u8; 8] = b"TARTNPST";
/// Magic of `doc_ids.bin`.
pub const DOC_IDS_MAGIC: &[u8; 8] = b"TARTNIDS";
