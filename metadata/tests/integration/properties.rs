//! Property tests: SQL evaluation agrees with a direct reading of the documented
//! semantics, and the algebraic identities of the language hold.

use proptest::prelude::*;
use roaring::RoaringBitmap;
use serde_json::{Map, Value};
use tartan_metadata::{Condition, Filter, Scalar, SegmentStore, SegmentStoreWriter, StoreOptions};

const KEYS: [&str; 4] = ["a", "b", "c", "d"];
const STRINGS: [&str; 5] = ["", "x", "xy", "y", "Y"];
const FLOATS: [f64; 5] = [-1.5, 0.0, 0.5, 2.0, 2.5];

fn string() -> impl Strategy<Value = String> {
    proptest::sample::select(&STRINGS[..]).prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        Just(Scalar::Null),
        any::<bool>().prop_map(Scalar::Bool),
        (-3i64..=3).prop_map(Scalar::Int),
        proptest::sample::select(&FLOATS[..]).prop_map(Scalar::Float),
        string().prop_map(Scalar::String),
    ]
}

fn bound() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        (-3i64..=3).prop_map(Scalar::Int),
        proptest::sample::select(&FLOATS[..]).prop_map(Scalar::Float),
        string().prop_map(Scalar::String),
    ]
}

fn json_of(scalar: &Scalar) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Float(f) => Value::from(*f),
        Scalar::String(s) => Value::String(s.clone()),
    }
}

fn metadata_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => scalar().prop_map(|s| json_of(&s)),
        1 => proptest::collection::vec(string(), 0..3)
            .prop_map(|tags| Value::Array(tags.into_iter().map(Value::String).collect())),
    ]
}

fn document() -> impl Strategy<Value = Option<Map<String, Value>>> {
    proptest::option::weighted(
        0.9,
        proptest::collection::btree_map(
            proptest::sample::select(&KEYS[..3]),
            metadata_value(),
            0..3,
        )
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
    )
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        scalar().prop_map(Condition::Eq),
        scalar().prop_map(Condition::Ne),
        bound().prop_map(Condition::Gt),
        bound().prop_map(Condition::Gte),
        bound().prop_map(Condition::Lt),
        bound().prop_map(Condition::Lte),
        proptest::collection::vec(scalar(), 0..3).prop_map(Condition::In),
        proptest::collection::vec(scalar(), 0..3).prop_map(Condition::Nin),
        any::<bool>().prop_map(Condition::Exists),
        string().prop_map(Condition::Contains),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = (proptest::sample::select(&KEYS[..]), condition()).prop_map(|(key, condition)| {
        Filter::Field {
            key: key.to_owned(),
            condition,
        }
    });
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

// ---- the reference: the semantics of the module documentation, read directly ----

/// The field's values: its scalar, or each element of its array.
fn values<'a>(doc: Option<&'a Map<String, Value>>, key: &str) -> Vec<&'a Value> {
    match doc.and_then(|d| d.get(key)) {
        None => Vec::new(),
        Some(Value::Array(elements)) => elements.iter().collect(),
        Some(value) => vec![value],
    }
}

fn equal(value: &Value, scalar: &Scalar) -> bool {
    match (value, scalar) {
        (Value::Null, Scalar::Null) => true,
        (Value::Bool(a), Scalar::Bool(b)) => a == b,
        (Value::String(a), Scalar::String(b)) => a == b,
        (Value::Number(a), Scalar::Int(b)) => a.as_f64() == Some(*b as f64),
        (Value::Number(a), Scalar::Float(b)) => a.as_f64() == Some(*b),
        _ => false,
    }
}

