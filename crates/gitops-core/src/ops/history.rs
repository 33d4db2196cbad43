//! History of the environment and of one resource (SPEC §5 history, §7 deployed revision).
//!
//! [`ChangeWalk`] yields, for each first-parent commit that changed `--path`
//! ([`gitops_git::history::PathWalk`]), the resources it added, modified or removed, by
//! identity: a resource moved to another file keeps its history (same identity, same object:
//! no change). Only the files whose blob changed are rendered (plain files; the parse cache is
//! keyed by blob id, so each blob is parsed once); kustomize units, a changed config or render
//! errors fall back to two full renders. Blame of kustomize units can walk rendered output
//! with it too.
//!
//! [`history`] is the `history` command's use case; [`matches_revisions`] computes SPEC §7's
//! `matchesRevision` for `status`.

use crate::Target;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use kube::core::ApiResource;
use serde_json::Value;

use crate::drift::{compare_client, prepare_objects, to_yaml};
use crate::ops::status::{ResourceFilter, StatusError, resolve_resource_arg};
use gitops_cluster::{ClusterClient, ClusterError, Discovery};
use gitops_git::history::{HistoryError, PathWalk, WalkObjects, WalkStats, WalkedCommit};
use gitops_git::{EnvRepo, ObjectId, RepoError, commit_info_from_data};
use gitops_render::documents::Format;
use gitops_render::kustomize::KUSTOMIZATION_FILES;
use gitops_render::node_diff::{LineIndex, changed_documents_indexed};
use gitops_render::scalar_diff::scalar_changes;
use gitops_render::scan_identities;
use gitops_render::{
    CONFIG_FILE, EnvConfig, PlainFiles, RenderFailure, RenderOptions, plain_files, render,
    render_plain_with,
};
use k8s_model::kinds::builtin_scope;
use k8s_model::{CommitInfo, IgnoreRule, Manifest, ResourceId, split_api_version};

/// Errors that stop a history as a whole.
#[derive(Debug, thiserror::Error)]
pub enum HistoryOpsError {
    /// The repo, revision or an object could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The walk failed on an object.
    #[error(transparent)]
    Walk(#[from] HistoryError),
    /// A render failed as a whole at a commit (unreadable tree).
    #[error("cannot render the environment at commit {commit}: {source}")]
    Render {
        /// The commit.
        commit: ObjectId,
        /// What failed.
        #[source]
        source: RenderFailure,
    },
    /// RESOURCE could not be resolved.
    #[error(transparent)]
    Resource(#[from] StatusError),
    /// The cluster could not be used (only where the cluster is required).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// What happened to a resource in a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Not in the parent, in the commit.
    Added,
    /// In both, with a different object.
    Modified,
    /// In the parent, not in the commit.
    Removed,
}

impl ChangeKind {
    /// `added`, `modified`, `removed`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Removed => "removed",
        }
    }

    /// `A`, `M`, `D` as `git log --name-status` marks them.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Removed => 'D',
        }
    }
}

/// One resource changed by a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion` (the commit's; the parent's when removed).
    pub api_version: String,
    /// Added, modified or removed.
    pub change: ChangeKind,
    /// The object in the parent, as rendered.
    pub before: Option<Value>,
    /// The object in the commit, as rendered.
    pub after: Option<Value>,
    /// Source file in the commit (the parent's when removed).
    pub file: String,
}

impl ResourceChange {
    /// The unified diff parent → commit of the object (normalized, Secrets masked), with
    /// `context` lines; labels `git@<short parent>/<id>` and `git@<short commit>/<id>`.
    pub fn unified_diff(&self, parent: Option<&str>, commit: &str, context: usize) -> String {
        let empty = Value::Null;
        let [before, after] = match prepare_objects(
            &self.id,
            None,
            [
                self.before.as_ref().unwrap_or(&empty),
                self.after.as_ref().unwrap_or(&empty),
            ],
            &[],
        ) {
            Ok(objects) => objects,
            Err(_) => return String::new(),
        };
        let text = |present: bool, v: &Value| {
            if present {
                to_yaml(v).unwrap_or_default()
            } else {
                String::new()
            }
        };
        let old = text(self.before.is_some(), &before);
        let new = text(self.after.is_some(), &after);
        let short = |c: &str| k8s_model::short_sha(c).to_owned();
        let old_label = match (&self.before, parent) {
            (Some(_), Some(p)) => format!("git@{}/{}", short(p), self.id),
            _ => "/dev/null".to_owned(),
        };
        let new_label = if self.after.is_some() {
            format!("git@{}/{}", short(commit), self.id)
        } else {
            "/dev/null".to_owned()
        };
        crate::diff::unified(
            &old_label,
            &new_label,
            &crate::diff::hunks(&old, &new, context),
        )
    }
}

/// The changes of one commit.
#[derive(Debug, Clone)]
pub struct CommitChanges {
    /// The commit.
    pub commit: ObjectId,
    /// Its first parent.
    pub parent: Option<ObjectId>,
    /// Changed resources, by kind, namespace, name.
    pub changes: Vec<ResourceChange>,
}

/// Resources by identity at a commit (objects and sources).
type Objects = HashMap<ResourceId, (String, Value, String)>;

/// One resource of a file version rendered on its own without errors: identity, `apiVersion`
/// and the content lines of its document.
#[derive(Debug, Clone)]
struct LightDoc {
    id: ResourceId,
    api_version: String,
    line: usize,
    end_line: usize,
}

/// The resources of a file version, in document order (one per document: no `List`s).
type LightDocs = Arc<Vec<LightDoc>>;

