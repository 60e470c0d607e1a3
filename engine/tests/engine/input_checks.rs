//! Build input that is not what ColBERT makes: rows that are not unit-norm (scaled,
//! all zero) are refused with an error naming the row, its document and its token,
//! from both the builder and `.npy` input, and nothing is left on disk.

use tartan_engine::format::npy::write_array;
use tartan_engine::{build_from_npy, BuildConfig, EngineError, IndexBuilder, NoProgress};

use crate::common::scratch_dir;

const DIM: usize = 8;

/// `n` unit-norm rows of dimension [`DIM`], all different.
fn unit_rows(n: usize) -> Vec<f32> {
    let mut rows = Vec::with_capacity(n * DIM);
    for r in 0..n {
        let row: Vec<f32> = (0..DIM)
            .map(|c| ((r * 5 + c * 3) % 7) as f32 + 1.0)
            .collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        rows.extend(row.iter().map(|x| x / norm));
    }
    rows
}

#[test]
fn the_builder_refuses_scaled_and_zero_rows_naming_them() {
    let base = scratch_dir("norm_builder");
    for (label, damage) in [
        (
            "scaled",
            (|row: &mut [f32]| row.iter_mut().for_each(|x| *x *= 10.0)) as fn(&mut [f32]),
        ),
        ("zero", |row: &mut [f32]| row.fill(0.0)),
    ] {
        let dir = base.join(label).join("index");
        let mut builder = IndexBuilder::new(&dir, DIM, BuildConfig::default()).unwrap();
        builder.add_document("a", &unit_rows(3)).unwrap();
        let mut doc = unit_rows(4);
        damage(&mut doc[2 * DIM..3 * DIM]);
        let err = builder.add_document("b", &doc).unwrap_err();
        match &err {
            EngineError::NotUnitNorm {
                row,
                document,
                token,
                norm,
            } => {
                assert_eq!((*row, document.as_str(), *token), (5, "b", 2), "{err}");
                let want = if label == "zero" { 0.0 } else { 10.0 };
                assert!((norm - want).abs() < 1e-3, "{err}");
            }
            other => panic!("{label}: {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("document \"b\", token 2") && text.contains("L2-normalised"),
            "{text}"
        );
        // Rounding is not a mistake: a norm 0.5% off is accepted.
        let mut near = unit_rows(2);
        near.iter_mut().for_each(|x| *x *= 1.005);
        builder.add_document("c", &near).unwrap();
        drop(builder);
        assert!(!dir.exists());
    }
}

#[test]
fn npy_input_with_a_bad_row_is_refused_before_anything_is_written() {
    let base = scratch_dir("norm_npy");
    let (emb, lens, out) = (base.join("E.npy"), base.join("L.npy"), base.join("index"));
    let mut rows = unit_rows(10);
    // Row 7 is document 2 ("d2"), token 1 (lengths 3, 3, 4).
    rows[7 * DIM..8 * DIM].iter_mut().for_each(|x| *x *= 10.0);
    write_array(&emb, &[10, DIM], &rows).unwrap();
    write_array(&lens, &[3], &[3i64, 3, 4]).unwrap();
    let ids = Some(vec!["d0".to_string(), "d1".into(), "d2".into()]);
    let err =
        build_from_npy(&emb, &lens, ids, &out, BuildConfig::default(), &NoProgress).unwrap_err();
    assert!(
        matches!(&err, EngineError::NotUnitNorm { row: 7, document, token: 1, .. } if document == "d2"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(&base).unwrap().count(), 2, "no leftovers");

    // An all-zero row in a document after an empty one.
    let mut rows = unit_rows(4);
    rows[..DIM].fill(0.0);
    write_array(&emb, &[4, DIM], &rows).unwrap();
    write_array(&lens, &[2], &[0i64, 4]).unwrap();
    let err =
        build_from_npy(&emb, &lens, None, &out, BuildConfig::default(), &NoProgress).unwrap_err();
    assert!(
        matches!(&err, EngineError::NotUnitNorm { row: 0, document, token: 0, norm } if document == "1" && *norm == 0.0),
        "{err}"
    );
}