fn order(value: &Value, bound: &Scalar) -> Option<std::cmp::Ordering> {
    match (value, bound) {
        (Value::Number(a), Scalar::Int(b)) => a.as_f64()?.partial_cmp(&(*b as f64)),
        (Value::Number(a), Scalar::Float(b)) => a.as_f64()?.partial_cmp(b),
        (Value::String(a), Scalar::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    }
}

fn matches(filter: &Filter, doc: Option<&Map<String, Value>>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match filter {
        Filter::And(filters) => filters.iter().all(|f| matches(f, doc)),
        Filter::Or(filters) => filters.iter().any(|f| matches(f, doc)),
        Filter::Not(f) => !matches(f, doc),
        Filter::Text(_) => unreachable!("not generated"),
        Filter::Field { key, condition } => {
            let values = values(doc, key);
            let any = |test: &dyn Fn(&Value) -> bool| values.iter().any(|v| test(v));
            match condition {
                Condition::Eq(s) => any(&|v| equal(v, s)),
                Condition::Ne(s) => !any(&|v| equal(v, s)),
                Condition::Gt(b) => any(&|v| order(v, b) == Some(Greater)),
                Condition::Gte(b) => any(&|v| matches!(order(v, b), Some(Greater | Equal))),
                Condition::Lt(b) => any(&|v| order(v, b) == Some(Less)),
                Condition::Lte(b) => any(&|v| matches!(order(v, b), Some(Less | Equal))),
                Condition::In(list) => any(&|v| list.iter().any(|s| equal(v, s))),
                Condition::Nin(list) => !any(&|v| list.iter().any(|s| equal(v, s))),
                Condition::Exists(e) => doc.is_some_and(|d| d.contains_key(key)) == *e,
                Condition::Contains(tag) => matches!(
                    doc.and_then(|d| d.get(key)),
                    Some(Value::Array(elements)) if elements.iter().any(|e| e == tag)
                ),
            }
        }
    }
}

fn store(docs: &[Option<Map<String, Value>>]) -> (tempfile::TempDir, SegmentStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("metadata.sqlite");
    let mut writer = SegmentStoreWriter::create(&path).expect("create");
    for (ordinal, doc) in docs.iter().enumerate() {
        let ordinal = u32::try_from(ordinal).expect("small");
        writer
            .add(ordinal, &format!("d{ordinal}"), doc.as_ref(), None)
            .expect("add");
    }
    writer.finish().expect("finish");
    let store = SegmentStore::open_with(&path, StoreOptions { cache_capacity: 0 }).expect("open");
    (dir, store)
}

fn evaluate(store: &SegmentStore, filter: &Filter) -> RoaringBitmap {
    store.evaluate_uncached(filter).expect("evaluate")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sql_agrees_with_the_documented_semantics(
        docs in proptest::collection::vec(document(), 0..12),
        filters in proptest::collection::vec(filter(), 1..8),
    ) {
        let (_dir, store) = store(&docs);
        let all = RoaringBitmap::from_iter(0..u32::try_from(docs.len()).expect("small"));
        for filter in &filters {
            let expected: RoaringBitmap = (0..docs.len())
                .filter(|&i| matches(filter, docs[i].as_ref()))
                .map(|i| u32::try_from(i).expect("small"))
                .collect();
            let found = evaluate(&store, filter);
            prop_assert_eq!(&found, &expected, "filter {}", filter);
            // SQLite alone (one statement with INTERSECT/UNION/EXCEPT) agrees.
            prop_assert_eq!(&store.evaluate_in_sql(filter).expect("sql"), &expected, "filter {}", filter);
            // $not is the complement within the documents.
            let negated = evaluate(&store, &Filter::Not(Box::new(filter.clone())));
            prop_assert_eq!(negated, &all - &found, "filter {}", filter);
            prop_assert_eq!(store.ordinals().expect("ordinals"), &all);
            // The canonical form parses back to the same filter.
            prop_assert_eq!(Filter::parse(&filter.to_json()), Ok(filter.clone()));
            // What a segment without a store selects: the semantics on a bare document.
            prop_assert_eq!(filter.matches_empty_document(), matches(filter, None), "filter {}", filter);
        }
    }

    #[test]
    fn in_of_one_is_eq_and_nin_is_not_in(
        docs in proptest::collection::vec(document(), 0..12),
        key in proptest::sample::select(&KEYS[..]),
        value in scalar(),
        list in proptest::collection::vec(scalar(), 0..4),
    ) {
        let (_dir, store) = store(&docs);
        let field = |condition| Filter::Field { key: key.to_owned(), condition };
        prop_assert_eq!(
            evaluate(&store, &field(Condition::In(vec![value.clone()]))),
            evaluate(&store, &field(Condition::Eq(value.clone())))
        );
        prop_assert_eq!(
            evaluate(&store, &field(Condition::Ne(value.clone()))),
            evaluate(&store, &Filter::Not(Box::new(field(Condition::Eq(value)))))
        );
        prop_assert_eq!(
            evaluate(&store, &field(Condition::Nin(list.clone()))),
            evaluate(&store, &Filter::Not(Box::new(field(Condition::In(list.clone())))))
        );
        // $in is the union of its $eq's.
        let union = list.iter().fold(RoaringBitmap::new(), |acc, v| {
            acc | evaluate(&store, &field(Condition::Eq(v.clone())))
        });
        prop_assert_eq!(evaluate(&store, &field(Condition::In(list))), union);
    }
}
