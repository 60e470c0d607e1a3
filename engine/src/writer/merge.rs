//! Merging segments without decoding (codes and centroid ids copied, deleted documents
//! dropped, posting lists and offsets rebuilt), and re-training the codec.

use std::path::Path;

use super::{CommitReport, IndexWriter};
use crate::build::compress::SegmentFiles;
use crate::build::pipeline::write_codec_dir;
use crate::build::segment_writer::{sum_files, write_postings, write_segment, Corpus, SegmentPlan};
use crate::build::train::train;
use crate::build::{BuildConfig, BuildProgress};
use crate::error::{EngineError, Result};
use crate::format::manifest::{sync_dir, Manifest, SegmentEntry};
use crate::format::npy::write_array;
use crate::format::table::write_table;
use crate::format::{DOC_IDS, DOC_IDS_MAGIC, DOC_OFFSETS, METADATA};
use crate::index::Index;
use crate::stored::{copy_rows, Rows};

/// Merges the smallest segments of `index` (by live documents) into one until `next`
/// lists at most `keep` of them (segments `next` lists beyond `index`'s, just added,
/// are left alone). Returns the number of segments merged (0: nothing to do).
pub(crate) fn merge_smallest(
    dir: &Path,
    next: &mut Manifest,
    index: &Index,
    keep: usize,
) -> Result<usize> {
    let existing = index.segments.len();
    let extra = next.segments.len().saturating_sub(existing);
    let allowed = keep.saturating_sub(extra).max(1);
    let mut order: Vec<usize> = (0..existing).collect();
    order.sort_by_key(|&s| {
        let seg = &index.segments[s];
        seg.num_documents - seg.deleted.len() as usize
    });
    let mut chosen: Vec<usize> = if existing > allowed {
        order[..existing - allowed + 1].to_vec()
    } else if allowed == 1 {
        // optimize: one segment, and no deleted documents left in it.
        (0..existing).collect()
    } else {
        return Ok(0);
    };
    chosen.sort_unstable();
    let name = format!("seg-{:06}", next.take_number());
    let entry = write_merged(dir, &name, index, &chosen)?;
    fail::fail_point!("merge.after_segment", |_| Err(
        crate::format::manifest::injected("merge.after_segment")
    ));
    let first = chosen[0];
    let names: Vec<&str> = chosen
        .iter()
        .map(|&s| index.segments[s].name.as_str())
        .collect();
    let position = next
        .segments
        .iter()
        .position(|e| e.name == index.segments[first].name)
        .unwrap_or(0);
    next.segments.retain(|e| !names.contains(&e.name.as_str()));
    if entry.num_documents > 0 {
        next.segments
            .insert(position.min(next.segments.len()), entry);
    }
    Ok(chosen.len())
}

/// Writes the live documents of `index`'s segments `chosen` (in order) as segment
/// `name`.
fn write_merged(dir: &Path, name: &str, index: &Index, chosen: &[usize]) -> Result<SegmentEntry> {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).map_err(|e| EngineError::io(&out, e))?;
    let (dim, bpe, k) = (
        index.dim(),
        index.meta().bytes_per_code,
        index.num_centroids(),
    );
    let keep = chosen
        .iter()
        .all(|&s| index.segments[s].embeddings.is_some());
    let live = |s: usize| {
        let seg = &index.segments[s];
        (0..seg.num_documents).filter(move |&d| !seg.deleted.contains(d as u32))
    };
    let mut n = 0usize;
    let mut num_docs = 0usize;
    for &s in chosen {
        for d in live(s) {
            let (a, b) = index.segments[s].doc_range(d);
            n += b - a;
            num_docs += 1;
        }
    }
    let mut files = SegmentFiles::create(&out, n, (dim, bpe, k), keep)?;
    let mut offsets = Vec::with_capacity(num_docs + 1);
    offsets.push(0u64);
    let mut ids: Vec<&str> = Vec::with_capacity(num_docs);
    let mut centroid_ids = Vec::new();
    let (mut trained, mut err_sum, mut err_weight) = (true, 0f64, 0f64);
    for &s in chosen {
        let seg = &index.segments[s];
        let entry = index
            .manifest()
            .and_then(|m| m.segments.iter().find(|e| e.name == seg.name));
        if let Some(e) = entry {
            trained &= e.trained;
            if let Some(r) = e.residual_error {
                err_sum += r * e.num_embeddings as f64;
                err_weight += e.num_embeddings as f64;
            }
        }
        for d in live(s) {
            let new_doc = ids.len() as u32;
            let (a, b) = seg.doc_range(d);
            seg.centroid_ids.get(d, b - a, &mut centroid_ids)?;
            files.centroid_ids.push(&centroid_ids)?;
            for &c in &centroid_ids {
                // Ascending within the document: a repeat is refused, already listed.
                let _ = files.postings[c as usize].try_push(new_doc);
            }
            files.codes.write(&seg.codes.as_slice()[a * bpe..b * bpe])?;
            if let (Some(w), Some(e)) = (files.embeddings.as_mut(), seg.embeddings.as_ref()) {
                w.write(&e.as_slice()[a * dim..b * dim])?;
            }
            offsets.push(offsets[offsets.len() - 1] + (b - a) as u64);
            ids.push(seg.doc_id(d).unwrap_or_default());
        }
    }
    let postings = files.finish()?;
    write_array(&out.join(DOC_OFFSETS), &[num_docs + 1], &offsets)?;
    write_postings(&out.join(crate::format::POSTINGS), &postings, num_docs)?;
    write_table(
        &out.join(DOC_IDS),
        DOC_IDS_MAGIC,
        ids.iter().map(|s| s.as_bytes()),
    )?;
    let kept = |s: usize, d: u32| !index.segments[s].deleted.contains(d);
    copy_rows(index, chosen, &kept, &out.join(METADATA))?;
    sync_dir(&out)?;
    Ok(SegmentEntry {
        name: name.to_owned(),
        num_documents: num_docs,
        num_embeddings: n,
        empty_documents: offsets.windows(2).filter(|w| w[0] == w[1]).count(),
        has_embeddings: keep,
        trained,
        residual_error: (err_weight > 0.0).then(|| err_sum / err_weight),
        files: sum_files(&out)?,
        deletes: None,
    })
}

