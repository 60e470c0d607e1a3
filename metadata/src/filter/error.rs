//! [`FilterError`]: what is wrong with a filter, and where.

/// A filter that cannot be parsed. `path` names the offending part, such as
/// `$and[1].year.$gte` (empty for the filter as a whole); the message reads
/// `invalid filter at $and[1].year.$gte: ...`. A server answers it with 400, the CLI
/// with exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Where: keys and operators joined by `.`, array positions as `[i]`.
    pub path: String,
    /// What is wrong there.
    pub problem: FilterProblem,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid filter: {}", self.problem)
        } else {
            write!(f, "invalid filter at {}: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for FilterError {}

/// What is wrong with one part of a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterProblem {
    /// The text is not JSON at all.
    #[error("not valid JSON: {0}")]
    InvalidJson(String),
    /// A filter (or a `$not` operand) that is not an object.
    #[error("expected a filter object, found {0}")]
    NotAnObject(&'static str),
    /// An operator the language does not have.
    #[error("unknown operator `{0}`; filters use $and $or $not $text, conditions $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $not")]
    UnknownOperator(String),
    /// A field operator where a filter was expected.
    #[error("`{0}` is a condition on a field: write {{\"field\": {{\"{0}\": ...}}}}")]
    MisplacedOperator(String),
    /// A plain key inside a condition object.
    #[error(
        "`{0}` is not an operator: metadata is flat, and a condition is an object of $-operators"
    )]
    NestedField(String),
    /// A condition object with no operator.
    #[error("empty condition: give an operator such as {{\"$eq\": value}}")]
    EmptyCondition,
    /// An array where a single value to compare with was expected.
    #[error("an array is not a value to compare with: use $in for one of several values, $contains for array membership")]
    ArrayValue,
    /// An operand of the wrong JSON type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the operator takes.
        expected: &'static str,
        /// The JSON type given.
        found: &'static str,
    },
    /// An empty `$and` / `$or`.
    #[error("needs at least one filter")]
    EmptyList,
    /// `$text` without a single word.
    #[error("no words to search for: $text needs at least one letter or digit")]
    NoWords,
    /// An integer beyond the 64-bit signed range.
    #[error("integer {0} is outside the 64-bit signed range")]
    IntegerOutOfRange(String),
    /// Nesting deeper than the parser follows.
    #[error("nested deeper than {0} levels")]
    TooDeep(usize),
}
