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
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::drift::{prepare_objects, to_yaml};
use crate::ops::helm_release::{
    HelmReleaseRevision, ReleaseValues, failed_releases, live_release, released_object,
};
use crate::ops::status::{ResourceFilter, StatusError, discovered_scope, resolve_resource_arg};
use gitops_cluster::{ClusterClient, ClusterError, Discovery};
use gitops_git::history::{HistoryError, PathWalk, WalkStats};
use gitops_git::{EnvRepo, ObjectId, RepoError};
use gitops_render::{RenderFailure, RenderOptions, render};
use k8s_model::{CommitInfo, IgnoreRule, ResourceId};

mod cache;
mod deployed;
mod walk;

pub(crate) use cache::settings_dir;
use cache::{CachedCommits, ChangesCache, tip_render_errors, whole_render_errors};
use deployed::mark_live;
pub use deployed::{live_objects, matches_revisions};
pub use walk::ChangeWalk;
use walk::{Objects, objects};

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

/// The order resource changes are listed in (`history`, `diff --from`): kind, namespace, name,
/// group.
pub fn change_order(a: &ResourceId, b: &ResourceId) -> std::cmp::Ordering {
    (&a.kind, &a.namespace, &a.name, &a.group).cmp(&(&b.kind, &b.namespace, &b.name, &b.group))
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
    if depends_on_git_only(opts) {
        cache.write(&computed);
    }
    walk.finish()?;
    Ok((found, walked))
}

/// Whether what the renders through `opts.cache` gave depends on git alone, so that the
/// caches keyed by commit (changes, render errors) may keep it: not when a render needed a
/// Flux `substituteFrom` object the environment does not define (read live, whose value may
/// change; or missing offline, which an online run reads). A cache entry is written only by
/// such a run, so one read back is git's too, whoever reads it.
pub(crate) fn depends_on_git_only(opts: &RenderOptions) -> bool {
    opts.cache.outside_read_count() == 0
}

/// What the environment's history walks: `opts.path` and the paths outside it that its units
/// read at `tip` ([`gitops_render::environment_inputs`]; `--path` first). An environment that
/// does not render at `tip` walks its path alone.
pub(crate) fn environment_inputs_or_path(
    repo: &EnvRepo,
    tip: ObjectId,
    opts: &RenderOptions,
) -> Vec<String> {
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
    /// Online, for RESOURCE made by a HelmRelease's chart: the Helm release revision deployed
    /// now, from Helm's storage in the cluster (SPEC §11).
    pub helm_release: Option<HelmReleaseRevision>,
    /// When RESOURCE was read from its deployed release because the chart did not render
    /// here: the HelmRelease's render error. The commits listed are then those that changed
    /// the release's values (the HelmRelease's change shown in each).
    pub from_deployed_release: Option<String>,
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
    /// Kustomize, Flux and HelmRelease builds this walk needed (run, or read back from the
    /// disk cache).
    pub builds: usize,
    /// `helm template` runs for HelmReleases (not found in the render cache): at most one per
    /// distinct (chart digest, values) pair of the walk, however many commits hold it.
    pub helm_runs: usize,
}

/// Builds the history (SPEC §5): the walk from `--rev`, changes per commit, RESOURCE's only
/// when given, `--limit`; then the live mark unless offline. An unreachable cluster is a
/// warning: history is git data.
pub async fn history(opts: &HistoryOptions) -> Result<History, HistoryOpsError> {
    let mut warnings = Vec::new();
    let (cluster, discovery) = connect_live(opts, &mut warnings).await;
    let mut render_opts = opts.target.render_options(cluster.as_ref()).await;
    let filter = opts
        .resource
        .as_deref()
        .map(|arg| {
            resolve_resource_arg(arg, opts.target.namespace.as_deref(), discovery.as_deref())
        })
        .transpose()?;
    // Kinds' scopes from discovery when there is one, else the built-in table.
    if let Some(discovery) = &discovery {
        render_opts.scope = discovered_scope(discovery);
    }

    let chart = match (&cluster, &discovery, &filter) {
        (Some(cluster), Some(discovery), Some(filter)) => {
            chart_release(opts, &render_opts, cluster, discovery, filter).await
        }
        _ => None,
    };
    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    let limit = opts.limit;
    let values_of = chart.as_ref().and_then(|c| c.values_of.clone());
    let use_cache = opts.use_cache;
    let exiting = opts.exiting;
    let need_objects = opts.patch || cluster.is_some();
    let need_head = cluster.is_some();
    let walk_filter = filter.clone();
    let walk_opts = render_opts.clone();
    // The live mark is known only once every commit is: stream only without it.
    let stream = opts.stream.clone().filter(|_| cluster.is_none());
    let mut walked = tokio::task::spawn_blocking(move || {
        walk_history(
            &repo_dir,
            &rev,
            &walk_opts,
            walk_filter.as_ref(),
            limit,
            use_cache,
            Needs {
                values_of,
                objects: need_objects,
                head: need_head,
                exiting,
                stream,
            },
        )
    })
    .await
    .map_err(StatusError::Task)??;

    if let (Some(cluster), Some(discovery)) = (&cluster, &discovery) {
        walked
            .mark_live_state(cluster, discovery, filter.as_ref(), &mut warnings)
            .await;
    }
    let Walked {
        repo, mut history, ..
    } = walked;
    drop(repo);
    discard(render_opts, opts.exiting);
    history.warnings = warnings;
    if let Some(chart) = chart {
        history.helm_release = Some(chart.revision);
        history.from_deployed_release = chart.render_error;
    }
    Ok(history)
}

