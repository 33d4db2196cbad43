//! Revert: a commit that undoes another, as git revert makes it (SPEC §6). The use case the
//! CLI and the UI call; the git work is [`gitops_git::revert`].

use std::path::Path;

use serde::Serialize;

use crate::API_VERSION;
use gitops_git::EnvRepo;
pub use gitops_git::revert::{
    FileChange, RevertError, RevertOptions, RevertOutcome, RevertedFile, short_id,
};
use k8s_model::CommitInfo;

/// Opens the environment repo containing `dir` and reverts `opts.commit` on its current
/// branch. Blocking; refusals change nothing.
pub fn revert(dir: &Path, opts: &RevertOptions) -> Result<RevertOutcome, RevertError> {
    EnvRepo::open(dir)?.revert(opts)
}

/// `-o json|yaml` of `revert`: `kind: Revert`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevertReport {
    /// `kubectl-gitops/v1`.
    pub api_version: &'static str,
    /// `Revert`.
    pub kind: &'static str,
    /// The commit undone.
    pub reverted: CommitInfo,
    /// The new commit, `null` with `--no-commit`.
    pub commit: Option<CommitInfo>,
    /// The branch the commit is on.
    pub branch: String,
    /// Files the revert wrote or deleted.
    pub files: Vec<RevertedFile>,
}

impl From<&RevertOutcome> for RevertReport {
    fn from(outcome: &RevertOutcome) -> Self {
        RevertReport {
            api_version: API_VERSION,
            kind: "Revert",
            reverted: outcome.reverted.clone(),
            commit: outcome.commit.clone(),
            branch: outcome.branch.clone(),
            files: outcome.files.clone(),
        }
    }
}

/// The one-line text summary: what was reverted, as which commit, and the next step.
pub fn summary_line(outcome: &RevertOutcome) -> String {
    let reverted = &outcome.reverted;
    let short = &reverted.id[..reverted.id.len().min(7)];
    match &outcome.commit {
        Some(new) => format!(
            "Reverted {short} \"{}\" as {}; run `git push` to publish it.",
            reverted.summary,
            &new.id[..new.id.len().min(7)]
        ),
        None => format!(
            "Reverted {short} \"{}\" in the index and work tree (not committed); run `git commit` to record it, then `git push` to publish it.",
            reverted.summary
        ),
    }
}
