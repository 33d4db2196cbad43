//! `kubectl gitops history [RESOURCE]` (SPEC §5): the first-parent commits that changed the
//! environment, or one resource, with their resource changes.

use clap::Args;

use super::GlobalArgs;

/// `history` flags (SPEC §5).
#[derive(Debug, Clone, Default, Args)]
pub struct HistoryArgs {
    /// Only the commits that changed this resource (followed across files): deploy/web, cm/settings
    #[arg(value_name = "RESOURCE")]
    pub resource: Option<String>,
    /// Show at most N commits
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Include each change's diff
    #[arg(short = 'p', long = "patch")]
    pub patch: bool,
}

/// Runs `history`; returns the exit code.
pub fn run(global: &GlobalArgs, args: &HistoryArgs, display: &str) -> anyhow::Result<i32> {
    let _ = (global, args);
    anyhow::bail!("`{display} history` is not built yet")
}
