//! Blame of a resource: git lines to commits, live fields to managers (SPEC §7).
//!
//! Default mode: the resource's document as written in git at `--rev`, each line with the commit
//! that last changed it ([`EnvRepo::blame_lines`]) and a drift mark from the live object. Each
//! YAML line is mapped to the field path it sets ([`line_paths`]), so it can be compared with the
//! live value and with the managedFields entry that wrote it. `--live`: the live object, each
//! line attributed to the git commit when the value is git's, else to the field manager.

use crate::Target;
use crate::ops::blame_values::{ValuesLine, values_lines};
pub use crate::ops::helm_release::HelmReleaseRevision;
use crate::ops::helm_release::{
    ReleaseValues, ReleasedObject, failed_releases, live_release, released_object,
};
use std::collections::HashMap;

use base64::Engine as _;
use serde_json::Value;

use crate::drift::merge_key::{ListKeys, item_key, key_fields, keys_equal};
use crate::drift::owners::FieldOwners;
use crate::ops::status::{ResourceFilter, StatusError, render_discovered, resolve_resource_arg};
use gitops_cluster::{ClusterClient, ClusterError};
use gitops_git::blame::BlamedLine;
use gitops_git::{EnvRepo, ObjectId, RepoError};
use gitops_render::{
    RenderCache, RenderError, RenderFailure, RenderIndexFile, RenderOptions, Rendered, render,
    render_matching,
};
use k8s_model::mask::SecretMasker;
use k8s_model::normalize::normalize;
use k8s_model::path::{FieldPath, PathSegment};
use k8s_model::quantity::{quantities_equal, values_equal};
use k8s_model::{CommitInfo, Manifest, ResourceId, Source};

/// What to blame and how (the global flags of SPEC §2 plus `blame`'s).
#[derive(Debug, Clone)]
pub struct BlameOptions {
    /// The environment: repo, path, revision, namespace, cluster, kubectl.
    pub target: Target,
    /// RESOURCE as kubectl writes it.
    pub resource: String,
    /// `--live`: blame the live object instead of the git document.
    pub live: bool,
    /// `--offline`: git only, no drift marks.
    pub offline: bool,
}

/// Errors that stop a blame.
#[derive(Debug, thiserror::Error)]
pub enum BlameError {
    /// The repo, revision or file could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The environment could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderFailure),
    /// The cluster could not be used.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// RESOURCE could not be resolved.
    #[error(transparent)]
    Resource(#[from] StatusError),
    /// RESOURCE names a type without a name.
    #[error("{arg:?} names no single resource; write TYPE/NAME, e.g. deploy/web")]
    NoName {
        /// The argument as given.
        arg: String,
    },
    /// No document of the environment at the revision declares the resource.
    #[error(
        "{arg} is not in git at {revision} (path {path:?}){}; check the name, -n, --path and --rev (`history` lists when it existed)",
        unrendered.iter().map(|e| format!("; {e}")).collect::<String>()
    )]
    NotInGit {
        /// The argument as given.
        arg: String,
        /// The commit.
        revision: String,
        /// `--path`.
        path: String,
        /// Files that did not render at the commit: the resource may be in one of them.
        unrendered: Vec<gitops_render::RenderError>,
    },
    /// Several resources match (same name in several namespaces).
    #[error("{arg} matches {count} resources in git ({namespaces}); pass -n NAMESPACE")]
    Ambiguous {
        /// The argument as given.
        arg: String,
        /// How many.
        count: usize,
        /// Their namespaces.
        namespaces: String,
    },
    /// `--live` needs the live object.
    #[error("{id} does not exist in the cluster ({context}); `--live` blames the live object")]
    NotLive {
        /// The resource.
        id: ResourceId,
        /// The kubeconfig context.
        context: String,
    },
    /// `--live` and `--offline` together.
    #[error("--live blames the live object and cannot run with --offline; drop one of them")]
    LiveOffline,
    /// The commits that changed a HelmRelease's values could not be walked.
    #[error("cannot find the commits that changed the HelmRelease's values: {0}")]
    ValuesHistory(Box<crate::ops::history::HistoryOpsError>),
    /// A blocking task panicked.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// How a line of the blamed text compares with the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LineDrift {
    /// Live holds the same value (or the line sets no value, e.g. a comment).
    Same,
    /// Live holds another value.
    Changed,
    /// Live does not have the field.
    Missing,
    /// `--live`: the field is in the live object only.
    LiveOnly,
}

impl LineDrift {
    /// The mark printed in the text output: blank, `~`, `-`, `+`.
    pub fn mark(self) -> char {
        match self {
            LineDrift::Same => ' ',
            LineDrift::Changed => '~',
            LineDrift::Missing => '-',
            LineDrift::LiveOnly => '+',
        }
    }
}

/// Who wrote a live field, from managedFields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveWriter {
    /// Field manager (`kubectl`, `kube-controller-manager`), or `server default` when no
    /// manager owns the field.
    pub manager: String,
    /// `Apply` or `Update`; `null` for a server default.
    pub operation: Option<String>,
    /// When the manager last wrote its fields; `null` for a server default.
    pub time: Option<String>,
    /// The live value, on lines whose value differs from git (Secret values masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Manager name shown for fields no manager owns (set by API server defaulting).
pub const SERVER_DEFAULT: &str = "server default";

