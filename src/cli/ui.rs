//! `kubectl gitops` / `kubectl gitops ui` (SPEC §9): the terminal UI.

use std::path::PathBuf;

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
    let (repo, path) = super::env_location(global)?;
    let opts = UiOptions {
        repo,
        path,
        rev: global.rev.clone(),
        namespace: global.namespace.clone(),
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        read_only: args.read_only,
        theme: global.theme.clone(),
        // kubectl sets KUBECTL_PATH for its plugins: kustomize builds use that kubectl.
        kubectl: std::env::var_os("KUBECTL_PATH").map(PathBuf::from),
    };
    Ok(tui::run(opts)?)
}
