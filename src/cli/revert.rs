//! `kubectl gitops revert COMMIT` (SPEC §6): a new commit that undoes COMMIT as `git revert`
//! does, made with gix; never pushes. `--sync` then syncs the new HEAD.

use clap::Args;

use super::GlobalArgs;

/// `revert` flags (SPEC §6).
#[derive(Debug, Clone, Default, Args)]
pub struct RevertArgs {
    /// The commit to undo (anything git rev-parse takes for a commit)
    #[arg(value_name = "COMMIT")]
    pub commit: String,
    /// For a merge commit: the parent number (from 1) whose side is kept
    #[arg(long, value_name = "N")]
    pub mainline: Option<usize>,
    /// Commit message [default: Revert "<subject>" and This reverts commit <sha>.]
    #[arg(short = 'm', long, value_name = "MSG")]
    pub message: Option<String>,
    /// Update the index and work tree but do not commit
    #[arg(long)]
    pub no_commit: bool,
    /// Then sync the new HEAD to the cluster (same rules as `sync`)
    #[arg(long)]
    pub sync: bool,
    /// With --sync: do not ask for confirmation
    #[arg(short = 'y', long, requires = "sync")]
    pub yes: bool,
}

/// Runs `revert`; returns the exit code.
pub fn run(global: &GlobalArgs, args: &RevertArgs, display: &str) -> anyhow::Result<i32> {
    let _ = (global, args);
    anyhow::bail!("`{display} revert` is not built yet")
}
