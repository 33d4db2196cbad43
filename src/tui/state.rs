//! The UI state: plain data the reducer changes and the views draw.

use std::sync::Arc;

use crate::diff::Hunk;
use crate::drift::Strategy;
use crate::highlight::Highlighted;
use crate::model::{CommitInfo, DriftState, ResourceId};
use crate::ops::history::ChangeKind;
use crate::ops::rev_diff::{ResourceRevisionDiff, RevisionDiff};
use crate::ops::status::{ResourceStatus, StatusReport};

use super::action::{DetailLine, RequestId};
use super::theme::Theme;

/// Lines of context around each change in the detail diff: enough to read the surrounding YAML.
pub const DIFF_CONTEXT: usize = 6;

/// Rows a page key moves.
pub const PAGE: usize = 10;

/// The three panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Commits that changed the environment.
    History,
    /// Resources at the selected commit.
    Resources,
    /// Diff, blame or history of the selected resource.
    Detail,
}

/// What the detail pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailMode {
    /// The diff live → git@commit.
    Diff,
    /// Blame, git (`live: false`) or live.
    Blame {
        /// Live blame.
        live: bool,
    },
    /// The commits that changed the resource.
    History,
}

/// Diff layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffLayout {
    /// Live left, git right.
    SideBySide,
    /// One column, `-`/`+`.
    Unified,
}

/// Where the UI looks: shown in the title bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Repository directory name.
    pub repo: String,
    /// `--path` (`""` for the root).
    pub path: String,
    /// The `--rev` history starts from.
    pub rev: String,
    /// Kubeconfig context, once known.
    pub context: String,
    /// Default namespace override (`:ns`), if any.
    pub namespace: Option<String>,
}

/// The History pane.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Commits that changed the environment, newest first.
    pub commits: Vec<CommitInfo>,
    /// HEAD's full sha, once known.
    pub head: Option<String>,
    /// Whether the walk is still running.
    pub loading: bool,
    /// The selected row.
    pub selected: usize,
    /// The current walk.
    pub request: RequestId,
    /// Why the walk failed.
    pub error: Option<String>,
    /// The next chunk replaces the list (a new walk), keeping the selected commit.
    pub replace: bool,
    /// The commit to select once the new walk arrives (a revert's new commit).
    pub pin: Option<String>,
}

/// The evaluation behind the Resources pane.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// The commit (or rev) evaluated or being evaluated.
    pub rev: String,
    /// The current request.
    pub request: RequestId,
    /// The last report for `rev` (client or server).
    pub report: Option<Arc<StatusReport>>,
    /// Which strategy made `report`.
    pub strategy: Option<Strategy>,
    /// Whether the server refinement of the current request is still running.
    pub refining: bool,
    /// Whether no report of the current request has arrived yet.
    pub loading: bool,
    /// Why the evaluation failed.
    pub error: Option<String>,
    /// Kinds being watched, to ask for a new watch only when they change.
    pub watched: Vec<(String, String, Option<String>)>,
    /// The commit the live state matches, as far as known.
    pub live_commit: Option<String>,
}

/// A `/` filter: words in name/kind/namespace, `state:`, `kind:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The text as typed.
    pub text: String,
    /// Words every row must contain (kind, namespace or name), lower case.
    pub words: Vec<String>,
    /// States a row must have (any of).
    pub states: Vec<DriftState>,
    /// Kinds a row must have (any of), lower case.
    pub kinds: Vec<String>,
}

/// The Resources pane.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Indexes into the report's resources that pass the filter, in report order.
    pub visible: Vec<usize>,
    /// The selected row (index into `visible`).
    pub selected: usize,
    /// The filter.
    pub filter: Filter,
}

/// A row of the Resources pane while a commit is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkRow {
    /// A file or unit that did not render at either commit: index into `render_errors`.
    RenderError(usize),
    /// A resource that differs: index into the comparison's `resources`.
    Changed(usize),
}

/// How much a changed resource needs attention under a mark, most first: a render error hides
/// what changed, a removal deletes from the cluster when synced, a modification changes what
/// runs, an addition only adds.
pub fn change_rank(change: ChangeKind) -> u8 {
    match change {
        ChangeKind::Removed => 1,
        ChangeKind::Modified => 2,
        ChangeKind::Added => 3,
    }
}