/// The Helm release behind RESOURCE when a HelmRelease's chart makes it (SPEC §11).
struct ChartRelease {
    /// The release's revision deployed now.
    revision: HelmReleaseRevision,
    /// When the chart does not render here (RESOURCE read from the deployed release): what
    /// the release's values are made of, whose commits the history lists.
    values_of: Option<ReleaseValues>,
    /// Then too: the HelmRelease's render error.
    render_error: Option<String>,
}

/// The Helm release behind RESOURCE at `--rev`: its owner HelmRelease's when the chart
/// rendered it, else the deployed release of a HelmRelease whose chart did not render and
/// whose manifest holds it. `None` when neither (a render that fails as a whole is the
/// walk's to report).
async fn chart_release(
    opts: &HistoryOptions,
    render_opts: &RenderOptions,
    cluster: &ClusterClient,
    discovery: &Discovery,
    filter: &ResourceFilter,
) -> Option<ChartRelease> {
    let rendered = {
        let repo_dir = opts.target.repo.clone();
        let rev = opts.target.rev.clone();
        let render_opts = render_opts.clone();
        tokio::task::spawn_blocking(move || {
            let repo = EnvRepo::open(&repo_dir).ok()?;
            let tip = repo.resolve(&rev).ok()?;
            render(&repo, tip, &render_opts).ok()
        })
        .await
        .ok()??
    };
    let matching: Vec<&k8s_model::Manifest> = rendered
        .manifests
        .iter()
        .filter(|m| filter.matches(&m.id))
        .collect();
    if !matching.is_empty() {
        let owner = matching
            .iter()
            .find_map(|m| m.owner.as_ref().filter(|o| o.id.kind == "HelmRelease"))?;
        let (revision, _) = live_release(cluster, discovery, &owner.id).await?;
        return Some(ChartRelease {
            revision,
            values_of: None,
            render_error: None,
        });
    }
    let failed = failed_releases(&rendered);
    if failed.is_empty() {
        return None;
    }
    let released = released_object(
        cluster,
        discovery,
        &failed,
        filter,
        &render_opts.default_namespace,
    )
    .await?;
    Some(ChartRelease {
        revision: released.revision,
        values_of: Some(ReleaseValues::of(&released.helm_release)),
        render_error: Some(released.render_error),
    })
}

/// The newest first-parent commit from `tip` that changed the release's values
/// ([`ReleaseValues::changed_by`]), as `history` lists them for an object read from its
/// deployed release; `None` when no commit of the environment's history did.
pub(crate) fn last_values_change(
    repo: &EnvRepo,
    tip: ObjectId,
    opts: &RenderOptions,
    values: &ReleaseValues,
) -> Result<Option<CommitInfo>, HistoryOpsError> {
    let mut walk = ChangeWalk::new(repo, tip, opts, true)?;
    let mut found = None;
    while let Some(commit) = walk.next_commit() {
        let commit = commit?;
        let step = walk.changes_at(commit)?;
        if step.changes.iter().any(|c| values.changed_by(c)) {
            found = Some(walk.commit_info(commit)?);
            break;
        }
    }
    walk.finish()?;
    Ok(found)
}

/// The cluster and its discovery, unless offline. An unreachable cluster or a failed
/// discovery is a warning (history is git data): then neither.
async fn connect_live(
    opts: &HistoryOptions,
    warnings: &mut Vec<String>,
) -> (Option<ClusterClient>, Option<Arc<Discovery>>) {
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
    (cluster, discovery)
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
    /// When RESOURCE is read from its deployed Helm release: the release's values, whose
    /// commits are listed too.
    values_of: Option<ReleaseValues>,
}

