//! [`ChangeWalk`]: the first-parent commits that changed the environment's inputs, each
//! with its resource changes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::cache::whole_render_errors;
use super::{CommitChanges, HistoryOpsError, ResourceChange, environment_inputs_or_path};
use crate::ops::status::membership::is_controller;
use gitops_git::history::{WalkObjects, WalkStats, WalkedCommit};
use gitops_git::{EnvRepo, ObjectId, RepoError, commit_info_from_data};
use gitops_render::node_diff::LineIndex;
use gitops_render::{EnvConfig, RenderOptions, plain_files, render};
use k8s_model::{CommitInfo, Manifest, ResourceId};

/// Line indexes kept for the next comparisons: enough for the files of a commit that changes
/// many of them.
const LINE_INDEXES_KEPT: usize = 32;

mod feed;
mod step;

use feed::{Prepared, WalkFeed};

/// Resources by identity at a commit (objects and sources).
pub(super) type Objects = HashMap<ResourceId, (String, Value, String)>;

/// One resource of a file version rendered on its own without errors: identity, `apiVersion`
/// and the content lines of its document.
#[derive(Debug, Clone)]
pub(super) struct LightDoc {
    id: ResourceId,
    api_version: String,
    line: usize,
    end_line: usize,
}

/// The resources of a file version, in document order (one per document: no `List`s).
pub(super) type LightDocs = Arc<Vec<LightDoc>>;

/// The file each resource comes from at the walk's position, and the reverse: stepping a
/// commit touches only the changed files' entries, not every resource of the environment.
#[derive(Debug, Default)]
pub(super) struct Sources {
    by_id: HashMap<ResourceId, String>,
    /// May list an id whose file changed since; `by_id` decides.
    by_file: HashMap<String, Vec<ResourceId>>,
}

impl Sources {
    fn new(pairs: impl IntoIterator<Item = (ResourceId, String)>) -> Sources {
        let mut sources = Sources::default();
        for (id, file) in pairs {
            sources.insert(id, file);
        }
        sources
    }

    fn get(&self, id: &ResourceId) -> Option<&String> {
        self.by_id.get(id)
    }

    fn insert(&mut self, id: ResourceId, file: String) {
        self.by_file
            .entry(file.clone())
            .or_default()
            .push(id.clone());
        self.by_id.insert(id, file);
    }

    /// Forgets resources `ids` (not at the parent).
    fn forget(&mut self, ids: &[ResourceId]) {
        for id in ids {
            self.by_id.remove(id);
        }
    }

    /// Forgets the resources of `paths`.
    fn drop_files(&mut self, paths: &BTreeSet<String>) {
        for path in paths {
            for id in self.by_file.remove(path).unwrap_or_default() {
                if self.by_id.get(&id) == Some(path) {
                    self.by_id.remove(&id);
                }
            }
        }
    }
}

/// Both sides' resources of the rendered files, and the changes proven without rendering.
pub(super) type Sides = (Objects, Objects, Vec<ResourceChange>);

/// Iterator over the commits that changed `--path`, each with its resource changes; commits
/// that changed no resource (a pure move, a README) are yielded with no changes.
pub struct ChangeWalk {
    repo: EnvRepo,
    /// Reads this thread's objects: the path's trees, changed files, commits.
    objects: WalkObjects,
    /// `--path`, normalized.
    path: String,
    /// The path walk, on its own thread.
    feed: WalkFeed,
    /// The commit last taken from the walk, with what the walk knew of it.
    current: Option<WalkedCommit>,
    opts: RenderOptions,
    /// The config at the walk's position (the tip, then the parent of the last step that
    /// rendered in full), when the environment renders from plain files only: then a commit's
    /// changes come from the files that differ between its tree and its parent's.
    tip_config: Option<EnvConfig>,
    /// The file each resource comes from at the walk's position (the commit about to be
    /// diffed against its parent), when its render had no errors: a changed file defining a
    /// resource an unchanged file defines too must fall back to full renders.
    sources: Option<Sources>,
    /// Whether changes carry the objects (`-p`, the live mark). Without, a file whose versions
    /// differ only in scalar values is compared by its text ([`scalar_changes`]), not parsed.
    ///
    /// [`scalar_changes`]: gitops_render::scalar_diff::scalar_changes
    objects_needed: bool,
    /// The resources of file versions (by blob) rendered clean, or known to have the same
    /// identities and line ranges as such a version (a proven scalar change away).
    light: HashMap<ObjectId, LightDocs>,
    /// The line indexes of the file versions compared by their nodes last: a version is the
    /// older side of one change and the newer side of the next one the walk meets.
    line_indexes: std::collections::VecDeque<(ObjectId, Arc<LineIndex>)>,
    /// What the reading thread prepared for the current commit's files.
    prepared: Prepared,
    /// Changed files compared by text.
    light_files: usize,
    full_renders: usize,
    /// Whether commits were taken without computing their changes ([`ChangeWalk::next_commit`]):
    /// the position-dependent state must be rebuilt before the next computed step.
    skipped: bool,
    /// The last commit [`ChangeWalk::next_commit`] yielded, until its changes are computed:
    /// taking the next one without them skips it.
    pending: Option<ObjectId>,
    resyncs: usize,
    /// Commits taken from the walk.
    taken: usize,
    /// The render errors of the walk's first commit when its changes were computed first:
    /// the environment at the tip (the commits between left its inputs alone).
    tip_errors: Option<Vec<String>>,
}

