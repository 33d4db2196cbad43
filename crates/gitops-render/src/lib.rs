//! Desired state: the manifests of `--path` at a commit (SPEC §3), with the environment config
//! (SPEC §8). Blocking; call it off the UI thread.
//!
//! ```no_run
//! use gitops_render::{render, RenderOptions};
//! use gitops_git::EnvRepo;
//!
//! let repo = EnvRepo::open(".")?;
//! let commit = repo.resolve("HEAD")?;
//! let opts = RenderOptions::new("envs/prod", "default"); // offline scope table, fresh cache
//! let rendered = render(&repo, commit, &opts)?;
//! for error in &rendered.errors {
//!     eprintln!("{error}"); // `file:line: message`; the command exits 2 when any
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Rules: every `*.yaml`/`*.yml`/`*.json` below the path (hidden directories and hidden files —
//! `.gitlab-ci.yml`, the config file itself — skipped; symlinks skipped), multi-document, empty
//! and `null` documents skipped, list documents (`List`, `RoleBindingList`, ... with `items`)
//! expanded, each item with its own lines; the topmost directories holding a kustomization are built with
//! `kubectl kustomize` instead; files matching an `exclude` glob are skipped (a unit is skipped
//! when its kustomization file is). Namespaced kinds get the default namespace when they set
//! none; cluster-scoped kinds lose theirs; kinds of unknown scope keep what they say. A file
//! that does not parse, a document without `apiVersion`/`kind`/`metadata.name`, and the second
//! of two documents with the same identity are [`RenderError`]s; the rest still renders (the
//! first of two duplicates is kept).
//!
//! Then the controller objects among the rendered resources are followed (`controllers.rs`):
//! a Flux `Kustomization` whose source is this repo adds what kustomize-controller would
//! apply ([`flux`]), an Argo CD `Application` of this repo what Argo CD would ([`argo`]), each
//! resource with its controller object as its [`Manifest::owner`].

pub mod argo;
pub mod charts;
pub mod config;
mod controllers;
pub mod documents;
mod fast_yaml;
pub mod flux;
pub mod helm;
pub mod helm_release;
pub mod kustomize;
pub mod light_scan;
pub mod node_diff;
pub mod scalar_diff;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use gitops_git::{EnvRepo, FileKind, ObjectId, ReadBlob, RepoError, join_path, normalize_path};
use k8s_model::kinds::builtin_scope;
use k8s_model::{Manifest, Owner, ResourceId, Source, split_api_version};

pub use config::{CONFIG_FILE, ConfigError, EnvConfig};
use documents::{Document, Format, ParseError};
use kustomize::UnitKind;

/// Scope of a kind: `Some(true)` namespaced, `Some(false)` cluster-scoped, `None` unknown.
/// Arguments are the API group (`""` for core) and the kind.
pub type ScopeLookup = Arc<dyn Fn(&str, &str) -> Option<bool> + Send + Sync>;

/// Reads one core object of the cluster for a render: a Flux Kustomization's
/// `postBuild.substituteFrom` ConfigMap or Secret that the environment does not define (SPEC
/// §11). Arguments are the kind (`ConfigMap`, `Secret`), the namespace and the name; `Ok(None)`
/// when the cluster has no such object; `Err` says why it could not be read (the request, the
/// HTTP reason) and what to do. Called from the render's threads, which are not async: the
/// implementation must block without needing the caller's thread to drive a runtime.
pub type LiveObjects = Arc<dyn Fn(&str, &str, &str) -> Result<Option<Value>, String> + Send + Sync>;

/// What to render and how.
#[derive(Clone)]
pub struct RenderOptions {
    /// `--path`: repo-relative directory of the environment (`""` for the root).
    pub path: String,
    /// Namespace for namespaced resources that set none (`-n`, else the context's, else
    /// `default`).
    pub default_namespace: String,
    /// Scope of each kind: discovery when online, [`builtin_scope`] offline.
    pub scope: ScopeLookup,
    /// Parsed blobs and kustomize builds, shared across renders (clone it to share).
    pub cache: RenderCache,
    /// kubectl for kustomize units; `None` for `$KUBECTL_PATH`, else `kubectl` on `PATH`.
    pub kubectl: Option<PathBuf>,
    /// helm for chart units; `None` for `$HELM_BINARY`, else `helm` on `PATH`.
    pub helm: Option<PathBuf>,
    /// Where pulled Helm charts are cached ([`charts`]); `None` for
    /// `$KUBECTL_GITOPS_CACHE_DIR/charts`, else the user's cache directory.
    pub chart_cache: Option<PathBuf>,
    /// The environment's inputs at a commit, already known from a render of it
    /// ([`environment_inputs_from`]): [`environment_inputs`] of that commit returns them
    /// instead of rendering the environment again to learn what its controller objects read.
    pub known_inputs: Option<Arc<(ObjectId, Vec<String>)>>,
    /// The cluster's objects, for what the environment does not define but its controllers
    /// read live ([`LiveObjects`]); `None` offline (`--offline`, `diff --from`): then such an
    /// object is an error naming it.
    pub live: Option<LiveObjects>,
}

impl RenderOptions {
    /// Options with the built-in scope table, a fresh cache and the default kubectl.
    pub fn new(path: impl Into<String>, default_namespace: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            default_namespace: default_namespace.into(),
            scope: Arc::new(builtin_scope),
            cache: RenderCache::new(),
            kubectl: None,
            helm: None,
            chart_cache: None,
            known_inputs: None,
            live: None,
        }
    }
}

impl fmt::Debug for RenderOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderOptions")
            .field("path", &self.path)
            .field("default_namespace", &self.default_namespace)
            .field("kubectl", &self.kubectl)
            .field("helm", &self.helm)
            .field("chart_cache", &self.chart_cache)
            .field("live", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

/// The desired state at a commit.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The commit rendered.
    pub commit: ObjectId,
    /// Resources, in path order (files sorted, documents in file order).
    pub manifests: Vec<Manifest>,
    /// Per-file problems; non-empty means the command's exit code is 2.
    pub errors: Vec<RenderError>,
    /// The environment config read at the commit.
    pub config: EnvConfig,
    /// Files skipped with a reason the user must see (symlinks), as `warning:` lines; they
    /// do not change the exit code.
    pub warnings: Vec<RenderError>,
    /// What the followed controller objects (Flux Kustomizations, Argo CD Applications) read,
    /// for [`environment_inputs_from`]; `None` for a partial render ([`render_file`],
    /// [`render_plain`], [`render_matching`] from its index), which follows none.
    pub controller_inputs: Option<Vec<String>>,
    /// Whether this render is a function of the commit, the options and the tools alone, so
    /// that what it gave may be kept by commit: every unit built (a failed build may be the
    /// network's doing), none read a remote kustomize base, and no object is a controller's
    /// (charts come from repositories whose index moves). `false` for partial renders.
    pub fixed: bool,
}

