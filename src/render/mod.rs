//! Manifests at a commit.
