//! Writes a segment store from a JSONL file, one document per line:
//! `{"id": "...", "metadata": {...}, "text": "..."}` (BEIR's `_id` and `title` are read
//! too). Ordinals follow the line order.
//!
//! ```sh
//! cargo run -p tartan-metadata --example jsonl_to_store -- corpus.jsonl metadata.sqlite
//! sqlite3 metadata.sqlite 'SELECT * FROM metadata LIMIT 5'
//! ```

use std::io::BufRead;

use serde_json::Value;
use tartan_metadata::SegmentStoreWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        return Err("usage: jsonl_to_store CORPUS.jsonl OUT.sqlite".into());
    };
    let mut writer = SegmentStoreWriter::create(output)?;
    let mut ordinal = 0u32;
    for (number, line) in std::io::BufReader::new(std::fs::File::open(input)?)
        .lines()
        .enumerate()
    {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let doc: Value =
            serde_json::from_str(&line).map_err(|e| format!("{input}:{}: {e}", number + 1))?;
        let id = doc["id"]
            .as_str()
            .or_else(|| doc["_id"].as_str())
            .ok_or_else(|| format!("{input}:{}: no string `id`", number + 1))?;
        let text = match (doc["title"].as_str(), doc["text"].as_str()) {
            (Some(title), Some(text)) => Some(format!("{title} {text}")),
            (None, Some(text)) => Some(text.to_owned()),
            (Some(title), None) => Some(title.to_owned()),
            (None, None) => None,
        };
        writer.add(ordinal, id, doc["metadata"].as_object(), text.as_deref())?;
        ordinal += 1;
    }
    writer.finish()?;
    println!("{output}: {ordinal} documents");
    Ok(())
}