/// Re-trains centroids and codec on the live documents' kept embeddings and commits
/// them with one segment quantised by them.
pub(crate) fn retrain(
    writer: &mut IndexWriter,
    config: &BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<CommitReport> {
    let index = &writer.index;
    if !index.has_embeddings() {
        return Err(EngineError::NoEmbeddings);
    }
    let dim = index.dim();
    let mut embeddings = Vec::new();
    let mut offsets = vec![0u64];
    for doc in index.live_documents() {
        let rows = index.document_embeddings(doc)?;
        embeddings.extend_from_slice(rows);
        offsets.push(offsets[offsets.len() - 1] + (rows.len() / dim) as u64);
    }
    let mut config = config.clone();
    config.keep_embeddings = true;
    retrain_on(writer, &embeddings, &offsets, &config, progress)
}

/// Re-trains centroids and codec on embeddings the caller gives for the live documents
/// (re-encoded from their stored texts, say), in document order, and commits them with
/// one segment quantised by them.
pub(crate) fn retrain_from(
    writer: &mut IndexWriter,
    embeddings: &[f32],
    doclens: &[usize],
    config: &BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<CommitReport> {
    let dim = writer.index.dim();
    let live = writer.index.num_live_documents();
    if doclens.len() != live {
        return Err(EngineError::InvalidConfig {
            reason: format!(
                "re-training needs embeddings for the {live} live documents, got {}",
                doclens.len()
            ),
        });
    }
    let total: usize = doclens.iter().sum();
    if total.checked_mul(dim) != Some(embeddings.len()) {
        return Err(EngineError::InvalidConfig {
            reason: format!(
                "the document lengths sum to {total} embeddings of dimension {dim}, but {} values were given",
                embeddings.len()
            ),
        });
    }
    crate::build::train::check_finite(embeddings, dim, 0)?;
    let mut offsets = vec![0u64];
    for &n in doclens {
        offsets.push(offsets[offsets.len() - 1] + n as u64);
    }
    retrain_on(writer, embeddings, &offsets, config, progress)
}

fn retrain_on(
    writer: &mut IndexWriter,
    embeddings: &[f32],
    offsets: &[u64],
    config: &BuildConfig,
    progress: &dyn BuildProgress,
) -> Result<CommitReport> {
    let index = &writer.index;
    let dim = index.dim();
    let mut ids = Vec::new();
    let mut fields = Vec::new();
    for doc in index.live_documents() {
        fields.push(index.stored_fields(doc)?);
        ids.push(index.doc_id(doc).to_owned());
    }
    if embeddings.is_empty() {
        return Err(EngineError::EmptyCorpus);
    }
    let mut config = config.clone();
    config.codec = index.meta().codec;
    let trained = train(embeddings, None, dim, &config, progress)?;
    let mut next = writer.manifest.clone();
    let codec_dir = format!("codec-{:06}", next.take_number());
    let seg_name = format!("seg-{:06}", next.take_number());
    write_codec_dir(
        &writer.dir.join(&codec_dir),
        &trained.codec,
        &trained.centroid_codes,
        &trained.centroid_scales,
    )?;
    let plan = SegmentPlan::trained(&trained, &config);
    let corpus = Corpus {
        embeddings,
        dim,
        doc_offsets: offsets,
        ids: &ids,
        pages: None,
    };
    let entry = write_segment(
        &writer.dir.join(&seg_name),
        &seg_name,
        &corpus,
        Rows::Given(&fields),
        &plan,
        progress,
    )?;
    next.codec_files = sum_files(&writer.dir.join(&codec_dir))?;
    next.codec_dir = codec_dir;
    next.num_centroids = trained.centroids.len();
    next.build.kmeans_points = trained.kmeans_points;
    next.build.codec_training_points = trained.codec_points;
    next.build.seed = config.seed;
    next.segments = vec![entry];
    writer.commit(next)?;
    writer.centroids =
        tartan_quantize::Centroids::from_vec(writer.index.centroids().to_vec(), dim)?;
    Ok(writer.report(0, 0, Vec::new(), 1))
}
