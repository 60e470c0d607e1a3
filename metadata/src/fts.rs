//! User words to FTS5 queries. Every word is a quoted FTS5 string, so nothing a user
//! types is read as FTS5 syntax (`OR`, `NEAR`, `*`, `^`, column filters, quotes).

/// The words of a query: maximal runs of letters and digits, as FTS5's unicode61
/// tokenizer splits text.
pub(crate) fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An FTS5 query matching documents with every word.
pub(crate) fn match_all(words: &[String]) -> String {
    join(words, " ")
}

/// An FTS5 query matching documents with any word (BM25 ranks those with more first).
pub(crate) fn match_any(words: &[String]) -> String {
    join(words, " OR ")
}

fn join(words: &[String], separator: &str) -> String {
    words
        .iter()
        // Words hold no quotes (letters and digits only); quoting makes them strings.
        .map(|word| format!("\"{word}\""))
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_syntax_in_a_query_becomes_plain_words() {
        let words = words("\"covid-19\" OR NEAR(text: vaccine*) ^trial");
        assert_eq!(
            words,
            ["covid", "19", "OR", "NEAR", "text", "vaccine", "trial"]
        );
        assert_eq!(match_any(&words[..2]), "\"covid\" OR \"19\"");
        assert_eq!(match_all(&words[5..]), "\"vaccine\" \"trial\"");
    }

    #[test]
    fn letters_beyond_ascii_are_word_characters() {
        assert_eq!(
            words("Müller–Lyer illusión 東京"),
            ["Müller", "Lyer", "illusión", "東京"]
        );
    }
}
