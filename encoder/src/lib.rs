//! tartan-encoder (in construction).
