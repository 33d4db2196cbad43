//! Manifests at a commit.
pub mod config;
pub mod documents;
