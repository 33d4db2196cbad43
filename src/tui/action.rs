//! Every intent of the UI is an [`Action`] (from a key, the mouse, a finished effect or the
//! cluster watch); every piece of I/O the reducer asks for is an [`Effect`].

use std::sync::Arc;

use crate::drift::Strategy;
use crate::highlight::Highlighted;
use crate::model::{CommitInfo, ResourceId, Source};
use crate::ops::rev_diff::RevisionDiff;
use crate::ops::status::{ResourceStatus, StatusReport};

use super::theme::Theme;

/// Identifies a request; a result whose id is no longer current is dropped.
pub type RequestId = u64;

/// An intent: from the user (keys, mouse) or a result coming back from an effect.
#[derive(Debug, Clone)]
pub enum Action {
    /// Leave the UI.
    Quit,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Move the selection (or scroll the detail) up.
    Up,
    /// Move the selection (or scroll the detail) down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// To the first row.
    Top,
    /// To the last row.
    Bottom,
    /// Drill in: history → resources → detail.
    Enter,
    /// Back out: close a popup or input, detail → resources → history.
    Back,
    /// Side by side ↔ unified diff.
    ToggleLayout,
    /// Blame of the selected resource; again: git ↔ live.
    ToggleBlame,
    /// History of the selected resource.
    ResourceHistory,
    /// Mark the selected commit to compare the others with; on the marked commit: clear it.
    ToggleMark,
    /// Re-read history and re-evaluate.
    Refresh,
    /// Show the keys.
    Help,
    /// Start typing a filter.
    StartFilter,
    /// Start typing a `:` command.
    StartCommand,
    /// Sync the selected resource to the selected commit (asks first).
    SyncResource,
    /// Sync everything to the selected commit (asks first).
    SyncAll,
    /// Revert the selected commit in git (asks first).
    RevertCommit,
    /// Yes to the open confirmation.
    Confirm,
    /// Yes to the open confirmation, and sync afterwards (revert only).
    ConfirmAndSync,
    /// A character typed into the filter or command line.
    InputChar(char),
    /// Backspace in the filter or command line.
    InputBackspace,
    /// Enter in the filter or command line.
    InputSubmit,
    /// Commits that changed the environment, newest first, in chunks as the walk finds them.
    HistoryLoaded {
        /// The history request this answers.
        request: RequestId,
        /// The commits found since the last chunk.
        commits: Vec<CommitInfo>,
        /// HEAD's full sha.
        head: String,
        /// Whether the walk is complete.
        done: bool,
    },
    /// The history walk failed.
    HistoryFailed {
        /// The history request this answers.
        request: RequestId,
        /// Why.
        message: String,
    },
    /// An evaluation finished.
    Evaluated {
        /// The evaluation request this answers.
        request: RequestId,
        /// Client (fast) or server (refined).
        strategy: Strategy,
        /// The report, or why there is none.
        result: Result<Arc<StatusReport>, String>,
    },
    /// Rows evaluated again after a live change ([`Effect::EvaluateRows`]).
    RowsEvaluated {
        /// The evaluation request this answers.
        request: RequestId,
        /// The rows (without texts), or why not (the reducer then evaluates everything).
        result: Result<Vec<ResourceStatus>, String>,
    },
    /// The watch saw changes of live objects (coalesced).
    LiveChanged {
        /// The objects that changed; empty when the watch resynchronized and anything may have.
        changed: Vec<ResourceId>,
    },
    /// A write finished (sync or revert), with a one-line result or the error.
    WriteDone {
        /// What finished, e.g. `sync`.
        what: String,
        /// The result text, or the error.
        result: Result<String, String>,
        /// For revert: the new commit, to select once history reloads.
        new_head: Option<String>,
    },
    /// The exact changes for an open confirmation, or why they cannot be known.
    Planned {
        /// The plan request this answers.
        request: RequestId,
        /// One line per change (first line: a summary), or the error.
        result: Result<Vec<String>, String>,
    },
    /// Lines for the detail pane's blame or resource history.
    DetailLoaded {
        /// The detail request this answers.
        request: RequestId,
        /// The lines, or why there are none.
        result: Result<Vec<DetailLine>, String>,
    },
    /// The two texts of the selected resource's diff (live, desired), evaluated on demand.
    TextsLoaded {
        /// The texts request this answers.
        request: RequestId,
        /// The resource.
        id: ResourceId,
        /// Live and desired text (empty when a side is absent), or why there are none.
        result: Result<(String, String), String>,
    },
    /// The environment at the marked commit compared with the selected one
    /// ([`Effect::CompareRevisions`]).
    Compared {
        /// The comparison request this answers.
        request: RequestId,
        /// The resources that differ (with both texts), or why there are none.
        result: Result<Arc<RevisionDiff>, String>,
    },
    /// Syntax colours of a diff's two texts.
    Highlighted {
        /// The resource.
        id: ResourceId,
        /// The live text highlighted.
        live: String,
        /// The desired text highlighted.
        desired: String,
        /// The syntect theme used.
        syntax: String,
        /// Colours of `live` and `desired`.
        colours: (Highlighted, Highlighted),
    },
    /// A theme was loaded (`:theme`).
    ThemeLoaded(Result<Box<Theme>, String>),
    /// An error to show in the status bar.
    Error(String),
}