/// The commit marked with `m` (SPEC §9): the Resources pane lists what changed between it and
/// the selected commit (`diff --from <mark> --rev <selected>`), the Detail pane shows the
/// selected resource rendered at the mark (left, old) against the selected commit (right, new).
#[derive(Debug, Clone, Default)]
pub struct Mark {
    /// The marked commit, full sha.
    pub commit: String,
    /// The selected commit the comparison is (being) made against.
    pub rev: String,
    /// The current comparison request; answers to older ones are dropped.
    pub request: RequestId,
    /// Whether the comparison of `commit` and `rev` is still running.
    pub loading: bool,
    /// The comparison, once it arrived (texts included).
    pub diff: Option<Arc<RevisionDiff>>,
    /// Why the comparison failed.
    pub error: Option<String>,
    /// The rows that pass the filter, those needing attention first.
    pub rows: Vec<MarkRow>,
    /// The selected row (index into `rows`).
    pub selected: usize,
}

impl Mark {
    /// The changed resource of row `row`, if it is one.
    pub fn resource(&self, row: MarkRow) -> Option<&ResourceRevisionDiff> {
        match row {
            MarkRow::Changed(i) => self.diff.as_ref()?.resources.get(i),
            MarkRow::RenderError(_) => None,
        }
    }

    /// The selected row.
    pub fn selected_row(&self) -> Option<MarkRow> {
        self.rows.get(self.selected).copied()
    }

    /// The changed resource selected, if the selected row is one.
    pub fn selected_resource(&self) -> Option<&ResourceRevisionDiff> {
        self.resource(self.selected_row()?)
    }

    /// Whether the mark is the selected commit: nothing to compare.
    pub fn on_itself(&self) -> bool {
        self.commit == self.rev
    }
}

/// The diff of the selected resource, computed once per selection and report.
#[derive(Debug, Clone)]
pub struct DiffData {
    /// The resource.
    pub id: ResourceId,
    /// Whole live text (left).
    pub live: String,
    /// Whole desired text (right).
    pub desired: String,
    /// The hunks live → desired.
    pub hunks: Vec<Hunk>,
    /// Syntax colours of `live` and `desired`, once highlighted off the UI thread (syntect
    /// takes milliseconds per document: too long for a keystroke's frame).
    pub highlighted: Option<(Highlighted, Highlighted)>,
}

/// The Detail pane.
#[derive(Debug, Clone)]
pub struct Detail {
    /// Diff, blame or history.
    pub mode: DetailMode,
    /// Diff layout.
    pub layout: DiffLayout,
    /// First line shown.
    pub scroll: usize,
    /// The diff of the selected resource.
    pub diff: Option<Arc<DiffData>>,
    /// Blame or history lines, once loaded.
    pub lines: Option<Result<Vec<DetailLine>, String>>,
    /// The selected blame/history line.
    pub cursor: usize,
    /// The current blame/history request.
    pub request: RequestId,
    /// The diff texts of the selected resource, asked for on demand.
    pub texts: Texts,
}

/// What the diff texts were asked for: a new row (other resource, commit, strategy, live
/// version or state) asks again; the same row does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextsKey {
    /// The resource.
    pub id: ResourceId,
    /// The commit.
    pub rev: String,
    /// How the row was compared.
    pub strategy: Option<Strategy>,
    /// The live object's `resourceVersion`.
    pub resource_version: Option<String>,
    /// The row's state.
    pub state: DriftState,
}

/// The on-demand diff texts of the selected resource.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    /// The row they were asked for.
    pub key: Option<TextsKey>,
    /// The current request; older answers are dropped.
    pub request: RequestId,
    /// Whether the answer is awaited.
    pub loading: bool,
    /// Why there are none.
    pub error: Option<String>,
}

/// What a confirmation would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Sync one resource.
    SyncResource {
        /// Commit.
        rev: String,
        /// Resource.
        id: ResourceId,
    },
    /// Sync all resources.
    SyncAll {
        /// Commit.
        rev: String,
    },
    /// Revert a commit.
    Revert {
        /// Commit.
        commit: String,
    },
}

/// A confirmation dialog: what will change, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// What `y` does.
    pub pending: Pending,
    /// Dialog title.
    pub title: String,
    /// The changes, one per line.
    pub lines: Vec<String>,
    /// The keys that answer.
    pub prompt: String,
    /// The plan request that fills `lines` with the exact changes.
    pub request: RequestId,
    /// Whether the plan arrived: only then can it be confirmed.
    pub ready: bool,
}