/// The file each resource comes from at the walk's position, and the reverse: stepping a
/// commit touches only the changed files' entries, not every resource of the environment.
#[derive(Debug, Default)]
struct Sources {
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
type Sides = (Objects, Objects, Vec<ResourceChange>);

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
    fn with_stages(
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
            (Some(plain), Ok(rendered)) if rendered.errors.is_empty() => {
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

    /// Keeps the resources of each YAML file version of a clean render (`manifests` made from
    /// exactly `files`), for comparing later versions by text.
    fn remember_light<'p>(
        &mut self,
        files: impl Iterator<Item = (&'p String, ObjectId, Format)>,
        manifests: &[Manifest],
    ) {
        if self.objects_needed {
            return;
        }
        let mut by_file: HashMap<&str, Vec<&Manifest>> = HashMap::new();
        for m in manifests {
            by_file.entry(m.source.file.as_str()).or_default().push(m);
        }
        for (path, blob, format) in files {
            if format != Format::Yaml || self.light.contains_key(&blob) {
                continue;
            }
            let ms = by_file
                .get(path.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            // Several resources from one document's lines (a flow-style `List`): its lines do
            // not say which. A block-style list's items have lines of their own.
            let lines = |m: &Manifest| (m.source.document, m.source.line, m.source.end_line);
            if ms.windows(2).any(|w| lines(w[0]) == lines(w[1])) {
                continue;
            }
            let docs = ms
                .iter()
                .map(|m| LightDoc {
                    id: m.id.clone(),
                    api_version: m.api_version.clone(),
                    line: m.source.line,
                    end_line: m.source.end_line,
                })
                .collect();
            self.light.insert(blob, Arc::new(docs));
        }
    }

    /// The changes of one file changed from `before` to `after` at `path`, when its text
    /// proves them: `after`'s resources are known, all come from `path` at the walk's
    /// position, and either the versions differ only in scalar values ([`scalar_changes`]:
    /// `before` has the same resources and lines, and the resources whose document holds a
    /// changed line are modified) or every difference lies in a node below the identity
    /// fields ([`changed_documents`]: `before` has the same resources, shifted, and those
    /// whose nodes parse differently are modified). `None`: render the file instead.
    fn light_step(
        &mut self,
        path: &str,
        before: ObjectId,
        after: ObjectId,
    ) -> Result<Option<Vec<ResourceChange>>, HistoryOpsError> {
        let Some(docs) = self.light_docs(after) else {
            return Ok(None);
        };
        let Some(sources) = &self.sources else {
            return Ok(None);
        };
        if docs
            .iter()
            .any(|d| sources.get(&d.id).is_none_or(|f| f != path))
        {
            return Ok(None);
        }
        let (old, new) = (self.blob_bytes(before)?, self.blob_bytes(after)?);
        let scalar = match self
            .prepared
            .scalar
            .iter()
            .position(|(pair, _)| *pair == (before, after))
        {
            Some(at) => self.prepared.scalar.swap_remove(at).1,
            None => scalar_changes(&old, &new),
        };
        let Some(lines) = scalar else {
            // Lines added or removed: the documents whose differing nodes parse differently.
            let ranges: Vec<(usize, usize)> = docs.iter().map(|d| (d.line, d.end_line)).collect();
            // The newer version's index is usually kept from the step before (it was the
            // older side there); the older one is derived from it.
            let Some(new_index) = self.line_index(after, &new, None) else {
                return Ok(None);
            };
            let Some(old_index) = self.line_index(before, &old, Some((&new, &new_index))) else {
                return Ok(None);
            };
            let Some(proof) =
                changed_documents_indexed((&old, &old_index), (&new, &new_index), &ranges)
            else {
                return Ok(None);
            };
            // Items added to a list document are added resources; the others keep their
            // place, shifted, modified or not.
            let changes = docs
                .iter()
                .zip(proof.modified.iter().zip(&proof.old_lines))
                .filter_map(|(doc, (modified, old))| match old {
                    None => Some(ResourceChange {
                        change: ChangeKind::Added,
                        ..modified_in(doc, path)
                    }),
                    Some(_) => modified.then(|| modified_in(doc, path)),
                })
                .collect();
            let shifted = docs
                .iter()
                .zip(proof.old_lines)
                .filter_map(|(doc, old)| {
                    old.map(|(line, end_line)| LightDoc {
                        line,
                        end_line,
                        ..doc.clone()
                    })
                })
                .collect();
            self.light.insert(before, Arc::new(shifted));
            self.light_files += 1;
            return Ok(Some(changes));
        };
        let mut touched = vec![false; docs.len()];
        for line in lines {
            match docs
                .iter()
                .position(|d| (d.line..=d.end_line).contains(&line))
            {
                Some(i) => touched[i] = true,
                None => return Ok(None),
            }
        }
        let changes = docs
            .iter()
            .zip(touched)
            .filter(|(_, touched)| *touched)
            .map(|(doc, _)| modified_in(doc, path))
            .collect();
        self.light.insert(before, docs);
        self.light_files += 1;
        Ok(Some(changes))
    }

    /// The line index of file version `blob` (its bytes `text`): kept from the last
    /// comparisons, or built (derived from `neighbour`'s, another version of the file, when
    /// given); `None` when it has none (tabs, not UTF-8).
    fn line_index(
        &mut self,
        blob: ObjectId,
        text: &[u8],
        neighbour: Option<(&[u8], &LineIndex)>,
    ) -> Option<Arc<LineIndex>> {
        if let Some((_, index)) = self.line_indexes.iter().find(|(id, _)| *id == blob) {
            return Some(Arc::clone(index));
        }
        let index = match self.prepared.indexes.iter().position(|(id, _)| *id == blob) {
            Some(at) => self.prepared.indexes.swap_remove(at).1,
            None => Arc::new(match neighbour {
                Some(from) => LineIndex::derived(from, text)?,
                None => LineIndex::new(text)?,
            }),
        };
        if self.line_indexes.len() == LINE_INDEXES_KEPT {
            self.line_indexes.pop_front();
        }
        self.line_indexes.push_back((blob, Arc::clone(&index)));
        Some(index)
    }

    /// The changes of files added or removed whose resources are known (`one_sided`), and
    /// the sources stepped to the parent for them; `None` (nothing stepped) when that is not
    /// provable: a resource of one of them is also in another changed file (moved between
    /// files with a change), or an added one does not come from that file at the walk's
    /// position, or a removed one exists there. A file moved unchanged (the same blob removed
    /// at one path and added at another) changes nothing.
    fn step_one_sided(
        &mut self,
        one_sided: &[(String, ObjectId, LightDocs, bool)],
        light: &[ResourceChange],
        before: &Objects,
        after: &Objects,
    ) -> Option<Vec<ResourceChange>> {
        if one_sided.is_empty() {
            return Some(Vec::new());
        }
        let sources = self.sources.as_ref()?;
        // Pure moves: a blob removed at exactly one path and added at exactly one other.
        let count = |blob: ObjectId, added: bool| {
            one_sided
                .iter()
                .filter(|(_, b, _, a)| *b == blob && *a == added)
                .count()
        };
        let moved = |blob: ObjectId| count(blob, true) == 1 && count(blob, false) == 1;
        let mut seen: BTreeSet<&ResourceId> = light.iter().map(|c| &c.id).collect();
        let mut changes = Vec::new();
        for (path, blob, docs, added) in one_sided {
            for doc in docs.iter() {
                let here = sources.get(&doc.id);
                let consistent = if *added {
                    here == Some(path)
                } else if moved(*blob) {
                    // Comes from the other end of the move at the walk's position.
                    here.is_some_and(|f| f != path)
                } else {
                    here.is_none()
                };
                if !consistent || before.contains_key(&doc.id) || after.contains_key(&doc.id) {
                    return None;
                }
                // Each resource once, except the two ends of a move.
                if !seen.insert(&doc.id) && !moved(*blob) {
                    return None;
                }
                if moved(*blob) {
                    continue;
                }
                changes.push(ResourceChange {
                    id: doc.id.clone(),
                    api_version: doc.api_version.clone(),
                    change: if *added {
                        ChangeKind::Added
                    } else {
                        ChangeKind::Removed
                    },
                    before: None,
                    after: None,
                    file: path.clone(),
                });
            }
        }
        let sources = self.sources.as_mut()?;
        let added: BTreeSet<String> = one_sided
            .iter()
            .filter(|(_, _, _, added)| *added)
            .map(|(path, ..)| path.clone())
            .collect();
        sources.drop_files(&added);
        for (path, _, docs, added) in one_sided {
            if !added {
                for doc in docs.iter() {
                    sources.insert(doc.id.clone(), path.clone());
                }
            }
        }
        self.light_files += one_sided.len();
        Some(changes)
    }

    /// The git dir (where the caches live).
    pub fn git_dir(&self) -> PathBuf {
        self.objects.git_dir()
    }

    /// A blob's bytes: read ahead, else read now (shared, not copied).
    fn blob_bytes(&self, id: ObjectId) -> Result<Arc<[u8]>, RepoError> {
        match self.current.as_ref().and_then(|w| w.blob(id)) {
            Some(data) => Ok(Arc::clone(data)),
            None => self.objects.shared_blob(id),
        }
    }

    /// A blob: read ahead by the walk thread, or read now.
    fn blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError> {
        Ok(self.blob_bytes(id)?.to_vec())
    }

    /// The resources of YAML file version `blob`: known from an earlier render, or read by
    /// a scan of its text ([`scan_identities`]) and kept; `None` when neither (render it).
    fn light_docs(&mut self, blob: ObjectId) -> Option<LightDocs> {
        if let Some(docs) = self.light.get(&blob) {
            return Some(Arc::clone(docs));
        }
        // Unreadable: the render reports it.
        let bytes = self.blob_bytes(blob).ok()?;
        let docs: LightDocs = Arc::new(
            scan_identities(&bytes, &self.opts)?
                .into_iter()
                .map(|(id, api_version, line, end_line)| LightDoc {
                    id,
                    api_version,
                    line,
                    end_line,
                })
                .collect(),
        );
        self.light.insert(blob, Arc::clone(&docs));
        Some(docs)
    }

    /// All resources at `commit` and whether it rendered without errors.
    fn full(&mut self, commit: Option<ObjectId>) -> Result<(Objects, bool), HistoryOpsError> {
        let Some(commit) = commit else {
            return Ok((Objects::new(), true));
        };
        match render(&self.repo, commit, &self.opts) {
            Ok(rendered) => Ok((objects(rendered.manifests), rendered.errors.is_empty())),
            // No environment there (path absent) or an invalid config: no objects.
            Err(RenderFailure::Config(_))
            | Err(RenderFailure::Repo(RepoError::PathNotFound { .. }))
            | Err(RenderFailure::Repo(RepoError::NotADirectory { .. })) => {
                Ok((Objects::new(), false))
            }
            Err(source) => Err(HistoryOpsError::Render { commit, source }),
        }
    }

    /// The changed files' resources on each side, and the changes of the files compared by
    /// text; `None` when that could differ from two full renders: kustomize, a changed config
    /// or kustomization, render errors, a resource defined in a changed and an unchanged file.
    fn changed_files_sides(
        &mut self,
        commit: ObjectId,
        after_tree: Option<ObjectId>,
        parent: Option<ObjectId>,
        before_tree: Option<ObjectId>,
    ) -> Result<Option<Sides>, HistoryOpsError> {
        let (Some(config), Some(_)) = (self.tip_config.clone(), &self.sources) else {
            return Ok(None);
        };
        let read_ahead = match &mut self.current {
            Some(walked) if walked.id == commit && walked.trees.is_some() => walked.diffs.take(),
            _ => None,
        };
        let diffs = match read_ahead {
            Some(diffs) => diffs,
            None => self
                .objects
                .diff_trees(&self.path, before_tree, after_tree)?,
        };
        let base = gitops_git::normalize_path(&self.opts.path);
        let mut before = PlainFiles {
            config: config.clone(),
            files: BTreeMap::new(),
        };
        let mut after = PlainFiles {
            config: config.clone(),
            files: BTreeMap::new(),
        };
        let mut paths = BTreeSet::new();
        let mut light = Vec::new();
        // Resources that items added to list documents made (proven by text): not in the
        // parent; no rendered file may hold them.
        let mut light_added: Vec<ResourceId> = Vec::new();
        // Files added or removed whose resources are known without parsing: (path, blob,
        // their resources, added).
        let mut one_sided: Vec<(String, ObjectId, LightDocs, bool)> = Vec::new();
        for diff in diffs {
            let relative = match base.as_str() {
                "" => diff.path.as_str(),
                base => diff
                    .path
                    .strip_prefix(base)
                    .and_then(|r| r.strip_prefix('/'))
                    .unwrap_or(&diff.path),
            };
            let name = relative.rsplit('/').next().unwrap_or(relative);
            if relative == CONFIG_FILE || KUSTOMIZATION_FILES.contains(&name) {
                return Ok(None);
            }
            if name.starts_with('.') || config.is_excluded(relative) {
                continue;
            }
            let Some(format) = Format::of(&diff.path) else {
                continue;
            };
            if !self.objects_needed && format == Format::Yaml {
                match (diff.before, diff.after) {
                    (Some(old), Some(new)) => {
                        if let Some(changes) = self.light_step(&diff.path, old, new)? {
                            light_added.extend(
                                changes
                                    .iter()
                                    .filter(|c| c.change == ChangeKind::Added)
                                    .map(|c| c.id.clone()),
                            );
                            light.extend(changes);
                            continue;
                        }
                    }
                    (None, Some(blob)) | (Some(blob), None) => {
                        if let Some(docs) = self.light_docs(blob) {
                            one_sided.push((diff.path.clone(), blob, docs, diff.after.is_some()));
                            continue;
                        }
                    }
                    (None, None) => {}
                }
            }
            if let Some(blob) = diff.before {
                before.files.insert(diff.path.clone(), (blob, format));
            }
            if let Some(blob) = diff.after {
                after.files.insert(diff.path.clone(), (blob, format));
            }
            paths.insert(diff.path);
        }
        if paths.is_empty() {
            let Some(changes) =
                self.step_one_sided(&one_sided, &light, &Objects::new(), &Objects::new())
            else {
                return Ok(None);
            };
            light.extend(changes);
            if let Some(sources) = &mut self.sources {
                sources.forget(&light_added);
            }
            return Ok(Some((Objects::new(), Objects::new(), light)));
        }
        let render_side = |at: Option<ObjectId>, plain: &PlainFiles| match at {
            None => Ok(None),
            Some(at) => render_plain_with(self, at, &self.opts, plain, &paths)
                .map(Some)
                .map_err(|source| HistoryOpsError::Render { commit: at, source }),
        };
        let after_rendered = render_side(Some(commit), &after)?;
        let before_rendered = render_side(parent, &before)?;
        let clean = after_rendered.as_ref().is_none_or(|r| r.errors.is_empty())
            && before_rendered.as_ref().is_none_or(|r| r.errors.is_empty());
        if !clean {
            return Ok(None);
        }
        for (plain, rendered) in [(&after, &after_rendered), (&before, &before_rendered)] {
            if let Some(rendered) = rendered {
                let files = plain
                    .files
                    .iter()
                    .map(|(path, (blob, format))| (path, *blob, *format));
                self.remember_light(files, &rendered.manifests);
            }
        }
        let before_objects = before_rendered
            .map(|r| objects(r.manifests))
            .unwrap_or_default();
        let after_objects = after_rendered
            .map(|r| objects(r.manifests))
            .unwrap_or_default();
        let Some(sources) = &self.sources else {
            return Ok(None);
        };
        let elsewhere = |id: &ResourceId| sources.get(id).is_some_and(|f| !paths.contains(f));
        if before_objects
            .keys()
            .chain(after_objects.keys())
            .any(elsewhere)
        {
            return Ok(None);
        }
        if light_added
            .iter()
            .any(|id| before_objects.contains_key(id) || after_objects.contains_key(id))
        {
            return Ok(None);
        }
        let Some(changes) =
            self.step_one_sided(&one_sided, &light, &before_objects, &after_objects)
        else {
            return Ok(None);
        };
        light.extend(changes);
        let Some(sources) = &mut self.sources else {
            return Ok(None);
        };
        // Step the sources to the parent.
        sources.forget(&light_added);
        sources.drop_files(&paths);
        for (id, (_, _, file)) in &before_objects {
            sources.insert(id.clone(), file.clone());
        }
        Ok(Some((before_objects, after_objects, light)))
    }

    /// The resources of `parent` and `commit` that can differ, and the changes proven by text.
    fn sides(
        &mut self,
        commit: ObjectId,
        after_tree: Option<ObjectId>,
        parent: Option<ObjectId>,
        before_tree: Option<ObjectId>,
    ) -> Result<Sides, HistoryOpsError> {
        if let Some(sides) = self.changed_files_sides(commit, after_tree, parent, before_tree)? {
            return Ok(sides);
        }
        self.full_renders += 1;
        // The config may change here: resources known by blob may be stale below.
        self.light.clear();
        let (before, clean) = self.full(parent)?;
        let (after, _) = self.full(Some(commit))?;
        // The parent's config and units hold for the commits below it, until the next change.
        self.tip_config = match parent {
            Some(parent) => match plain_files(&self.repo, parent, &self.opts) {
                Ok(plain) => plain.map(|p| p.config),
                Err(_) => None,
            },
            None => None,
        };
        self.sources = (clean && self.tip_config.is_some()).then(|| {
            Sources::new(
                before
                    .iter()
                    .map(|(id, (_, _, file))| (id.clone(), file.clone())),
            )
        });
        Ok((before, after, Vec::new()))
    }

    fn changes_of(&mut self, commit: ObjectId) -> Result<CommitChanges, HistoryOpsError> {
        let known = match &self.current {
            Some(walked) if walked.id == commit => walked.trees,
            _ => None,
        };
        let (after_tree, parent, before_tree) = match known {
            Some(trees) => trees,
            None => self.objects.path_trees(&self.path, commit)?,
        };
        let (mut before, mut after, mut changes) =
            self.sides(commit, after_tree, parent, before_tree)?;
        let ids: BTreeSet<ResourceId> = before.keys().chain(after.keys()).cloned().collect();
        for id in ids {
            let old = before.remove(&id);
            let new = after.remove(&id);
            let change = match (&old, &new) {
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(a), Some(b)) if a.1 != b.1 => ChangeKind::Modified,
                _ => continue,
            };
            let (api_version, file) = match (&new, &old) {
                (Some((v, _, f)), _) | (None, Some((v, _, f))) => (v.clone(), f.clone()),
                (None, None) => continue,
            };
            let keep = self.objects_needed;
            changes.push(ResourceChange {
                id,
                api_version,
                change,
                before: old.filter(|_| keep).map(|o| o.1),
                after: new.filter(|_| keep).map(|n| n.1),
                file,
            });
        }
        changes.sort_by(|a, b| {
            (&a.id.kind, &a.id.namespace, &a.id.name, &a.id.group).cmp(&(
                &b.id.kind,
                &b.id.namespace,
                &b.id.name,
                &b.id.group,
            ))
        });
        Ok(CommitChanges {
            commit,
            parent,
            changes,
        })
    }
}

/// A document of `path` proven modified by its text.
fn modified_in(doc: &LightDoc, path: &str) -> ResourceChange {
    ResourceChange {
        id: doc.id.clone(),
        api_version: doc.api_version.clone(),
        change: ChangeKind::Modified,
        before: None,
        after: None,
        file: path.to_owned(),
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
enum Stages {
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

/// The last commit that changed each of `targets`, from `tip` back: the newest commit of the
/// environment's history ([`ChangeWalk`], the commits `history` lists) whose changes name it.
/// Reads and extends the changes cache `history` keeps (`changes-v2`), so a resource's
/// `lastCommit` costs no render once `history` or an earlier `status` walked that far. At most
/// `limit` commits of the history are looked at; returns the answers and that count.
pub fn last_changes(
    repo: &EnvRepo,
    tip: ObjectId,
    opts: &RenderOptions,
    targets: impl IntoIterator<Item = ResourceId>,
    limit: usize,
) -> Result<(HashMap<ResourceId, CommitInfo>, usize), HistoryOpsError> {
    let mut remaining: std::collections::HashSet<ResourceId> = targets.into_iter().collect();
    let mut found = HashMap::new();
    if remaining.is_empty() || limit == 0 {
        return Ok((found, 0));
    }
    let started = std::time::Instant::now();
    let cache = ChangesCache::new(&repo.git_dir(), opts);
    let mut known = cache.read(opts);
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        known = known.len(),
        "changes cache read"
    );
    let ids = Arc::new(known.keys().copied().collect());
    let mut walk = ChangeWalk::with_known(repo, tip, opts, true, ids)?.without_objects();
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "walk started");
    let mut computed = Vec::new();
    let mut walked = 0;
    while let Some(commit) = walk.next_commit() {
        let commit = commit?;
        walked += 1;
        let (info, changes) = match known.remove(&commit) {
            Some(cached) => (cached.info, cached.changes),
            None => {
                let step = walk.changes_at(commit)?;
                let info = walk.commit_info(commit)?;
                ChangesCache::line(commit, &info, &step.changes, &mut computed);
                (info, step.changes)
            }
        };
        for change in changes {
            if remaining.remove(&change.id) {
                found.insert(change.id, info.clone());
            }
        }
        if remaining.is_empty() || walked >= limit {
            break;
        }
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        walked,
        computed = computed.len(),
        "last changes found"
    );
    cache.write(&computed);
    walk.finish()?;
    Ok((found, walked))
}

/// What the environment's history walks: `opts.path` and the paths outside it that its units
/// read at `tip` ([`gitops_render::environment_inputs`]; `--path` first). An environment that
/// does not render at `tip` walks its path alone.
fn environment_inputs_or_path(repo: &EnvRepo, tip: ObjectId, opts: &RenderOptions) -> Vec<String> {
    gitops_render::environment_inputs(repo, tip, opts)
        .unwrap_or_else(|_| vec![gitops_git::normalize_path(&opts.path)])
}

/// The first-parent commits from `tip` that changed the environment's inputs, newest first:
/// what `history` lists and the UI's History pane shows (SPEC §5: the same commits).
pub fn environment_walk(
    repo: &EnvRepo,
    tip: ObjectId,
    opts: &RenderOptions,
    use_cache: bool,
) -> Result<PathWalk, HistoryError> {
    PathWalk::over_inputs(
        repo,
        tip,
        &environment_inputs_or_path(repo, tip, opts),
        use_cache,
    )
}

/// Changed commits a thread may hand on ahead of the next one: more than a walk batch finds
/// (so the stages overlap), few enough that the files read ahead stay a few MB.
const WALK_QUEUE: usize = 1024;

/// Changed commits whose files the reading thread may hold ahead of the one computing
/// changes: enough to keep both busy, few enough that it reads little a caller stopping
/// early (`--limit`, `lastCommit`) never uses, and holds little (a commit of large files
/// holds MBs).
const READ_QUEUE: usize = 16;

/// The path walk ([`PathWalk`]) on its own thread, and with [`Stages::Three`] a second one
/// diffing each changed commit and reading its changed files: reading commits, trees and files
/// overlaps computing the changes, on as many cores as there are.
/// Line indexes kept for the next comparisons: enough for the files of a commit that changes
/// many of them.
const LINE_INDEXES_KEPT: usize = 32;

/// A commit from the feed, with what the reading thread prepared for the files it read ahead
/// (nothing from a two-stage feed).
type Fed = (WalkedCommit, Prepared);

/// What the reading thread prepared for the comparing one, from the versions of a commit's
/// changed files, while it is ahead: the work on file texts alone.
#[derive(Debug, Default)]
struct Prepared {
    /// Line indexes of versions whose change adds or removes lines.
    indexes: Vec<(ObjectId, Arc<LineIndex>)>,
    /// [`scalar_changes`] of the versions of changed files.
    scalar: Vec<(VersionPair, Option<Vec<usize>>)>,
}

/// A changed file's versions: before, after.
type VersionPair = (ObjectId, ObjectId);

struct WalkFeed {
    rx: Option<std::sync::mpsc::Receiver<Result<Fed, HistoryError>>>,
    /// Commits the reading thread has handed on and the comparing one not yet taken.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    walk: Option<std::thread::JoinHandle<WalkStats>>,
    reader: Option<std::thread::JoinHandle<()>>,
    stats: Option<WalkStats>,
}

impl WalkFeed {
    fn start(
        repo: &EnvRepo,
        tip: ObjectId,
        inputs: Vec<String>,
        use_cache: bool,
        stages: Stages,
        known: Arc<HashSet<ObjectId>>,
    ) -> Result<WalkFeed, HistoryError> {
        let path = inputs.first().cloned().unwrap_or_default();
        let thread_error =
            |e: std::io::Error| HistoryError::Interrupted(format!("cannot start a thread: {e}"));
        let (walked_tx, walked_rx) = std::sync::mpsc::sync_channel(WALK_QUEUE);
        let (read_tx, read_rx) = std::sync::mpsc::sync_channel(READ_QUEUE);
        let walk_repo = repo.clone();
        let walk = std::thread::Builder::new()
            .name("history-walk".into())
            .spawn(move || {
                let mut walk = match PathWalk::over_inputs(&walk_repo, tip, &inputs, use_cache) {
                    Ok(walk) => walk,
                    Err(e) => {
                        let _ = walked_tx.send(Err(e));
                        return WalkStats::default();
                    }
                };
                while let Some(walked) = walk.next_walked() {
                    let failed = walked.is_err();
                    // A closed channel: the caller took what it needed.
                    if walked_tx
                        .send(walked.map(|w| (w, Prepared::default())))
                        .is_err()
                        || failed
                    {
                        break;
                    }
                }
                walk.finish()
            })
            .map_err(thread_error)?;
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        if stages == Stages::Two {
            return Ok(WalkFeed {
                rx: Some(walked_rx),
                queued,
                walk: Some(walk),
                reader: None,
                stats: None,
            });
        }
        let (read_repo, read_path) = (repo.clone(), gitops_git::normalize_path(&path));
        let ahead = Arc::clone(&queued);
        let reader = std::thread::Builder::new()
            .name("history-read".into())
            .spawn(move || {
                let objects = WalkObjects::new(&read_repo);
                let manifest = |file: &str| {
                    Format::of(file).is_some()
                        && !file.rsplit('/').next().unwrap_or(file).starts_with('.')
                };
                // The line indexes of the last blobs indexed: a version is the newer side of
                // one commit's change after being the older side of the next one's.
                let mut indexed: std::collections::VecDeque<(ObjectId, Arc<LineIndex>)> =
                    std::collections::VecDeque::new();
                for mut fed in walked_rx {
                    if let Ok((walked, prepared)) = &mut fed
                        && !known.contains(&walked.id)
                    {
                        walked.read_ahead(&objects, &read_path, manifest);
                        // Each changed file's scalar changes, and for those that have none
                        // (lines added or removed: the comparison proves them by nodes,
                        // `changed_documents_indexed`) both versions' line indexes: done
                        // here, off the comparing thread. Only while this thread is ahead:
                        // when the comparing thread waits for files, reading them is the
                        // walk's critical path, and that thread does this work itself.
                        let ahead = ahead.load(std::sync::atomic::Ordering::Relaxed);
                        for diff in walked.diffs.iter().flatten() {
                            if ahead < READ_QUEUE / 4 {
                                break;
                            }
                            let (Some(before), Some(after)) = (diff.before, diff.after) else {
                                continue;
                            };
                            let (Some(old), Some(new)) = (walked.blob(before), walked.blob(after))
                            else {
                                continue;
                            };
                            let scalar = scalar_changes(old, new);
                            let proven = scalar.is_some();
                            prepared.scalar.push(((before, after), scalar));
                            if proven {
                                continue;
                            }
                            // The newer version first: the older one's index is derived
                            // from it.
                            let mut newer: Option<Arc<LineIndex>> = None;
                            for (blob, bytes) in [(after, new), (before, old)] {
                                if let Some((_, index)) = indexed.iter().find(|(b, _)| *b == blob) {
                                    newer = Some(Arc::clone(index));
                                    continue;
                                }
                                let index = match &newer {
                                    Some(from) => {
                                        LineIndex::derived_with_parents((new, from), bytes)
                                    }
                                    None => LineIndex::with_parents(bytes),
                                };
                                let Some(index) = index.map(Arc::new) else {
                                    break;
                                };
                                if indexed.len() == LINE_INDEXES_KEPT {
                                    indexed.pop_front();
                                }
                                indexed.push_back((blob, Arc::clone(&index)));
                                prepared.indexes.push((blob, Arc::clone(&index)));
                                newer = Some(index);
                            }
                        }
                    }
                    ahead.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if read_tx.send(fed).is_err() {
                        break;
                    }
                }
            })
            .map_err(thread_error)?;
        Ok(WalkFeed {
            rx: Some(read_rx),
            queued,
            walk: Some(walk),
            reader: Some(reader),
            stats: None,
        })
    }

    /// The next changed commit; `None` when the walk is done.
    fn next(&mut self) -> Option<Result<Fed, HistoryError>> {
        match self.rx.as_ref()?.recv() {
            Ok(walked) => {
                // Saturating: a two-stage feed counts nothing.
                let _ = self.queued.fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| n.checked_sub(1),
                );
                Some(walked)
            }
            Err(_) => {
                self.rx = None;
                // The walk ended: it finished, or a thread panicked.
                match self.join() {
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            }
        }
    }

    fn join(&mut self) -> Result<WalkStats, HistoryError> {
        if let Some(stats) = self.stats {
            return Ok(stats);
        }
        let panicked =
            |what: &str| HistoryError::Interrupted(format!("the {what} thread panicked"));
        if let Some(reader) = self.reader.take() {
            reader.join().map_err(|_| panicked("file reading"))?;
        }
        let Some(walk) = self.walk.take() else {
            return Ok(WalkStats::default());
        };
        let stats = walk.join().map_err(|_| panicked("walk"))?;
        self.stats = Some(stats);
        Ok(stats)
    }

    /// Stops the walk (when it is still going) and returns its cost once its thread has
    /// written the cache entry.
    fn finish(mut self) -> Result<WalkStats, HistoryError> {
        // Dropping the receiver stops the threads at their next send.
        self.rx = None;
        self.join()
    }
}

fn objects(manifests: Vec<Manifest>) -> Objects {
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

/// What `history` shows and how (SPEC §2 global flags and `history`'s own).
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// The environment: repo, path, revision, namespace, cluster, kubectl.
    pub target: Target,
    /// RESOURCE: only the commits that changed it.
    pub resource: Option<String>,
    /// `--limit`.
    pub limit: Option<usize>,
    /// `-p`: the changes keep both objects, for diffs.
    pub patch: bool,
    /// `--offline`: no cluster (no live mark).
    pub offline: bool,
    /// Read and write the walk cache under the git dir.
    pub use_cache: bool,
    /// The process ends right after this call (the CLI): what the walk built is left to the
    /// exit instead of being freed (tens of thousands of small allocations on a long history).
    pub exiting: bool,
    /// Where to send each commit as soon as it is computed, newest first (SPEC §5: the output
    /// streams). Used when nothing later changes a commit, i.e. without the live mark (no
    /// cluster): the commits then go there instead of into [`History::commits`].
    pub stream: Option<std::sync::mpsc::Sender<HistoryCommit>>,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            target: Target::default(),
            resource: None,
            limit: None,
            patch: false,
            offline: false,
            use_cache: true,
            exiting: false,
            stream: None,
        }
    }
}

/// One commit of the history.
#[derive(Debug, Clone)]
pub struct HistoryCommit {
    /// The commit.
    pub commit: CommitInfo,
    /// Its first parent's id.
    pub parent: Option<String>,
    /// Whether it is HEAD.
    pub head: bool,
    /// Whether the live state matches it (SPEC §7).
    pub matches_live: bool,
    /// What it changed (only RESOURCE's with a RESOURCE).
    pub changes: Vec<ResourceChange>,
}

/// The `History` report.
#[derive(Debug, Clone)]
pub struct History {
    /// `--rev` resolved.
    pub revision: CommitInfo,
    /// `--path`, normalized.
    pub path: String,
    /// The commits, newest first.
    pub commits: Vec<HistoryCommit>,
    /// The commit the live state matches, when the cluster was read and one of the listed does.
    pub matches_live: Option<String>,
    /// Whether the live state was read (false offline or when the cluster was unreachable).
    pub live_read: bool,
    /// Problems that left the live mark out; for stderr.
    pub warnings: Vec<String>,
    /// Files of the environment at `--rev` that do not render (file:line): the history stands
    /// without them, and the exit code says error (SPEC §3).
    pub errors: Vec<String>,
    /// What the walk cost.
    pub stats: HistoryStats,
}

/// What a history cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryStats {
    /// The path walk.
    pub walk: WalkStats,
    /// Blobs parsed.
    pub parses: usize,
    /// Steps that needed full renders.
    pub full_renders: usize,
}

