//! Integration tests of tartan-metadata: real SQLite files written, reopened and queried.

mod bm25;
mod common;
mod filter;
mod properties;
mod store;
