//! JSON to [`Filter`], with the path of every error.

use serde_json::{Map, Value};

use super::{Condition, Filter, FilterError, FilterProblem, Scalar};
use crate::fts;
use crate::value::json_type;

/// How deep `$and`/`$or`/`$not` may nest: far beyond any real filter, and well within
/// the stack and SQLite's expression depth.
const MAX_DEPTH: usize = 64;

type Parsed<T> = Result<T, FilterError>;

fn fail<T>(path: &str, problem: FilterProblem) -> Parsed<T> {
    Err(FilterError {
        path: path.to_owned(),
        problem,
    })
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn filter(value: &Value) -> Parsed<Filter> {
    parse_filter(value, "", 0)
}

/// Several conditions that all hold: one stays itself, more become an `$and`.
fn all_of(mut filters: Vec<Filter>) -> Filter {
    if filters.len() == 1 {
        filters.pop().unwrap_or_else(Filter::all)
    } else {
        Filter::And(filters)
    }
}

fn parse_filter(value: &Value, path: &str, depth: usize) -> Parsed<Filter> {
    if depth > MAX_DEPTH {
        return fail(path, FilterProblem::TooDeep(MAX_DEPTH));
    }
    let Value::Object(object) = value else {
        return fail(path, FilterProblem::NotAnObject(json_type(value)));
    };
    if object.is_empty() {
        return Ok(Filter::all());
    }
    // Sorted, so that the same filter written in another key order parses the same.
    let mut entries: Vec<(&String, &Value)> = object.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut filters = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let path = child(path, key);
        let filter = match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = value else {
                    return fail(
                        &path,
                        FilterProblem::WrongType {
                            expected: "an array of filters",
                            found: json_type(value),
                        },
                    );
                };
                if items.is_empty() {
                    return fail(&path, FilterProblem::EmptyList);
                }
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_filter(item, &format!("{path}[{i}]"), depth + 1))
                    .collect::<Parsed<Vec<_>>>()?;
                if key == "$and" {
                    Filter::And(items)
                } else {
                    Filter::Or(items)
                }
            }
            "$not" => Filter::Not(Box::new(parse_filter(value, &path, depth + 1)?)),
            "$text" => {
                let Value::String(query) = value else {
                    return fail(
                        &path,
                        FilterProblem::WrongType {
                            expected: "a string of words",
                            found: json_type(value),
                        },
                    );
                };
                let words = fts::words(query);
                if words.is_empty() {
                    return fail(&path, FilterProblem::NoWords);
                }
                Filter::Text(words)
            }
            operator if is_condition_operator(operator) => {
                return fail(&path, FilterProblem::MisplacedOperator(operator.to_owned()));
            }
            operator if operator.starts_with('$') => {
                return fail(&path, FilterProblem::UnknownOperator(operator.to_owned()));
            }
            field => parse_field(field, value, &path, depth + 1)?,
        };
        filters.push(filter);
    }
    Ok(all_of(filters))
}

fn is_condition_operator(key: &str) -> bool {
    matches!(
        key,
        "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" | "$in" | "$nin" | "$exists" | "$contains"
    )
}

/// `"field": value` or `"field": {"$op": operand, ...}`.
fn parse_field(key: &str, value: &Value, path: &str, depth: usize) -> Parsed<Filter> {
    match value {
        Value::Object(conditions) => parse_conditions(key, conditions, path, depth),
        Value::Array(_) => fail(path, FilterProblem::ArrayValue),
        scalar => Ok(Filter::Field {
            key: key.to_owned(),
            condition: Condition::Eq(parse_scalar(scalar, path)?),
        }),
    }
}

fn parse_conditions(
    key: &str,
    conditions: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Parsed<Filter> {
    if depth > MAX_DEPTH {
        return fail(path, FilterProblem::TooDeep(MAX_DEPTH));
    }
    if conditions.is_empty() {
        return fail(path, FilterProblem::EmptyCondition);
    }
    let mut entries: Vec<(&String, &Value)> = conditions.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut filters = Vec::with_capacity(entries.len());
    for (operator, operand) in entries {
        let path = child(path, operator);
        let field = |condition| Filter::Field {
            key: key.to_owned(),
            condition,
        };
        let filter = match operator.as_str() {
            "$eq" => field(Condition::Eq(parse_scalar(operand, &path)?)),
            "$ne" => field(Condition::Ne(parse_scalar(operand, &path)?)),
            "$gt" => field(Condition::Gt(parse_bound(operand, &path)?)),
            "$gte" => field(Condition::Gte(parse_bound(operand, &path)?)),
            "$lt" => field(Condition::Lt(parse_bound(operand, &path)?)),
            "$lte" => field(Condition::Lte(parse_bound(operand, &path)?)),
            "$in" => field(Condition::In(parse_list(operand, &path)?)),
            "$nin" => field(Condition::Nin(parse_list(operand, &path)?)),
            "$exists" => match operand {
                Value::Bool(b) => field(Condition::Exists(*b)),
                other => return fail(&path, wrong("a bool", other)),
            },
            "$contains" => match operand {
                Value::String(s) => field(Condition::Contains(s.clone())),
                other => return fail(&path, wrong("a string (arrays hold strings)", other)),
            },
            "$not" => match operand {
                Value::Object(inner) => {
                    Filter::Not(Box::new(parse_conditions(key, inner, &path, depth + 1)?))
                }
                other => return fail(&path, wrong("a condition object", other)),
            },
            other if other.starts_with('$') => {
                return fail(&path, FilterProblem::UnknownOperator(other.to_owned()));
            }
            other => return fail(&path, FilterProblem::NestedField(other.to_owned())),
        };
        filters.push(filter);
    }
    Ok(all_of(filters))
}

fn wrong(expected: &'static str, found: &Value) -> FilterProblem {
    FilterProblem::WrongType {
        expected,
        found: json_type(found),
    }
}

fn parse_scalar(value: &Value, path: &str) -> Parsed<Scalar> {
    Ok(match value {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::String(s) => Scalar::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Scalar::Int(i)
            } else if n.is_u64() {
                return fail(path, FilterProblem::IntegerOutOfRange(n.to_string()));
            } else {
                match n.as_f64() {
                    Some(f) => Scalar::Float(f),
                    None => return fail(path, FilterProblem::IntegerOutOfRange(n.to_string())),
                }
            }
        }
        Value::Array(_) => return fail(path, FilterProblem::ArrayValue),
        Value::Object(_) => return fail(path, wrong("a string, number, bool or null", value)),
    })
}

