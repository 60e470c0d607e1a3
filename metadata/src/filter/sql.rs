//! [`Filter`] to one parameterised SQL query that returns the matching ordinals.
//!
//! Each node becomes a `SELECT` of one column, `ordinal`; `$and`, `$or` and `$not` are
//! SQL's `INTERSECT`, `UNION` and `EXCEPT` over them. Keys, values and words are bound
//! as `?` parameters; the SQL text holds only this module's constants.

use rusqlite::types::Value as SqlValue;

use super::{Condition, Filter, Scalar};
use crate::fts;
use crate::schema::FTS_TABLE;

/// A filter compiled for one store: run `sql` with `params` bound in order; it returns
/// the matching ordinals, one column, possibly repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledFilter {
    /// The query, with `?` placeholders only.
    pub sql: String,
    /// The values of the placeholders, in order.
    pub params: Vec<SqlValue>,
}

const ALL: &str = "SELECT ordinal FROM documents";
const NONE: &str = "SELECT ordinal FROM documents WHERE 0";
/// The kinds a string comparison looks at: plain strings and the elements of arrays.
const STRING_KINDS: &str = "kind IN ('string', 'tag')";

pub(crate) fn compile(filter: &Filter, has_text: bool) -> CompiledFilter {
    let mut compiler = Compiler {
        sql: String::new(),
        params: Vec::new(),
        has_text,
    };
    compiler.filter(filter);
    CompiledFilter {
        sql: compiler.sql,
        params: compiler.params,
    }
}

struct Compiler {
    sql: String,
    params: Vec<SqlValue>,
    has_text: bool,
}

impl Compiler {
    fn filter(&mut self, filter: &Filter) {
        match filter {
            Filter::And(filters) if filters.is_empty() => self.sql.push_str(ALL),
            Filter::And(filters) => self.compound(filters, " INTERSECT "),
            Filter::Or(filters) => self.compound(filters, " UNION "),
            Filter::Not(filter) => self.complement(|c| c.filter(filter)),
            Filter::Text(words) if self.has_text => {
                self.sql.push_str("SELECT rowid AS ordinal FROM ");
                self.sql.push_str(FTS_TABLE);
                self.sql.push_str(" WHERE ");
                self.sql.push_str(FTS_TABLE);
                self.sql.push_str(" MATCH ?");
                self.params.push(SqlValue::Text(fts::match_all(words)));
            }
            Filter::Text(_) => self.sql.push_str(NONE),
            Filter::Field { key, condition } => self.field(key, condition),
        }
    }

