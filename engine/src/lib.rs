//! tartan-engine (in construction).
