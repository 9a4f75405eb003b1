//! Hybrid logical clock timestamps and device ids.