/// A problem with one file (or kustomize unit directory); the rest of the environment renders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RenderError {
    /// Repo-relative file, or directory for a kustomize unit.
    pub file: String,
    /// Line in the file, from 1, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Problems that stop rendering altogether.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    /// The repo could not be read (bad `--path`, corrupt objects).
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The config file is invalid; without it, excludes and ignore rules are unknown.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

type ChartMemo = (
    std::time::Instant,
    Result<charts::PulledChart, charts::ChartError>,
);
type Parsed = Arc<Result<Vec<Document>, ParseError>>;
type Built = Arc<Result<Vec<(Value, Source)>, RenderError>>;

/// Cache of parsed blobs (by blob id) and kustomize builds (by root tree id and unit), shared
/// across renders and threads. Keys are content addresses, so entries never go stale.
#[derive(Clone, Default)]
pub struct RenderCache {
    inner: Arc<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    parsed: Mutex<HashMap<(ObjectId, Format), Parsed>>,
    built: Mutex<HashMap<String, Built>>,
    /// Items of large list documents by their text ([`documents::parse_with`]).
    items: documents::ItemCache,
    parses: AtomicUsize,
    builds: AtomicUsize,
    /// `helm template` runs for HelmReleases ([`helm_release`]).
    helm_runs: AtomicUsize,
    /// `substituteFrom` objects looked for outside the environment ([`flux`]).
    outside_reads: AtomicUsize,
    /// Charts resolved for HelmReleases, with when: a history resolves each range once per
    /// repository interval instead of once per commit.
    charts: Mutex<HashMap<String, ChartMemo>>,
    /// Parse and build without keeping anything: for a single render whose parsed documents
    /// would otherwise weigh as much as the manifests made from them.
    keep_nothing: bool,
    /// Where parsed documents are kept across runs, by blob id ([`RenderCache::on_disk`]).
    disk: Option<PathBuf>,
}