/// The operand of a range operator: a number or a string.
fn parse_bound(value: &Value, path: &str) -> Parsed<Scalar> {
    match value {
        Value::Number(_) | Value::String(_) => parse_scalar(value, path),
        other => fail(path, wrong("a number or a string", other)),
    }
}

fn parse_list(value: &Value, path: &str) -> Parsed<Vec<Scalar>> {
    let Value::Array(items) = value else {
        return fail(path, wrong("an array of values", value));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_scalar(item, &format!("{path}[{i}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(value: Value) -> String {
        Filter::parse(&value).expect_err("invalid").to_string()
    }

    #[test]
    fn the_example_of_the_issue_parses_to_an_and_of_two_fields() {
        let filter =
            Filter::parse(&json!({"year": {"$gte": 2020}, "source": {"$in": ["pubmed", "arxiv"]}}))
                .expect("valid");
        assert_eq!(
            filter,
            Filter::And(vec![
                Filter::Field {
                    key: "source".into(),
                    condition: Condition::In(vec![
                        Scalar::String("pubmed".into()),
                        Scalar::String("arxiv".into())
                    ]),
                },
                Filter::Field {
                    key: "year".into(),
                    condition: Condition::Gte(Scalar::Int(2020)),
                },
            ])
        );
    }

    #[test]
    fn implicit_equality_and_an_explicit_eq_are_the_same_filter() {
        assert_eq!(
            Filter::parse(&json!({"lang": "en"})),
            Filter::parse(&json!({"lang": {"$eq": "en"}}))
        );
        assert_eq!(Filter::parse(&json!({})), Ok(Filter::all()));
    }

    #[test]
    fn errors_name_the_path_of_the_offending_part() {
        assert_eq!(
            error(json!({"$and": [{"a": 1}, {"year": {"$gte": true}}]})),
            "invalid filter at $and[1].year.$gte: expected a number or a string, found a bool"
        );
        assert_eq!(
            error(json!({"year": {"$between": [1, 2]}})),
            "invalid filter at year.$between: unknown operator `$between`; filters use $and $or $not $text, conditions $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $not"
        );
        assert!(error(json!({"$or": [{"a": {"$in": [1, [2]]}}]}))
            .starts_with("invalid filter at $or[0].a.$in[1]: an array is not a value"));
        assert!(error(json!({"$gt": 3}))
            .starts_with("invalid filter at $gt: `$gt` is a condition on a field"));
        assert!(error(json!({"a": {"b": 1}}))
            .starts_with("invalid filter at a.b: `b` is not an operator"));
        assert!(error(json!({"a": {}})).starts_with("invalid filter at a: empty condition"));
        assert!(
            error(json!({"a": [1, 2]})).starts_with("invalid filter at a: an array is not a value")
        );
        assert!(error(json!({"$or": []})).starts_with("invalid filter at $or: needs at least one"));
        assert!(error(json!({"$text": "--- ..."})).starts_with("invalid filter at $text: no words"));
        assert!(error(json!({"$text": 3})).contains("expected a string of words, found a number"));
        assert!(error(json!({"a": {"$exists": "yes"}})).contains("at a.$exists: expected a bool"));
        assert!(error(json!({"a": {"$contains": 1}})).contains("at a.$contains: expected a string"));
        assert!(error(json!({"a": {"$not": 1}})).contains("at a.$not: expected a condition object"));
        assert!(
            error(json!({"a": u64::MAX})).contains("at a: integer 18446744073709551615 is outside")
        );
        assert_eq!(
            error(json!([1])),
            "invalid filter: expected a filter object, found an array"
        );
        let json_error = "{\"a\":"
            .parse::<Filter>()
            .expect_err("bad json")
            .to_string();
        assert!(
            json_error.starts_with("invalid filter: not valid JSON"),
            "{json_error}"
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error_not_a_stack_overflow() {
        let mut value = json!({"a": 1});
        for _ in 0..10_000 {
            // Not json!: it would serialise `value` recursively.
            let mut object = Map::new();
            object.insert("$not".to_owned(), value);
            value = Value::Object(object);
        }
        let err = Filter::parse(&value).expect_err("too deep");
        assert_eq!(err.problem, FilterProblem::TooDeep(MAX_DEPTH));
        // Drop the deep JSON level by level: its own Drop would recurse 10 000 deep.
        while let Value::Object(mut map) = value {
            value = map.remove("$not").unwrap_or(Value::Null);
        }
    }

    #[test]
    fn field_level_not_and_several_operators() {
        let filter = Filter::parse(&json!({"y": {"$not": {"$gt": 1, "$lt": 5}}})).expect("valid");
        let range = Filter::parse(&json!({"y": {"$gt": 1, "$lt": 5}})).expect("valid");
        assert_eq!(filter, Filter::Not(Box::new(range)));
    }
}
