//! `--metadata FILE.jsonl` beside `--embeddings`: one `{"id": ..., "key": value, ...}`
//! object a line, giving the flat metadata of the document with that id (the other
//! keys). Documents without a line have none; a line for an id that is not among the
//! documents, a repeated id or a line that is not such an object is an error naming the
//! line.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use tartan_engine::StoredFields;

/// Reads a metadata file: id -> metadata.
pub fn read(path: &Path) -> Result<HashMap<String, Map<String, Value>>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut all = HashMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let (id, metadata) =
            parse_line(&line).with_context(|| format!("{}: line {}", path.display(), n + 1))?;
        if all.insert(id.clone(), metadata).is_some() {
            bail!(
                "{}: line {}: id {id:?} appears twice",
                path.display(),
                n + 1
            );
        }
    }
    Ok(all)
}

fn parse_line(line: &str) -> Result<(String, Map<String, Value>)> {
    let value: Value = serde_json::from_str(line).context("not JSON")?;
    let Value::Object(mut object) = value else {
        bail!("expected an object {{\"id\": ..., \"key\": value, ...}}");
    };
    let id = match object.remove("id") {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => bail!("\"id\" must be a string or a number, found {other}"),
        None => bail!("no \"id\""),
    };
    Ok((id, object))
}

/// One [`StoredFields`] a document of `ids` (in order) from a metadata file; every id
/// of the file must be among `ids`. Empty when the file gives nothing.
pub fn fields_for(
    path: &Path,
    ids: &[String],
    mut metadata: HashMap<String, Map<String, Value>>,
) -> Result<Vec<StoredFields>> {
    if metadata.is_empty() {
        return Ok(Vec::new());
    }
    let fields: Vec<StoredFields> = ids
        .iter()
        .map(|id| StoredFields {
            metadata: metadata.remove(id).filter(|m| !m.is_empty()),
            text: None,
        })
        .collect();
    if let Some(stray) = metadata.keys().min() {
        bail!(
            "{}: id {stray:?} is not among the documents ({} more unknown)",
            path.display(),
            metadata.len() - 1
        );
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_metadata_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        std::fs::write(
            &path,
            "{\"id\": \"a\", \"year\": 2020}\n\n{\"id\": 7, \"tags\": [\"x\"]}\n",
        )
        .unwrap();
        let m = read(&path).unwrap();
        let ids: Vec<String> = ["7", "b", "a"].iter().map(|s| s.to_string()).collect();
        let f = fields_for(&path, &ids, m).unwrap();
        assert_eq!(f[0].metadata.as_ref().unwrap()["tags"][0], "x");
        assert_eq!(f[1], StoredFields::default());
        assert_eq!(f[2].metadata.as_ref().unwrap()["year"], 2020);
    }

    #[test]
    fn bad_lines_and_unknown_ids_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        for (text, want) in [
            ("{\"id\": \"a\"}\n[1]\n", "line 2"),
            ("{\"year\": 1}\n", "no \"id\""),
            ("{\"id\": \"a\"}\n{\"id\": \"a\"}\n", "appears twice"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", read(&path).unwrap_err());
            assert!(err.contains(want), "{err}");
        }
        std::fs::write(&path, "{\"id\": \"zz\", \"k\": 1}\n").unwrap();
        let err = fields_for(&path, &["a".into()], read(&path).unwrap()).unwrap_err();
        assert!(err.to_string().contains("\"zz\""), "{err}");
    }
}
