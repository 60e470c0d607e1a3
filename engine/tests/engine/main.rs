//! Integration tests of tartan-engine (one binary; modules by area).

mod build;
mod common;
mod corruption;
mod edge_cases;
mod input_checks;
mod living;
mod metadata;
mod quality;
mod shards;