/// The git part of a history, off the async runtime.
struct Walked {
    repo: EnvRepo,
    history: History,
    /// The environment at `--rev` (for the live mark).
    head_objects: Objects,
    rules: Vec<IgnoreRule>,
}

impl Walked {
    /// Reads the live objects of every resource the history names and marks the commit the
    /// live state matches; a failed read is a warning.
    async fn mark_live_state(
        &mut self,
        cluster: &ClusterClient,
        discovery: &Discovery,
        filter: Option<&ResourceFilter>,
        warnings: &mut Vec<String>,
    ) {
        let history = &mut self.history;
        let mut wanted: HashMap<ResourceId, String> = self
            .head_objects
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
                    mark_live(history, &self.head_objects, &live, &self.rules, filter);
            }
            Err(error) => warnings.push(format!("live state not shown: {error}")),
        }
    }
}

/// The git part of a history, on a blocking thread: the commits from `rev` with their changes,
/// and the environment at `rev` when the live mark needs it.
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
        values_of,
        objects: need_objects,
        head: need_head,
        exiting,
        stream,
    } = needs;
    let repo = EnvRepo::open(repo_dir)?;
    let tip = repo.resolve(rev)?;
    let revision = repo.commit_info(tip)?;
    let head = repo.resolve("HEAD").ok();
    let git_dir = repo.git_dir();
    let mut source = ChangeSource::new(&git_dir, opts, use_cache, need_objects);
    let ids = Arc::new(source.known_ids());
    let mut walk = ChangeWalk::with_known(&repo, tip, opts, use_cache, ids)?;
    if !need_objects {
        walk = walk.without_objects();
    }
    let mut listing = Listing {
        filter,
        values_of,
        limit,
        head,
        stream,
        commits: Vec::new(),
        streamed: 0,
    };
    while let Some(commit) = walk.next_commit() {
        let commit = commit?;
        let (info, step) = source.changes(&mut walk, commit)?;
        if listing.is_full() {
            break;
        }
        listing.add(info, step);
    }
    source.store(exiting, depends_on_git_only(opts));
    let full_renders = walk.full_renders();
    let (light_files, resyncs) = (walk.light_files(), walk.resyncs());
    // Which files at `--rev` do not render: the walk rendered the environment there when it
    // computed the first commit's changes (the live mark renders `--rev` in full below).
    let walked_tip_errors = walk.take_tip_errors();
    let walk_stats = walk.finish()?;
    let (head_objects, rules, errors) = head_state(
        &repo,
        tip,
        opts,
        need_head,
        use_cache.then_some(&git_dir),
        walked_tip_errors,
    );
    let commits = listing.commits;
    tracing::info!(
        commits = commits.len(),
        commits_walked = walk_stats.commits_walked,
        commits_from_graph = walk_stats.commits_from_graph,
        cache_hits = walk_stats.cache_hits,
        cached_commits = walk_stats.cached_commits,
        cache_written = walk_stats.cache_written,
        parses = opts.cache.parse_count(),
        builds = opts.cache.build_count(),
        helm_runs = opts.cache.helm_run_count(),
        full_renders,
        light_files,
        resyncs,
        changes_cached = source.changes_cached,
        changes_computed = source.changes_computed,
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
            helm_release: None,
            from_deployed_release: None,
            stats: HistoryStats {
                walk: walk_stats,
                parses: opts.cache.parse_count(),
                full_renders,
                builds: opts.cache.build_count(),
                helm_runs: opts.cache.helm_run_count(),
            },
        },
        repo,
        head_objects,
        rules,
    })
}

/// Where a history walk takes each commit's changes from: the changes cache when no objects
/// are needed, else computed by the walk (and appended to the cache).
struct ChangeSource {
    /// The changes of a commit under the same path and settings never change: kept across
    /// runs, used when no objects are needed (no -p, no live mark).
    cache: Option<ChangesCache>,
    known: Option<CachedCommits>,
    need_objects: bool,
    /// The cache lines of the commits computed here, written as each one is computed (the
    /// walk's other threads are still reading then), stored in one write at the end.
    computed: Vec<u8>,
    changes_computed: usize,
    changes_cached: usize,
}

impl ChangeSource {
    /// Reads the changes cache (`use_cache`) unless objects are needed.
    fn new(
        git_dir: &std::path::Path,
        opts: &RenderOptions,
        use_cache: bool,
        need_objects: bool,
    ) -> ChangeSource {
        let cache = use_cache.then(|| ChangesCache::new(git_dir, opts));
        let known = match (&cache, need_objects) {
            (Some(cache), false) => Some(cache.read(opts)),
            _ => None,
        };
        ChangeSource {
            cache,
            known,
            need_objects,
            computed: Vec::new(),
            changes_computed: 0,
            changes_cached: 0,
        }
    }