/// Builds the history (SPEC §5): the walk from `--rev`, changes per commit, RESOURCE's only
/// when given, `--limit`; then the live mark unless offline. An unreachable cluster is a
/// warning: history is git data.
pub async fn history(opts: &HistoryOptions) -> Result<History, HistoryOpsError> {
    let mut warnings = Vec::new();
    let cluster = if opts.offline {
        None
    } else {
        match ClusterClient::connect(
            opts.target.kubeconfig.as_deref(),
            opts.target.context.as_deref(),
        )
        .await
        {
            Ok(cluster) => Some(cluster),
            Err(error) => {
                warnings.push(format!("live state not shown: {error}"));
                None
            }
        }
    };
    let discovery = match &cluster {
        Some(cluster) => match cluster.discovery().await {
            Ok(discovery) => {
                warnings.extend(discovery.warnings());
                Some(discovery)
            }
            Err(error) => {
                warnings.push(format!(
                    "live state not shown (history is from git only): {error}"
                ));
                None
            }
        },
        None => None,
    };
    let cluster = cluster.filter(|_| discovery.is_some());
    let context_namespace = match &cluster {
        Some(cluster) => Some(cluster.default_namespace().to_owned()),
        None if opts.target.namespace.is_none() => {
            gitops_cluster::context_namespace(
                opts.target.kubeconfig.as_deref(),
                opts.target.context.as_deref(),
            )
            .await
        }
        None => None,
    };
    let namespace = opts
        .target
        .namespace
        .clone()
        .or(context_namespace)
        .unwrap_or_else(|| "default".to_owned());
    let filter = opts
        .resource
        .as_deref()
        .map(|arg| {
            resolve_resource_arg(arg, opts.target.namespace.as_deref(), discovery.as_deref())
        })
        .transpose()?;
    let mut render_opts = RenderOptions::new(opts.target.path.clone(), namespace);
    if let Some(discovery) = &discovery {
        let scope_source = Arc::clone(discovery);
        render_opts.scope = Arc::new(move |group: &str, kind: &str| {
            scope_source
                .scope(group, kind)
                .or_else(|| builtin_scope(group, kind))
        });
    }
    render_opts.kubectl = opts.target.kubectl.clone();

    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    let limit = opts.limit;
    let use_cache = opts.use_cache;
    let exiting = opts.exiting;
    let need_objects = opts.patch || cluster.is_some();
    let need_head = cluster.is_some();
    let walk_filter = filter.clone();
    let walk_opts = render_opts.clone();
    // The live mark is known only once every commit is: stream only without it.
    let stream = opts.stream.clone().filter(|_| cluster.is_none());
    let walked = tokio::task::spawn_blocking(move || {
        walk_history(
            &repo_dir,
            &rev,
            &walk_opts,
            walk_filter.as_ref(),
            limit,
            use_cache,
            Needs {
                objects: need_objects,
                head: need_head,
                exiting,
                stream,
            },
        )
    })
    .await
    .map_err(|e| StatusError::Task(e.to_string()))??;
    let Walked {
        repo,
        mut history,
        head_objects,
        rules,
    } = walked;

    if let (Some(cluster), Some(discovery)) = (&cluster, &discovery) {
        let mut wanted: HashMap<ResourceId, String> = head_objects
            .iter()
            .map(|(id, (v, _, _))| (id.clone(), v.clone()))
            .collect();
        for c in &history.commits {
            for change in &c.changes {
                wanted
                    .entry(change.id.clone())
                    .or_insert_with(|| change.api_version.clone());
            }
        }
        match live_objects(cluster, discovery, &wanted).await {
            Ok(live) => {
                history.live_read = true;
                history.matches_live =
                    mark_live(&mut history, &head_objects, &live, &rules, filter.as_ref());
            }
            Err(error) => warnings.push(format!("live state not shown: {error}")),
        }
    }
    drop(repo);
    discard(render_opts, opts.exiting);
    history.warnings = warnings;
    Ok(history)
}

