//! Metadata values: validation of a document's JSON object, its rows in the `metadata`
//! table, and the way back from rows to JSON.
//!
//! A value is stored as one row per scalar, or one row per element of an array of
//! strings (a tag), with its kind in a column of its own so that `true` and `1`, or a
//! tag and a plain string, stay apart:
//!
//! | JSON              | `kind`       | `position` | `value` (SQLite type)   |
//! |-------------------|--------------|------------|-------------------------|
//! | `null`            | `null`       | 0          | NULL                    |
//! | `true` / `false`  | `bool`       | 0          | INTEGER 1 / 0           |
//! | `42`              | `number`     | 0          | INTEGER                 |
//! | `4.2`             | `number`     | 0          | REAL                    |
//! | `"text"`          | `string`     | 0          | TEXT                    |
//! | `["a", "b"]`      | `tag`        | 0, 1       | TEXT, one row each      |
//! | `[]`              | `empty_tags` | 0          | NULL                    |

use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Number, Value};

use crate::error::{InvalidValue, MetadataError, Result};

/// The `kind` column: how a row's `value` is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Tag,
    EmptyTags,
}

impl Kind {
    /// The name stored in the `kind` column.
    pub(crate) fn as_sql(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Tag => "tag",
            Kind::EmptyTags => "empty_tags",
        }
    }

    fn from_sql(name: &str) -> Option<Kind> {
        Some(match name {
            "null" => Kind::Null,
            "bool" => Kind::Bool,
            "number" => Kind::Number,
            "string" => Kind::String,
            "tag" => Kind::Tag,
            "empty_tags" => Kind::EmptyTags,
            _ => return None,
        })
    }
}

/// One row of the `metadata` table (less the ordinal).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row<'a> {
    pub key: &'a str,
    pub position: u32,
    pub kind: Kind,
    pub value: SqlValue,
}

/// The JSON type of a value, as error messages name it.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON number as SQLite stores it: INTEGER when it is an integer, REAL otherwise.
pub(crate) fn number_to_sql(number: &Number) -> Result<SqlValue, InvalidValue> {
    if let Some(i) = number.as_i64() {
        Ok(SqlValue::Integer(i))
    } else if number.is_u64() {
        Err(InvalidValue::IntegerOutOfRange(number.to_string()))
    } else {
        // serde_json numbers are finite, so this is always Some.
        number
            .as_f64()
            .map(SqlValue::Real)
            .ok_or_else(|| InvalidValue::IntegerOutOfRange(number.to_string()))
    }
}

/// Validates a document's metadata and lays it out as rows. Nothing is written when any
/// key or value is refused.
pub(crate) fn rows<'a>(id: &str, metadata: &'a Map<String, Value>) -> Result<Vec<Row<'a>>> {
    let invalid = |key: &str, reason| MetadataError::InvalidMetadata {
        id: id.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let mut rows = Vec::with_capacity(metadata.len());
    for (key, value) in metadata {
        if key.is_empty() {
            return Err(invalid(key, InvalidValue::EmptyKey));
        }
        if key.starts_with('$') {
            return Err(invalid(key, InvalidValue::ReservedKey));
        }
        let scalar = |kind, value| Row {
            key,
            position: 0,
            kind,
            value,
        };
        match value {
            Value::Null => rows.push(scalar(Kind::Null, SqlValue::Null)),
            Value::Bool(b) => rows.push(scalar(Kind::Bool, SqlValue::Integer(i64::from(*b)))),
            Value::Number(n) => {
                let value = number_to_sql(n).map_err(|reason| invalid(key, reason))?;
                rows.push(scalar(Kind::Number, value));
            }
            Value::String(s) => rows.push(scalar(Kind::String, SqlValue::Text(s.clone()))),
            Value::Object(_) => return Err(invalid(key, InvalidValue::NestedObject)),
            Value::Array(elements) if elements.is_empty() => {
                rows.push(scalar(Kind::EmptyTags, SqlValue::Null));
            }
            Value::Array(elements) => {
                for (index, element) in elements.iter().enumerate() {
                    let Value::String(tag) = element else {
                        return Err(invalid(
                            key,
                            InvalidValue::NonStringElement {
                                index,
                                found: json_type(element),
                            },
                        ));
                    };
                    rows.push(Row {
                        key,
                        // Arrays longer than u32::MAX elements cannot come from JSON in memory.
                        position: u32::try_from(index).unwrap_or(u32::MAX),
                        kind: Kind::Tag,
                        value: SqlValue::Text(tag.clone()),
                    });
                }
            }
        }
    }
    Ok(rows)
}