/// One line of the blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlameLine {
    /// Line number, from 1: in the file (git mode) or in the live YAML (`--live`).
    pub line: usize,
    /// The text, Secret values masked.
    pub text: String,
    /// The commit that introduced the line (git mode), or the value (`--live`).
    pub commit: Option<CommitInfo>,
    /// The live writer of the field (changed lines, and `--live` lines not from git).
    pub live: Option<LiveWriter>,
    /// Comparison with the other side; `None` offline.
    pub drift: Option<LineDrift>,
    /// For an object a HelmRelease's chart made (git mode): the lines of the release's values
    /// in git that set this line's value ([`blame_values`](super::blame_values)).
    pub values: Vec<ValuesLine>,
}

/// The result of a blame.
#[derive(Debug, Clone)]
pub struct BlameReport {
    /// The resource.
    pub id: ResourceId,
    /// Its `apiVersion` as written in git.
    pub api_version: String,
    /// The commit blamed from.
    pub revision: CommitInfo,
    /// Where the document is in git at the revision.
    pub source: Source,
    /// Whether the lines are the live object's (`--live`).
    pub live_mode: bool,
    /// Whether the cluster was left out (`--offline`).
    pub offline: bool,
    /// Whether git mode's lines are the rendered output of a kustomize unit (numbered from 1)
    /// rather than the lines of `source.file`.
    pub rendered: bool,
    /// The lines, in order.
    pub lines: Vec<BlameLine>,
    /// For an object a HelmRelease's chart made, online: the Helm release revision deployed
    /// now, from Helm's storage in the cluster (SPEC §11).
    pub helm_release: Option<HelmReleaseRevision>,
    /// When the object's chart could not be rendered here: the HelmRelease's render error.
    /// The lines are then the object as its deployed release's manifest holds it, each
    /// blamed on the commit that changed the release's values (SPEC §11).
    pub from_deployed_release: Option<String>,
}

/// What git says about the resource at the revision.
struct GitSide {
    manifest: Manifest,
    revision: CommitInfo,
    /// The document's lines (file line numbers from `manifest.source.line`).
    text: Vec<String>,
    /// The blamed commit of each document line.
    commits: Vec<Option<CommitInfo>>,
    /// Line number of `text[0]`: in the file, or 1 in the rendered output.
    first_line: usize,
    /// Whether `text` is the rendered object (kustomize) rather than the file's lines.
    rendered: bool,
    /// Per line of `text`, the HelmRelease values lines that set it (chart-made objects).
    values: Vec<Vec<ValuesLine>>,
    /// Files of the environment that failed to render at the revision (SPEC §3: reported,
    /// the rest still evaluated, exit 2).
    unrendered: Vec<RenderError>,
    /// When the object was read from its deployed Helm release: the release and the
    /// HelmRelease's render error.
    released: Option<(HelmReleaseRevision, String)>,
}

/// Blames `opts.resource` (SPEC §7).
pub async fn blame(opts: &BlameOptions) -> Result<BlameReport, BlameError> {
    blame_reporting_render_errors(opts)
        .await
        .map(|(report, _)| report)
}

/// Blames `opts.resource` (SPEC §7), with the environment's render errors at the revision:
/// files other than the resource's that failed to render, which the command must report and
/// exit 2 for (SPEC §3) while still printing the blame.
pub async fn blame_reporting_render_errors(
    opts: &BlameOptions,
) -> Result<(BlameReport, Vec<RenderError>), BlameError> {
    if opts.live && opts.offline {
        return Err(BlameError::LiveOffline);
    }
    let cluster = if opts.offline {
        None
    } else {
        Some(
            ClusterClient::connect(
                opts.target.kubeconfig.as_deref(),
                opts.target.context.as_deref(),
            )
            .await?,
        )
    };
    // Offline, the kubeconfig's context still names the namespace (no request made).
    let mut render_opts = opts.target.render_options(cluster.as_ref()).await;
    let default_namespace = render_opts.default_namespace.clone();
    let repo = {
        let dir = opts.target.repo.clone();
        tokio::task::spawn_blocking(move || EnvRepo::open(&dir))
            .await
            .map_err(BlameError::Task)??
    };
    let commit = repo.resolve(&opts.target.rev)?;
    render_opts.cache = RenderCache::cached_on_disk(&repo.git_dir());
    // Online, discovery of the rendered kinds' groups only (SPEC §5) gives their scopes.
    let (rendered, filter, cluster) = match cluster {
        Some(cluster) => {
            // A cluster that cannot be used is said as such (the CLI offers --offline).
            let cluster_first = |error: StatusError| match error {
                StatusError::Cluster(error) => BlameError::Cluster(error),
                other => BlameError::Resource(other),
            };
            let (rendered, mut filters, discovery) = render_discovered(
                &cluster,
                &repo,
                commit,
                &mut render_opts,
                std::slice::from_ref(&opts.resource),
                opts.target.namespace.as_deref(),
            )
            .await
            .map_err(cluster_first)?;
            (Some(rendered), filters.pop(), Some((cluster, discovery)))
        }
        None => (None, None, None),
    };
    // HelmReleases whose chart did not render: an object they made may be read from the
    // release they deployed instead (SPEC §11).
    let failed = rendered.as_ref().map(failed_releases).unwrap_or_default();
    let fallback = filter
        .clone()
        .filter(|_| !failed.is_empty())
        .map(|filter| (repo.clone(), render_opts.clone(), filter));
    let git = {
        let opts = opts.clone();
        let default_namespace = default_namespace.clone();
        tokio::task::spawn_blocking(move || {
            git_side(
                &opts,
                &repo,
                commit,
                &render_opts,
                rendered.zip(filter),
                &default_namespace,
            )
        })
        .await
        .map_err(BlameError::Task)?
    };
    let mut git = match (git, fallback, &cluster) {
        (
            Err(BlameError::NotInGit {
                arg,
                revision,
                path,
                unrendered,
            }),
            Some((repo, render_opts, filter)),
            Some((client, discovery)),
        ) => {
            let Some(released) =
                released_object(client, discovery, &failed, &filter, &default_namespace).await
            else {
                return Err(BlameError::NotInGit {
                    arg,
                    revision,
                    path,
                    unrendered,
                });
            };
            tokio::task::spawn_blocking(move || {
                released_side(&repo, commit, &render_opts, released, unrendered)
            })
            .await
            .map_err(BlameError::Task)??
        }
        (git, _, _) => git?,
    };
    let live = match &cluster {
        None => None,
        Some((cluster, discovery)) => {
            let id = &git.manifest.id;
            match discovery.preferred_kind(&id.group, &id.kind) {
                Some(served) => {
                    cluster
                        .get(&served.resource, id.namespace.as_deref(), &id.name)
                        .await?
                }
                None => None,
            }
        }
    };
    if opts.live {
        let Some(live) = live else {
            let context = cluster
                .as_ref()
                .map(|(c, _)| c.context().to_owned())
                .unwrap_or_default();
            return Err(BlameError::NotLive {
                id: git.manifest.id.clone(),
                context,
            });
        };
        let unrendered = std::mem::take(&mut git.unrendered);
        let released = git.released.take();
        let mut report = live_report(git, &live);
        if let Some((revision, error)) = released {
            report.helm_release = Some(revision);
            report.from_deployed_release = Some(error);
        }
        return Ok((report, unrendered));
    }
    let (helm_release, from_deployed_release) = match git.released.take() {
        Some(released) => (Some(released.0), Some(released.1)),
        None => {
            let revision = match (&cluster, &git.manifest.owner) {
                (Some((cluster, discovery)), Some(owner)) if owner.id.kind == "HelmRelease" => {
                    live_release(cluster, discovery, &owner.id)
                        .await
                        .map(|(revision, _)| revision)
                }
                _ => None,
            };
            (revision, None)
        }
    };
    let unrendered = std::mem::take(&mut git.unrendered);
    let mut report = git_report(git, live.as_ref(), opts.offline);
    report.helm_release = helm_release;
    report.from_deployed_release = from_deployed_release;
    Ok((report, unrendered))
}

