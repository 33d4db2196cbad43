//! Three-way tree merge, commit, index and work tree update for revert.
