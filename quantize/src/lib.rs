//! tartan-quantize (in construction).
