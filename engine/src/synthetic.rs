//! Synthetic clustered token embeddings, for tests and benchmarks.
//!
//! A vocabulary of `topics x words_per_topic` "word" vectors (each topic a random unit
//! direction, each word that direction plus a random offset); a document picks one to
//! three topics and draws its tokens from their words, each token its word plus
//! Gaussian noise; a query draws most of its tokens from the words of one document
//! (its target) and the rest from random topics. Everything is L2-normalised and
//! deterministic in the seed; documents and queries are generated one at a time, so a
//! corpus of any size streams into a builder without being held in memory.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Shape and noise of a synthetic corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// Number of documents.
    pub docs: usize,
    /// Mean tokens a document (lengths are uniform in `[t/2, 3t/2]`, at least 1).
    pub tokens: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Number of topics.
    pub topics: usize,
    /// Words a topic.
    pub words_per_topic: usize,
    /// Norm of a word's offset from its topic direction (before normalising).
    pub word_spread: f32,
    /// Norm of a token's noise around its word (before normalising).
    pub noise: f32,
    /// Tokens a query.
    pub query_tokens: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            docs: 1000,
            tokens: 30,
            dim: 128,
            topics: 64,
            words_per_topic: 32,
            word_spread: 0.7,
            noise: 0.5,
            query_tokens: 32,
            seed: 7,
        }
    }
}

impl SyntheticConfig {
    /// A tiny corpus for examples and format tests: 40 documents of about 8 tokens at
    /// dim 16 over 8 topics (index it with 16 centroids).
    pub fn small() -> Self {
        SyntheticConfig {
            docs: 40,
            tokens: 8,
            dim: 16,
            topics: 8,
            words_per_topic: 4,
            query_tokens: 4,
            seed: 3,
            ..SyntheticConfig::default()
        }
    }
}

/// A deterministic synthetic corpus and query set.
#[derive(Debug, Clone)]
pub struct Synthetic {
    config: SyntheticConfig,
    words: Vec<f32>,
}

impl Synthetic {
    /// Builds the vocabulary of `config`.
    pub fn new(config: SyntheticConfig) -> Self {
        let dim = config.dim.max(1);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let n_words = config.topics.max(1) * config.words_per_topic.max(1);
        let mut words = Vec::with_capacity(n_words * dim);
        let mut center = vec![0f32; dim];
        let mut offset = vec![0f32; dim];
        for _ in 0..config.topics.max(1) {
            gaussian_unit(&mut rng, &mut center);
            for _ in 0..config.words_per_topic.max(1) {
                gaussian_unit(&mut rng, &mut offset);
                let start = words.len();
                words.extend(
                    center
                        .iter()
                        .zip(&offset)
                        .map(|(c, o)| c + config.word_spread * o),
                );
                normalise(&mut words[start..]);
            }
        }
        Synthetic { config, words }
    }

