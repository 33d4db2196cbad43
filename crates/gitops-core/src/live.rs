//! The live side as the UI holds it: a connected cluster client, shared by the use cases it
//! calls, and the watch that tells it which live objects changed. The UI takes these from here
//! rather than from `gitops-cluster`.

pub use gitops_cluster::watch::{LiveChange, LiveWatch, watch_kinds};
pub use gitops_cluster::{ClusterClient, ClusterError};