/// A poisoned lock only means another render panicked mid-insert; the maps stay consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RenderCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache that keeps nothing: every blob is parsed (and every unit built) each time it is
    /// needed and dropped once rendered. For one render of a commit, to hold the parsed
    /// documents of one file at a time instead of all of them.
    pub fn uncached() -> Self {
        RenderCache {
            inner: Arc::new(CacheInner {
                keep_nothing: true,
                ..CacheInner::default()
            }),
        }
    }

    /// [`RenderCache::uncached`] in memory, with parsed documents kept across runs under
    /// `git_dir` (`kubectl-gitops/documents-v1/<blob id>.<format>.json`): a later render of
    /// the same file version (the next `status`, `blame`, `diff`) reads JSON instead of
    /// parsing YAML with serde-saphyr, several times faster. Only such files are kept
    /// ([`documents::parse_costed`]). A file the YAML fast path reads is read from git and
    /// parsed again instead: writing its JSON (7.5 MB for kube-prometheus' manifests at two
    /// commits) was a sixth of a first `diff --from` there, the run CI makes on a fresh clone
    /// (196 -> 182 ms), while reading it back saved a later render of the same versions
    /// about 50 ms (123 against 172 ms for both commits: the blobs are delta chains).
    /// Content-addressed, so never stale; a file that cannot be read or written there is
    /// parsed as without it.
    pub fn on_disk(git_dir: &std::path::Path) -> Self {
        Self::with_disk(git_dir, true)
    }

    /// [`RenderCache::new`] (kept in memory too) with [`RenderCache::on_disk`]'s documents.
    pub fn cached_on_disk(git_dir: &std::path::Path) -> Self {
        Self::with_disk(git_dir, false)
    }

    fn with_disk(git_dir: &std::path::Path, keep_nothing: bool) -> Self {
        RenderCache {
            inner: Arc::new(CacheInner {
                keep_nothing,
                disk: Some(git_dir.join("kubectl-gitops").join("documents-v1")),
                ..CacheInner::default()
            }),
        }
    }

    /// How many blobs were parsed (cache misses) since creation.
    pub fn parse_count(&self) -> usize {
        self.inner.parses.load(Ordering::Relaxed)
    }

    /// How many kustomize builds ran (cache misses) since creation.
    pub fn build_count(&self) -> usize {
        self.inner.builds.load(Ordering::Relaxed)
    }

    /// How many times `helm template` ran for a HelmRelease (cache misses) since creation.
    pub fn helm_run_count(&self) -> usize {
        self.inner.helm_runs.load(Ordering::Relaxed)
    }

    pub(crate) fn count_helm_run(&self) {
        self.inner.helm_runs.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times a render through this cache needed a Flux `substituteFrom` object that
    /// its environment does not define (read live, or missing offline) since creation. What
    /// such a render gives depends on more than git: a cache of render results keyed by
    /// commits must not keep it.
    pub fn outside_read_count(&self) -> usize {
        self.inner.outside_reads.load(Ordering::Relaxed)
    }

    pub(crate) fn count_outside_read(&self) {
        self.inner.outside_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// `resolve()` once per `key` while younger than `max_age` (a failure: at most 30 s, so
    /// a repository back online is seen).
    pub(crate) fn chart(
        &self,
        key: String,
        max_age: std::time::Duration,
        resolve: impl FnOnce() -> Result<charts::PulledChart, charts::ChartError>,
    ) -> Result<charts::PulledChart, charts::ChartError> {
        const RETRY_FAILURES: std::time::Duration = std::time::Duration::from_secs(30);
        if let Some((at, hit)) = lock(&self.inner.charts).get(&key)
            && at.elapsed()
                < if hit.is_ok() {
                    max_age
                } else {
                    max_age.min(RETRY_FAILURES)
                }
        {
            return hit.clone();
        }
        let resolved = resolve();
        lock(&self.inner.charts).insert(key, (std::time::Instant::now(), resolved.clone()));
        resolved
    }

    /// Parsed documents of a blob, parsing it on first use.
    pub(crate) fn documents(
        &self,
        repo: &dyn ReadBlob,
        blob: ObjectId,
        format: Format,
    ) -> Result<Parsed, RepoError> {
        if let Some(hit) = lock(&self.inner.parsed).get(&(blob, format)) {
            return Ok(Arc::clone(hit));
        }
        let on_disk = self.inner.disk.as_ref().map(|dir| {
            let format = match format {
                Format::Yaml => "yaml",
                Format::Json => "json",
            };
            dir.join(format!("{blob}.{format}.json"))
        });
        if let Some(parsed) = on_disk.as_deref().and_then(read_documents) {
            let parsed = Arc::new(parsed);
            if !self.inner.keep_nothing {
                lock(&self.inner.parsed).insert((blob, format), Arc::clone(&parsed));
            }
            return Ok(parsed);
        }
        // Parse outside the lock: two threads may parse one blob twice, never block each other.
        let items = (!self.inner.keep_nothing).then_some(&self.inner.items);
        let mut costed = None;
        repo.with_blob(blob, &mut |bytes| {
            costed = Some(documents::parse_costed(format, bytes, items));
        })?;
        let (parsed, slow) = costed.expect("with_blob calls back on success");
        let parsed = Arc::new(parsed);
        self.inner.parses.fetch_add(1, Ordering::Relaxed);
        // Kept only when reading it back saves time ([`documents::parse_costed`]).
        if let Some(path) = on_disk.as_ref().filter(|_| slow) {
            write_documents(path, &parsed);
        }
        if !self.inner.keep_nothing {
            lock(&self.inner.parsed).insert((blob, format), Arc::clone(&parsed));
        }
        Ok(parsed)
    }

    fn build(
        &self,
        key: String,
        run: impl FnOnce() -> Result<Vec<(Value, Source)>, RenderError>,
    ) -> Built {
        if let Some(hit) = lock(&self.inner.built).get(&key) {
            return Arc::clone(hit);
        }
        let built = Arc::new(run());
        self.inner.builds.fetch_add(1, Ordering::Relaxed);
        if !self.inner.keep_nothing {
            lock(&self.inner.built).insert(key, Arc::clone(&built));
        }
        built
    }

    /// [`RenderCache::build`], with a successful build also kept on disk when this cache has a
    /// disk directory ([`RenderCache::on_disk`]): `builds-v1/<sha256 of key>.json` beside the
    /// parsed documents, read back by a later run instead of running kustomize again. `key`
    /// must name everything the build reads, the tools included (a content address: never
    /// stale). Nothing is written when `keep` says no (a build that reads a remote base, whose
    /// content the key does not name) or when the build holds a Secret (SPEC §4: secrets never
    /// leave the process in clear).
    pub(crate) fn build_kept(
        &self,
        key: String,
        keep: impl FnOnce() -> bool,
        run: impl FnOnce() -> Result<Vec<(Value, Source)>, RenderError>,
    ) -> Built {
        let Some(file) = self.inner.disk.as_ref().and_then(|documents| {
            let dir = documents.parent()?.join("builds-v1");
            Some(dir.join(format!("{}.json", charts::sha256_hex(key.as_bytes()))))
        }) else {
            return self.build(key, run);
        };
        self.build(key, || {
            if let Some(kept) = std::fs::read(&file)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Vec<(Value, Source)>>(&bytes).ok())
            {
                return Ok(kept);
            }
            let built = run();
            if let Ok(objects) = &built
                && !objects.iter().any(|(value, _)| is_secret(value))
                && keep()
            {
                gitops_git::keep_json(&file, objects);
            }
            built
        })
    }
}

/// Whether an object is a core Secret.
fn is_secret(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("Secret")
        && value.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Parsed documents kept by [`RenderCache::on_disk`]; `None` when absent or unreadable.
fn read_documents(path: &std::path::Path) -> Option<Result<Vec<Document>, ParseError>> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Keeps parsed documents for [`read_documents`] ([`gitops_git::keep_json`]).
fn write_documents(path: &std::path::Path, parsed: &Result<Vec<Document>, ParseError>) {
    gitops_git::keep_json(path, parsed);
}

impl fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderCache")
            .field("parses", &self.parse_count())
            .field("builds", &self.build_count())
            .finish()
    }
}