/// Drops `value` on another thread: freeing the parsed documents and changes of a long
/// history takes a visible part of the command's time, and nothing waits for it. When the
/// process is `exiting`, not at all: the exit frees it.
fn discard<T: Send + 'static>(value: T, exiting: bool) {
    if exiting {
        std::mem::forget(value);
        return;
    }
    // When no thread can be started, the closure (and the value) is dropped right here.
    let _ = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
}

/// What the walk must produce beyond the commits and their changes.
#[derive(Debug, Clone)]
struct Needs {
    /// The objects of each change (`-p`, the live mark): no changes cache.
    objects: bool,
    /// The environment at `--rev` (the live mark).
    head: bool,
    /// [`HistoryOptions::exiting`].
    exiting: bool,
    /// [`HistoryOptions::stream`], when the history has no live mark.
    stream: Option<std::sync::mpsc::Sender<HistoryCommit>>,
}

/// The git part of a history, off the async runtime.
struct Walked {
    repo: EnvRepo,
    history: History,
    /// The environment at `--rev` (for the live mark).
    head_objects: Objects,
    rules: Vec<IgnoreRule>,
}

fn walk_history(
    repo_dir: &std::path::Path,
    rev: &str,
    opts: &RenderOptions,
    filter: Option<&ResourceFilter>,
    limit: Option<usize>,
    use_cache: bool,
    needs: Needs,
) -> Result<Walked, HistoryOpsError> {
    let Needs {
        objects: need_objects,
        head: need_head,
        exiting,
        stream,
    } = needs;
    let repo = EnvRepo::open(repo_dir)?;
    let tip = repo.resolve(rev)?;
    let revision = repo.commit_info(tip)?;
    let head = repo.resolve("HEAD").ok();
    // The changes of a commit under the same path and settings never change: kept across
    // runs, used when no objects are needed (no -p, no live mark).
    let git_dir = repo.git_dir();
    let changes_cache = use_cache.then(|| ChangesCache::new(&git_dir, opts));
    let mut known = match (&changes_cache, need_objects) {
        (Some(cache), false) => Some(cache.read(opts)),
        _ => None,
    };
    let ids = Arc::new(known.iter().flat_map(|k| k.keys().copied()).collect());
    let mut walk = ChangeWalk::with_known(&repo, tip, opts, use_cache, ids)?;
    if !need_objects {
        walk = walk.without_objects();
    }
    // The cache lines of the commits computed here, written as each one is computed (the
    // walk's other threads are still reading then), stored in one write at the end.
    let mut computed = Vec::new();
    let mut changes_computed = 0;
    let mut changes_cached = 0;
    let mut commits = Vec::new();
    let mut streamed = 0;
    while let Some(commit) = walk.next_commit() {
        let commit = commit?;
        // Taken out, not cloned: a commit comes once on a first-parent walk.
        let (info, mut step) = match known.as_mut().and_then(|k| k.remove(&commit)) {
            Some(cached) => {
                changes_cached += 1;
                let step = CommitChanges {
                    commit,
                    parent: None,
                    changes: cached.changes,
                };
                (cached.info, step)
            }
            None => {
                let mut step = walk.changes_at(commit)?;
                if !need_objects {
                    // Nothing shows the objects: dropped now, not cloned into the cache
                    // rows and kept for every commit until the output is written.
                    for change in &mut step.changes {
                        change.before = None;
                        change.after = None;
                    }
                }
                let info = walk.commit_info(commit)?;
                changes_computed += 1;
                if changes_cache.is_some() {
                    ChangesCache::line(commit, &info, &step.changes, &mut computed);
                }
                (info, step)
            }
        };
        if limit.is_some_and(|l| commits.len() + streamed >= l) {
            break;
        }
        if let Some(filter) = filter {
            step.changes.retain(|c| filter.matches(&c.id));
            // A resource's history lists the commits that changed it; the environment's lists
            // every commit that changed its inputs, with no resource changes shown as such.
            if step.changes.is_empty() {
                continue;
            }
        }
        let entry = HistoryCommit {
            commit: info,
            parent: step.parent.map(|p| p.to_string()),
            head: head == Some(step.commit),
            matches_live: false,
            changes: step.changes,
        };
        match &stream {
            Some(stream) => {
                streamed += 1;
                // A closed receiver: nobody reads on; the cache is still written below.
                let _ = stream.send(entry);
            }
            None => commits.push(entry),
        }
    }
    if let Some(cache) = &changes_cache {
        cache.write(&computed);
    }
    discard((computed, known), exiting);
    let full_renders = walk.full_renders();
    let (light_files, resyncs) = (walk.light_files(), walk.resyncs());
    // Which files at `--rev` do not render: the walk rendered the environment there when it
    // computed the first commit's changes (the live mark renders `--rev` in full below).
    let walked_tip_errors = walk.take_tip_errors();
    let walk_stats = walk.finish()?;
    // The environment at `--rev` serves the live mark, and says which files do not render.
    let (head_objects, rules, errors) = match need_head.then(|| render(&repo, tip, opts)) {
        Some(Ok(rendered)) => (
            objects(rendered.manifests),
            rendered.config.ignore_differences,
            rendered.errors.iter().map(ToString::to_string).collect(),
        ),
        Some(Err(error)) => (Objects::new(), Vec::new(), whole_render_errors(&error)),
        None => (
            Objects::new(),
            Vec::new(),
            tip_render_errors(
                &repo,
                tip,
                opts,
                use_cache.then_some(&git_dir),
                walked_tip_errors,
            ),
        ),
    };
    tracing::info!(
        commits = commits.len(),
        commits_walked = walk_stats.commits_walked,
        commits_from_graph = walk_stats.commits_from_graph,
        cache_hits = walk_stats.cache_hits,
        cached_commits = walk_stats.cached_commits,
        cache_written = walk_stats.cache_written,
        parses = opts.cache.parse_count(),
        full_renders,
        light_files,
        resyncs,
        changes_cached,
        changes_computed,
        "history walked"
    );
    Ok(Walked {
        history: History {
            revision,
            path: gitops_git::normalize_path(&opts.path),
            commits,
            matches_live: None,
            live_read: false,
            warnings: Vec::new(),
            errors,
            stats: HistoryStats {
                walk: walk_stats,
                parses: opts.cache.parse_count(),
                full_renders,
            },
        },
        repo,
        head_objects,
        rules,
    })
}

