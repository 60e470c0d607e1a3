//! The JSON filter language, in the style of MongoDB, Chroma and Pinecone.
//!
//! ```json
//! {"year": {"$gte": 2020}, "source": {"$in": ["pubmed", "arxiv"]}, "tags": {"$contains": "covid"}}
//! ```
//!
//! # Grammar
//! - A filter is an object. Its entries all hold (an implicit `$and`); `{}` matches every
//!   document.
//! - `"key": value` with a scalar value is `"key": {"$eq": value}`.
//! - `"key": {"$op": operand, ...}` applies each operator to the field (all must hold):
//!   `$eq $ne $gt $gte $lt $lte` take a scalar, `$in $nin` an array of scalars,
//!   `$exists` a bool, `$contains` a string, `$not` a condition object.
//! - `"$and": [filter, ...]`, `"$or": [filter, ...]` (non-empty), `"$not": filter`.
//! - `"$text": "query words"`: the document's stored text contains every word (FTS5,
//!   the same stemming as BM25 search). Words are runs of letters and digits; FTS5
//!   syntax in the input (quotes, `OR`, `NEAR`, `*`, `-`) is read as plain words.
//!
//! Scalars are strings, numbers (integers and floats compare with each other), bools
//! and null. Arrays are not values to compare with: use `$in` for "one of several
//! values" and `$contains` for membership in a document's array of strings.
//!
//! # Semantics
//! - A field's *values* are its scalar value, or each element of its array of strings.
//!   `$eq $gt $gte $lt $lte $in` hold when *some* value of the field satisfies them (as in
//!   MongoDB: `{"tags": "a"}` matches `"tags": ["a", "b"]`). `$contains` holds only for
//!   arrays with an equal element.
//! - Comparisons are within one type (MongoDB's type bracketing): `{"$gt": 5}` only ever
//!   matches numbers, `{"$gt": "m"}` only strings (compared bytewise as UTF-8, so ISO
//!   dates compare as dates), `{"$eq": true}` only bools (never the number 1), and
//!   `{"$eq": null}` only an explicit null. Range operators refuse bools and null.
//! - A missing key satisfies no comparison: a document without `year` matches neither
//!   `{"year": {"$gt": 0}}` nor `{"year": {"$lte": 0}}`, nor `{"year": null}`.
//! - `$ne` and `$nin` are exact negations: `{"k": {"$ne": v}}` is
//!   `{"$not": {"k": {"$eq": v}}}`, so a document without `k` matches `$ne` and `$nin`,
//!   like MongoDB. Use `{"k": {"$exists": true, "$ne": v}}` to demand the key.
//! - `$not` is the complement within the segment's documents.
//! - `$text` on a segment that stores no text matches nothing
//!   ([`SegmentStore::has_text`](crate::SegmentStore::has_text) tells).
//!
//! A filter is compiled to parameterised SQL ([`crate::CompiledFilter`]): keys, values
//! and words are bound parameters, never part of the SQL text.
//! [`SegmentStore::evaluate`](crate::SegmentStore::evaluate) runs one query per condition
//! and combines the bitmaps; [`SegmentStore::compile`](crate::SegmentStore::compile)
//! gives the whole filter as one statement.

mod error;
mod parse;
pub(crate) mod sql;

pub use error::{FilterError, FilterProblem};
pub use sql::CompiledFilter;

use serde_json::{json, Map, Value};

/// A parsed filter. Build one with [`Filter::parse`] (or `str::parse`); see the
/// [module documentation](self) for the language.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every sub-filter holds. `And(vec![])` (the filter `{}`) matches every document.
    And(Vec<Filter>),
    /// At least one sub-filter holds.
    Or(Vec<Filter>),
    /// The sub-filter does not hold (complement within the segment's documents).
    Not(Box<Filter>),
    /// A condition on one metadata key.
    Field {
        /// The metadata key.
        key: String,
        /// What its values must satisfy.
        condition: Condition,
    },
    /// The stored text contains every one of these words (already split; non-empty).
    Text(Vec<String>),
}