/// Rebuilds a document's metadata object from its rows, given in (key, position) order.
/// `Err` carries what makes a row unreadable (the file is then damaged or foreign).
pub(crate) fn to_json(
    rows: impl IntoIterator<Item = (String, String, SqlValue)>,
) -> std::result::Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (key, kind_name, value) in rows {
        let kind = Kind::from_sql(&kind_name)
            .ok_or_else(|| format!("unknown value kind `{kind_name}`"))?;
        let bad = || format!("key `{key}`: a `{kind_name}` row holds {value:?}");
        let json = match (kind, &value) {
            (Kind::Null, SqlValue::Null) => Value::Null,
            (Kind::Bool, SqlValue::Integer(i)) => Value::Bool(*i != 0),
            (Kind::Number, SqlValue::Integer(i)) => Value::from(*i),
            (Kind::Number, SqlValue::Real(f)) => {
                Value::Number(Number::from_f64(*f).ok_or_else(bad)?)
            }
            (Kind::String, SqlValue::Text(s)) => Value::String(s.clone()),
            (Kind::EmptyTags, SqlValue::Null) => Value::Array(Vec::new()),
            (Kind::Tag, SqlValue::Text(s)) => {
                match map
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(tags) => tags.push(Value::String(s.clone())),
                    _ => return Err(bad()),
                }
                continue;
            }
            _ => return Err(bad()),
        };
        if map.insert(key.clone(), json).is_some() {
            return Err(format!("key `{key}` has more than one value"));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().expect("object").clone()
    }

    #[test]
    fn every_supported_type_round_trips_through_rows() {
        let metadata = object(json!({
            "n": null, "b": true, "f": false, "i": -7, "x": 2.5, "s": "text",
            "tags": ["b", "a", "b"], "none": []
        }));
        let rows = rows("doc", &metadata).expect("valid");
        let back = to_json(
            rows.into_iter()
                .map(|r| (r.key.to_owned(), r.kind.as_sql().to_owned(), r.value)),
        )
        .expect("readable");
        assert_eq!(back, metadata);
    }

    #[test]
    fn refused_values_name_the_document_and_key() {
        let cases = [
            (json!({"a": {"b": 1}}), "nested objects"),
            (json!({"a": ["x", 1]}), "array element 1 is a number"),
            (json!({"a": [["x"]]}), "array element 0 is an array"),
            (json!({"a": u64::MAX}), "outside the 64-bit signed range"),
            (json!({"": 1}), "empty keys"),
            (json!({"$gt": 1}), "reserved for filter operators"),
        ];
        for (metadata, expected) in cases {
            let err = rows("doc-9", &object(metadata.clone())).expect_err("refused");
            let message = err.to_string();
            assert!(
                message.starts_with("document `doc-9`: metadata key `"),
                "{message}"
            );
            assert!(message.contains(expected), "{metadata}: {message}");
        }
    }

    #[test]
    fn integers_and_floats_keep_their_sqlite_type() {
        let metadata = object(json!({"i": 3, "f": 3.0}));
        let rows = rows("d", &metadata).expect("valid");
        assert_eq!(rows[0].value, SqlValue::Real(3.0));
        assert_eq!(rows[1].value, SqlValue::Integer(3));
    }
}
