//! kubectl-gitops: GitOps drift, history, blame, sync and revert between a git environment repo
//! and a live Kubernetes cluster. The binary is a thin wrapper around [`cli::run`].

pub mod cli;
pub mod cluster;
pub mod demo;
pub mod diff;
pub mod drift;
pub mod highlight;
pub mod logging;
pub mod model;
pub mod ops;
pub mod output;
pub mod render;
pub mod repo;
pub mod sandbox;
pub mod tui;
pub mod version;
