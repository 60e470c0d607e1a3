//! End-to-end tests of the `tartan` binary (one test binary, modules by area).

mod cli {
    pub mod common;
    mod embeddings;
    mod filters;
    mod input_errors;
    mod living;
    mod real_data;
    mod server;
    mod server_limits;
    mod server_living;
    mod shards;
    mod usage;
}