/// A short hex fingerprint of the programs that render units: the kubectl (kustomize) and
/// helm [`RenderOptions`] would run, each by resolved path, size and modification time, or
/// absent. No process is started. Caches of rendered results are kept under it, so a tool
/// upgraded, installed or removed never serves results made by another.
pub fn tools_fingerprint(opts: &RenderOptions) -> String {
    use sha2::{Digest, Sha256};
    let kubectl = opts
        .kubectl
        .clone()
        .unwrap_or_else(kustomize::default_kubectl);
    let helm = opts.helm.clone().unwrap_or_else(helm::default_helm);
    let mut hasher = Sha256::new();
    for program in [kubectl, helm] {
        match resolve_program(&program).and_then(|p| Some((std::fs::metadata(&p).ok()?, p))) {
            Some((meta, path)) => {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                hasher.update(format!("{}\0{}\0{modified}\n", path.display(), meta.len()));
            }
            None => hasher.update(format!("{} absent\n", program.display())),
        }
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A program as the OS would find it: a path with a `/` as is, else the first match on `PATH`.
fn resolve_program(program: &std::path::Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Reads the config at `commit`: `.kubectl-gitops.yaml` in `path`, else at the repo root, else
/// defaults. The environment name defaults to the last segment of `path`, or the repo's name.
pub fn load_config(
    repo: &EnvRepo,
    commit: ObjectId,
    path: &str,
) -> Result<EnvConfig, RenderFailure> {
    let path = normalize_path(path);
    let default_env = match path.rsplit('/').next() {
        Some(last) if !last.is_empty() => last.to_owned(),
        _ => repo.name(),
    };
    let mut candidates = vec![join_path(&path, CONFIG_FILE)];
    if !path.is_empty() {
        candidates.push(CONFIG_FILE.to_owned());
    }
    for candidate in candidates {
        if let Some(blob) = repo.file_blob(commit, &candidate)? {
            let bytes = repo.read_blob(blob)?;
            return Ok(EnvConfig::parse(&bytes, &candidate, &default_env)?);
        }
    }
    Ok(EnvConfig::defaults(default_env))
}

/// One thing to render, in path order.
enum Work<'a> {
    File(&'a gitops_git::TreeFile, Format),
    Unit(kustomize::Unit),
}

/// What [`render`] reads at a commit: the config and the files it renders, in path order.
struct Plan {
    config: EnvConfig,
    candidates: Vec<gitops_git::TreeFile>,
    units: Vec<kustomize::Unit>,
    /// Symlinks that would be candidates: never followed, each warned about.
    symlinks: Vec<gitops_git::TreeFile>,
}

fn plan(repo: &EnvRepo, commit: ObjectId, opts: &RenderOptions) -> Result<Plan, RenderFailure> {
    let path = normalize_path(&opts.path);
    let files = repo.tree_entries(commit, &path)?;
    let config = load_config(repo, commit, &path)?;
    let relative = |file: &str| -> String {
        if path.is_empty() {
            file.to_owned()
        } else {
            file.strip_prefix(&format!("{path}/"))
                .unwrap_or(file)
                .to_owned()
        }
    };
    let is_hidden_file = |file: &str| file.rsplit('/').next().is_some_and(|n| n.starts_with('.'));
    let (symlinks, candidates): (Vec<_>, Vec<_>) = files
        .iter()
        .filter(|f| !is_hidden_file(&f.path) && !config.is_excluded(&relative(&f.path)))
        .cloned()
        .partition(|f| f.kind == FileKind::Symlink);
    let units = kustomize::find_units(&candidates);
    Ok(Plan {
        config,
        candidates,
        units,
        symlinks,
    })
}

/// The repo paths the environment reads at `commit`: `opts.path`, then the paths outside it
/// that its kustomize units read (bases, components, patches; [`kustomize::referenced_paths`]),
/// each once, none inside another. The environment's history is the commits that changed
/// any of them.
pub fn environment_inputs(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
) -> Result<Vec<String>, RenderFailure> {
    if let Some(known) = opts.known_inputs.as_deref()
        && known.0 == commit
    {
        return Ok(known.1.clone());
    }
    inputs_with(repo, commit, opts, None)
}

/// [`environment_inputs`] of `rendered`'s commit, taking what its controller objects read from
/// that render (a whole [`render`] of the same options) instead of rendering again.
pub fn environment_inputs_from(
    repo: &EnvRepo,
    opts: &RenderOptions,
    rendered: &Rendered,
) -> Result<Vec<String>, RenderFailure> {
    inputs_with(
        repo,
        rendered.commit,
        opts,
        rendered.controller_inputs.as_deref(),
    )
}

fn inputs_with(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    controller_inputs: Option<&[String]>,
) -> Result<Vec<String>, RenderFailure> {
    let path = normalize_path(&opts.path);
    let plan = plan(repo, commit, opts)?;
    let mut inputs = vec![path.clone()];
    let inside = |outer: &str, inner: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"))
    };
    let mut reads: Vec<String> = plan
        .units
        .iter()
        .filter(|u| u.kind == UnitKind::Kustomize)
        .flat_map(|unit| kustomize::referenced_paths(repo, commit, unit))
        .collect();
    if let Some(known) = controller_inputs {
        reads.extend(known.iter().cloned());
    } else if has_controller_objects(repo, &plan)? {
        // What the followed Kustomizations read is known once they are rendered.
        let (_, expanded) = render_expanded(repo, commit, opts)?;
        reads.extend(expanded.inputs);
    }
    for read in reads {
        if !inputs.iter().any(|i| inside(i, &read)) {
            inputs.retain(|i| !inside(&read, i));
            inputs.push(read);
        }
    }
    Ok(inputs)
}

/// Whether a file of the environment mentions Flux's kustomize or helm API group or Argo CD's:
/// only then can a render follow Kustomizations, HelmReleases or Applications (a cheap look
/// before rendering for [`environment_inputs`]). A chart's templates are among the files, so
/// an app of apps chart is seen too.
fn has_controller_objects(repo: &EnvRepo, plan: &Plan) -> Result<bool, RenderFailure> {
    let needles = [
        flux::KUSTOMIZE_GROUP.as_bytes(),
        helm_release::HELM_GROUP.as_bytes(),
        argo::ARGO_GROUP.as_bytes(),
    ];
    for file in &plan.candidates {
        if Format::of(&file.path).is_some() {
            let bytes = repo.read_blob(file.blob)?;
            if needles
                .iter()
                .any(|needle| memchr::memmem::find(&bytes, needle).is_some())
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The units (kustomizations, charts) [`render`] builds at `commit`.
pub fn units(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
) -> Result<Vec<kustomize::Unit>, RenderFailure> {
    Ok(plan(repo, commit, opts)?.units)
}

/// The plain manifest files [`render`] reads at a commit and the config it applies: what a
/// render of that commit depends on when no kustomize unit is involved.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainFiles {
    /// The environment config at the commit.
    pub config: EnvConfig,
    /// Every file rendered, by path: its blob and format.
    pub files: BTreeMap<String, (ObjectId, Format)>,
}

/// The plain files [`render`] reads at `commit`; `None` when the environment has kustomize
/// units, whose output depends on more than one file.
pub fn plain_files(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
) -> Result<Option<PlainFiles>, RenderFailure> {
    let plan = plan(repo, commit, opts)?;
    if !plan.units.is_empty() {
        return Ok(None);
    }
    let files = plan
        .candidates
        .iter()
        .filter_map(|f| Format::of(&f.path).map(|format| (f.path.clone(), (f.blob, format))))
        .collect();
    Ok(Some(PlainFiles {
        config: plan.config,
        files,
    }))
}

/// Renders only the files of `plain` (from [`plain_files`] of `commit`) whose paths are in
/// `paths`, in path order, exactly as [`render`] renders them when nothing else defines the
/// same resources. Lets a walk over commits re-render only the files a commit changed.
pub fn render_plain(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    plain: &PlainFiles,
    paths: &BTreeSet<String>,
) -> Result<Rendered, RenderFailure> {
    render_plain_with(repo, commit, opts, plain, paths)
}

/// [`render_plain`] reading blobs through `reader`, e.g. one [`gitops_git::LocalRepo`] for a
/// whole walk instead of a fresh repository per blob.
pub fn render_plain_with(
    reader: &dyn ReadBlob,
    commit: ObjectId,
    opts: &RenderOptions,
    plain: &PlainFiles,
    paths: &BTreeSet<String>,
) -> Result<Rendered, RenderFailure> {
    let repo = reader;
    let mut out = Collector::new(opts);
    for path in paths {
        if let Some((blob, format)) = plain.files.get(path) {
            add_file(&mut out, repo, opts, path, *blob, *format)?;
        }
    }
    Ok(Rendered {
        commit,
        manifests: out.manifests,
        errors: out.errors,
        config: plain.config.clone(),
        // Symlinks are never among the plain files.
        warnings: Vec::new(),
        controller_inputs: None,
        fixed: false,
    })
}

/// Puts the namespace a kind of `scope` gives into an object's `metadata` (as
/// [`namespace_of`] decides it from what is written there) and returns it.
fn place_namespace(
    metadata: &mut serde_json::Map<String, Value>,
    scope: Option<bool>,
    default: &str,
) -> Option<String> {
    let written = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let namespace = namespace_of(scope, written, default);
    match (scope, &namespace) {
        (Some(true), Some(ns)) => {
            // Right after `name`, where people write it, so the object reads naturally.
            let at = metadata
                .keys()
                .position(|k| k == "name")
                .map_or(metadata.len(), |i| i + 1);
            if metadata.contains_key("namespace") {
                metadata.insert("namespace".to_owned(), Value::from(ns.clone()));
            } else {
                metadata.shift_insert(at, "namespace".to_owned(), Value::from(ns.clone()));
            }
        }
        (Some(false), _) => {
            metadata.shift_remove("namespace");
        }
        _ => {}
    }
    namespace
}

impl Rendered {
    /// Gives the manifests the scopes of `scope` where the render had none (`before` answered
    /// `None` for their kind): discovery is asked only for the groups a render declares, so a
    /// render first runs on the built-in table and is settled here once those groups are read.
    /// Equal to rendering with `scope` (a test checks it), except that a kind `before` did
    /// give a scope is not revisited: returns false, then render again with `scope`, when a
    /// kind's scope differs from `before`'s or two manifests come to share an identity (the
    /// render names that duplicate).
    pub fn settle_scopes(
        &mut self,
        before: &ScopeLookup,
        scope: &ScopeLookup,
        default_namespace: &str,
    ) -> bool {
        let mut changed = false;
        for manifest in &mut self.manifests {
            let (group, kind) = (&manifest.id.group, &manifest.id.kind);
            let now = scope(group, kind);
            match before(group, kind) {
                Some(was) if now == Some(was) => continue,
                Some(_) => return false,
                None if now.is_none() => continue,
                None => {}
            }
            let Some(metadata) = manifest
                .object
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
            else {
                return false;
            };
            manifest.id.namespace = place_namespace(metadata, now, default_namespace);
            changed = true;
        }
        if changed {
            let mut seen = std::collections::HashSet::with_capacity(self.manifests.len());
            if !self.manifests.iter().all(|m| seen.insert(&m.id)) {
                return false;
            }
        }
        true
    }
}

/// The namespace of a resource whose kind has `scope` (namespaced: `Some(true)`) and whose
/// manifest says `written`: a namespaced kind's, or `default` when none is written; none for a
/// cluster-scoped kind; what is written for a kind of unknown scope.
fn namespace_of(scope: Option<bool>, written: Option<String>, default: &str) -> Option<String> {
    match scope {
        Some(true) => Some(written.unwrap_or_else(|| default.to_owned())),
        Some(false) => None,
        None => written,
    }
}

/// The resources of one plain YAML file (their identity, apiVersion and content lines) as
/// [`render_bytes`] would give them, read by [`light_scan::scan`] without parsing; `None` when
/// the scan cannot prove it (then render the file).
pub fn scan_identities(
    bytes: &[u8],
    opts: &RenderOptions,
) -> Option<Vec<(ResourceId, String, usize, usize)>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for doc in light_scan::scan(bytes)? {
        let (group, _) = split_api_version(&doc.api_version);
        let scope = (opts.scope)(group, &doc.kind);
        let namespace = namespace_of(scope, doc.namespace, &opts.default_namespace);
        let id = ResourceId {
            group: group.to_owned(),
            kind: doc.kind,
            namespace,
            name: doc.name,
        };
        // A duplicate is an error the render reports.
        if !seen.insert(id.clone()) {
            return None;
        }
        out.push((id, doc.api_version, doc.line, doc.end_line));
    }
    Some(out)
}

/// Adds the documents of one plain file to `out`.
fn add_file(
    out: &mut Collector<'_>,
    repo: &dyn ReadBlob,
    opts: &RenderOptions,
    path: &str,
    blob: ObjectId,
    format: Format,
) -> Result<(), RenderFailure> {
    let parsed = opts.cache.documents(repo, blob, format)?;
    // A parse the cache does not keep is this file's alone: its values are moved, not copied
    // (a copy of kube-prometheus' CRDs was a twentieth of a cold `diff --from`).
    match Arc::try_unwrap(parsed) {
        Ok(parsed) => add_parsed(out, path, parsed),
        Err(kept) => add_parsed(out, path, kept.as_ref().clone()),
    }
    Ok(())
}

/// Manifests from one plain file's content, made exactly as [`render`] makes them from a repo
/// file (documents, `kind: List` expansion, identity, duplicates); for fuzzing and for tools
/// holding a file without its repo. The format comes from `path`'s extension (YAML otherwise).
pub fn render_bytes(
    path: &str,
    bytes: &[u8],
    opts: &RenderOptions,
) -> (Vec<Manifest>, Vec<RenderError>) {
    let mut out = Collector::new(opts);
    let format = Format::of(path).unwrap_or(Format::Yaml);
    add_parsed(&mut out, path, documents::parse(format, bytes));
    (out.manifests, out.errors)
}

/// Adds the parsed documents of the file at `path` to `out`, or its parse error.
fn add_parsed(out: &mut Collector<'_>, path: &str, parsed: Result<Vec<Document>, ParseError>) {
    match parsed {
        Ok(docs) => {
            for doc in docs {
                let source = Source {
                    file: path.to_owned(),
                    document: doc.index,
                    line: doc.line,
                    end_line: doc.end_line,
                };
                out.add_document(doc.value, source, &doc.item_lines);
            }
        }
        Err(e) => out.errors.push(RenderError {
            file: path.to_owned(),
            line: e.line,
            message: format!("does not parse: {}", e.message),
        }),
    }
}

/// Renders `opts.path` at `commit`. See the module docs for the rules.
pub fn render(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
) -> Result<Rendered, RenderFailure> {
    Ok(render_expanded(repo, commit, opts)?.0)
}

/// [`render`], with what its controller objects read.
fn render_expanded(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
) -> Result<(Rendered, controllers::Expanded), RenderFailure> {
    let Plan {
        config,
        candidates,
        units,
        symlinks,
    } = plan(repo, commit, opts)?;
    // Inside a kustomize unit, kustomize's load restrictor decides about links.
    let mut warnings = symlinks
        .iter()
        .filter(|link| !units.iter().any(|u| u.contains(&link.path)))
        .map(|link| skipped_symlink(repo, link, &symlinks))
        .collect::<Result<Vec<_>, _>>()?;
    warnings.extend(unrendered_jsonnet(&candidates, &units));

    let mut work: Vec<(String, Work<'_>)> = Vec::new();
    for unit in units.iter().cloned() {
        work.push((unit.kustomization.clone(), Work::Unit(unit)));
    }
    for file in &candidates {
        if units.iter().any(|u| u.contains(&file.path)) {
            continue;
        }
        if let Some(format) = Format::of(&file.path) {
            work.push((file.path.clone(), Work::File(file, format)));
        }
    }
    work.sort_by(|a, b| a.0.cmp(&b.0));
    render_work(repo, commit, opts, config, work, warnings, true)
}

/// Renders only what defines `file` (repo-relative, as in [`Source::file`]) at `commit`: the
/// kustomize unit that holds it, else that plain file, exactly as [`render`] renders it. For
/// one resource's detail without rendering the environment; duplicates with other files are
/// not looked for.
pub fn render_file(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    file: &str,
) -> Result<Rendered, RenderFailure> {
    // Symlinks are the environment's warnings; one file's render has none to give.
    let Plan {
        config,
        candidates,
        units,
        symlinks: _,
    } = plan(repo, commit, opts)?;
    let unit = units
        .iter()
        .find(|u| u.dir == file || u.kustomization == file || u.contains(file));
    let mut work: Vec<(String, Work<'_>)> = Vec::new();
    match unit {
        Some(unit) => work.push((unit.kustomization.clone(), Work::Unit(unit.clone()))),
        None => {
            if let Some(candidate) = candidates.iter().find(|f| f.path == file)
                && let Some(format) = Format::of(&candidate.path)
            {
                work.push((candidate.path.clone(), Work::File(candidate, format)));
            }
        }
    }
    // One file's render follows no controller object: what they apply is other files'.
    Ok(render_work(repo, commit, opts, config, work, Vec::new(), false)?.0)
}

/// Where [`render_matching`] keeps a commit's index, and the version of the program writing it
/// (another version may render differently: its index is not read).
#[derive(Debug, Clone, Copy)]
pub struct RenderIndexFile<'a> {
    /// The file.
    pub path: &'a std::path::Path,
    /// The program's version and build, e.g. `0.1.0 (git 825af29)`.
    pub version: &'a str,
}

/// Where each resource of a commit's render comes from, and the render's problems: what a
/// render of one resource needs to know of the others ([`render_matching`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct RenderIndex {
    /// The version of this program that rendered: another may render differently.
    version: String,
    /// Each manifest's identity and file, in render order.
    resources: Vec<(ResourceId, String)>,
    errors: Vec<RenderError>,
    warnings: Vec<RenderError>,
    /// Whether controller objects (Flux Kustomizations) rendered some resources: a file's
    /// render alone does not give what they make of it, so the index is not used.
    #[serde(default)]
    controlled: bool,
}

/// [`render`] of `commit`, keeping only the manifests `wanted` (errors and warnings are the
/// whole environment's). A commit's render never changes: with `index` (a file path), the
/// identity and file of every resource are kept there after a first whole render, and later
/// calls render only the files (or kustomize units) that hold the wanted resources
/// ([`render_file`]). The index is keyed by the caller: it must name the commit and every
/// setting of `opts`, including the scope table (built-in, not a cluster's discovery).
pub fn render_matching(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    index: Option<RenderIndexFile<'_>>,
    wanted: impl Fn(&ResourceId) -> bool,
) -> Result<Rendered, RenderFailure> {
    let version = index.map_or("", |index| index.version);
    let index = index.map(|index| index.path);
    let kept = index
        .and_then(|file| std::fs::read(file).ok())
        .and_then(|bytes| serde_json::from_slice::<RenderIndex>(&bytes).ok())
        .filter(|kept| kept.version == version && !kept.controlled);
    if let Some(kept) = kept {
        let wanted_ids: Vec<&(ResourceId, String)> =
            kept.resources.iter().filter(|(id, _)| wanted(id)).collect();
        let mut files: Vec<&str> = wanted_ids.iter().map(|(_, file)| file.as_str()).collect();
        files.dedup();
        let mut manifests = Vec::new();
        let mut config = None;
        for file in files {
            let rendered = render_file(repo, commit, opts, file)?;
            manifests.extend(rendered.manifests.into_iter().filter(|m| wanted(&m.id)));
            config.get_or_insert(rendered.config);
        }
        // What the files give now is what the index says they gave (else render it all).
        let found: Vec<(&ResourceId, &str)> = manifests
            .iter()
            .map(|m| (&m.id, m.source.file.as_str()))
            .collect();
        let indexed: Vec<(&ResourceId, &str)> = wanted_ids
            .iter()
            .map(|(id, file)| (id, file.as_str()))
            .collect();
        if found == indexed {
            let config = match config {
                Some(config) => config,
                None => plan(repo, commit, opts)?.config,
            };
            return Ok(Rendered {
                commit,
                manifests,
                errors: kept.errors,
                config,
                warnings: kept.warnings,
                controller_inputs: None,
                fixed: false,
            });
        }
        tracing::debug!("render index disagrees with the files it names; rendering everything");
    }
    let mut rendered = render(repo, commit, opts)?;
    if let Some(file) = index {
        let kept = RenderIndex {
            version: version.to_owned(),
            resources: rendered
                .manifests
                .iter()
                .map(|m| (m.id.clone(), m.source.file.clone()))
                .collect(),
            errors: rendered.errors.clone(),
            warnings: rendered.warnings.clone(),
            controlled: rendered.manifests.iter().any(|m| m.owner.is_some()),
        };
        gitops_git::keep_json(file, &kept);
    }
    rendered.manifests.retain(|m| wanted(&m.id));
    Ok(rendered)
}

/// Renders planned work items in order; `warnings` are the plan's (symlinks skipped).
fn render_work(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    config: EnvConfig,
    work: Vec<(String, Work<'_>)>,
    mut warnings: Vec<RenderError>,
    controllers: bool,
) -> Result<(Rendered, controllers::Expanded), RenderFailure> {
    let mut out = Collector::new(opts);
    let mut workspace: Option<kustomize::Workspace> = None;
    let root_tree = repo.subtree_id(commit, "")?;
    let mut tools: Option<String> = None;
    let mut fixed = true;
    // One repository for the plain files' blobs: its pack cache keeps the delta bases they
    // share (a fresh one per blob re-inflated each chain: kube-prometheus' manifests 20
    // commits back, cold `diff --from` 168 -> 158 ms).
    let reader = repo.reader();
    for (_, item) in work {
        match item {
            Work::File(file, format) => {
                add_file(&mut out, &reader, opts, &file.path, file.blob, format)?;
            }
            Work::Unit(unit) => {
                // Content-addressed by what the build reads (else by the whole tree); a
                // chart's output also depends on the namespace it is rendered for.
                let inputs = kustomize::input_address(repo, commit, &unit)
                    .unwrap_or_else(|| format!("tree {}", root_tree.unwrap_or(commit)));
                // The tools too: a build is kept across runs ([`RenderCache::build_kept`]).
                let tools = tools.get_or_insert_with(|| tools_fingerprint(opts));
                let key = match unit.kind {
                    UnitKind::Kustomize => {
                        format!("kustomize {}\ntools {tools}\n{inputs}", unit.dir)
                    }
                    UnitKind::Helm => {
                        format!(
                            "helm {} {}\ntools {tools}\n{inputs}",
                            unit.dir, opts.default_namespace
                        )
                    }
                };
                let remote = || {
                    unit.kind == UnitKind::Kustomize && kustomize::reads_remote(repo, commit, &unit)
                };
                if controllers && fixed && remote() {
                    fixed = false;
                }
                let keep = || !remote();
                let built = opts.cache.build_kept(key, keep, || {
                    let unit_error = |message| RenderError {
                        file: unit.dir.clone(),
                        line: None,
                        message,
                    };
                    let workspace = match &workspace {
                        Some(ws) => ws,
                        None => {
                            workspace.insert(kustomize::Workspace::new(commit).map_err(unit_error)?)
                        }
                    };
                    workspace.prepare(repo, &unit).map_err(unit_error)?;
                    match unit.kind {
                        UnitKind::Kustomize => {
                            let kubectl = opts
                                .kubectl
                                .clone()
                                .unwrap_or_else(kustomize::default_kubectl);
                            kustomize::build(repo, commit, &unit, workspace, &kubectl, &opts.cache)
                        }
                        UnitKind::Helm => helm::build(
                            &unit,
                            workspace,
                            &opts.helm.clone().unwrap_or_else(helm::default_helm),
                            &opts.default_namespace,
                        ),
                    }
                });
                match built.as_ref() {
                    Ok(objects) => {
                        for (value, source) in objects {
                            out.add_object(value.clone(), source.clone(), None);
                        }
                    }
                    Err(e) => {
                        fixed = false;
                        out.errors.push(e.clone());
                    }
                }
            }
        }
    }
    let expanded = if controllers {
        controllers::expand(repo, commit, opts, &mut out)
    } else {
        controllers::Expanded::default()
    };
    warnings.extend(expanded.warnings.iter().cloned());
    let unowned = out.manifests.iter().all(|m| m.owner.is_none());
    let rendered = Rendered {
        commit,
        manifests: out.manifests,
        errors: out.errors,
        config,
        warnings,
        controller_inputs: controllers.then(|| expanded.inputs.clone()),
        fixed: fixed && controllers && unowned,
    };
    Ok((rendered, expanded))
}

/// One warning per directory holding `*.jsonnet` files that no unit renders (SPEC §3): they
/// are not rendered, and an environment that is only jsonnet must not look empty.
fn unrendered_jsonnet(
    candidates: &[gitops_git::TreeFile],
    units: &[kustomize::Unit],
) -> Vec<RenderError> {
    let mut dirs: BTreeMap<&str, usize> = BTreeMap::new();
    for file in candidates {
        if file.path.ends_with(".jsonnet") && !units.iter().any(|u| u.contains(&file.path)) {
            let dir = file.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            *dirs.entry(dir).or_default() += 1;
        }
    }
    dirs.into_iter()
        .map(|(dir, count)| RenderError {
            file: if dir.is_empty() {
                ".".to_owned()
            } else {
                dir.to_owned()
            },
            line: None,
            message: format!(
                "{count} jsonnet file{} not rendered: kubectl gitops reads YAML and JSON \
                 manifests, kustomizations and Helm charts; commit the jsonnet's output \
                 (`jsonnet -m`), or exclude the directory in .kubectl-gitops.yaml",
                if count == 1 { " is" } else { "s are" }
            ),
        })
        .collect()
}

/// The warning for a symlink of the environment. Git stores a link as its target path; it is
/// never followed (SPEC: paths never escape the repo; a link inside it would render its target
/// twice), and the warning says where it points: out of the repo, in a loop, or inside it.
fn skipped_symlink(
    repo: &EnvRepo,
    link: &gitops_git::TreeFile,
    links: &[gitops_git::TreeFile],
) -> Result<RenderError, RenderFailure> {
    let mut chain = vec![link.path.clone()];
    let mut current = link.clone();
    let why = loop {
        let target = String::from_utf8_lossy(&repo.read_blob(current.blob)?).into_owned();
        let Some(resolved) = resolve_link(&current.path, &target) else {
            break format!("it points out of the repo, to {target}");
        };
        if resolved.is_empty() || current.path.starts_with(&format!("{resolved}/")) {
            break format!("it is a symlink loop: it points to its own directory {target}");
        }
        if chain.contains(&resolved) {
            chain.push(resolved);
            break format!("it is a symlink loop: {}", chain.join(" -> "));
        }
        match links.iter().find(|l| l.path == resolved) {
            Some(next) => {
                chain.push(resolved);
                current = next.clone();
            }
            None => break format!("it points to {resolved}, inside the repo"),
        }
    };
    Ok(RenderError {
        file: link.path.clone(),
        line: None,
        message: format!(
            "symlink skipped: {why}; symlinks are never followed (paths never leave the repo): commit the file itself"
        ),
    })
}

/// The repo-relative path a link at `link` to `target` names, `None` when it leaves the repo
/// (absolute, or `..` above the root).
fn resolve_link(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

/// Accumulates manifests, checking identity and uniqueness.
struct Collector<'a> {
    opts: &'a RenderOptions,
    manifests: Vec<Manifest>,
    errors: Vec<RenderError>,
    seen: HashMap<ResourceId, Source>,
}

impl<'a> Collector<'a> {
    fn new(opts: &'a RenderOptions) -> Self {
        Self {
            opts,
            manifests: Vec::new(),
            errors: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// A document of a plain file: a list document (`List`, `RoleBindingList`, ... with
    /// `items`, as kubectl expands it) gives its items, each with its own lines when known.
    fn add_document(&mut self, value: Value, source: Source, item_lines: &[(usize, usize)]) {
        match documents::list_items(&value) {
            None => self.add_object(value, source, None),
            Some(Ok(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let mut item_source = source.clone();
                    if let Some((line, end_line)) = item_lines.get(i) {
                        item_source.line = *line;
                        item_source.end_line = *end_line;
                    }
                    self.add_object(item.clone(), item_source, Some(i));
                }
            }
            Some(Err(())) => {
                let what = format!("document {}", source.document);
                let kind = value.get("kind").and_then(Value::as_str).unwrap_or("List");
                self.error(
                    &source,
                    &what,
                    &format!("kind: {kind} has items that are not a list"),
                );
            }
        }
    }

    fn error(&mut self, source: &Source, what: &str, message: &str) {
        self.errors.push(RenderError {
            file: source.file.clone(),
            line: Some(source.line),
            message: format!("{what}: {message}"),
        });
    }

    fn add_object(&mut self, value: Value, source: Source, item: Option<usize>) {
        self.add_with_owner(value, source, item, None);
    }

    /// An object a controller object applies ([`controllers`]).
    fn add_owned(&mut self, value: Value, source: Source, owner: Owner) {
        self.add_with_owner(value, source, None, Some(owner));
    }

    /// Removes the manifests of `--path` itself (no owner) whose file is below `dir`; returns
    /// each former index's new one (`None`: removed).
    fn remove_unowned_below(&mut self, dir: &str) -> Vec<Option<usize>> {
        let below = |file: &str| {
            dir.is_empty()
                || file
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        let mut kept = Vec::with_capacity(self.manifests.len());
        let manifests = std::mem::take(&mut self.manifests);
        for manifest in manifests {
            if manifest.owner.is_none() && below(&manifest.source.file) {
                self.seen.remove(&manifest.id);
                kept.push(None);
            } else {
                kept.push(Some(self.manifests.len()));
                self.manifests.push(manifest);
            }
        }
        kept
    }

    /// The identity an object would have here; `None` when it has none (the add reports it).
    fn identity(&self, value: &Value) -> Option<ResourceId> {
        let text = |p: &str| {
            value
                .pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (group, _) = split_api_version(text("/apiVersion")?);
        let kind = text("/kind")?;
        let scope = (self.opts.scope)(group, kind);
        let written = text("/metadata/namespace").map(str::to_owned);
        Some(ResourceId {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace_of(scope, written, &self.opts.default_namespace),
            name: text("/metadata/name")?.to_owned(),
        })
    }

    fn add_with_owner(
        &mut self,
        mut value: Value,
        source: Source,
        item: Option<usize>,
        owner: Option<Owner>,
    ) {
        let what = match item {
            Some(i) => format!("document {} items[{i}]", source.document),
            None => format!("document {}", source.document),
        };
        let Some(object) = value.as_object_mut() else {
            self.error(
                &source,
                &what,
                "not a Kubernetes object (expected a mapping)",
            );
            return;
        };
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let api_version = text(object.get("apiVersion"));
        let kind = text(object.get("kind"));
        let name = text(object.get("metadata").and_then(|m| m.get("name")));
        let (Some(api_version), Some(kind), Some(name)) = (api_version, kind, name) else {
            let missing: Vec<&str> = [
                ("apiVersion", object.get("apiVersion")),
                ("kind", object.get("kind")),
                (
                    "metadata.name",
                    object.get("metadata").and_then(|m| m.get("name")),
                ),
            ]
            .into_iter()
            .filter(|(_, v)| text(*v).is_none())
            .map(|(k, _)| k)
            .collect();
            self.error(
                &source,
                &what,
                &format!(
                    "missing {} (every resource needs apiVersion, kind and metadata.name)",
                    missing.join(", ")
                ),
            );
            return;
        };
        let (group, _) = split_api_version(&api_version);
        let group = group.to_owned();
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        let scope = (self.opts.scope)(&group, &kind);
        let namespace = place_namespace(metadata, scope, &self.opts.default_namespace);
        let id = ResourceId {
            group,
            kind,
            namespace,
            name,
        };
        if let Some(first) = self.seen.get(&id) {
            let message = format!(
                "duplicate resource {id}: also defined at {}:{} (each resource must be defined once; the first is used)",
                first.file, first.line
            );
            self.error(&source, &what, &message);
            return;
        }
        self.seen.insert(id.clone(), source.clone());
        self.manifests.push(Manifest {
            id,
            api_version,
            object: value,
            source,
            owner,
        });
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod test_rng;
