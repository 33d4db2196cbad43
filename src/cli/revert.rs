//! `kubectl gitops revert COMMIT` (SPEC §6): a new commit that undoes COMMIT as `git revert`
//! does, made with gix; never pushes. `--sync` then syncs the new HEAD.

use clap::Args;

use std::io::Write;

use anyhow::Context;

use super::sync::SyncArgs;
use super::{GlobalArgs, OutputFormat, closed_pipe, exit, target};
use crate::ops::revert::{RevertOptions, RevertReport, revert, summary_line};
use crate::output::OutputError;

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
    #[arg(long, conflicts_with = "no_commit")]
    pub sync: bool,
    /// With --sync: do not ask for confirmation
    #[arg(short = 'y', long, requires = "sync")]
    pub yes: bool,
}

/// Runs `revert`; returns the exit code. Refusals are errors: exit 2, nothing changed.
pub fn run(global: &GlobalArgs, args: &RevertArgs, display: &str) -> anyhow::Result<i32> {
    let dir = target(global)?.repo;
    let opts = RevertOptions {
        commit: args.commit.clone(),
        mainline: args.mainline,
        message: args.message.clone(),
        no_commit: args.no_commit,
    };
    let outcome = revert(&dir, &opts)?;
    let written = match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let report = RevertReport::from(&outcome);
            let mut out = std::io::stdout().lock();
            if global.output == OutputFormat::Json {
                serde_json::to_writer_pretty(&mut out, &report)
                    .map_err(OutputError::Json)
                    .and_then(|()| writeln!(out).map_err(OutputError::Io))
            } else {
                let yaml = serde_saphyr::to_string(&report)
                    .with_context(|| "cannot write the revert report as YAML")?;
                write!(out, "{yaml}").map_err(OutputError::Io)
            }
        }
        _ => writeln!(std::io::stdout().lock(), "{}", summary_line(&outcome))
            .map_err(OutputError::Io),
    };
    closed_pipe(written)?;
    match (&outcome.commit, args.sync) {
        (Some(new), true) => {
            // Sync exactly the commit just made, whatever HEAD moves to meanwhile.
            let mut at_new_head = global.clone();
            at_new_head.rev = new.id.clone();
            let sync_args = SyncArgs {
                yes: args.yes,
                ..SyncArgs::default()
            };
            super::sync::run(&at_new_head, &sync_args, display)
        }
        _ => Ok(exit::OK),
    }
}