/// The render errors of the environment at `tip`, as messages: `rendered` when the walk
/// rendered it, else rendered here. A commit's render never changes, so they are kept per
/// commit under `<git-dir>/kubectl-gitops/render-errors-v1/<hex path>/<namespace>/<sha>` (a
/// JSON array): a run answered from the caches renders nothing.
fn tip_render_errors(
    repo: &EnvRepo,
    tip: ObjectId,
    opts: &RenderOptions,
    git_dir: Option<&std::path::Path>,
    rendered: Option<Vec<String>>,
) -> Vec<String> {
    let file = git_dir.map(|dir| settings_dir(dir, "render-errors-v1", opts).join(tip.to_string()));
    let errors = match rendered {
        Some(errors) => errors,
        None => {
            if let Some(known) = file
                .as_ref()
                .and_then(|f| std::fs::read(f).ok())
                .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok())
            {
                return known;
            }
            match render(repo, tip, opts) {
                Ok(rendered) => rendered.errors.iter().map(ToString::to_string).collect(),
                Err(error) => whole_render_errors(&error),
            }
        }
    };
    if let Some(file) = file {
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&file, serde_json::to_vec(&errors).unwrap_or_default()));
        if let Err(error) = written {
            tracing::debug!(file = %file.display(), %error, "render errors not cached");
        }
    }
    errors
}

/// What a failed render of the whole environment at `--rev` says about it: an invalid config
/// file is an error; a path that no longer exists there is not (its history is still history,
/// as `git log -- <gone path>` has it).
fn whole_render_errors(error: &gitops_render::RenderFailure) -> Vec<String> {
    match error {
        gitops_render::RenderFailure::Config(_) => vec![error.to_string()],
        gitops_render::RenderFailure::Repo(error) => {
            tracing::debug!(%error, "the environment does not render at --rev");
            Vec::new()
        }
    }
}

/// `<git-dir>/kubectl-gitops/<what>/<hex path or "root">/<hex namespace>/<tools>`: where a
/// cache keyed by the render settings lives. `<tools>` fingerprints the kubectl and helm that
/// render units ([`gitops_render::tools_fingerprint`]): another kustomize or helm, or one
/// installed or removed, may render the same inputs differently.
pub(crate) fn settings_dir(git_dir: &std::path::Path, what: &str, opts: &RenderOptions) -> PathBuf {
    let hex = |s: &str| -> String { s.bytes().map(|b| format!("{b:02x}")).collect() };
    let path = gitops_git::normalize_path(&opts.path);
    let mut dir = git_dir.join("kubectl-gitops").join(what);
    if let Some(shallow) = gitops_git::shallow_key(git_dir) {
        dir.push(shallow);
    }
    dir.join(if path.is_empty() {
        "root".to_owned()
    } else {
        hex(&path)
    })
    .join(hex(&opts.default_namespace))
    .join(gitops_render::tools_fingerprint(opts))
}

/// A commit whose changes are known: computed by this run or read from the changes cache.
struct KnownCommit {
    /// What the output shows of the commit (kept so a cached run reads no commit object).
    info: CommitInfo,
    changes: Vec<ResourceChange>,
}

/// Each commit's metadata and resource changes (identity, apiVersion, change, file; no
/// objects) under one path and render settings, in
/// `<git-dir>/kubectl-gitops/changes-v2/<hex path>/<namespace>`: one line per commit,
/// `<sha> <json>`, appended by each run for the commits it computed. A commit's changes never
/// change (its tree and its parent's are fixed), so entries never go stale; a line that does
/// not parse is skipped, and so is a commit whose cached identities disagree with this run's
/// kind scopes (an offline run's built-in table against discovery, or discovery changed): it
/// is computed again and appended. (v1 lacked the commit metadata.)
struct ChangesCache {
    file: PathBuf,
}

/// One line of the changes cache, after the sha.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedCommit {
    /// The commit as the output shows it.
    c: CommitInfo,
    /// Its changes.
    r: Vec<CachedChange>,
}

/// [`CachedCommit`] borrowed, to write it.
#[derive(serde::Serialize)]
struct CachedCommitRef<'a> {
    c: &'a CommitInfo,
    r: Vec<CachedChangeRef<'a>>,
}

/// [`CachedChange`] borrowed.
type CachedChangeRef<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

impl ChangesCache {
    fn new(git_dir: &std::path::Path, opts: &RenderOptions) -> ChangesCache {
        ChangesCache {
            file: settings_dir(git_dir, "changes-v2", opts),
        }
    }

    /// The cached lines by commit, parsed when taken ([`CachedCommits::remove`]).
    fn read(&self, opts: &RenderOptions) -> CachedCommits {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let mut lines: HashMap<ObjectId, Vec<std::ops::Range<usize>>> = HashMap::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let range = start..start + line.len();
            start = range.end;
            if let Some(commit) = line
                .split_once(' ')
                .and_then(|(sha, _)| ObjectId::from_hex(sha.as_bytes()).ok())
            {
                lines.entry(commit).or_default().push(range);
            }
        }
        CachedCommits {
            text,
            lines,
            scope: Arc::clone(&opts.scope),
            scopes: HashMap::new(),
            file: self.file.clone(),
        }
    }

    /// Appends the computed commits in one write; failures are logged, never errors.
    #[cfg(test)]
    fn append(&self, computed: &[(ObjectId, KnownCommit)]) {
        let mut text = Vec::new();
        for (commit, known) in computed {
            ChangesCache::line(*commit, &known.info, &known.changes, &mut text);
        }
        self.write(&text);
    }

    /// Adds the cache line of `commit` to `out` ([`CachedCommit`], borrowed: nothing cloned).
    fn line(commit: ObjectId, info: &CommitInfo, changes: &[ResourceChange], out: &mut Vec<u8>) {
        use std::io::Write as _;
        let line = CachedCommitRef {
            c: info,
            r: changes
                .iter()
                .map(|c| {
                    (
                        c.id.group.as_str(),
                        c.id.kind.as_str(),
                        c.id.namespace.as_deref(),
                        c.id.name.as_str(),
                        c.api_version.as_str(),
                        c.change.name(),
                        c.file.as_str(),
                    )
                })
                .collect(),
        };
        let start = out.len();
        let written = write!(out, "{commit} ")
            .map_err(serde_json::Error::io)
            .and_then(|()| serde_json::to_writer(&mut *out, &line))
            .map(|()| out.push(b'\n'));
        if written.is_err() {
            out.truncate(start);
        }
    }

    /// Appends `text` (cache lines) in one write; failures are logged, never errors.
    fn write(&self, text: &[u8]) {
        use std::io::Write as _;
        if text.is_empty() {
            return;
        }
        let written = self
            .file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.file)
            })
            .and_then(|mut file| file.write_all(text));
        if let Err(error) = written {
            tracing::debug!(file = %self.file.display(), %error, "changes cache not written");
        }
    }
}

