//! The `tartan` command.
fn main() {}
