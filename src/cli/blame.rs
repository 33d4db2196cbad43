//! `kubectl gitops blame RESOURCE` (SPEC §7): each line of the resource's document with the
//! commit that last changed it and a drift mark from the live object; `--live` the other way.

use clap::Args;

use super::GlobalArgs;

/// `blame` flags (SPEC §7).
#[derive(Debug, Clone, Default, Args)]
pub struct BlameArgs {
    /// The resource, written as kubectl writes it: deploy/web, deployment.apps/web, cm/settings
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
    /// Blame the live object: each line to the commit that set the value, or the field manager
    #[arg(long)]
    pub live: bool,
}

/// Runs `blame`; returns the exit code.
pub fn run(global: &GlobalArgs, args: &BlameArgs, display: &str) -> anyhow::Result<i32> {
    let _ = (global, args);
    anyhow::bail!("`{display} blame` is not built yet")
}