/// A popup over the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    /// The keys, from the keymap.
    Help,
    /// A confirmation.
    Confirm(Confirm),
    /// An error or a result, closed by any key.
    Message {
        /// Title.
        title: String,
        /// Text lines.
        lines: Vec<String>,
        /// Error styling.
        error: bool,
    },
}

/// The line at the bottom where `/` and `:` are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `/` filter.
    Filter,
    /// `:` command.
    Command,
}

/// Text being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Filter or command.
    pub kind: InputKind,
    /// The text so far.
    pub text: String,
}

/// A message in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// Text.
    pub text: String,
    /// Error styling.
    pub error: bool,
}

/// Everything the UI shows.
#[derive(Debug, Clone)]
pub struct State {
    /// Repo, path, rev, context.
    pub location: Location,
    /// Writes disabled.
    pub read_only: bool,
    /// The focused pane.
    pub focus: Pane,
    /// History pane.
    pub history: History,
    /// Evaluation.
    pub eval: Evaluation,
    /// Resources pane.
    pub resources: Resources,
    /// The marked commit (`m`), if any.
    pub mark: Option<Mark>,
    /// Detail pane.
    pub detail: Detail,
    /// A popup, if open.
    pub popup: Option<Popup>,
    /// The input line, if typing.
    pub input: Option<Input>,
    /// Status bar message.
    pub status: Option<StatusLine>,
    /// A write is running (its name).
    pub busy: Option<String>,
    /// Colours.
    pub theme: Theme,
    /// Last request id handed out.
    pub last_request: RequestId,
    /// Set by `q`: the event loop ends.
    pub quit: bool,
}

impl State {
    /// The state before anything is loaded.
    pub fn new(location: Location, read_only: bool, theme: Theme) -> State {
        State {
            eval: Evaluation {
                rev: location.rev.clone(),
                loading: true,
                ..Evaluation::default()
            },
            history: History {
                loading: true,
                replace: true,
                ..History::default()
            },
            location,
            read_only,
            focus: Pane::History,
            resources: Resources::default(),
            mark: None,
            detail: Detail {
                mode: DetailMode::Diff,
                layout: DiffLayout::SideBySide,
                scroll: 0,
                diff: None,
                lines: None,
                cursor: 0,
                request: 0,
                texts: Texts::default(),
            },
            popup: None,
            input: None,
            status: None,
            busy: None,
            theme,
            last_request: 0,
            quit: false,
        }
    }

    /// A fresh request id.
    pub fn next_request(&mut self) -> RequestId {
        self.last_request += 1;
        self.last_request
    }

    /// The selected commit, once history is loaded.
    pub fn selected_commit(&self) -> Option<&CommitInfo> {
        self.history.commits.get(self.history.selected)
    }

    /// The selected resource, if any.
    pub fn selected_resource(&self) -> Option<&ResourceStatus> {
        let report = self.eval.report.as_ref()?;
        let index = *self.resources.visible.get(self.resources.selected)?;
        report.resources.get(index)
    }

    /// The resource the Detail pane is about: the marked comparison's selected resource under
    /// a mark, else the selected row.
    pub fn detail_resource(&self) -> Option<&ResourceId> {
        match &self.mark {
            Some(mark) => mark.selected_resource().map(|r| &r.id),
            None => self.selected_resource().map(|r| &r.id),
        }
    }

    /// The commit the Resources pane shows: the report's, else the one being evaluated.
    pub fn shown_revision(&self) -> String {
        self.eval
            .report
            .as_ref()
            .map(|r| r.revision.id.clone())
            .unwrap_or_else(|| self.eval.rev.clone())
    }

    /// Whether `commit` is older than HEAD in the loaded history (a sync of it rolls back).
    pub fn is_older_than_head(&self, commit: &str) -> bool {
        let Some(head) = &self.history.head else {
            return false;
        };
        if head == commit {
            return false;
        }
        let position = |id: &str| self.history.commits.iter().position(|c| c.id == id);
        match (position(head), position(commit)) {
            (Some(h), Some(c)) => c > h,
            // HEAD did not change the environment: any listed commit is at or below it.
            (None, Some(_)) => self.history.commits.first().is_some_and(|c| c.id != commit),
            _ => false,
        }
    }
}