    /// The configuration.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.config.dim.max(1)
    }

    /// Number of documents.
    pub fn num_documents(&self) -> usize {
        self.config.docs
    }

    /// External id of document `d`.
    pub fn doc_id(&self, d: usize) -> String {
        format!("doc{d}")
    }

    fn rng(&self, stream: u64, i: usize) -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(
            self.config.seed
                ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93),
        )
    }

    /// The topics of document `d`.
    fn doc_topics(&self, d: usize) -> Vec<usize> {
        let mut rng = self.rng(1, d);
        let n = rng.gen_range(1..=3);
        (0..n)
            .map(|_| rng.gen_range(0..self.config.topics.max(1)))
            .collect()
    }

    /// Word `w` of topic `t`.
    fn word(&self, t: usize, w: usize) -> &[f32] {
        let dim = self.dim();
        let i = t * self.config.words_per_topic.max(1) + w;
        &self.words[i * dim..(i + 1) * dim]
    }

    /// The words (topic, word) of document `d`'s tokens.
    fn doc_words(&self, d: usize) -> Vec<(usize, usize)> {
        let topics = self.doc_topics(d);
        let mut rng = self.rng(2, d);
        let t = self.config.tokens.max(1);
        let len = rng.gen_range((t / 2).max(1)..=(t + t / 2).max(1));
        (0..len)
            .map(|_| {
                let topic = topics[rng.gen_range(0..topics.len())];
                (topic, rng.gen_range(0..self.config.words_per_topic.max(1)))
            })
            .collect()
    }

    /// Document `d`'s embeddings (`len x dim`) into `out` (cleared first).
    pub fn document(&self, d: usize, out: &mut Vec<f32>) {
        let words = self.doc_words(d);
        let mut rng = self.rng(3, d);
        out.clear();
        for (t, w) in words {
            self.push_token(&mut rng, self.word(t, w), out);
        }
    }

    /// The document query `j` was drawn from.
    pub fn query_target(&self, j: usize) -> usize {
        self.rng(4, j).gen_range(0..self.config.docs.max(1))
    }

    /// Query `j`'s embeddings (`query_tokens x dim`) into `out` (cleared first): three
    /// quarters of its tokens from words of its target document, the rest from random
    /// topics.
    pub fn query(&self, j: usize, out: &mut Vec<f32>) {
        let words = self.doc_words(self.query_target(j));
        let mut rng = self.rng(5, j);
        out.clear();
        let n = self.config.query_tokens.max(1);
        for i in 0..n {
            let (t, w) = if i < n * 3 / 4 {
                words[rng.gen_range(0..words.len())]
            } else {
                (
                    rng.gen_range(0..self.config.topics.max(1)),
                    rng.gen_range(0..self.config.words_per_topic.max(1)),
                )
            };
            self.push_token(&mut rng, self.word(t, w), out);
        }
    }

    /// Queries `0..n`, each `query_tokens x dim` (see [`Synthetic::query`]).
    pub fn queries(&self, n: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|j| {
                let mut q = Vec::new();
                self.query(j, &mut q);
                q
            })
            .collect()
    }

    fn push_token(&self, rng: &mut Xoshiro256PlusPlus, word: &[f32], out: &mut Vec<f32>) {
        let start = out.len();
        let mut noise = vec![0f32; word.len()];
        gaussian_unit(rng, &mut noise);
        out.extend(
            word.iter()
                .zip(&noise)
                .map(|(w, n)| w + self.config.noise * n),
        );
        normalise(&mut out[start..]);
    }

    /// Every document, flat, with lengths: for small corpora in tests.
    pub fn all_documents(&self) -> (Vec<f32>, Vec<usize>) {
        let (mut flat, mut lens, mut doc) = (Vec::new(), Vec::new(), Vec::new());
        for d in 0..self.num_documents() {
            self.document(d, &mut doc);
            lens.push(doc.len() / self.dim());
            flat.extend_from_slice(&doc);
        }
        (flat, lens)
    }
}

/// A random unit vector (Gaussian direction, Box-Muller).
fn gaussian_unit(rng: &mut Xoshiro256PlusPlus, out: &mut [f32]) {
    for pair in out.chunks_mut(2) {
        let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        let u2: f64 = rng.gen();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        pair[0] = (r * a.cos()) as f32;
        if pair.len() > 1 {
            pair[1] = (r * a.sin()) as f32;
        }
    }
    normalise(out);
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_normalised() {
        let s = Synthetic::new(SyntheticConfig {
            docs: 10,
            dim: 16,
            ..SyntheticConfig::default()
        });
        let (mut a, mut b) = (Vec::new(), Vec::new());
        s.document(3, &mut a);
        Synthetic::new(s.config().clone()).document(3, &mut b);
        assert_eq!(a, b);
        assert!(!a.is_empty());
        for row in a.chunks_exact(16) {
            let n: f32 = row.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
        s.query(0, &mut a);
        assert_eq!(a.len(), 32 * 16);
    }
}
