//! The use cases of kubectl-gitops, which the CLI and the UI both call: status and diff (the
//! drift engine), history, blame, sync (and rollback), revert. They combine `gitops-render`
//! (desired state from git), `gitops-cluster` (live state) and [`drift`] (the comparison), and
//! return report types the binary prints or shows.
//!
//! Nothing here prints, knows about terminals or imports the sandbox.

pub mod browse;
pub mod diff;
pub mod drift;
pub mod live;
pub mod ops;
pub mod target;
pub mod version;

pub use target::Target;

/// `apiVersion` of every JSON/YAML document this tool prints (SPEC §5).
pub const API_VERSION: &str = "kubectl-gitops/v1";