    /// `SELECT ordinal FROM (a) <op> SELECT ordinal FROM (b) ...`: each operand wrapped,
    /// so compound operands never mix without parentheses.
    fn compound(&mut self, filters: &[Filter], operator: &str) {
        for (i, filter) in filters.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(operator);
            }
            self.sql.push_str("SELECT ordinal FROM (");
            self.filter(filter);
            self.sql.push(')');
        }
    }

    fn complement(&mut self, inner: impl FnOnce(&mut Self)) {
        self.sql.push_str(ALL);
        self.sql.push_str(" EXCEPT SELECT ordinal FROM (");
        inner(self);
        self.sql.push(')');
    }

    /// `SELECT ordinal FROM metadata WHERE key = ? AND <row condition>`.
    fn rows(&mut self, key: &str, condition: impl FnOnce(&mut Self)) {
        self.sql
            .push_str("SELECT ordinal FROM metadata WHERE key = ? AND ");
        self.params.push(SqlValue::Text(key.to_owned()));
        condition(self);
    }

    fn field(&mut self, key: &str, condition: &Condition) {
        match condition {
            Condition::Eq(value) => self.rows(key, |c| c.equals(value)),
            Condition::Ne(value) => self.complement(|c| c.rows(key, |c| c.equals(value))),
            Condition::Gt(bound) => self.rows(key, |c| c.compare(">", bound)),
            Condition::Gte(bound) => self.rows(key, |c| c.compare(">=", bound)),
            Condition::Lt(bound) => self.rows(key, |c| c.compare("<", bound)),
            Condition::Lte(bound) => self.rows(key, |c| c.compare("<=", bound)),
            Condition::In(values) => self.one_of(key, values),
            Condition::Nin(values) => self.complement(|c| c.one_of(key, values)),
            Condition::Exists(true) => self.exists(key),
            Condition::Exists(false) => self.complement(|c| c.exists(key)),
            Condition::Contains(tag) => self.rows(key, |c| {
                c.sql.push_str("kind = 'tag' AND value = ?");
                c.params.push(SqlValue::Text(tag.clone()));
            }),
        }
    }

    fn exists(&mut self, key: &str) {
        self.sql
            .push_str("SELECT ordinal FROM metadata WHERE key = ?");
        self.params.push(SqlValue::Text(key.to_owned()));
    }

    /// The row condition of `$eq`, bracketed by type.
    fn equals(&mut self, value: &Scalar) {
        match value {
            Scalar::Null => self.sql.push_str("kind = 'null'"),
            Scalar::Bool(b) => {
                self.sql.push_str("kind = 'bool' AND value = ?");
                self.params.push(SqlValue::Integer(i64::from(*b)));
            }
            Scalar::Int(_) | Scalar::Float(_) | Scalar::String(_) => self.compare("=", value),
        }
    }

    /// A comparison with a number or a string (the parser admits nothing else for the
    /// range operators; a bool or null here matches nothing).
    fn compare(&mut self, operator: &str, bound: &Scalar) {
        let (kinds, value) = match bound {
            Scalar::Int(i) => ("kind = 'number'", SqlValue::Integer(*i)),
            Scalar::Float(f) => ("kind = 'number'", SqlValue::Real(*f)),
            Scalar::String(s) => (STRING_KINDS, SqlValue::Text(s.clone())),
            Scalar::Null | Scalar::Bool(_) => {
                self.sql.push('0');
                return;
            }
        };
        self.sql.push_str(kinds);
        self.sql.push_str(" AND value ");
        self.sql.push_str(operator);
        self.sql.push_str(" ?");
        self.params.push(value);
    }

    /// `$in`: the values grouped by type, one `IN (...)` per type.
    fn one_of(&mut self, key: &str, values: &[Scalar]) {
        if values.is_empty() {
            self.sql.push_str(NONE);
            return;
        }
        let mut numbers = Vec::new();
        let mut strings = Vec::new();
        let mut bools = Vec::new();
        let mut null = false;
        for value in values {
            match value {
                Scalar::Int(i) => numbers.push(SqlValue::Integer(*i)),
                Scalar::Float(f) => numbers.push(SqlValue::Real(*f)),
                Scalar::String(s) => strings.push(SqlValue::Text(s.clone())),
                Scalar::Bool(b) => bools.push(SqlValue::Integer(i64::from(*b))),
                Scalar::Null => null = true,
            }
        }
        self.rows(key, |c| {
            let mut groups = Vec::new();
            for (kinds, values) in [
                ("kind = 'number'", numbers),
                (STRING_KINDS, strings),
                ("kind = 'bool'", bools),
            ] {
                if !values.is_empty() {
                    let placeholders = vec!["?"; values.len()].join(", ");
                    groups.push(format!("({kinds} AND value IN ({placeholders}))"));
                    c.params.extend(values);
                }
            }
            if null {
                groups.push("kind = 'null'".to_owned());
            }
            c.sql.push('(');
            c.sql.push_str(&groups.join(" OR "));
            c.sql.push(')');
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_values_are_parameters_never_sql_text() {
        let hostile = "x'); DROP TABLE documents;--";
        let filter = Filter::parse(&json!({
            hostile: {"$in": [hostile, 1, true, null]},
            "$text": hostile,
            "$or": [{hostile: hostile}, {"k": {"$contains": hostile}}]
        }))
        .expect("valid");
        let compiled = compile(&filter, true);
        assert!(!compiled.sql.contains("DROP"), "{}", compiled.sql);
        assert!(!compiled.sql.contains("x'"), "{}", compiled.sql);
        assert_eq!(
            compiled.sql.matches('?').count(),
            compiled.params.len(),
            "{}",
            compiled.sql
        );
        assert!(compiled
            .params
            .contains(&SqlValue::Text(hostile.to_owned())));
    }

    #[test]
    fn the_issue_example_compiles_to_this_sql() {
        let filter =
            Filter::parse(&json!({"year": {"$gte": 2020}, "source": {"$in": ["pubmed", "arxiv"]}}))
                .expect("valid");
        let compiled = compile(&filter, false);
        assert_eq!(
            compiled.sql,
            "SELECT ordinal FROM (SELECT ordinal FROM metadata WHERE key = ? AND \
             ((kind IN ('string', 'tag') AND value IN (?, ?)))) \
             INTERSECT SELECT ordinal FROM (SELECT ordinal FROM metadata WHERE key = ? AND \
             kind = 'number' AND value >= ?)"
        );
        assert_eq!(
            compiled.params,
            [
                SqlValue::Text("source".into()),
                SqlValue::Text("pubmed".into()),
                SqlValue::Text("arxiv".into()),
                SqlValue::Text("year".into()),
                SqlValue::Integer(2020),
            ]
        );
    }

    #[test]
    fn text_on_a_store_without_text_matches_nothing() {
        let filter = Filter::parse(&json!({"$text": "word"})).expect("valid");
        assert_eq!(compile(&filter, false).sql, NONE);
        assert!(compile(&filter, true).sql.contains("MATCH ?"));
    }
}