impl ChangeWalk {
    /// A walk from `tip` over `opts.path` (cache under the git dir when `use_cache`).
    pub fn new(
        repo: &EnvRepo,
        tip: ObjectId,
        opts: &RenderOptions,
        use_cache: bool,
    ) -> Result<ChangeWalk, HistoryOpsError> {
        ChangeWalk::with_known(repo, tip, opts, use_cache, Arc::default())
    }

    /// [`ChangeWalk::new`] for a caller that has the changes of the `known` commits (from the
    /// changes cache): their files are not read ahead.
    pub fn with_known(
        repo: &EnvRepo,
        tip: ObjectId,
        opts: &RenderOptions,
        use_cache: bool,
        known: Arc<HashSet<ObjectId>>,
    ) -> Result<ChangeWalk, HistoryOpsError> {
        ChangeWalk::with_stages(
            repo,
            tip,
            opts,
            use_cache,
            Stages::for_this_machine(),
            known,
        )
    }

    /// [`ChangeWalk::new`] with the walk's work split into `stages` threads.
    pub(super) fn with_stages(
        repo: &EnvRepo,
        tip: ObjectId,
        opts: &RenderOptions,
        use_cache: bool,
        stages: Stages,
        known: Arc<HashSet<ObjectId>>,
    ) -> Result<ChangeWalk, HistoryOpsError> {
        Ok(ChangeWalk {
            repo: repo.clone(),
            objects: WalkObjects::new(repo),
            path: gitops_git::normalize_path(&opts.path),
            feed: WalkFeed::start(
                repo,
                tip,
                environment_inputs_or_path(repo, tip, opts),
                use_cache,
                stages,
                known,
            )?,
            current: None,
            opts: opts.clone(),
            tip_config: None,
            sources: None,
            objects_needed: true,
            light: HashMap::new(),
            line_indexes: std::collections::VecDeque::new(),
            prepared: Prepared::default(),
            light_files: 0,
            full_renders: 0,
            // The config and sources are built at the first commit whose changes are
            // computed: a walk answered from the changes cache renders nothing. The commits
            // between the tip and it left the path alone, so they render the same.
            skipped: true,
            pending: None,
            resyncs: 0,
            taken: 0,
            tip_errors: None,
        })
    }

    /// Metadata of a commit: from the bytes the walk read when it is the commit last taken.
    pub fn commit_info(&self, commit: ObjectId) -> Result<CommitInfo, HistoryOpsError> {
        if let Some(WalkedCommit {
            id,
            data: Some(data),
            ..
        }) = &self.current
            && *id == commit
        {
            return Ok(commit_info_from_data(self.repo.root(), commit, data)?);
        }
        Ok(self.objects.commit_info(commit)?)
    }

    /// Changes without the objects (`before`/`after` are `None`): then files that differ only
    /// in scalar values are compared by their text instead of parsed.
    pub fn without_objects(mut self) -> ChangeWalk {
        self.objects_needed = false;
        self
    }

    /// Changed files compared by their text rather than rendered.
    pub fn light_files(&self) -> usize {
        self.light_files
    }

    /// Steps that needed two full renders (kustomize, config changes, render errors).
    pub fn full_renders(&self) -> usize {
        self.full_renders
    }

    /// The render errors of the environment at the walk's tip, when the walk rendered it
    /// (the first commit's changes computed first).
    pub fn take_tip_errors(&mut self) -> Option<Vec<String>> {
        self.tip_errors.take()
    }

    /// Full renders that rebuilt the walk's position (the first computed commit, and each
    /// computed commit after skipped ones).
    pub fn resyncs(&self) -> usize {
        self.resyncs
    }

