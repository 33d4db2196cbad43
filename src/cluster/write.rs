//! Writes: server-side apply (real), delete, ApplySet parent, health reads.
