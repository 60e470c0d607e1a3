//! Search results and how they are printed: a table for people, one JSON object
//! per query for programs, TREC run lines for evaluation tools.

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use serde::Serialize;

/// One ranked document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The document's external id.
    pub id: String,
    /// Its MaxSim score.
    pub score: f32,
    /// Its text, when the index stores text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The ranking of one query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResults {
    /// The query's position in the input, from 0.
    pub query: usize,
    /// The query's id, when the input names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// The query's text, when it was given as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Best first.
    pub results: Vec<Hit>,
}

/// Output formats of `tartan search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns: rank, score, id, text.
    Table,
    /// One JSON object per line and query: {"query": i, "results": [{"id", "score"}, ...]}.
    Json,
    /// TREC run lines: qid Q0 docid rank score tag.
    Trec,
}

/// The TREC run tag tartan writes.
pub const RUN_TAG: &str = "tartan";

/// Writes one query's results in `format`.
pub fn write(out: &mut impl Write, format: Format, results: &QueryResults) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, results)?;
            writeln!(out)?;
        }
        Format::Trec => {
            let qid = results
                .query_id
                .clone()
                .unwrap_or_else(|| results.query.to_string());
            for (rank, hit) in results.results.iter().enumerate() {
                writeln!(
                    out,
                    "{qid} Q0 {} {} {} {RUN_TAG}",
                    hit.id,
                    rank + 1,
                    hit.score
                )?;
            }
        }
        Format::Table => {
            let label = match (&results.query_id, &results.text) {
                (Some(id), Some(text)) => format!("{id}: {text}"),
                (None, Some(text)) => text.clone(),
                (Some(id), None) => id.clone(),
                (None, None) => format!("#{}", results.query),
            };
            writeln!(out, "query {}: {}", results.query, one_line(&label, 100))?;
            if results.results.is_empty() {
                writeln!(out, "  (no results)")?;
            }
            let id_width = results
                .results
                .iter()
                .map(|h| h.id.chars().count())
                .max()
                .unwrap_or(2)
                .max(2);
            for (rank, hit) in results.results.iter().enumerate() {
                let text = hit
                    .text
                    .as_deref()
                    .map(|t| format!("  {}", one_line(t, 80)))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  {:>3}  {:>8.4}  {:<id_width$}{text}",
                    rank + 1,
                    hit.score,
                    hit.id
                )?;
            }
        }
    }
    Ok(())
}

/// `text` on one line, cut to `max` characters with an ellipsis.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QueryResults {
        QueryResults {
            query: 0,
            query_id: Some("q1".into()),
            text: Some("what is tartan".into()),
            results: vec![
                Hit {
                    id: "d9".into(),
                    score: 12.5,
                    text: Some("a\npattern of crossing stripes".into()),
                },
                Hit {
                    id: "d3".into(),
                    score: 11.0,
                    text: None,
                },
            ],
        }
    }

    fn render(format: Format) -> String {
        let mut out = Vec::new();
        write(&mut out, format, &sample()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn trec_lines() {
        assert_eq!(
            render(Format::Trec),
            "q1 Q0 d9 1 12.5 tartan\nq1 Q0 d3 2 11 tartan\n"
        );
    }

    #[test]
    fn json_line_per_query() {
        let text = render(Format::Json);
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["query"], 0);
        assert_eq!(v["results"][1]["id"], "d3");
        assert!(v["results"][1].get("text").is_none());
    }

    #[test]
    fn table_flattens_text() {
        let text = render(Format::Table);
        assert!(text.contains("a pattern of crossing stripes"), "{text}");
        assert!(text.starts_with("query 0: q1: what is tartan"), "{text}");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