/// The side of a blame for an object read from its deployed Helm release because its chart
/// did not render (SPEC §11): the object as YAML, each line blamed on the newest commit of
/// the HelmRelease values lines that set it ([`values_lines`]), else on the last commit that
/// changed the release's values ([`last_values_change`]).
fn released_side(
    repo: &EnvRepo,
    commit: ObjectId,
    render_opts: &RenderOptions,
    released: ReleasedObject,
    unrendered: Vec<RenderError>,
) -> Result<GitSide, BlameError> {
    let revision = repo.commit_info(commit)?;
    let mut infos = CommitInfos::new(repo);
    let yaml = crate::drift::to_yaml(&released.object).unwrap_or_default();
    let text: Vec<String> = yaml.lines().map(str::to_owned).collect();
    let inputs = crate::ops::history::environment_inputs_or_path(repo, commit, render_opts);
    let values = values_lines(
        repo,
        commit,
        &inputs,
        &released.helm_release,
        &released.object,
        &text,
        &mut |c| infos.get(c),
    )?;
    let last = crate::ops::history::last_values_change(
        repo,
        commit,
        render_opts,
        &ReleaseValues::of(&released.helm_release),
    )
    .map_err(|error| BlameError::ValuesHistory(Box::new(error)))?;
    let commits = values
        .iter()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.commit.clone())
                .max_by(|a, b| a.time.cmp(&b.time))
                .or_else(|| last.clone())
        })
        .collect();
    let manifest = Manifest {
        api_version: released
            .object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        id: released.id,
        object: released.object,
        source: released.helm_release.source.clone(),
        owner: Some(k8s_model::Owner {
            id: released.helm_release.id.clone(),
        }),
    };
    Ok(GitSide {
        manifest,
        revision,
        text,
        commits,
        first_line: 1,
        rendered: true,
        values,
        unrendered,
        released: Some((released.revision, released.render_error)),
    })
}