/// One line of the blame or resource-history view: a left column (commit or manager) and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailLine {
    /// The attribution (`abc1234 alice 2024-01-02`), or empty.
    pub gutter: String,
    /// The text.
    pub text: String,
    /// A drift mark: ` `, `~`, `-`, `+`.
    pub mark: char,
    /// The commit to open on Enter, when the line names one.
    pub commit: Option<String>,
}

/// I/O the reducer asks for; the event loop runs it off the UI thread and answers with actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Walk the commits from `rev` that changed the environment.
    LoadHistory {
        /// Request id of the answer.
        request: RequestId,
        /// Where the walk starts.
        rev: String,
    },
    /// Evaluate the environment at `rev` against live.
    Evaluate {
        /// Request id of the answer.
        request: RequestId,
        /// The commit.
        rev: String,
        /// Client first, server to refine.
        strategy: Strategy,
    },
    /// Evaluate these rows of the shown report again (a live change of a few objects):
    /// answered with [`Action::RowsEvaluated`].
    EvaluateRows {
        /// Request id of the answer.
        request: RequestId,
        /// The commit.
        rev: String,
        /// The strategy of the report shown.
        strategy: Strategy,
        /// Each row's identity, `apiVersion` and source (`None` for an orphan).
        rows: Vec<(ResourceId, String, Option<Source>)>,
    },
    /// Watch these kinds (apiVersion, kind, namespace or `None` for cluster scope / all).
    Watch {
        /// The kinds in play.
        kinds: Vec<(String, String, Option<String>)>,
    },
    /// Use another kubeconfig context from now on.
    SetContext(String),
    /// Use another default namespace from now on.
    SetNamespace(String),
    /// Load a theme by name or file.
    LoadTheme(String),
    /// Plan a sync of `resources` (all when `None`) to `rev`: what will change, exactly,
    /// found with server-side dry-runs; answered with [`Action::Planned`].
    PlanSync {
        /// Request id of the answer; [`Effect::Sync`] names the plan by it.
        request: RequestId,
        /// The commit to apply.
        rev: String,
        /// The resources; `None` for the whole environment (orphans are kept: no prune).
        resources: Option<Vec<ResourceId>>,
    },
    /// What reverting `commit` changes (its resource changes, undone); answered with
    /// [`Action::Planned`].
    PlanRevert {
        /// Request id of the answer.
        request: RequestId,
        /// The commit to undo.
        commit: String,
    },
    /// Apply the plan of request `plan` (made by [`Effect::PlanSync`] with these arguments).
    Sync {
        /// The plan's request id.
        plan: RequestId,
        /// The commit to apply.
        rev: String,
        /// The resources; `None` for the whole environment.
        resources: Option<Vec<ResourceId>>,
    },
    /// Revert `commit` in git; then sync the new HEAD when `then_sync`.
    Revert {
        /// The commit to undo.
        commit: String,
        /// Sync afterwards.
        then_sync: bool,
    },
    /// Evaluate one resource again for its diff's two texts (evaluations leave texts out:
    /// at thousands of resources they were most of the memory); answered with
    /// [`Action::TextsLoaded`].
    LoadTexts {
        /// Request id of the answer.
        request: RequestId,
        /// The commit.
        rev: String,
        /// The strategy of the report shown.
        strategy: Strategy,
        /// The resource.
        id: ResourceId,
        /// Its `apiVersion` (the row's).
        api_version: String,
        /// Where it is defined; `None` for an orphan.
        source: Option<Source>,
    },
    /// Render the environment at `from` (the mark) and at `rev` (the selected commit) and
    /// compare them, as `diff --from <from> --rev <rev>` does; answered with
    /// [`Action::Compared`].
    CompareRevisions {
        /// Request id of the answer.
        request: RequestId,
        /// The marked commit: the old side.
        from: String,
        /// The selected commit: the new side.
        rev: String,
    },
    /// Highlight a diff's texts as YAML in the syntect theme `syntax`.
    Highlight {
        /// The resource.
        id: ResourceId,
        /// Live text.
        live: String,
        /// Desired text.
        desired: String,
        /// The syntect theme.
        syntax: String,
    },
    /// Blame a resource at a commit (git, or live).
    Blame {
        /// Request id of the answer.
        request: RequestId,
        /// The commit.
        rev: String,
        /// The resource.
        id: ResourceId,
        /// Live blame instead of git.
        live: bool,
    },
    /// The commits that changed one resource.
    ResourceHistory {
        /// Request id of the answer.
        request: RequestId,
        /// Where the walk starts.
        rev: String,
        /// The resource.
        id: ResourceId,
    },
}
