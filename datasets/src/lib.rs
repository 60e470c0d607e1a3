//! tartan-datasets (in construction).