/// The resource's lines and their commits. `online` is the render and the RESOURCE filter
/// made with discovery's scopes; offline, both come from the built-in table here.
fn git_side(
    opts: &BlameOptions,
    repo: &EnvRepo,
    commit: ObjectId,
    render_opts: &RenderOptions,
    online: Option<(Rendered, ResourceFilter)>,
    default_namespace: &str,
) -> Result<GitSide, BlameError> {
    let revision = repo.commit_info(commit)?;
    let (mut rendered, filter) = match online {
        Some(online) => online,
        None => render_offline(opts, repo, commit, render_opts)?,
    };
    if filter.name.is_none() {
        return Err(BlameError::NoName {
            arg: opts.resource.clone(),
        });
    }
    tracing::debug!(manifests = rendered.manifests.len(), "rendered");
    let unrendered = std::mem::take(&mut rendered.errors);
    let (manifest, unrendered) = select_manifest(
        opts,
        rendered.manifests,
        &filter,
        default_namespace,
        &revision,
        unrendered,
    )?;
    let source = manifest.source.clone();
    let (text, first) = document_lines(repo, commit, &source)?;
    // One handle for every commit's metadata (a fresh one per commit costs more than the read).
    let mut infos = CommitInfos::new(repo);
    if !written_as_rendered(&text, &manifest.object) {
        // A kustomize unit (or a List item): blame what it renders to, across commits.
        let blamed = rendered_blame(repo, commit, render_opts, &manifest.id)?;
        let commits = blamed
            .commits
            .into_iter()
            .map(|c| infos.get(c).map(Some))
            .collect::<Result<Vec<_>, _>>()?;
        let text = blamed.lines;
        let values = match &blamed.release {
            Some(release) => values_lines(
                repo,
                commit,
                &blamed.inputs,
                release,
                &manifest.object,
                &text,
                &mut |c| infos.get(c),
            )?,
            None => Vec::new(),
        };
        return Ok(GitSide {
            manifest,
            revision,
            text,
            commits,
            first_line: 1,
            rendered: true,
            values,
            unrendered,
            released: None,
        });
    }
    let range = (first - 1) as u32..(first - 1 + text.len()) as u32;
    let blamed = repo.blame_lines(commit, &source.file, range.clone())?;
    let mut commits = vec![None; text.len()];
    for BlamedLine { line, commit, .. } in blamed {
        if let Some(slot) = commits.get_mut((line - range.start) as usize) {
            *slot = Some(infos.get(commit)?);
        }
    }
    Ok(GitSide {
        manifest,
        revision,
        text,
        commits,
        first_line: first,
        rendered: false,
        values: Vec::new(),
        unrendered,
        released: None,
    })
}

/// Renders for a blame offline, and resolves RESOURCE with the built-in table.
fn render_offline(
    opts: &BlameOptions,
    repo: &EnvRepo,
    commit: ObjectId,
    render_opts: &RenderOptions,
) -> Result<(Rendered, ResourceFilter), BlameError> {
    // Offline, scopes come from the built-in table: a commit's render is fixed, and
    // where each resource comes from is kept (`render-index-v1`), so a blame renders
    // only the file that holds the resource.
    let filter = resolve_resource_arg(&opts.resource, opts.target.namespace.as_deref(), None)?;
    let index = crate::ops::history::settings_dir(&repo.git_dir(), "render-index-v1", render_opts)
        .join(commit.to_string());
    let index = RenderIndexFile {
        path: &index,
        version: crate::version::VERSION_LINE,
    };
    let rendered = render_matching(repo, commit, render_opts, Some(index), |id| {
        filter.matches(id)
    })?;
    Ok((rendered, filter))
}

