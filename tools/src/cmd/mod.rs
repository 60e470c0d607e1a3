//! One module per subcommand.

pub mod add;
pub mod delete;
pub mod encode;
pub mod eval;
pub mod index;
pub mod optimize;
pub mod search;
pub mod serve;
pub mod stats;
pub mod train;
pub mod upgrade;
pub mod verify;