/// The changes cache's lines by commit, each parsed only when its commit is taken: a walk
/// that stops early (`lastCommit`, `--limit`) parses the lines of the commits it reaches. A
/// line that does not parse is skipped, and so is one whose identities disagree with this
/// run's kind scopes; of a commit's lines the last that holds wins.
struct CachedCommits {
    text: String,
    lines: HashMap<ObjectId, Vec<std::ops::Range<usize>>>,
    scope: gitops_render::ScopeLookup,
    /// Scopes asked once per kind: the same few kinds recur on every line.
    scopes: HashMap<(String, String), Option<bool>>,
    file: PathBuf,
}

impl CachedCommits {
    /// The commits with lines (some may not hold).
    fn keys(&self) -> impl Iterator<Item = &ObjectId> {
        self.lines.keys()
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    /// The cached changes of `commit`, taken out.
    fn remove(&mut self, commit: &ObjectId) -> Option<KnownCommit> {
        let ranges = self.lines.remove(commit)?;
        ranges
            .into_iter()
            .rev()
            .find_map(|range| self.parse_line(*commit, range))
    }

    /// Every commit that holds, parsed.
    #[cfg(test)]
    fn parsed(mut self) -> HashMap<ObjectId, KnownCommit> {
        let commits: Vec<ObjectId> = self.lines.keys().copied().collect();
        commits
            .into_iter()
            .filter_map(|c| Some((c, self.remove(&c)?)))
            .collect()
    }

    fn parse_line(
        &mut self,
        commit: ObjectId,
        range: std::ops::Range<usize>,
    ) -> Option<KnownCommit> {
        let line = self.text[range].trim_end_matches('\n');
        let (sha, json) = line.split_once(' ')?;
        let cached = serde_json::from_str::<CachedCommit>(json).ok()?;
        if cached.c.id != sha {
            return None;
        }
        let mut changes = Vec::with_capacity(cached.r.len());
        for row in cached.r {
            let scope = *self
                .scopes
                .entry((row.0.clone(), row.1.clone()))
                .or_insert_with(|| (self.scope)(&row.0, &row.1));
            let scope_agrees = match scope {
                Some(true) => row.2.is_some(),
                Some(false) => row.2.is_none(),
                None => true,
            };
            // Written where a kind had another scope (offline, the built-in table; online,
            // discovery): computed again and appended.
            if !scope_agrees {
                tracing::debug!(file = %self.file.display(), %commit, "cached changes from other kind scopes; ignored");
                return None;
            }
            let change = match row.5.as_str() {
                "added" => ChangeKind::Added,
                "modified" => ChangeKind::Modified,
                "removed" => ChangeKind::Removed,
                _ => continue,
            };
            changes.push(ResourceChange {
                id: ResourceId {
                    group: row.0,
                    kind: row.1,
                    namespace: row.2,
                    name: row.3,
                },
                api_version: row.4,
                change,
                before: None,
                after: None,
                file: row.6,
            });
        }
        Some(KnownCommit {
            info: cached.c,
            changes,
        })
    }
}

/// A cached change: group, kind, namespace, name, apiVersion, change, file.
type CachedChange = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
);

/// Whether `live` satisfies `desired` (client comparison, SPEC §4); `None` live satisfies
/// only an absent desired.
fn satisfies(
    id: &ResourceId,
    desired: Option<&Value>,
    live: Option<&Value>,
    rules: &[IgnoreRule],
) -> bool {
    match (desired, live) {
        (None, None) => true,
        (Some(desired), Some(live)) => {
            compare_client(id, desired, live, rules).is_ok_and(|c| !c.is_drifted())
        }
        _ => false,
    }
}

/// Marks the newest listed commit the live state matches and returns its id. With RESOURCE:
/// the newest commit whose version of it live satisfies. Without: the newest commit at which
/// every resource of the environment is satisfied, tracking the environment backwards from
/// `--rev` through each commit's changes.
fn mark_live(
    history: &mut History,
    head_objects: &Objects,
    live: &HashMap<ResourceId, Value>,
    rules: &[IgnoreRule],
    filter: Option<&ResourceFilter>,
) -> Option<String> {
    if filter.is_some() {
        for c in &mut history.commits {
            let all = c.changes.iter().all(|change| {
                satisfies(
                    &change.id,
                    change.after.as_ref(),
                    live.get(&change.id),
                    rules,
                )
            });
            if all {
                c.matches_live = true;
                return Some(c.commit.id.clone());
            }
        }
        return None;
    }
    let mut unsatisfied: BTreeSet<ResourceId> = head_objects
        .iter()
        .filter(|(id, (_, object, _))| !satisfies(id, Some(object), live.get(*id), rules))
        .map(|(id, _)| id.clone())
        .collect();
    for c in &mut history.commits {
        if unsatisfied.is_empty() {
            c.matches_live = true;
            return Some(c.commit.id.clone());
        }
        // Step to the parent's environment.
        for change in &c.changes {
            unsatisfied.remove(&change.id);
            if let Some(before) = &change.before
                && !satisfies(&change.id, Some(before), live.get(&change.id), rules)
            {
                unsatisfied.insert(change.id.clone());
            }
        }
    }
    None
}

/// (apiVersion, plural, namespace): one LIST each.
type LiveKey = (String, String, Option<String>);

