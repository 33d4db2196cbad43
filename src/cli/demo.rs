//! `kubectl gitops demo` (SPEC §10): a sample environment repo with history, the sandbox in
//! process, an older commit synced, some live drift, and the UI on top. Needs no cluster.

use clap::Args;

use super::GlobalArgs;

/// `demo` flags (SPEC §10).
#[derive(Debug, Clone, Default, Args)]
pub struct DemoArgs {
    /// Keep the sample repo and kubeconfig after exit and print where they are
    #[arg(long)]
    pub keep: bool,
}

/// Runs the demo; returns the exit code.
pub fn run(global: &GlobalArgs, args: &DemoArgs, display: &str) -> anyhow::Result<i32> {
    let _ = (global, args);
    anyhow::bail!("`{display} demo` is not built yet")
}