/// A condition on one metadata field.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Some value equals.
    Eq(Scalar),
    /// No value equals (a missing key matches).
    Ne(Scalar),
    /// Some value is greater (number or string only).
    Gt(Scalar),
    /// Some value is greater or equal (number or string only).
    Gte(Scalar),
    /// Some value is less (number or string only).
    Lt(Scalar),
    /// Some value is less or equal (number or string only).
    Lte(Scalar),
    /// Some value equals one of these (an empty list matches nothing).
    In(Vec<Scalar>),
    /// No value equals any of these (a missing key matches).
    Nin(Vec<Scalar>),
    /// The key is present (`true`) or absent (`false`).
    Exists(bool),
    /// The field is an array of strings with this element.
    Contains(String),
}

/// A value a condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// JSON null.
    Null,
    /// A bool.
    Bool(bool),
    /// An integer (64-bit signed).
    Int(i64),
    /// A float (finite).
    Float(f64),
    /// A string.
    String(String),
}

impl Scalar {
    fn to_json(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Int(i) => Value::from(*i),
            Scalar::Float(f) => Value::from(*f),
            Scalar::String(s) => Value::String(s.clone()),
        }
    }
}

impl Condition {
    fn to_json(&self) -> Value {
        let list = |values: &[Scalar]| Value::Array(values.iter().map(Scalar::to_json).collect());
        let (operator, operand) = match self {
            Condition::Eq(v) => ("$eq", v.to_json()),
            Condition::Ne(v) => ("$ne", v.to_json()),
            Condition::Gt(v) => ("$gt", v.to_json()),
            Condition::Gte(v) => ("$gte", v.to_json()),
            Condition::Lt(v) => ("$lt", v.to_json()),
            Condition::Lte(v) => ("$lte", v.to_json()),
            Condition::In(values) => ("$in", list(values)),
            Condition::Nin(values) => ("$nin", list(values)),
            Condition::Exists(b) => ("$exists", Value::Bool(*b)),
            Condition::Contains(s) => ("$contains", Value::String(s.clone())),
        };
        single(operator, operand)
    }
}

fn single(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

impl Filter {
    /// Parses a filter from its JSON value. Errors name the offending part by its path,
    /// such as `$and[1].year.$gte`.
    pub fn parse(value: &Value) -> Result<Filter, FilterError> {
        parse::filter(value)
    }

    /// The filter matching every document (`{}`).
    pub fn all() -> Filter {
        Filter::And(Vec::new())
    }

    /// The canonical JSON form: explicit operators, one key per object, `$and` for
    /// several conditions. Equal filters have equal canonical forms, and
    /// `Filter::parse(&f.to_json()) == Ok(f)`.
    pub fn to_json(&self) -> Value {
        let list = |filters: &[Filter]| Value::Array(filters.iter().map(Filter::to_json).collect());
        match self {
            Filter::And(filters) if filters.is_empty() => json!({}),
            Filter::And(filters) => single("$and", list(filters)),
            Filter::Or(filters) => single("$or", list(filters)),
            Filter::Not(filter) => single("$not", filter.to_json()),
            Filter::Field { key, condition } => single(key, condition.to_json()),
            Filter::Text(words) => single("$text", Value::String(words.join(" "))),
        }
    }

    /// Whether a document with no metadata and no text matches: what the filter selects
    /// in a segment written without a store (an index from before metadata existed), where
    /// every document is such a document. `$ne`, `$nin` and `$exists: false` hold for a
    /// missing key; every other condition and `$text` do not.
    pub fn matches_empty_document(&self) -> bool {
        match self {
            Filter::And(filters) => filters.iter().all(Filter::matches_empty_document),
            Filter::Or(filters) => filters.iter().any(Filter::matches_empty_document),
            Filter::Not(filter) => !filter.matches_empty_document(),
            Filter::Field { condition, .. } => matches!(
                condition,
                Condition::Ne(_) | Condition::Nin(_) | Condition::Exists(false)
            ),
            Filter::Text(_) => false,
        }
    }

    /// The canonical JSON form as a compact string (the key of the bitmap cache).
    pub fn canonical(&self) -> String {
        self.to_json().to_string()
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    /// Parses JSON text (as given to `--filter` or in a request body).
    fn from_str(text: &str) -> Result<Filter, FilterError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FilterError {
            path: String::new(),
            problem: FilterProblem::InvalidJson(e.to_string()),
        })?;
        Filter::parse(&value)
    }
}

impl std::fmt::Display for Filter {
    /// The canonical JSON form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}
