//! The terminal UI (SPEC §9): state, actions, reducer, effects, views, keymap, themes.
//!
//! Entry point: [`run`] with [`UiOptions`]. It opens the terminal (alternate screen, raw mode,
//! mouse), draws the first frame before any git walk or cluster call has finished, and
//! restores the terminal on quit, panic, SIGINT, SIGTERM and SIGHUP.
//!
//! ```no_run
//! use kubectl_gitops::Target;
//! use kubectl_gitops::tui::{run, UiOptions};
//! # fn main() -> anyhow::Result<()> {
//! let code = run(UiOptions {
//!     target: Target {
//!         repo: "/tmp/env".into(),
//!         path: "envs/demo".into(),
//!         kubeconfig: Some("/tmp/kubeconfig".into()),
//!         ..Target::default()
//!     },
//!     ..UiOptions::default()
//! })?;
//! std::process::exit(code);
//! # }
//! ```

pub mod action;
pub mod keymap;
mod ops_calls;
mod runtime;
pub mod state;
pub mod theme;
pub mod update;
pub mod view;

use gitops_core::Target;

pub use runtime::run;

/// Where the UI looks and how: what `kubectl gitops` / `ui` / `demo` pass in.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// The environment: repo, path, revision, namespace, cluster, kubectl.
    pub target: Target,
    /// `--read-only`: no sync, no revert.
    pub read_only: bool,
    /// `--theme` (name or file); `None` for `$KUBECTL_GITOPS_THEME`, then `dark`.
    pub theme: Option<String>,
}

/// Why the UI could not run (its own errors are shown inside it instead).
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The theme could not be loaded.
    #[error(transparent)]
    Theme(#[from] theme::ThemeError),
    /// stdin/stdout is not a terminal.
    #[error(
        "the terminal UI needs a terminal on stdin and stdout; for scripts use `kubectl gitops status` or `diff`"
    )]
    NotATerminal,
    /// The terminal or the runtime could not be set up.
    #[error("cannot start the terminal UI: {0}")]
    Setup(#[source] std::io::Error),
}