/// The live objects of `wanted` (identity → apiVersion), by one LIST per kind and namespace.
/// Kinds the cluster does not serve are left out.
pub async fn live_objects(
    cluster: &ClusterClient,
    discovery: &Discovery,
    wanted: &HashMap<ResourceId, String>,
) -> Result<HashMap<ResourceId, Value>, ClusterError> {
    let mut groups: BTreeMap<LiveKey, (ApiResource, BTreeSet<ResourceId>)> = BTreeMap::new();
    for (id, api_version) in wanted {
        let (group, version) = split_api_version(api_version);
        let Ok(served) = discovery
            .resolve(group, version, &id.kind)
            .or_else(|_| discovery.preferred_kind(&id.group, &id.kind).ok_or(()))
        else {
            continue;
        };
        let resource = &served.resource;
        groups
            .entry((
                resource.api_version.clone(),
                resource.plural.clone(),
                id.namespace.clone(),
            ))
            .or_insert_with(|| (resource.clone(), BTreeSet::new()))
            .1
            .insert(id.clone());
    }
    let listed: Vec<Result<Vec<(ResourceId, Value)>, ClusterError>> = futures::stream::iter(groups)
        .map(|((_, _, namespace), (resource, ids))| async move {
            let objects = cluster.list(&resource, namespace.as_deref(), None).await?;
            Ok(objects
                .into_iter()
                .filter_map(|object| {
                    let name = object.pointer("/metadata/name")?.as_str()?;
                    let id = ids.iter().find(|id| id.name == name)?.clone();
                    Some((id, object))
                })
                .collect())
        })
        .buffer_unordered(cluster.concurrency())
        .collect()
        .await;
    let mut live = HashMap::new();
    for result in listed {
        match result {
            Ok(objects) => live.extend(objects),
            Err(error) if error.is_forbidden() => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(live)
}

/// SPEC §7 `matchesRevision` for each target: the newest commit in its history (first
/// parents from `head` that changed it, at most `limit` commits that changed `--path`) whose
/// version of it the live object satisfies (client comparison). Targets not found stay out.
pub fn matches_revisions(
    repo: &EnvRepo,
    head: ObjectId,
    opts: &RenderOptions,
    targets: &HashMap<ResourceId, Value>,
    rules: &[IgnoreRule],
    limit: usize,
) -> Result<HashMap<ResourceId, String>, HistoryOpsError> {
    let mut found = HashMap::new();
    let mut remaining: BTreeSet<&ResourceId> = targets.keys().collect();
    let mut walk = ChangeWalk::new(repo, head, opts, true)?;
    for step in walk.by_ref().take(limit) {
        if remaining.is_empty() {
            break;
        }
        let step = step?;
        for change in &step.changes {
            if !remaining.contains(&change.id) {
                continue;
            }
            let Some(after) = &change.after else {
                continue;
            };
            if satisfies(&change.id, Some(after), targets.get(&change.id), rules) {
                remaining.remove(&change.id);
                found.insert(change.id.clone(), step.commit.to_string());
            }
        }
    }
    walk.finish()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_git::fixture::FixtureRepo;

    fn cm(name: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {value:?}\n"
        )
    }

    fn summary(repo: &EnvRepo, rev: &str) -> Vec<(String, Vec<String>)> {
        let tip = repo.resolve(rev).unwrap();
        let opts = RenderOptions::new("", "default");
        ChangeWalk::new(repo, tip, &opts, false)
            .unwrap()
            .map(|step| {
                let step = step.unwrap();
                let info = repo.commit_info(step.commit).unwrap();
                let changes = step
                    .changes
                    .iter()
                    .map(|c| format!("{} {}", c.change.letter(), c.id.name))
                    .collect();
                (info.summary, changes)
            })
            .collect()
    }

    #[test]
    fn changes_follow_moves_and_see_removal_and_re_add() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.write("b.yaml", &format!("{}---\n{}", cm("b", "1"), cm("c", "1")));
        fx.commit("start");
        fx.write("moved/keep.txt", "");
        fx.git(&["mv", "a.yaml", "moved/a.yaml"]);
        fx.commit("move a");
        fx.git(&["mv", "moved/a.yaml", "x.yaml"]);
        fx.write("x.yaml", &cm("a", "2"));
        fx.commit("move and change a");
        fx.write("b.yaml", &cm("b", "1"));
        fx.commit("drop c");
        fx.write("c.yaml", &cm("c", "1"));
        fx.commit("c back");
        fx.write("README.md", "hi\n");
        fx.commit("readme");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let got = summary(&repo, "HEAD");
        let want: Vec<(String, Vec<String>)> = vec![
            ("readme".into(), vec![]),
            ("c back".into(), vec!["A c".into()]),
            ("drop c".into(), vec!["D c".into()]),
            ("move and change a".into(), vec!["M a".into()]),
            ("move a".into(), vec![]),
            (
                "start".into(),
                vec!["A a".into(), "A b".into(), "A c".into()],
            ),
        ];
        assert_eq!(got, want);
    }

    /// Every commit's changes equal a diff of two full renders, through exclusions, a config
    /// change, a broken file, hidden directories and a subdirectory --path.
    #[test]
    fn changed_files_steps_match_full_renders() {
        let fx = FixtureRepo::new();
        for path in ["", "env"] {
            let p = |f: &str| gitops_git::join_path(path, f);
            fx.write(&p("a.yaml"), &cm("a", "1"));
            fx.write(&p("b.yaml"), &cm("b", "1"));
            fx.write(&p(".hidden/h.yaml"), &cm("h", "1"));
            fx.commit("start");
            fx.write(&p("b.yaml"), &cm("b", "2"));
            fx.write(&p(".hidden/h.yaml"), &cm("h", "2"));
            fx.commit("b and hidden");
            fx.write(&p(".kubectl-gitops.yaml"), "exclude: [\"b.yaml\"]\n");
            fx.commit("exclude b");
            fx.write(&p("b.yaml"), &cm("b", "3"));
            fx.commit("excluded b changes");
            fx.write(&p("broken.yaml"), "not: [valid\n");
            fx.write(&p("a.yaml"), &cm("a", "2"));
            fx.commit("broken and a");
            fx.write(&p("sub/list.json"), r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}]}"#);
            fx.commit("json list");
        }
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        for path in ["", "env"] {
            let opts = RenderOptions::new(path, "default");
            let full = |commit: Option<ObjectId>| -> BTreeMap<ResourceId, Value> {
                commit
                    .and_then(|c| render(&repo, c, &opts).ok())
                    .map(|r| r.manifests.into_iter().map(|m| (m.id, m.object)).collect())
                    .unwrap_or_default()
            };
            let mut steps = 0;
            let mut walk = ChangeWalk::new(&repo, head, &opts, false).unwrap();
            for step in walk.by_ref() {
                let step = step.unwrap();
                let (before, after) = (full(step.parent), full(Some(step.commit)));
                let mut want: Vec<(ResourceId, ChangeKind)> = Vec::new();
                for id in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
                    match (before.get(id), after.get(id)) {
                        (None, Some(_)) => want.push((id.clone(), ChangeKind::Added)),
                        (Some(_), None) => want.push((id.clone(), ChangeKind::Removed)),
                        (Some(a), Some(b)) if a != b => {
                            want.push((id.clone(), ChangeKind::Modified))
                        }
                        _ => {}
                    }
                }
                let mut got: Vec<(ResourceId, ChangeKind)> = step
                    .changes
                    .iter()
                    .map(|c| (c.id.clone(), c.change))
                    .collect();
                got.sort();
                want.sort();
                let summary = repo.commit_info(step.commit).unwrap().summary;
                assert_eq!(got, want, "{path:?} {summary}");
                steps += 1;
            }
            assert!(steps >= 6, "{path:?}: {steps}");
            if path == "env" {
                // Only the config change and the broken file's step need full renders.
                assert!(walk.full_renders() <= 3, "{}", walk.full_renders());
            }
        }
    }

    /// Without objects, files whose versions differ in scalar values are compared by text;
    /// every commit's changes (identity, kind, apiVersion, file) are those of the walk that
    /// renders them, through comment-only and quoting changes (not changes), multi-document
    /// files, a `List`, an identity change, CRLF files, a move and a resource moving between
    /// files.
    /// A change as the comparisons below see it: resource, change, apiVersion, file.
    type Row = (String, ChangeKind, String, String);

    /// Every commit's changes from HEAD, computed twice: rendering both sides (objects kept),
    /// and from the text and what is known by blob where possible (no objects).
    struct Compared {
        rendered: Vec<Vec<Row>>,
        light: Vec<Vec<Row>>,
        /// Files the second walk did not parse.
        light_files: usize,
        /// Parses of the second walk, then of the first.
        parses: (usize, usize),
    }

    /// The changes of every commit rendered (objects kept) and compared by text, the latter
    /// with the walk's work on two threads and on three: both splits give the same answer.
    fn compare_light_with_rendered(repo: &EnvRepo) -> Compared {
        let head = repo.resolve("HEAD").unwrap();
        let row = |c: ResourceChange| (c.id.to_string(), c.change, c.api_version, c.file);
        let opts = RenderOptions::new("", "default");
        let rendered =
            ChangeWalk::with_stages(repo, head, &opts, false, Stages::Three, Arc::default())
                .unwrap()
                .map(|step| step.unwrap().changes.into_iter().map(row).collect())
                .collect();
        let light_walk = |stages: Stages| {
            let light_opts = RenderOptions::new("", "default");
            let mut walk =
                ChangeWalk::with_stages(repo, head, &light_opts, false, stages, Arc::default())
                    .unwrap()
                    .without_objects();
            let mut light: Vec<Vec<_>> = Vec::new();
            while let Some(commit) = walk.next_commit() {
                let step = walk.changes_at(commit.unwrap()).unwrap();
                assert!(
                    step.changes
                        .iter()
                        .all(|c| c.before.is_none() && c.after.is_none())
                );
                light.push(step.changes.into_iter().map(row).collect());
            }
            (light, walk.light_files(), light_opts.cache.parse_count())
        };
        let (light, light_files, parses) = light_walk(Stages::Three);
        let two = light_walk(Stages::Two);
        assert_eq!(
            two,
            (light.clone(), light_files, parses),
            "two threads against three"
        );
        Compared {
            rendered,
            light,
            light_files,
            parses: (parses, opts.cache.parse_count()),
        }
    }

    #[test]
    fn text_compared_changes_equal_rendered_changes() {
        let deploy = |name: &str, replicas: &str, image: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
            )
        };
        let fx = FixtureRepo::new();
        let multi = |a: &str, b: &str| format!("{}---\n{}", cm("m1", a), cm("m2", b));
        let list = |v: &str| {
            format!(
                "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: l1\n    data:\n      v: {v}\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: l2\n"
            )
        };
        fx.write("d.yaml", &deploy("d", "1", "img:1"));
        fx.write("m.yaml", &multi("1", "1"));
        fx.write("l.yaml", &list("1"));
        fx.write("crlf.yaml", &cm("crlf", "1").replace('\n', "\r\n"));
        fx.commit("start");
        let steps: Vec<(&str, String)> = vec![
            ("d.yaml", deploy("d", "2", "img:1")),
            ("d.yaml", deploy("d", "2", "img:2")),
            ("d.yaml", deploy("d", "02", "img:2")),
            (
                "d.yaml",
                deploy("d", "2", "img:2").replace("img:2", "img:2 # pinned"),
            ),
            ("d.yaml", deploy("d", "2", "\"img:2\"")),
            ("d.yaml", deploy("d", "3", "'img:3'")),
            ("m.yaml", multi("2", "1")),
            ("m.yaml", multi("2", "3")),
            ("l.yaml", list("2")),
            ("crlf.yaml", cm("crlf", "2").replace('\n', "\r\n")),
            ("d.yaml", deploy("e", "3", "'img:3'")),
            ("d.yaml", deploy("e", "4", "'img:3'")),
            ("m.yaml", format!("{}---\n{}", cm("m1", "2"), cm("m3", "3"))),
            ("m.yaml", format!("{}---\n{}", cm("m1", "5"), cm("m3", "3"))),
        ];
        for (i, (file, text)) in steps.iter().enumerate() {
            fx.write(file, text);
            fx.commit(&format!("step {i}"));
        }
        fx.git(&["mv", "d.yaml", "moved.yaml"]);
        fx.commit("move d");
        fx.write("moved.yaml", &deploy("e", "5", "'img:3'"));
        fx.commit("after move");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let Compared {
            rendered: want,
            light: got,
            light_files: light,
            parses,
        } = compare_light_with_rendered(&repo);
        assert_eq!(got, want);
        // The replicas, image, quoting and multi-document value steps, and the step after
        // the move.
        assert!(light >= 6, "{light}");
        assert!(parses.0 < parses.1, "{parses:?}");
        // The comment-only and `02` steps are no change.
        assert!(
            want.iter().filter(|c| c.is_empty()).count() >= 3,
            "{want:?}"
        );
    }

    /// Items added to list documents (anywhere in the list, several at once, with other
    /// items modified), modified, removed, and resources moved between a list and a plain
    /// file, at random: the changes proven by text equal those of rendering both sides.
    #[test]
    fn list_items_added_modified_and_moved_equal_rendered_changes() {
        let fx = FixtureRepo::new();
        let mut seed: u64 = 11;
        let mut rand = move |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n
        };
        // A list as kubectl writes it (items at column 0), its items' (name, value).
        let list = |items: &[(String, u32)]| {
            let items: String = items
                .iter()
                .map(|(n, v)| {
                    format!("- apiVersion: v1\n  data:\n    v: |-\n      {v}\n  kind: ConfigMap\n  metadata:\n    name: {n}\n")
                })
                .collect();
            format!("apiVersion: v1\nitems:\n{items}kind: ConfigMapList\n")
        };
        let plain = |docs: &[(String, u32)]| {
            docs.iter()
                .map(|(n, v)| cm(n, &v.to_string()))
                .collect::<Vec<_>>()
                .join("---\n")
        };
        let mut lists: Vec<Vec<(String, u32)>> = vec![
            vec![("a".into(), 0), ("b".into(), 0)],
            vec![("c".into(), 0)],
        ];
        let mut loose: Vec<(String, u32)> = vec![("p".into(), 0), ("q".into(), 0)];
        let write = |lists: &Vec<Vec<(String, u32)>>, loose: &Vec<(String, u32)>| {
            fx.write("l0.yaml", &list(&lists[0]));
            fx.write("l1.yaml", &list(&lists[1]));
            fx.write("plain.yaml", &plain(loose));
        };
        write(&lists, &loose);
        fx.commit("start");
        let mut next = 0;
        for step in 0..80 {
            let l = rand(2);
            match rand(6) {
                // One item added, or two, anywhere; sometimes another modified.
                0..=2 => {
                    for _ in 0..=rand(2) {
                        next += 1;
                        let at = rand(lists[l].len() + 1);
                        lists[l].insert(at, (format!("n{next}"), 0));
                    }
                    if rand(3) == 0 {
                        let i = rand(lists[l].len());
                        lists[l][i].1 += 1;
                    }
                }
                // An item modified.
                3 => {
                    let i = rand(lists[l].len());
                    lists[l][i].1 += 1;
                }
                // An item removed (when more than one).
                4 if lists[l].len() > 1 => {
                    let i = rand(lists[l].len());
                    lists[l].remove(i);
                }
                // A resource moved from the plain file into a list, or back.
                _ => {
                    if !loose.is_empty() && rand(2) == 0 {
                        let doc = loose.remove(rand(loose.len()));
                        let at = rand(lists[l].len() + 1);
                        lists[l].insert(at, doc);
                    } else if lists[l].len() > 1 {
                        let i = rand(lists[l].len());
                        let doc = lists[l].remove(i);
                        loose.push(doc);
                    }
                }
            }
            write(&lists, &loose);
            fx.commit(&format!("step {step}"));
        }
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let Compared {
            rendered: want,
            light: got,
            light_files: light,
            parses,
        } = compare_light_with_rendered(&repo);
        assert_eq!(got, want);
        // Most steps add items: proven by text, not parsed.
        assert!(light >= 40, "{light}");
        assert!(parses.0 < parses.1, "{parses:?}");
        assert!(
            want.iter()
                .flatten()
                .filter(|c| c.1 == ChangeKind::Added)
                .count()
                >= 40,
            "{want:?}"
        );
    }

    /// Files added, removed, re-added with the same content, moved unchanged, moved with a
    /// change, and resources cut from one file and pasted into another, at random: the changes
    /// computed from what is known of each blob equal those of rendering both sides.
    #[test]
    fn added_removed_and_moved_files_known_by_blob_equal_rendered_changes() {
        let fx = FixtureRepo::new();
        let mut seed: u64 = 7;
        let mut rand = move |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n
        };
        // file name -> resources (name, value) in it.
        let mut files: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
        let text = |docs: &[(String, u32)]| -> String {
            docs.iter()
                .map(|(n, v)| cm(n, &v.to_string()))
                .collect::<Vec<_>>()
                .join("---\n")
        };
        let mut next = 0;
        let mut removed: Vec<(String, Vec<(String, u32)>)> = Vec::new();
        for i in 0..6 {
            files.insert(format!("f{i}.yaml"), vec![(format!("r{i}"), 0)]);
        }
        next += 6;
        for (name, docs) in &files {
            fx.write(name, &text(docs));
        }
        fx.commit("start");
        for step in 0..90 {
            let names: Vec<String> = files.keys().cloned().collect();
            let pick = names[rand(names.len())].clone();
            match rand(7) {
                // A value.
                0 | 1 => {
                    let docs = files.get_mut(&pick).unwrap();
                    let d = rand(docs.len());
                    docs[d].1 += 1;
                    fx.write(&pick, &text(docs));
                }
                // A new file, or one removed before back with the same content.
                2 => {
                    let (name, docs) = match removed.pop() {
                        Some((name, docs)) if !files.contains_key(&name) => (name, docs),
                        _ => {
                            next += 1;
                            (format!("n{next}.yaml"), vec![(format!("r{next}"), 0)])
                        }
                    };
                    fx.write(&name, &text(&docs));
                    files.insert(name, docs);
                }
                // A file removed.
                3 if files.len() > 3 => {
                    let docs = files.remove(&pick).unwrap();
                    fx.git(&["rm", "-q", &pick]);
                    removed.insert(0, (pick, docs));
                }
                // Moved unchanged, or moved with a change.
                4 | 5 => {
                    next += 1;
                    let to = format!("m{next}.yaml");
                    let mut docs = files.remove(&pick).unwrap();
                    fx.git(&["mv", &pick, &to]);
                    if rand(2) == 0 {
                        docs[0].1 += 1;
                        fx.write(&to, &text(&docs));
                    }
                    files.insert(to, docs);
                }
                // A resource cut from one file and pasted into another.
                _ => {
                    let other = names[rand(names.len())].clone();
                    if other == pick || files[&pick].len() < 2 {
                        continue;
                    }
                    let doc = files.get_mut(&pick).unwrap().pop().unwrap();
                    files.get_mut(&other).unwrap().push(doc);
                    fx.write(&pick, &text(&files[&pick]));
                    fx.write(&other, &text(&files[&other]));
                }
            }
            fx.git(&["add", "-A"]);
            fx.commit(&format!("step {step}"));
        }
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let Compared {
            rendered: want,
            light: got,
            light_files: light,
            parses,
        } = compare_light_with_rendered(&repo);
        assert_eq!(got.len(), want.len());
        for (i, (got, want)) in got.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "commit {i} from HEAD");
        }
        let kinds: BTreeSet<ChangeKind> = want.iter().flatten().map(|c| c.1).collect();
        assert_eq!(kinds.len(), 3, "adds, removals and changes: {kinds:?}");
        // Value changes, moved files and files whose content was seen before are not parsed.
        assert!(light >= 30, "{light}");
        assert!(parses.0 <= parses.1, "{parses:?}");
    }

    /// A file the walk meets first as removed (walking back, it is in the parent only) is
    /// read by scanning its text, not parsed: only the tip's files are.
    #[test]
    fn a_removed_file_never_seen_is_scanned_not_parsed() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "0"));
        fx.commit("start");
        fx.write("x.yaml", &format!("{}---\n{}", cm("x", "1"), cm("z", "2")));
        fx.commit("add x and z");
        fx.git(&["rm", "-q", "x.yaml"]);
        fx.commit("remove x and z");
        fx.write("a.yaml", &cm("a", "1"));
        fx.commit("edit a");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let Compared {
            rendered: want,
            light: got,
            parses,
            ..
        } = compare_light_with_rendered(&repo);
        assert_eq!(got, want);
        let removed: Vec<_> = want[1].iter().map(|c| (c.0.as_str(), c.1)).collect();
        assert_eq!(
            removed,
            [
                ("core/ConfigMap/default/x", ChangeKind::Removed),
                ("core/ConfigMap/default/z", ChangeKind::Removed)
            ]
        );
        // a.yaml at the tip; x.yaml is scanned (parsing it would make 2).
        assert_eq!(parses.0, 1, "{parses:?}");
    }

    /// Ten commits, each changing one of three files.
    fn churn() -> FixtureRepo {
        let fx = FixtureRepo::new();
        for name in ["a", "b", "c"] {
            fx.write(&format!("{name}.yaml"), &cm(name, "0"));
        }
        fx.commit("start");
        for i in 1..10 {
            let name = ["a", "b", "c"][i % 3];
            fx.write(&format!("{name}.yaml"), &cm(name, &i.to_string()));
            fx.commit(&format!("change {i}"));
        }
        fx
    }

    fn names(step: &CommitChanges) -> Vec<String> {
        step.changes
            .iter()
            .map(|c| format!("{} {}", c.change.letter(), c.id.name))
            .collect()
    }

    /// `next_commit` then `changes_at` for every commit steps from the walk's position: one
    /// render of the first commit, then only the changed blobs; skipping commits costs one
    /// render per computed commit after a skip, with the same changes.
    #[test]
    fn computing_every_commit_renders_once_and_skips_resync() {
        let fx = churn();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let opts = RenderOptions::new("", "default");
        let want: Vec<Vec<String>> = ChangeWalk::new(&repo, head, &opts, false)
            .unwrap()
            .map(|step| names(&step.unwrap()))
            .collect();
        assert_eq!(want.len(), 10);
        assert_eq!(want[0], vec!["M a".to_owned()]);

        let opts = RenderOptions::new("", "default");
        let mut walk = ChangeWalk::new(&repo, head, &opts, false).unwrap();
        let mut got = Vec::new();
        while let Some(commit) = walk.next_commit() {
            got.push(names(&walk.changes_at(commit.unwrap()).unwrap()));
        }
        assert_eq!(got, want);
        assert_eq!(walk.resyncs(), 1);
        // Three files at the first commit, then one new blob per older commit.
        assert_eq!(opts.cache.parse_count(), 3 + 9);

        let opts = RenderOptions::new("", "default");
        let mut walk = ChangeWalk::new(&repo, head, &opts, false).unwrap();
        let mut computed = 0;
        let mut i = 0;
        while let Some(commit) = walk.next_commit() {
            let commit = commit.unwrap();
            i += 1;
            let i = i - 1;
            // Every third commit is taken as if from the changes cache.
            if i % 3 == 1 {
                continue;
            }
            assert_eq!(names(&walk.changes_at(commit).unwrap()), want[i], "{i}");
            computed += 1;
        }
        assert_eq!(computed, 7);
        // The first commit, and the one after each of the three skips.
        assert_eq!(walk.resyncs(), 4);
    }

    /// The changes cache gives back each commit's metadata and changes; a line whose sha does
    /// not match its metadata, or that does not parse, is skipped.
    #[test]
    fn changes_cache_round_trip_keeps_commit_metadata() {
        let fx = churn();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let parent = repo.resolve("HEAD~1").unwrap();
        let opts = RenderOptions::new("", "default");
        let mut walk = ChangeWalk::new(&repo, head, &opts, false).unwrap();
        let mut computed = Vec::new();
        while let Some(commit) = walk.next_commit() {
            let commit = commit.unwrap();
            let step = walk.changes_at(commit).unwrap();
            computed.push((
                commit,
                KnownCommit {
                    info: repo.commit_info(commit).unwrap(),
                    changes: step.changes,
                },
            ));
        }
        let git_dir = fx.dir().join(".git");
        let cache = ChangesCache::new(&git_dir, &opts);
        cache.append(&computed);
        let known = cache.read(&opts).parsed();
        assert_eq!(known.len(), computed.len());
        for (commit, c) in &computed {
            let k = &known[commit];
            assert_eq!(k.info, c.info);
            assert_eq!(k.info.summary, repo.commit_info(*commit).unwrap().summary);
            let ids = |v: &[ResourceChange]| -> Vec<(ResourceId, ChangeKind, String)> {
                v.iter()
                    .map(|r| (r.id.clone(), r.change, r.file.clone()))
                    .collect()
            };
            assert_eq!(ids(&k.changes), ids(&c.changes));
        }
        // HEAD's line under HEAD~1's sha, and garbage: both skipped, the rest still read.
        let text = std::fs::read_to_string(&cache.file).unwrap();
        let head_line = text
            .lines()
            .find(|l| l.starts_with(&head.to_string()))
            .unwrap();
        let forged = head_line.replacen(&head.to_string(), &parent.to_string(), 1);
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(&parent.to_string()))
            .collect();
        std::fs::write(
            &cache.file,
            format!("{}\n{forged}\nzz [1\n", kept.join("\n")),
        )
        .unwrap();
        let known = cache.read(&opts).parsed();
        assert_eq!(known.len(), computed.len() - 1);
        assert!(!known.contains_key(&parent));
        assert_eq!(known[&head].info.id, head.to_string());
        // Where ConfigMaps are cluster-scoped (another cluster's discovery), the commits that
        // changed one are computed again; once appended, both settings read theirs.
        let mut cluster_scoped = opts.clone();
        cluster_scoped.scope =
            Arc::new(|_: &str, kind: &str| (kind == "ConfigMap").then_some(false));
        let changed: Vec<ObjectId> = computed
            .iter()
            .filter(|(_, c)| !c.changes.is_empty())
            .map(|(commit, _)| *commit)
            .collect();
        assert!(!changed.is_empty());
        let other = cache.read(&cluster_scoped).parsed();
        assert!(changed.iter().all(|c| !other.contains_key(c)));
        let mut recomputed = Vec::new();
        let mut walk = ChangeWalk::new(&repo, head, &cluster_scoped, false).unwrap();
        while let Some(commit) = walk.next_commit() {
            let commit = commit.unwrap();
            let step = walk.changes_at(commit).unwrap();
            let info = repo.commit_info(commit).unwrap();
            recomputed.push((
                commit,
                KnownCommit {
                    info,
                    changes: step.changes,
                },
            ));
        }
        cache.append(&recomputed);
        let other = cache.read(&cluster_scoped).parsed();
        assert!(changed.iter().all(|c| other.contains_key(c)));
        assert!(
            other
                .values()
                .flat_map(|k| &k.changes)
                .all(|c| c.id.namespace.is_none())
        );
        // (The parent's own line was removed above.)
        let known = cache.read(&opts).parsed();
        assert!(
            changed
                .iter()
                .filter(|c| **c != parent)
                .all(|c| known.contains_key(c))
        );
        assert!(
            known
                .values()
                .flat_map(|k| &k.changes)
                .all(|c| c.id.namespace.is_some())
        );
    }

    #[test]
    fn matches_revisions_finds_the_version_live_holds() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.commit("one");
        fx.write("a.yaml", &cm("a", "2"));
        fx.commit("two");
        fx.write("a.yaml", &cm("a", "3"));
        fx.commit("three");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let opts = RenderOptions::new("", "default");
        let id = ResourceId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("default".into()),
            name: "a".into(),
        };
        let live = |v: &str| {
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "default", "uid": "x"},
                "data": {"v": v}})
        };
        for (value, want) in [("2", Some("HEAD~1")), ("3", Some("HEAD")), ("9", None)] {
            let targets = HashMap::from([(id.clone(), live(value))]);
            let found = matches_revisions(&repo, head, &opts, &targets, &[], 100).unwrap();
            let want = want.map(|r| fx.rev_parse(r));
            assert_eq!(found.get(&id).cloned(), want, "live v={value}");
        }
    }
}
