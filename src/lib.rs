//! kubectl-gitops: GitOps drift, history, blame, sync and revert between a git environment repo
//! and a live Kubernetes cluster. The binary is a thin wrapper around [`cli::run`].

pub mod cli;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod highlight;
pub mod logging;
pub mod output;
pub mod tui;

/// The cluster through kube-rs (the `gitops-cluster` crate).
pub use gitops_cluster as cluster;
/// The use cases (the `gitops-core` crate).
pub use gitops_core::{Target, diff, drift, ops, version};
/// The environment repo through gix (the `gitops-git` crate).
pub use gitops_git as repo;
/// Sources to desired resources (the `gitops-render` crate).
pub use gitops_render as render;
/// Kubernetes knowledge without I/O (the `k8s-model` crate).
pub use k8s_model as model;
/// The embedded API server (the `kube-sandbox` crate), for `demo` and `sandbox`.
#[cfg(feature = "sandbox")]
pub use kube_sandbox as sandbox;