    /// The commits whose changes the cache holds: the walk does not read their files ahead.
    fn known_ids(&self) -> HashSet<ObjectId> {
        self.known.iter().flat_map(|k| k.keys().copied()).collect()
    }

    /// The metadata and changes of `commit`, the walk's last commit.
    fn changes(
        &mut self,
        walk: &mut ChangeWalk,
        commit: ObjectId,
    ) -> Result<(CommitInfo, CommitChanges), HistoryOpsError> {
        // Taken out, not cloned: a commit comes once on a first-parent walk.
        if let Some(cached) = self.known.as_mut().and_then(|k| k.remove(&commit)) {
            self.changes_cached += 1;
            let step = CommitChanges {
                commit,
                parent: None,
                changes: cached.changes,
            };
            return Ok((cached.info, step));
        }
        let mut step = walk.changes_at(commit)?;
        if !self.need_objects {
            // Nothing shows the objects: dropped now, not cloned into the cache rows and
            // kept for every commit until the output is written.
            for change in &mut step.changes {
                change.before = None;
                change.after = None;
            }
        }
        let info = walk.commit_info(commit)?;
        self.changes_computed += 1;
        if self.cache.is_some() {
            ChangesCache::line(commit, &info, &step.changes, &mut self.computed);
        }
        Ok((info, step))
    }

    /// Appends the computed commits to the cache (when they are git's alone:
    /// [`depends_on_git_only`]), and lets go of the cache's contents.
    fn store(&mut self, exiting: bool, keep: bool) {
        if let Some(cache) = &self.cache
            && keep
        {
            cache.write(&self.computed);
        }
        discard(
            (std::mem::take(&mut self.computed), self.known.take()),
            exiting,
        );
    }
}

/// The commits a history lists, as the walk yields them.
struct Listing<'a> {
    /// RESOURCE, when given.
    filter: Option<&'a ResourceFilter>,
    /// RESOURCE's release values, when RESOURCE is read from its deployed release: the
    /// commits that changed them are listed too.
    values_of: Option<ReleaseValues>,
    limit: Option<usize>,
    /// The repo's HEAD.
    head: Option<ObjectId>,
    stream: Option<std::sync::mpsc::Sender<HistoryCommit>>,
    commits: Vec<HistoryCommit>,
    streamed: usize,
}

impl Listing<'_> {
    /// Whether `--limit` commits are listed.
    fn is_full(&self) -> bool {
        self.limit
            .is_some_and(|l| self.commits.len() + self.streamed >= l)
    }

    /// Lists a commit: streamed, or kept for the report.
    fn add(&mut self, info: CommitInfo, mut step: CommitChanges) {
        if let Some(filter) = self.filter {
            let values_of = self.values_of.as_ref();
            step.changes
                .retain(|c| filter.matches(&c.id) || values_of.is_some_and(|v| v.changed_by(c)));
            // A resource's history lists the commits that changed it; the environment's lists
            // every commit that changed its inputs, with no resource changes shown as such.
            if step.changes.is_empty() {
                return;
            }
        }
        let entry = HistoryCommit {
            commit: info,
            parent: step.parent.map(|p| p.to_string()),
            head: self.head == Some(step.commit),
            matches_live: false,
            changes: step.changes,
        };
        match &self.stream {
            Some(stream) => {
                self.streamed += 1;
                // A closed receiver: nobody reads on; the cache is still written below.
                let _ = stream.send(entry);
            }
            None => self.commits.push(entry),
        }
    }
}