    /// Stores the walk in the cache (the walk thread does, when it stops) and returns its
    /// cost.
    pub fn finish(self) -> Result<WalkStats, HistoryOpsError> {
        Ok(self.feed.finish()?)
    }

    /// The next commit from the walk thread.
    fn take_next(&mut self) -> Option<Result<ObjectId, HistoryOpsError>> {
        match self.feed.next()? {
            Ok((walked, prepared)) => {
                let id = walked.id;
                self.taken += 1;
                self.current = Some(walked);
                self.prepared = prepared;
                Some(Ok(id))
            }
            Err(e) => Some(Err(e.into())),
        }
    }

    /// The next commit that changed the path, without computing its changes (they are known
    /// from elsewhere, e.g. the changes cache).
    pub fn next_commit(&mut self) -> Option<Result<ObjectId, HistoryOpsError>> {
        if self.pending.take().is_some() {
            self.skipped = true;
        }
        let next = self.take_next()?;
        if let Ok(commit) = &next {
            self.pending = Some(*commit);
        }
        Some(next)
    }

    /// The changes of `commit` (the walk's last commit), computed.
    pub fn changes_at(&mut self, commit: ObjectId) -> Result<CommitChanges, HistoryOpsError> {
        // Stepping from the position of the commit just yielded needs no render; anything
        // else (skipped commits, another commit) rebuilds the state at `commit`.
        let from_position = self.pending.take() == Some(commit);
        if self.skipped || !from_position {
            self.resync(commit);
        }
        self.changes_of(commit)
    }

    /// Rebuilds the config and sources at `commit` (one render) after skipped commits.
    fn resync(&mut self, commit: ObjectId) {
        self.skipped = false;
        self.resyncs += 1;
        let plain = plain_files(&self.repo, commit, &self.opts).ok().flatten();
        self.tip_config = plain.as_ref().map(|p| p.config.clone());
        // What a file's resources are depends on the config: known ones may be stale.
        self.light.clear();
        let rendered = render(&self.repo, commit, &self.opts);
        if self.taken == 1 {
            self.tip_errors = Some(match &rendered {
                Ok(rendered) => rendered.errors.iter().map(ToString::to_string).collect(),
                Err(error) => whole_render_errors(error),
            });
        }
        self.sources = match (&plain, rendered) {
            (Some(plain), Ok(rendered))
                if rendered.errors.is_empty() && !has_controller_objects(&rendered.manifests) =>
            {
                let files = plain
                    .files
                    .iter()
                    .map(|(path, (blob, format))| (path, *blob, *format));
                self.remember_light(files, &rendered.manifests);
                Some(Sources::new(
                    rendered
                        .manifests
                        .into_iter()
                        .map(|m| (m.id, m.source.file)),
                ))
            }
            _ => None,
        };
    }
}

/// Blobs read ahead by the walk thread first.
impl gitops_git::ReadBlob for ChangeWalk {
    fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError> {
        self.blob(id)
    }
}

/// How a history walk's work is split between threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stages {
    /// The walk on its own thread; the caller diffs, reads and compares the changed files.
    Two,
    /// The walk, a thread diffing and reading the changed files, and the caller comparing.
    Three,
}

impl Stages {
    /// Three stages with two cores or more: reading large files (delta-decoding a 600 KB CRD)
    /// overlaps with comparing them (kube-prometheus `manifests` cold on two cores: 2.6 s with
    /// three stages, 3.0 s with two). On one core the third thread only takes turns.
    fn for_this_machine() -> Stages {
        match std::thread::available_parallelism().map_or(1, std::num::NonZero::get) {
            0..=1 => Stages::Two,
            _ => Stages::Three,
        }
    }
}

/// Whether a render holds controller objects (Flux Kustomizations and HelmReleases, Argo CD
/// Applications): what they make depends on files other than their own (a chart, values, a
/// followed path), so a commit's changes cannot come from its changed files alone.
pub(super) fn has_controller_objects(manifests: &[Manifest]) -> bool {
    manifests.iter().any(|m| is_controller(&m.id))
}

pub(super) fn objects(manifests: Vec<Manifest>) -> Objects {
    manifests
        .into_iter()
        .map(|m| (m.id, (m.api_version, m.object, m.source.file)))
        .collect()
}

impl Iterator for ChangeWalk {
    type Item = Result<CommitChanges, HistoryOpsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pending.take().is_some() {
            self.skipped = true;
        }
        let commit = match self.take_next()? {
            Ok(commit) => commit,
            Err(e) => return Some(Err(e)),
        };
        if self.skipped {
            self.resync(commit);
        }
        Some(self.changes_of(commit))
    }
}
