//! `kubectl gitops` / `kubectl gitops ui` (SPEC §9): the terminal UI.

use clap::Args;

use super::GlobalArgs;

/// Terminal UI flags (SPEC §9).
#[derive(Debug, Clone, Default, Args)]
pub struct UiArgs {
    /// Disable every write (sync, revert) in the UI
    #[arg(long)]
    pub read_only: bool,
}

/// Runs the terminal UI; returns the exit code.
pub fn run(global: &GlobalArgs, args: &UiArgs, display: &str) -> anyhow::Result<i32> {
    let _ = (global, args);
    anyhow::bail!(
        "the terminal UI is not built yet; run `{display} --help` for the commands there are"
    )
}
