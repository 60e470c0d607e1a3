//! Shared fixtures for the tartan benches.