/// The one manifest `filter` selects (without -n, preferring the default namespace's); none
/// or several are errors. `unrendered` goes into the error that names it, else back out.
fn select_manifest(
    opts: &BlameOptions,
    manifests: Vec<Manifest>,
    filter: &ResourceFilter,
    default_namespace: &str,
    revision: &CommitInfo,
    unrendered: Vec<RenderError>,
) -> Result<(Manifest, Vec<RenderError>), BlameError> {
    let mut matching: Vec<Manifest> = manifests
        .into_iter()
        .filter(|m| filter.matches(&m.id))
        .collect();
    if matching.len() > 1 {
        // Without -n, the default namespace's resource is the one meant, as kubectl reads it.
        matching.retain(|m| {
            m.id.namespace
                .as_deref()
                .is_none_or(|ns| ns == default_namespace)
        });
    }
    match matching.len() {
        0 => Err(BlameError::NotInGit {
            arg: opts.resource.clone(),
            revision: revision.id.clone(),
            path: opts.target.path.clone(),
            unrendered,
        }),
        1 => Ok((matching.remove(0), unrendered)),
        count => Err(BlameError::Ambiguous {
            arg: opts.resource.clone(),
            count,
            namespaces: matching
                .iter()
                .map(|m| m.id.namespace.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The lines of the document `source` names, in its file at `commit`, and the line number
/// of the first.
fn document_lines(
    repo: &EnvRepo,
    commit: ObjectId,
    source: &Source,
) -> Result<(Vec<String>, usize), BlameError> {
    let blob = repo
        .file_blob(commit, &source.file)?
        .ok_or_else(|| RepoError::PathNotFound {
            path: source.file.clone(),
            commit,
        })?;
    let data = repo.read_blob(blob)?;
    let content = String::from_utf8_lossy(&data);
    let first = source.line.max(1);
    let last = source.end_line.max(first);
    let text: Vec<String> = content
        .lines()
        .skip(first - 1)
        .take(last + 1 - first)
        .map(str::to_owned)
        .collect();
    Ok((text, first))
}

/// Commits' metadata, each read once through one handle.
struct CommitInfos {
    local: gitops_git::LocalRepo,
    infos: HashMap<ObjectId, CommitInfo>,
}

impl CommitInfos {
    /// Reads through a thread-local handle of `repo`.
    fn new(repo: &EnvRepo) -> CommitInfos {
        CommitInfos {
            local: repo.local(),
            infos: HashMap::new(),
        }
    }

    /// The metadata of `commit`.
    fn get(&mut self, commit: ObjectId) -> Result<CommitInfo, RepoError> {
        if let Some(info) = self.infos.get(&commit) {
            return Ok(info.clone());
        }
        let info = self.local.commit_info(commit)?;
        self.infos.insert(commit, info.clone());
        Ok(info)
    }
}

/// Whether the document as written is the object rendered (up to the namespace the render
/// fills in): then its lines are the resource's, and a line blame of the file says it all.
fn written_as_rendered(text: &[String], object: &Value) -> bool {
    let Ok(mut written) = serde_saphyr::from_str::<Value>(&text.join("\n")) else {
        return false;
    };
    let mut object = object.clone();
    for value in [&mut written, &mut object] {
        if let Some(Value::Object(metadata)) = value.get_mut("metadata") {
            metadata.remove("namespace");
        }
    }
    written == object
}

/// Most commits rendered when blaming a rendered resource; older lines go to the oldest
/// commit rendered, as `git blame` does at a boundary.
pub const RENDERED_BLAME_LIMIT: usize = 200;

/// Blame of the resource's rendered YAML: walks first parents from `head`, renders each commit
/// whose environment changed, and passes each unchanged line to the older rendering ("which
/// commit first rendered this line as it is now"). Returns the text and each line's commit.
fn rendered_blame(
    repo: &EnvRepo,
    head: ObjectId,
    opts: &RenderOptions,
    id: &ResourceId,
) -> Result<RenderedBlame, BlameError> {
    let render_at = |commit: ObjectId| render(repo, commit, opts);
    let yaml_of = |rendered: &Rendered| -> Option<String> {
        rendered
            .manifests
            .iter()
            .find(|m| &m.id == id)
            .and_then(|m| crate::drift::to_yaml(&m.object).ok())
    };
    let yaml_at = |commit: ObjectId| -> Result<Option<String>, BlameError> {
        Ok(yaml_of(&render_at(commit)?))
    };
    let head_render = render_at(head)?;
    let text = yaml_of(&head_render).unwrap_or_default();
    // The HelmRelease whose chart made the resource, as rendered (its values after overlays).
    let release = head_render
        .manifests
        .iter()
        .find(|m| &m.id == id)
        .and_then(|m| m.owner.as_ref())
        .filter(|owner| owner.id.kind == "HelmRelease")
        .and_then(|owner| head_render.manifests.iter().find(|m| m.id == owner.id))
        .cloned();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut owner: Vec<Option<ObjectId>> = vec![None; lines.len()];
    // For each line of the head text still unblamed: its line number in `current`.
    let mut pending: Vec<(usize, u32)> = (0..lines.len()).map(|i| (i, i as u32)).collect();
    let (mut current, mut current_text) = (head, text);
    let mut renders = 1;
    // What the environment reads (a kustomize base, a Flux Kustomization's path, a values
    // file beside the path): a commit that changed none of it renders the same.
    let inputs = gitops_render::environment_inputs_from(repo, opts, &head_render)
        .unwrap_or_else(|_| vec![gitops_git::normalize_path(&opts.path)]);
    drop(head_render);
    let id_of = |commit: ObjectId, input: &str| -> Result<Option<ObjectId>, BlameError> {
        match repo.subtree_id(commit, input) {
            Err(gitops_git::RepoError::NotADirectory { .. }) => Ok(repo.file_blob(commit, input)?),
            other => Ok(other?),
        }
    };
    let same_inputs = |a: ObjectId, b: ObjectId| -> Result<bool, BlameError> {
        for input in &inputs {
            if id_of(a, input)? != id_of(b, input)? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    while !pending.is_empty() {
        let Some(parent) = repo.first_parent(current)? else {
            break;
        };
        if same_inputs(parent, current)? {
            current = parent;
            continue;
        }
        if renders >= RENDERED_BLAME_LIMIT {
            break;
        }
        renders += 1;
        let Some(parent_text) = yaml_at(parent)? else {
            break;
        };
        let blocks =
            gitops_git::blame::unchanged_blocks(parent_text.as_bytes(), current_text.as_bytes());
        let mut passed = Vec::with_capacity(pending.len());
        for (line, at) in pending {
            let block = blocks
                .iter()
                .find(|(start, _, len)| (*start..start + len).contains(&at));
            match block {
                Some((start, old_start, _)) => passed.push((line, old_start + (at - start))),
                None => owner[line] = Some(current),
            }
        }
        pending = passed;
        current = parent;
        current_text = parent_text;
    }
    for (line, _) in pending {
        owner[line] = Some(current);
    }
    Ok(RenderedBlame {
        lines,
        commits: owner.into_iter().map(|o| o.unwrap_or(head)).collect(),
        release,
        inputs,
    })
}

/// What [`rendered_blame`] found.
struct RenderedBlame {
    /// The rendered YAML's lines at the head.
    lines: Vec<String>,
    /// The commit that first rendered each line as it is now.
    commits: Vec<ObjectId>,
    /// The HelmRelease whose chart made the resource, as rendered at the head.
    release: Option<Manifest>,
    /// The environment's inputs (directories and files) at the head.
    inputs: Vec<String>,
}

/// Git mode: the document's lines with their commits, and drift marks against `live`.
fn git_report(git: GitSide, live: Option<&Value>, offline: bool) -> BlameReport {
    let desired = &git.manifest.object;
    let secret = git.manifest.id.group.is_empty() && git.manifest.id.kind == "Secret";
    let lists = ListKeys::of(&git.manifest.id.group, &git.manifest.id.kind);
    let owners = live.map(FieldOwners::of).unwrap_or_default();
    let mut masker = SecretMasker::new();
    let paths = line_paths(&git.text);
    let mut lines = Vec::with_capacity(git.text.len());
    for (i, (text, commit)) in git.text.iter().zip(git.commits).enumerate() {
        let path = paths[i].as_ref().map(|p| keyed_path(&lists, p, desired));
        let secret_value = secret && path.as_ref().is_some_and(is_secret_data_path);
        let drift = match (&path, live, offline) {
            (_, _, true) => None,
            (None, _, false) => Some(LineDrift::Same),
            (Some(_), None, false) => Some(LineDrift::Missing),
            (Some(path), Some(live), false) => Some(compare_line(path, desired, live, secret)),
        };
        let live_writer = match (&path, drift) {
            (Some(path), Some(LineDrift::Changed)) => {
                let value = live.and_then(|l| live_value_at(path, l, secret));
                let mut writer = writer_of(&owners, path);
                writer.value = value.map(|v| {
                    if secret_value {
                        masker.mask_for(&display_value(&v))
                    } else {
                        display_value(&v)
                    }
                });
                Some(writer)
            }
            _ => None,
        };
        let text = if secret_value {
            mask_line(text, &mut masker, desired_at(path.as_ref(), desired))
        } else {
            text.clone()
        };
        lines.push(BlameLine {
            line: git.first_line + i,
            text,
            commit,
            live: live_writer,
            drift,
            values: git.values.get(i).cloned().unwrap_or_default(),
        });
    }
    BlameReport {
        id: git.manifest.id,
        api_version: git.manifest.api_version,
        revision: git.revision,
        source: git.manifest.source,
        live_mode: false,
        offline,
        rendered: git.rendered,
        lines,
        helm_release: None,
        from_deployed_release: None,
    }
}

/// `--live`: the live object normalized and masked, each line to git's commit or its manager.
fn live_report(git: GitSide, live: &Value) -> BlameReport {
    let owners = FieldOwners::of(live);
    let secret = git.manifest.id.group.is_empty() && git.manifest.id.kind == "Secret";
    let lists = ListKeys::of(&git.manifest.id.group, &git.manifest.id.kind);
    let desired = &git.manifest.object;
    let mut shown = live.clone();
    normalize(&mut shown);
    let raw_shown = shown.clone();
    if secret {
        SecretMasker::new().mask_secret(&mut shown);
    }
    let yaml = crate::drift::to_yaml(&shown).unwrap_or_default();
    let live_lines: Vec<String> = yaml.lines().map(str::to_owned).collect();
    // Where each field is written in git, to take its commit.
    let git_paths = line_paths(&git.text);
    let mut git_line_of: HashMap<FieldPath, usize> = HashMap::new();
    for (i, path) in git_paths.iter().enumerate() {
        if let Some(path) = path {
            git_line_of
                .entry(keyed_path(&lists, path, desired))
                .or_insert(i);
        }
    }
    let paths = line_paths(&live_lines);
    let mut lines = Vec::with_capacity(live_lines.len());
    for (i, text) in live_lines.iter().enumerate() {
        let path = paths[i].as_ref().map(|p| keyed_path(&lists, p, &raw_shown));
        let (drift, commit, writer) = match &path {
            None => (LineDrift::Same, None, None),
            Some(path) => {
                let live_value = value_at(path, &raw_shown);
                let desired_value = desired_at(Some(path), desired);
                let is_leaf = live_value.is_some_and(|v| !v.is_object() && !v.is_array());
                let drift = match (desired_value, live_value) {
                    (None, _) => LineDrift::LiveOnly,
                    (Some(_), _) if !is_leaf => LineDrift::Same,
                    (Some(d), Some(l)) if same_value(d, l) => LineDrift::Same,
                    _ => LineDrift::Changed,
                };
                let commit = (drift == LineDrift::Same)
                    .then(|| git_line_of.get(path).and_then(|&g| git.commits[g].clone()))
                    .flatten();
                let writer = commit.is_none().then(|| writer_of(&owners, path));
                (drift, commit, writer)
            }
        };
        lines.push(BlameLine {
            line: i + 1,
            text: text.clone(),
            commit,
            live: writer,
            drift: Some(drift),
            values: Vec::new(),
        });
    }
    BlameReport {
        id: git.manifest.id,
        api_version: git.manifest.api_version,
        revision: git.revision,
        source: git.manifest.source,
        live_mode: true,
        offline: false,
        rendered: git.rendered,
        lines,
        helm_release: None,
        from_deployed_release: None,
    }
}

/// Compares the value a git line sets with live.
fn compare_line(path: &FieldPath, desired: &Value, live: &Value, secret: bool) -> LineDrift {
    let Some(live_value) = live_value_at(path, live, secret) else {
        return LineDrift::Missing;
    };
    match desired_at(Some(path), desired) {
        Some(d) if d.is_object() || d.is_array() => LineDrift::Same,
        Some(d) => {
            let d = if secret && path.0.first() == Some(&PathSegment::Key("stringData".into())) {
                Value::String(
                    base64::engine::general_purpose::STANDARD.encode(d.as_str().unwrap_or("")),
                )
            } else {
                d.clone()
            };
            if same_value(&d, &live_value) {
                LineDrift::Same
            } else {
                LineDrift::Changed
            }
        }
        None => LineDrift::Same,
    }
}

/// The live value for a git path: a Secret's `stringData.K` is stored live as `data.K`.
fn live_value_at(path: &FieldPath, live: &Value, secret: bool) -> Option<Value> {
    if secret && path.0.first() == Some(&PathSegment::Key("stringData".into())) {
        let mut data_path = path.clone();
        data_path.0[0] = PathSegment::Key("data".into());
        return value_at(&data_path, live).cloned();
    }
    value_at(path, live).cloned()
}

fn same_value(a: &Value, b: &Value) -> bool {
    values_equal(a, b) || (a.is_string() && b.is_string() && quantities_equal(a, b))
}

fn desired_at<'v>(path: Option<&FieldPath>, desired: &'v Value) -> Option<&'v Value> {
    value_at(path?, desired)
}

fn is_secret_data_path(path: &FieldPath) -> bool {
    matches!(path.0.as_slice(), [PathSegment::Key(k), _, ..] if k == "data" || k == "stringData")
}

/// A Secret value line with its value replaced by a mask; block scalar lines masked whole.
fn mask_line(text: &str, masker: &mut SecretMasker, value: Option<&Value>) -> String {
    let mask = masker.mask_for(&value.map(display_value).unwrap_or_default());
    let indent = text.len() - text.trim_start().len();
    match split_key(text.trim_start()) {
        Some((key, _)) => format!("{}{key}: {mask}", &text[..indent]),
        None => format!("{}{mask}", &text[..indent]),
    }
}

/// A value as shown after a `~` line: strings bare, anything else as JSON.
fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value at a path, list items chosen by merge key or index.
pub(super) fn value_at<'v>(path: &FieldPath, object: &'v Value) -> Option<&'v Value> {
    let mut node = object;
    for segment in &path.0 {
        node = match segment {
            PathSegment::Key(key) => node.get(key)?,
            PathSegment::Index(i) => node.get(*i)?,
            PathSegment::Item(key) => node.as_array()?.iter().find(|item| {
                let fields: Vec<&str> = key.iter().map(|(f, _)| f.as_str()).collect();
                item_key(item, &fields).is_some_and(|k| keys_equal(&k, key))
            })?,
        };
    }
    Some(node)
}

/// The field path each line of an object's block-style YAML sets, items of keyed lists named by
/// their merge keys as drift's changes name them; `None` for lines that set nothing, and for
/// every line when the text does not parse.
pub fn keyed_line_paths(id: &ResourceId, yaml: &str) -> Vec<Option<FieldPath>> {
    let lines: Vec<String> = yaml.lines().map(str::to_owned).collect();
    let Ok(object) = serde_saphyr::from_str::<Value>(yaml) else {
        return vec![None; lines.len()];
    };
    let lists = ListKeys::of(&id.group, &id.kind);
    line_paths(&lines)
        .into_iter()
        .map(|path| path.map(|path| keyed_path(&lists, &path, &object)))
        .collect()
}

/// A path from the text (list items by position) with items of keyed lists (containers by
/// name, ports by containerPort+protocol, ...) named by their merge key, as in managedFields.
fn keyed_path(lists: &ListKeys, path: &FieldPath, object: &Value) -> FieldPath {
    let mut out = FieldPath::root();
    let mut node = Some(object);
    for segment in &path.0 {
        let next = match (segment, node) {
            (PathSegment::Index(i), Some(Value::Array(items))) => {
                let keyed = key_fields(lists, &out)
                    .and_then(|fields| items.get(*i).and_then(|item| item_key(item, fields)));
                match keyed {
                    Some(key) => PathSegment::Item(key),
                    None => segment.clone(),
                }
            }
            _ => segment.clone(),
        };
        node = node.and_then(|n| match segment {
            PathSegment::Key(k) => n.get(k),
            PathSegment::Index(i) => n.get(*i),
            PathSegment::Item(_) => None,
        });
        out = out.child(next);
    }
    out
}

/// Who wrote a live field for blame: its owner from managedFields, or the server default.
fn writer_of(owners: &FieldOwners, path: &FieldPath) -> LiveWriter {
    match owners.owner_of(path) {
        Some(owner) => LiveWriter {
            manager: owner.manager.clone(),
            operation: owner.operation.clone(),
            time: owner.time.clone(),
            value: None,
        },
        None => LiveWriter {
            manager: SERVER_DEFAULT.to_owned(),
            operation: None,
            time: None,
            value: None,
        },
    }
}

/// One open node while reading YAML lines: a map key or a list item, at its indentation.
struct Frame {
    indent: usize,
    segment: PathSegment,
    /// Items seen so far of the list this node holds.
    items: usize,
    is_item: bool,
}

/// The field path each line of a block-style YAML document sets (list items by position), or
/// `None` for lines that set nothing (comments, blank lines, `---`). A block scalar's lines
/// all belong to its key.
pub fn line_paths(lines: &[String]) -> Vec<Option<FieldPath>> {
    let mut out = Vec::with_capacity(lines.len());
    let mut stack: Vec<Frame> = Vec::new();
    // (indent of the key, its path) while inside a block scalar or multi-line flow value.
    let mut continuation: Option<(usize, FieldPath)> = None;
    let current = |stack: &[Frame]| FieldPath(stack.iter().map(|f| f.segment.clone()).collect());
    for line in lines {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some((key_indent, path)) = &continuation {
            if trimmed.is_empty() || indent > *key_indent {
                out.push((!trimmed.is_empty()).then(|| path.clone()));
                continue;
            }
            continuation = None;
        }
        if trimmed.is_empty()
            || trimmed.starts_with('#')
            || trimmed.starts_with("---")
            || trimmed.starts_with("...")
        {
            out.push(None);
            continue;
        }
        let mut col = indent;
        let mut rest = trimmed;
        // Sequence entries, possibly nested on one line (`- - a`, `- name: x`).
        while rest == "-" || rest.starts_with("- ") {
            while stack
                .last()
                .is_some_and(|f| f.indent > col || (f.indent == col && f.is_item))
            {
                stack.pop();
            }
            let index = match stack.last_mut() {
                Some(parent) => {
                    parent.items += 1;
                    parent.items - 1
                }
                None => 0,
            };
            stack.push(Frame {
                indent: col,
                segment: PathSegment::Index(index),
                items: 0,
                is_item: true,
            });
            let after = rest[1..].trim_start();
            col += rest.len() - after.len();
            rest = after;
        }
        if rest.is_empty() {
            out.push(Some(current(&stack)));
            continue;
        }
        match split_key(rest) {
            Some((key, value)) => {
                while stack.last().is_some_and(|f| f.indent >= col) {
                    stack.pop();
                }
                stack.push(Frame {
                    indent: col,
                    segment: PathSegment::Key(key),
                    items: 0,
                    is_item: false,
                });
                let path = current(&stack);
                let value = value.trim();
                if value.starts_with('|')
                    || value.starts_with('>')
                    || (value.starts_with('[') && !value.ends_with(']'))
                    || (value.starts_with('{') && !value.ends_with('}'))
                {
                    continuation = Some((col, path.clone()));
                }
                out.push(Some(path));
            }
            // A scalar list item or a plain scalar continuation line.
            None => out.push(Some(current(&stack))),
        }
    }
    out
}

/// Splits `key: value` (key unquoted), `None` when the line is not a mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    let (key, value) = if let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'')
    {
        let end = text[1..].find(quote)? + 1;
        let after = &text[end + 1..];
        let value = after.strip_prefix(':')?;
        (text[1..end].to_owned(), value)
    } else {
        let colon = text
            .match_indices(':')
            .find(|(i, _)| {
                let next = text[i + 1..].chars().next();
                next.is_none() || next == Some(' ')
            })?
            .0;
        let key = &text[..colon];
        if key.contains(" #") || key.starts_with('{') || key.starts_with('[') {
            return None;
        }
        (key.trim_end().to_owned(), &text[colon + 1..])
    };
    if !value.is_empty() && !value.starts_with(' ') {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(text: &str) -> Vec<Option<String>> {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        line_paths(&lines)
            .into_iter()
            .map(|p| p.map(|p| p.to_string()))
            .collect()
    }

    #[test]
    fn line_paths_follow_indentation_lists_and_block_scalars() {
        let text = "\
apiVersion: apps/v1
# comment
kind: Deployment
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: nginx
        ports:
          - containerPort: 80
      - name: side
        args: [a, b]
data:
  script: |
    echo hi

    echo bye
  other: x
";
        let got = paths(text);
        let want: Vec<Option<&str>> = vec![
            Some("apiVersion"),
            None,
            Some("kind"),
            Some("spec"),
            Some("spec.replicas"),
            Some("spec.template"),
            Some("spec.template.spec"),
            Some("spec.template.spec.containers"),
            Some("spec.template.spec.containers[0].name"),
            Some("spec.template.spec.containers[0].image"),
            Some("spec.template.spec.containers[0].ports"),
            Some("spec.template.spec.containers[0].ports[0].containerPort"),
            Some("spec.template.spec.containers[1].name"),
            Some("spec.template.spec.containers[1].args"),
            Some("data"),
            Some("data.script"),
            Some("data.script"),
            None,
            Some("data.script"),
            Some("data.other"),
        ];
        let want: Vec<Option<String>> = want.into_iter().map(|w| w.map(str::to_owned)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn keyed_paths_use_merge_keys_like_managed_fields() {
        let object = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "ports": [{"containerPort": 80}]}, {"name": "side"}]}}}});
        let lines: Vec<String> = "spec:\n  template:\n    spec:\n      containers:\n      - name: web\n        ports:\n        - containerPort: 80\n      - name: side\n"
            .lines()
            .map(str::to_owned)
            .collect();
        let paths = line_paths(&lines);
        let lists = ListKeys::of("apps", "Deployment");
        let keyed = keyed_path(&lists, paths[6].as_ref().unwrap(), &object);
        assert_eq!(
            keyed.to_string(),
            "spec.template.spec.containers[name=web].ports[containerPort=80,protocol=TCP].containerPort"
        );
        assert_eq!(value_at(&keyed, &object), Some(&json!(80)));
    }

    #[test]
    fn writer_is_the_latest_owner_or_server_default() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-01-01T00:00:00Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                 "k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}}}}}},
            {"manager": "kubectl", "operation": "Update", "time": "2026-01-02T00:00:00Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]}});
        let owners = FieldOwners::of(&live);
        let replicas = FieldPath::root().key("spec").key("replicas");
        let w = writer_of(&owners, &replicas);
        assert_eq!(
            (w.manager.as_str(), w.time.as_deref()),
            ("kubectl", Some("2026-01-02T00:00:00Z"))
        );
        let image = FieldPath::root()
            .key("spec")
            .key("template")
            .key("spec")
            .key("containers")
            .child(PathSegment::Item(vec![("name".into(), json!("web"))]))
            .key("image");
        assert_eq!(
            writer_of(&owners, &image).manager,
            "kubectl-client-side-apply"
        );
        let policy = FieldPath::root().key("spec").key("revisionHistoryLimit");
        assert_eq!(writer_of(&owners, &policy).manager, SERVER_DEFAULT);
    }

    #[test]
    fn split_key_handles_quotes_urls_and_scalars() {
        assert_eq!(split_key("a: b"), Some(("a".into(), " b")));
        assert_eq!(split_key("\"x.y/z\": 1"), Some(("x.y/z".into(), " 1")));
        assert_eq!(
            split_key("url: http://x"),
            Some(("url".into(), " http://x"))
        );
        assert_eq!(split_key("http://x"), None);
        assert_eq!(split_key("plain"), None);
        assert_eq!(split_key("key:"), Some(("key".into(), "")));
    }
}
