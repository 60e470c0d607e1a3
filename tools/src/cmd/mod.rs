//! One module per subcommand.

pub mod encode;
pub mod eval;
pub mod index;
pub mod search;
pub mod serve;
