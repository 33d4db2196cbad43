//! `kubectl gitops` / `kubectl gitops ui` (SPEC §9): the terminal UI.

use clap::Args;

use super::GlobalArgs;
use crate::tui::{self, UiOptions};

/// Terminal UI flags (SPEC §9).
#[derive(Debug, Clone, Default, Args)]
pub struct UiArgs {
    /// Disable every write (sync, revert) in the UI
    #[arg(long)]
    pub read_only: bool,
}

/// Runs the terminal UI; returns the exit code.
pub fn run(global: &GlobalArgs, args: &UiArgs, display: &str) -> anyhow::Result<i32> {
    if global.offline {
        anyhow::bail!(
            "the terminal UI compares git with the cluster and cannot run with --offline; \
             use `{display} history` or `{display} blame --offline` for git-only views"
        );
    }
    let opts = UiOptions {
        target: super::target(global)?,
        read_only: args.read_only,
        theme: global.theme.clone(),
    };
    Ok(tui::run(opts)?)
}