/// The environment at `--rev`: its objects and ignore rules (for the live mark, when
/// `need_head`), and which files do not render there.
fn head_state(
    repo: &EnvRepo,
    tip: ObjectId,
    opts: &RenderOptions,
    need_head: bool,
    git_dir: Option<&std::path::Path>,
    walked_tip_errors: Option<Vec<String>>,
) -> (Objects, Vec<IgnoreRule>, Vec<String>) {
    match need_head.then(|| render(repo, tip, opts)) {
        Some(Ok(rendered)) => (
            objects(rendered.manifests),
            rendered.config.ignore_differences,
            rendered.errors.iter().map(ToString::to_string).collect(),
        ),
        Some(Err(error)) => (Objects::new(), Vec::new(), whole_render_errors(&error)),
        None => (
            Objects::new(),
            Vec::new(),
            tip_render_errors(repo, tip, opts, git_dir, walked_tip_errors),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::cache::KnownCommit;
    use super::walk::Stages;
    use super::*;
    use gitops_git::fixture::FixtureRepo;
    use std::collections::{BTreeMap, BTreeSet};

    /// A reproducible stream of numbers below `n` (a linear congruential generator): the
    /// random histories of the tests are the same on every run.
    fn seeded(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n
        }
    }

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

    /// A walk whose renders needed a Flux `substituteFrom` object the environment does not
    /// define (read live, or missing offline) writes nothing to the caches keyed by commit:
    /// the value may change with no commit. One whose renders read git alone does.
    #[test]
    fn caches_keyed_by_commit_keep_only_what_git_alone_gives() {
        let fx = FixtureRepo::new();
        let ks = |name: &str, from: &str| {
            format!(
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  path: ./apps\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  postBuild:\n    substitute:\n      V: inline\n{from}"
            )
        };
        fx.write("apps/app.yaml", &cm("app", "${V}"));
        fx.write(
            "clusters/live/ks.yaml",
            &ks(
                "live",
                "    substituteFrom:\n    - kind: ConfigMap\n      name: vars\n",
            ),
        );
        fx.write("clusters/git/ks.yaml", &ks("git", ""));
        // A kustomization in --path: the walk renders whole environments (plain files alone
        // are compared file by file, their controller objects not followed).
        for dir in ["clusters/live", "clusters/git"] {
            fx.write(
                &format!("{dir}/kustomization.yaml"),
                "resources: [ks.yaml]\n",
            );
        }
        fx.commit("first");
        fx.write("apps/app.yaml", &cm("app", "${V}-2"));
        fx.commit("second");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let tip = repo.resolve("HEAD").unwrap();
        let target = ResourceId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("default".into()),
            name: "app".into(),
        };
        for (path, live, kept) in [
            ("clusters/live", true, false),
            ("clusters/live", false, false),
            ("clusters/git", true, true),
        ] {
            let mut opts = RenderOptions::new(path, "default");
            if live {
                opts.live = Some(Arc::new(|_: &str, _: &str, _: &str| {
                    Ok(Some(serde_json::json!({"data": {"V": "live"}})))
                }));
            }
            let cache = ChangesCache::new(&repo.git_dir(), &opts);
            let _ = std::fs::remove_file(&cache.file);
            let (found, _) = last_changes(&repo, tip, &opts, [target.clone()], 10).unwrap();
            // Offline, the Kustomization needing `vars` is an error: it applies nothing.
            assert_eq!(found.contains_key(&target), live, "{path} live={live}");
            assert_eq!(
                cache.file.exists(),
                kept,
                "{path} live={live}: {}",
                cache.file.display()
            );
            assert_eq!(
                cache::tip_render_errors(&repo, tip, &opts, Some(&repo.git_dir()), None).is_empty(),
                live,
                "{path} live={live}"
            );
            let errors_dir = cache::settings_dir(&repo.git_dir(), "render-errors-v1", &opts);
            assert_eq!(errors_dir.join(tip.to_string()).exists(), kept, "{path}");
        }
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
    /// and from the text and what is known by blob where possible (no objects); both ways
    /// found the same (`rendered`).
    struct Compared {
        rendered: Vec<Vec<Row>>,
        /// Files the second walk did not parse.
        light_files: usize,
        /// Parses of the second walk, then of the first.
        parses: (usize, usize),
    }

    /// The changes of every commit of `fx`'s repo rendered (objects kept) and compared by
    /// text, the latter with the walk's work on two threads and on three: both splits give the
    /// same answer, and it equals the rendered one commit by commit.
    fn compare_light_with_rendered(fx: &FixtureRepo) -> Compared {
        let repo = &EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let row = |c: ResourceChange| (c.id.to_string(), c.change, c.api_version, c.file);
        let opts = RenderOptions::new("", "default");
        let rendered: Vec<Vec<Row>> =
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
        assert_eq!(light.len(), rendered.len(), "commits walked");
        for (i, (light, rendered)) in light.iter().zip(&rendered).enumerate() {
            assert_eq!(light, rendered, "commit {i} from HEAD");
        }
        Compared {
            rendered,
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
        let Compared {
            rendered: want,
            light_files: light,
            parses,
        } = compare_light_with_rendered(&fx);
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
        let mut rand = seeded(11);
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
        let Compared {
            rendered: want,
            light_files: light,
            parses,
        } = compare_light_with_rendered(&fx);
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
        let mut rand = seeded(7);
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
        let Compared {
            rendered: want,
            light_files: light,
            parses,
        } = compare_light_with_rendered(&fx);
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
        let Compared {
            rendered: want,
            parses,
            ..
        } = compare_light_with_rendered(&fx);
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
