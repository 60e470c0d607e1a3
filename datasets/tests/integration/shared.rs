//! Readers over the real collections in ../shared/datasets (skipped when absent).

use tartan_datasets::{glasgow, BeirDataset, MsMarcoPassage, Qrels, TitleJoin};

use crate::{fixtures, shared_datasets};

#[test]
fn scifact_beir_layout_reads_whole() {
    let Some(shared) = shared_datasets() else {
        return;
    };
    let ds = BeirDataset::open(shared.join("scifact")).unwrap();
    let mut reader = ds.corpus();
    let mut n = 0;
    let mut first = None;
    for doc in reader.by_ref() {
        let doc = doc.unwrap();
        if first.is_none() {
            first = Some(doc);
        }
        n += 1;
    }
    assert_eq!(n, 5183);
    assert_eq!(reader.blank_lines(), 0);
    let first = first.unwrap();
    assert!(!first.title.is_empty());
    assert_eq!(
        first.text_for_encoding(),
        format!("{} {}", first.title, first.text).trim()
    );
    assert!(first
        .text_joined(TitleJoin::Pipe)
        .starts_with(&format!("{} | ", first.title)));

    assert_eq!(ds.queries().unwrap().len(), 1109);
    assert_eq!(ds.splits().unwrap(), ["test", "train"]);
    let (queries, qrels) = ds.split("test").unwrap();
    assert_eq!(
        (queries.len(), qrels.num_queries(), qrels.len()),
        (300, 300, 339)
    );
    let (queries, qrels) = ds.split("train").unwrap();
    assert_eq!((queries.len(), qrels.len()), (809, 919));
}

#[test]
fn msmarco_dev_small_in_anserini_names() {
    let Some(shared) = shared_datasets() else {
        return;
    };
    let ms = MsMarcoPassage::open(shared.join("msmarco-passage-dev-small")).unwrap();
    let queries = ms.queries("dev.small").unwrap();
    assert_eq!(queries.len(), 6980);
    let qrels = ms.qrels("dev.small").unwrap();
    assert_eq!((qrels.num_queries(), qrels.len()), (6980, 7437));
    assert!(queries.iter().all(|q| qrels.contains_query(&q.id)));
    // No collection here: the error names the file.
    let err = ms.collection().next().unwrap().unwrap_err().to_string();
    assert!(err.contains("collection.tsv"), "{err}");
}

#[test]
fn glasgow_collections_read_with_their_counts() {
    let Some(shared) = shared_datasets() else {
        return;
    };
    let cran = glasgow::cranfield(&shared.join("cranfield")).unwrap();
    assert_eq!(
        (cran.docs.len(), cran.queries.len(), cran.qrels.len()),
        (1400, 225, 1837)
    );
    assert_eq!(cran.qrels.num_queries(), 225);
    assert!(cran
        .queries
        .iter()
        .all(|q| cran.qrels.contains_query(&q.id)));
    let med = glasgow::medline(&shared.join("medline")).unwrap();
    assert_eq!(
        (med.docs.len(), med.queries.len(), med.qrels.len()),
        (1033, 30, 696)
    );
    let old = glasgow::read_pairs_qrels(&shared.join("medline/MED.REL.OLD")).unwrap();
    let ones: Qrels = med
        .qrels
        .iter()
        .flat_map(|(q, j)| j.keys().map(move |d| (q.to_string(), d.clone(), 1)))
        .collect();
    assert_eq!(old, ones, "MED.REL and MED.REL.OLD hold the same pairs");
    let adi = glasgow::adi(&shared.join("adi")).unwrap();
    assert_eq!(
        (adi.docs.len(), adi.queries.len(), adi.qrels.len()),
        (82, 35, 170)
    );

    // The fixture's judgments were made by the script's own parser: tartan's agree.
    let fixture_cran = Qrels::read_trec(&fixtures().join("qrels/cranfield.qrels")).unwrap();
    assert_eq!(fixture_cran, cran.qrels);
    let fixture_med = Qrels::read_trec(&fixtures().join("qrels/medline.qrels")).unwrap();
    assert_eq!(fixture_med, med.qrels);
    let fixture_sci = Qrels::read_trec(&fixtures().join("qrels/scifact_test.qrels")).unwrap();
    let sci = BeirDataset::open(shared.join("scifact"))
        .unwrap()
        .qrels("test")
        .unwrap();
    assert_eq!(fixture_sci, sci);
}
