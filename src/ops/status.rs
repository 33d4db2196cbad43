//! Evaluating an environment at a commit against the live cluster: the data behind `status`,
//! `diff` and the UI's Resources pane (SPEC §4, §5).

use serde::Serialize;

use crate::drift::{Change, Strategy};
use crate::model::{DriftState, ResourceId, Source};

/// A commit as every output shows it (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// Full sha.
    pub id: String,
    /// First line of the message.
    pub summary: String,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Author time, RFC 3339.
    pub time: String,
}

/// The state of one resource at the evaluated commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion` (desired's; live's for orphans).
    pub api_version: String,
    /// Synced, Drifted, Missing, Orphaned, Unknown or Error.
    pub state: DriftState,
    /// How drift was determined; `None` when no comparison ran (Missing, Orphaned, Unknown, Error).
    pub strategy: Option<Strategy>,
    /// Differing field paths, dotted (`spec.replicas`).
    pub fields: Vec<String>,
    /// Structured changes live → what sync would make it.
    pub changes: Vec<Change>,
    /// Where the desired resource comes from; `None` for orphans.
    pub source: Option<Source>,
    /// Last commit that changed the resource in git, when known.
    pub last_commit: Option<CommitInfo>,
    /// `kubectl-gitops.io/revision` of the live object.
    pub live_revision: Option<String>,
    /// Newest commit whose version the live object satisfies (SPEC §7), when known.
    pub matches_revision: Option<String>,
    /// `resourceVersion` of the live object.
    pub live_resource_version: Option<String>,
    /// Why the state is Error or Unknown, or a note such as the fallback to the client strategy.
    pub error: Option<String>,
    /// Notes for the user that are not errors (e.g. "server dry-run forbidden; compared client-side").
    pub notes: Vec<String>,
    /// The live object, normalized and masked, as YAML (the diff's left side); `None` when absent.
    #[serde(skip)]
    pub live_yaml: Option<String>,
    /// What sync would make it, normalized and masked, as YAML (the diff's right side).
    #[serde(skip)]
    pub desired_yaml: Option<String>,
}

/// The evaluation of one environment at one commit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The evaluated commit.
    pub revision: CommitInfo,
    /// `--path` (repo-relative, `""` for the root).
    pub path: String,
    /// Kubeconfig context used.
    pub context: String,
    /// Server URL used.
    pub server: String,
    /// Every resource, desired and orphaned, sorted by state, kind, namespace, name.
    pub resources: Vec<ResourceStatus>,
    /// Files that could not be rendered (`file:line: message`); they make the exit code 2.
    pub render_errors: Vec<String>,
}

impl StatusReport {
    /// Count of resources per state, for the summary line and the JSON `summary`.
    pub fn summary(&self) -> std::collections::BTreeMap<DriftState, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for r in &self.resources {
            *counts.entry(r.state).or_insert(0) += 1;
        }
        counts
    }

    /// Exit code per SPEC §5: 2 when anything is Error/Unknown or a file failed to render,
    /// 1 when anything differs, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.render_errors.is_empty()
            || self
                .resources
                .iter()
                .any(|r| matches!(r.state, DriftState::Error | DriftState::Unknown))
        {
            2
        } else if self.resources.iter().any(|r| r.state != DriftState::Synced) {
            1
        } else {
            0
        }
    }
}
