//! Evaluating an environment at a commit against the live cluster: the data behind `status`,
//! `diff` and the UI's Resources pane (SPEC §4, §5).
//!
//! ```no_run
//! use gitops_core::Target;
//! use gitops_core::ops::status::{evaluate, StatusOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = StatusOptions {
//!     target: Target { path: "envs/prod".into(), ..Target::default() },
//!     resources: vec!["deploy/web".into()], // RESOURCE arguments; empty for all
//!     ..StatusOptions::default()
//! };
//! let report = evaluate(&opts).await?; // errors: repo, config, cluster unreachable, bad RESOURCE
//! for warning in &report.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! std::process::exit(report.exit_code());
//! # }
//! ```
//!
//! Each [`ResourceStatus`] carries the state, the differing fields and changes, notes, and —
//! when [`StatusOptions::texts`] is set (the default) — both sides of the text diff (normalized,
//! Secrets masked). `matchesRevision` (SPEC §7) is the commit that introduced the version
//! the live object satisfies (client comparison): `lastCommit` when it satisfies the head's,
//! else found by [`crate::ops::history::matches_revisions`] within `last_commit_limit`.

use crate::Target;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use kube::core::ApiResource;
use serde::Serialize;
use serde_json::Value;

use crate::drift::merge_key::key_field_default;
use crate::drift::{Change, Comparison, DriftError, IgnoreSet, Strategy, compare_client};
use crate::drift::{compare_server, prepare_objects, to_yaml};
use gitops_cluster::{ClusterClient, ClusterError, Discovery, FIELD_MANAGER, applyset};
use gitops_git::{EnvRepo, ObjectId, RepoError};
use gitops_render::{RenderCache, RenderFailure, RenderOptions, Rendered, ScopeLookup, render};
use k8s_model::fieldset::{FieldSet, PathElement, item_has_key};
use k8s_model::kinds::{builtin_scope, builtin_type};
use k8s_model::normalize::{IGNORED_ANNOTATIONS, IGNORED_LABELS, REVISION_ANNOTATION};
use k8s_model::{DriftState, IgnoreRule, Manifest, ResourceId, Source, split_api_version};

pub use k8s_model::CommitInfo;

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
    /// Problems that left part of the evaluation out without making it wrong (e.g. orphans
    /// not listed for lack of permission); print them on stderr.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the evaluation cost (requests, dry-runs), for `-v` and benchmarks; not in outputs.
    #[serde(skip)]
    pub stats: EvaluationStats,
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

/// Default of [`StatusOptions::last_commit_limit`]: commits of the history looked at for
/// `lastCommit`.
pub const DEFAULT_LAST_COMMIT_LIMIT: usize = 200;

/// What to evaluate and how (the global flags of SPEC §2 plus `status`/`diff` options).
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The environment: repo, path, revision, namespace, cluster, kubectl.
    pub target: Target,
    /// `--diff-strategy`.
    pub strategy: Strategy,
    /// RESOURCE arguments (`deploy/web`, `cm/settings`, `deployment.apps`); empty for all.
    pub resources: Vec<String>,
    /// Bound on concurrent API requests.
    pub concurrency: usize,
    /// Commits of the environment's history (the commits `history` lists) looked at to find
    /// each resource's `lastCommit`; 0 skips the walk.
    pub last_commit_limit: usize,
    /// Keep both sides of the text diff in each row (`live_yaml`, `desired_yaml`): `diff` and
    /// the UI need them; `status` does not, and at thousands of resources they are most of the
    /// memory it would hold.
    pub texts: bool,
    /// Compute `matchesRevision` (SPEC §7) for drifted resources: a history walk that holds
    /// their live objects and the environment's past versions. Outputs that do not show it
    /// (the text table) skip it; Synced rows get it from `lastCommit` either way.
    pub matches_revision: bool,
}

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            target: Target::default(),
            strategy: Strategy::Server,
            resources: Vec::new(),
            concurrency: gitops_cluster::DEFAULT_CONCURRENCY,
            last_commit_limit: DEFAULT_LAST_COMMIT_LIMIT,
            texts: true,
            matches_revision: true,
        }
    }
}

/// What one evaluation cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvaluationStats {
    /// LIST requests (pages) for live objects and ApplySet members.
    pub lists: usize,
    /// Server-side apply dry-runs.
    pub dry_runs: usize,
    /// Resources found Synced by the client comparison and the managedFields check, with no
    /// dry-run (server strategy).
    pub dry_runs_skipped: usize,
    /// Commits walked for `lastCommit`.
    pub commits_walked: usize,
}

/// Errors that stop an evaluation as a whole (per-resource problems are `Error` rows instead).
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The repo, revision or `--path` could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The environment could not be rendered at all (invalid config file).
    #[error(transparent)]
    Render(#[from] RenderFailure),
    /// The cluster could not be used (kubeconfig, unreachable, discovery refused).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A RESOURCE argument names no kind the cluster (or the built-in table) knows.
    #[error(
        "resource type {resource_type:?} (in {arg:?}) is unknown{where_}; write it as kubectl does: deploy/web, deployment.apps/web, cm/settings"
    )]
    UnknownResourceType {
        /// The argument as given.
        arg: String,
        /// Its type part.
        resource_type: String,
        /// ` to the cluster` or ` offline`.
        where_: &'static str,
    },
    /// A RESOURCE argument with an empty type or name.
    #[error("{arg:?} is not a resource; write TYPE/NAME (deploy/web) or TYPE (deployments)")]
    BadResourceArg {
        /// The argument as given.
        arg: String,
    },
    /// A commit's metadata could not be read.
    #[error("cannot read commit {commit} in {repo}: {message}")]
    Commit {
        /// The commit.
        commit: String,
        /// The repository.
        repo: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// One resource evaluated again ([`evaluate_resource`]) is no longer where its report saw it.
    #[error("{what} at {revision}; evaluate the environment again")]
    Gone {
        /// What changed, naming the resource.
        what: String,
        /// The revision evaluated.
        revision: String,
    },
    /// A blocking task (git, render) panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(String),
}

/// A RESOURCE argument resolved to a kind, and optionally a name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFilter {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name; `None` selects every resource of the kind.
    pub name: Option<String>,
    /// Namespace (from `-n`) for namespaced kinds; `None` matches any.
    pub namespace: Option<String>,
}

impl ResourceFilter {
    /// Whether the filter selects `id`.
    pub fn matches(&self, id: &ResourceId) -> bool {
        self.group == id.group
            && self.kind == id.kind
            && self.name.as_deref().is_none_or(|n| n == id.name)
            && (self.namespace.is_none()
                || id.namespace.is_none()
                || self.namespace == id.namespace)
    }
}

/// The built-in type `resource_type` names, as (group, kind, namespaced), or the error naming
/// `arg` and where it was looked for.
fn builtin_or(
    arg: &str,
    resource_type: &str,
    where_: &'static str,
) -> Result<(String, String, Option<bool>), StatusError> {
    let found = builtin_type(resource_type).ok_or_else(|| StatusError::UnknownResourceType {
        arg: arg.to_owned(),
        resource_type: resource_type.to_owned(),
        where_,
    })?;
    Ok((
        found.group.to_owned(),
        found.kind.to_owned(),
        Some(found.namespaced),
    ))
}

/// Resolves a RESOURCE argument written as kubectl takes it (`deploy/web`,
/// `deployment.apps/web`, `Service/web`, `cm/settings`, or a type alone): through discovery
/// when given (short names, plural and singular), else through the built-in table.
/// `namespace` is `-n`; it restricts namespaced kinds only.
pub fn resolve_resource_arg(
    arg: &str,
    namespace: Option<&str>,
    discovery: Option<&Discovery>,
) -> Result<ResourceFilter, StatusError> {
    let (resource_type, name) = match arg.split_once('/') {
        Some((resource_type, name)) => (resource_type, Some(name)),
        None => (arg, None),
    };
    if resource_type.is_empty() || name.is_some_and(|n| n.is_empty() || n.contains('/')) {
        return Err(StatusError::BadResourceArg {
            arg: arg.to_owned(),
        });
    }
    let (group, kind, namespaced) = match discovery {
        Some(discovery) => match discovery.find_type(resource_type) {
            Some(served) => (
                served.resource.group.clone(),
                served.resource.kind.clone(),
                Some(served.namespaced),
            ),
            // A built-in kind the cluster does not serve (an old API removed) still selects
            // the manifests declaring it, which then show as Unknown.
            None => builtin_or(arg, resource_type, " to the cluster")?,
        },
        None => builtin_or(arg, resource_type, " offline")?,
    };
    Ok(ResourceFilter {
        namespace: namespace
            .filter(|_| namespaced != Some(false))
            .map(str::to_owned),
        group,
        kind,
        name: name.map(str::to_owned),
    })
}

/// Evaluates the environment: connects to the cluster from `opts` and calls [`evaluate_with`].
pub async fn evaluate(opts: &StatusOptions) -> Result<StatusReport, StatusError> {
    let cluster = ClusterClient::connect(
        opts.target.kubeconfig.as_deref(),
        opts.target.context.as_deref(),
    )
    .await?;
    evaluate_with(&cluster, opts).await
}

/// Evaluates the environment at `opts.rev` against `cluster` (SPEC §4): render, one LIST per
/// kind and namespace, compare. Server strategy: a resource whose client comparison is clean
/// and whose live managedFields show no field our manager owns that the commit no longer sends
/// is Synced without a dry-run (a dry-run provably changes nothing); the others are dry-run and
/// compared server-side, falling back to the client comparison on 403.
pub async fn evaluate_with(
    cluster: &ClusterClient,
    opts: &StatusOptions,
) -> Result<StatusReport, StatusError> {
    // A clone shares the discovery cache and counters; only the bound is this run's.
    let cluster = &cluster.clone().with_concurrency(opts.concurrency);
    let stats_before = (cluster.stats().lists(), cluster.stats().dry_runs());
    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    let (repo, commit, revision) = blocking(move || {
        let repo = EnvRepo::open(&repo_dir)?;
        let commit = repo.resolve(&rev)?;
        let revision = commit_info(&repo, commit)?;
        Ok((repo, commit, revision))
    })
    .await?;

    let started = std::time::Instant::now();
    let mut render_opts = render_options(cluster, opts);
    // The parsed documents weigh as much as the manifests rendered from them, and the walk for
    // `lastCommit` re-renders only the files each commit changed: not worth keeping, not even
    // while rendering (one file's documents at a time).
    let mut head_opts = render_opts.clone();
    head_opts.cache = RenderCache::on_disk(&repo.git_dir());
    let (mut rendered, discovery) =
        render_discovered(cluster, &repo, commit, &mut head_opts).await?;
    render_opts.scope = head_opts.scope;
    let (filters, discovery) = resolve_resource_args(
        cluster,
        &opts.resources,
        opts.target.namespace.as_deref(),
        discovery,
    )
    .await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "rendered and discovered"
    );
    // What is needed of the manifests beyond their rows: identities (orphans, the walk) and
    // declared namespaces. The manifests themselves are owned from here on and dropped as soon
    // as their row is made, so they and the rows never all weigh at once.
    let desired_ids: BTreeSet<ResourceId> =
        rendered.manifests.iter().map(|m| m.id.clone()).collect();
    let declared_namespaces: BTreeSet<String> = rendered
        .manifests
        .iter()
        .filter(|m| m.id.group.is_empty() && m.id.kind == "Namespace")
        .map(|m| m.id.name.clone())
        .collect();
    let selected: Vec<Manifest> = std::mem::take(&mut rendered.manifests)
        .into_iter()
        .filter(|m| filters.is_empty() || filters.iter().any(|f| f.matches(&m.id)))
        .collect();
    let rules = &rendered.config.ignore_differences;

    // The walk for `lastCommit` needs git only: it runs on a blocking thread while the
    // requests below wait on the cluster. Its targets are the selected manifests, the rows
    // that have a source.
    let walk = (opts.last_commit_limit > 0).then(|| {
        let targets: Vec<ResourceId> = selected.iter().map(|m| m.id.clone()).collect();
        let limit = opts.last_commit_limit;
        let repo = repo.clone();
        let render_opts = render_opts.clone();
        tokio::task::spawn_blocking(move || {
            crate::ops::history::last_changes(&repo, commit, &render_opts, targets, limit)
                .map_err(|error| StatusError::Task(error.to_string()))
        })
    });

    // One row per selected manifest, plus orphans: sized once rather than grown by doubling.
    let mut resources = Vec::with_capacity(selected.len());
    let mut stats = EvaluationStats::default();
    // Kinds the cluster serves, grouped by (resource, namespace) for one LIST each.
    // While the LISTs are in flight the manifests wait packed as JSON text: a parsed object
    // weighs about five times its text, and at thousands of resources the waiting manifests
    // were the largest part of the peak.
    let mut groups: BTreeMap<LiveKey, (ApiResource, Vec<PackedManifest>)> = BTreeMap::new();
    // Cluster-scoped kinds of the manifests: each is listed whole below, and its ApplySet
    // members are found in that list rather than read a second time.
    let mut listed_whole: HashSet<(String, String)> = HashSet::new();
    let pack = selected.len() >= PACK_FROM;
    for manifest in selected {
        // The API server refuses such a name (422), so it can never be live: an Error that
        // names the rule, not a Missing that a sync would then refuse at preflight.
        if let Some(problem) = invalid_name(&manifest) {
            let mut row = ResourceStatus::new(&manifest, DriftState::Error);
            row.error = Some(problem);
            if opts.texts {
                row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, rules);
            }
            resources.push(row);
            continue;
        }
        let (group, version) = split_api_version(&manifest.api_version);
        match discovery.resolve(group, version, &manifest.id.kind) {
            Ok(kind) => {
                let resource = &kind.resource;
                if !kind.namespaced {
                    listed_whole.insert((resource.group.clone(), resource.kind.clone()));
                }
                groups
                    .entry((
                        resource.api_version.clone(),
                        resource.plural.clone(),
                        manifest.id.namespace.clone(),
                    ))
                    .or_insert_with(|| (resource.clone(), Vec::new()))
                    .1
                    .push(PackedManifest::pack(manifest, pack));
            }
            Err(not_served) => {
                let mut row = ResourceStatus::new(&manifest, DriftState::Unknown);
                row.error = Some(not_served.message(&manifest.api_version, &manifest.id.kind));
                if opts.texts {
                    row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, rules);
                }
                resources.push(row);
            }
        }
    }

    // The ApplySet's members (for orphans) are listed while the manifests' kinds are.
    let parent = applyset::parent_name(&rendered.config.env);
    let apply_set_id = applyset::applyset_id(&parent, &rendered.config.apply_set_namespace);
    let members = {
        let cluster = cluster.clone();
        let parent = parent.clone();
        let namespace = rendered.config.apply_set_namespace.clone();
        let listed_whole = listed_whole.clone();
        tokio::spawn(async move {
            cluster
                .applyset_member_metadata_except(&parent, &namespace, &listed_whole)
                .await
        })
    };
    // Members found in the whole lists (objects, not metadata: no second read for orphans).
    let mut listed_members: Vec<Value> = Vec::new();

    // Each LIST is compared as it arrives and its live objects dropped right after: holding
    // every list at once (managedFields and all) was most of the peak memory. Only the
    // dry-run candidates keep their live object.
    let mut needs_dry_run = Vec::new();
    // Live objects the head version does not satisfy, for `matchesRevision` (SPEC §7).
    let mut drifted_live: HashMap<ResourceId, Value> = HashMap::new();
    let mut missing_namespaces = BTreeSet::new();
    // Largest first (by the desired objects' size, which the live ones follow): the longest
    // LISTs (CRDs, dashboards in ConfigMaps) start at once and the small ones fill the gaps,
    // instead of a large one starting last.
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by_cached_key(|(_, (_, manifests))| {
        std::cmp::Reverse(manifests.iter().map(|m| m.size).sum::<usize>())
    });
    let mut lists = futures::stream::iter(groups)
        .map(|(key, (resource, manifests))| async move {
            let listed = cluster.list(&resource, key.2.as_deref(), None).await;
            (resource, manifests, listed)
        })
        // Each LIST answer is parsed whole (up to LIST_CHUNK objects with their managedFields)
        // before it is compared: a few in flight keep the pipe full at a fraction of the
        // memory of 16. The dry-runs below, small and many, use the full bound.
        .buffer_unordered(cluster.concurrency().min(LISTS_IN_FLIGHT));
    let mut unlisted_members = Vec::new();
    while let Some((resource, manifests, listed)) = lists.next().await {
        let whole = listed_whole.contains(&(resource.group.clone(), resource.kind.clone()));
        let mut live = match listed {
            Ok(objects) => by_name(objects),
            Err(error) => {
                if whole {
                    unlisted_members.push(format!("{}.{}", resource.kind, resource.group));
                }
                let error = error.to_string();
                for packed in manifests {
                    let mut row = ResourceStatus::new(&packed.manifest, DriftState::Error);
                    row.error = Some(error.clone());
                    resources.push(row);
                }
                continue;
            }
        };
        for packed in manifests {
            let manifest = match packed.unpack() {
                Ok(manifest) => manifest,
                Err(row) => {
                    resources.push(*row);
                    continue;
                }
            };
            let Some(live_object) = live.remove(manifest.id.name.as_str()) else {
                let mut row = ResourceStatus::new(&manifest, DriftState::Missing);
                if opts.texts {
                    row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, rules);
                }
                if let Some(ns) = &manifest.id.namespace {
                    missing_namespaces.insert(ns.clone());
                }
                resources.push(row);
                continue;
            };
            let client = compare_client(&manifest.id, &manifest.object, &live_object, rules);
            if opts.matches_revision
                && opts.last_commit_limit > 0
                && matches!(&client, Ok(c) if c.is_drifted())
            {
                drifted_live.insert(manifest.id.clone(), live_object.clone());
            }
            match (opts.strategy, client) {
                (_, Err(error)) => resources.push(error_row(&manifest, Some(&live_object), &error)),
                (Strategy::Client, Ok(comparison)) => {
                    resources.push(compared_row(
                        &manifest,
                        &live_object,
                        comparison,
                        Strategy::Client,
                        opts.texts,
                    ));
                }
                (Strategy::Server, Ok(comparison)) => {
                    if !comparison.is_drifted()
                        && !owns_unsent_fields(&live_object, &manifest.object)
                    {
                        stats.dry_runs_skipped += 1;
                        resources.push(compared_row(
                            &manifest,
                            &live_object,
                            comparison,
                            Strategy::Server,
                            opts.texts,
                        ));
                    } else {
                        needs_dry_run.push((manifest, resource.clone(), live_object, comparison));
                    }
                }
            }
        }
        if whole {
            listed_members.extend(
                live.into_values()
                    .filter(|object| part_of(object) == Some(apply_set_id.as_str())),
            );
        }
    }
    drop(lists);
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "listed and compared"
    );
    let dry_run_rows: Vec<ResourceStatus> = futures::stream::iter(needs_dry_run)
        .map(|(manifest, resource, live_object, client)| async move {
            dry_run_row(
                cluster,
                &manifest,
                &resource,
                &live_object,
                client,
                rules,
                opts.texts,
            )
            .await
        })
        .buffer_unordered(cluster.concurrency())
        .collect()
        .await;
    resources.extend(dry_run_rows);

    note_missing_namespaces(
        cluster,
        &mut resources,
        &missing_namespaces,
        &declared_namespaces,
    )
    .await?;

    let mut warnings: Vec<String> = rendered.warnings.iter().map(ToString::to_string).collect();
    warnings.extend(discovery.warnings());
    let (members, group_kinds) = match members
        .await
        .map_err(|error| StatusError::Task(error.to_string()))?
    {
        Ok(members) => members,
        Err(error @ ClusterError::Unreachable { .. }) => return Err(error.into()),
        Err(error) => {
            warnings.push(format!(
                "orphans not shown: cannot read the members of ApplySet {}/{parent}: {error}",
                rendered.config.apply_set_namespace
            ));
            (Vec::new(), HashSet::new())
        }
    };
    for kind in unlisted_members {
        warnings.push(format!(
            "orphans of kind {kind} not shown: its list failed (see its rows)"
        ));
    }
    let discovery = cluster.discovery_of_objects(&members).await?;
    let is_orphan = |id: &ResourceId| {
        !desired_ids.contains(id) && (filters.is_empty() || filters.iter().any(|f| f.matches(id)))
    };
    // Members found in whole lists are whole already; only kinds the parent names have members.
    let listed_orphans: Vec<(ResourceId, Value)> = listed_members
        .into_iter()
        .filter_map(|member| Some((member_id(&member, &discovery)?, member)))
        .filter(|(id, _)| {
            group_kinds.contains(&(id.group.clone(), id.kind.clone())) && is_orphan(id)
        })
        .collect();
    // Members were listed by metadata: the orphans (few) are read whole.
    let orphans: Vec<(ResourceId, Value)> = members
        .into_iter()
        .filter_map(|member| Some((member_id(&member, &discovery)?, member)))
        .filter(|(id, _)| is_orphan(id))
        .collect();
    let orphans: Vec<(ResourceId, Value)> = futures::stream::iter(orphans)
        .map(|(id, member)| {
            let discovery = &discovery;
            async move {
                // Deleted since it was listed: no orphan; unreadable: its metadata.
                let whole = match discovery.preferred_kind(&id.group, &id.kind) {
                    Some(served) => cluster
                        .get(&served.resource, id.namespace.as_deref(), &id.name)
                        .await
                        .unwrap_or(Some(member)),
                    None => Some(member),
                };
                (id, whole)
            }
        })
        .buffer_unordered(cluster.concurrency())
        .filter_map(|(id, object)| async move { object.map(|o| (id, o)) })
        .collect()
        .await;
    for (id, member) in orphans.into_iter().chain(listed_orphans) {
        resources.push(orphan_row(id, &member, rules, opts.texts));
    }

    if let Some(walk) = walk {
        let (found, walked) = walk
            .await
            .map_err(|error| StatusError::Task(error.to_string()))??;
        stats.commits_walked = walked;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis(),
            "last commits found"
        );
        for row in &mut resources {
            row.last_commit = found.get(&row.id).cloned();
        }
    }
    // SPEC §7: a live object the head version satisfies matches the commit that introduced
    // that version (`lastCommit`); the others are looked up in their history.
    let drifted_ids: BTreeSet<ResourceId> = drifted_live.keys().cloned().collect();
    let matched = if drifted_live.is_empty() {
        HashMap::new()
    } else {
        let (repo, render_opts, limit) =
            (repo.clone(), render_opts.clone(), opts.last_commit_limit);
        let rules = rules.to_vec();
        blocking(move || {
            crate::ops::history::matches_revisions(
                &repo,
                commit,
                &render_opts,
                &drifted_live,
                &rules,
                limit,
            )
            .map_err(|error| StatusError::Task(error.to_string()))
        })
        .await?
    };
    for row in &mut resources {
        if matches!(row.state, DriftState::Synced | DriftState::Drifted) {
            row.matches_revision = if drifted_ids.contains(&row.id) {
                matched.get(&row.id).cloned()
            } else if !opts.matches_revision && row.state == DriftState::Drifted {
                None
            } else {
                row.last_commit.as_ref().map(|c| c.id.clone())
            };
        }
    }

    sort_rows(&mut resources);
    stats.lists = cluster.stats().lists() - stats_before.0;
    stats.dry_runs = cluster.stats().dry_runs() - stats_before.1;
    Ok(StatusReport {
        revision,
        path: gitops_git::normalize_path(&opts.target.path),
        context: cluster.context().to_owned(),
        server: cluster.server().to_owned(),
        resources,
        render_errors: rendered.errors.iter().map(ToString::to_string).collect(),
        warnings,
        stats,
    })
}

/// How the environment renders for an evaluation against `cluster`.
fn render_options(cluster: &ClusterClient, opts: &StatusOptions) -> RenderOptions {
    let mut render_opts = RenderOptions::new(
        opts.target.path.clone(),
        opts.target
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.default_namespace().to_owned()),
    );
    render_opts.kubectl = opts.target.kubectl.clone();
    render_opts
}

/// Kind scopes from `discovery` first, then the built-in table for kinds the cluster does not
/// serve (they are Unknown anyway, but keep their identity stable).
pub(crate) fn discovered_scope(discovery: &Arc<Discovery>) -> ScopeLookup {
    let discovery = Arc::clone(discovery);
    Arc::new(move |group: &str, kind: &str| {
        discovery
            .scope(group, kind)
            .or_else(|| builtin_scope(group, kind))
    })
}

/// Renders `commit` and reads discovery of the groups its kinds need, only those (SPEC §5):
/// the render runs on the built-in scope table while the core group and the group list are
/// read, then discovery is asked for the rendered manifests' groups and the render is settled
/// with their scopes ([`Rendered::settle_scopes`]; rendered again in the rare case it cannot
/// settle). `render_opts.scope` is left as discovery's, for later renders of the same run.
/// The render runs on this thread (see [`on_this_thread`]).
pub(crate) async fn render_discovered(
    cluster: &ClusterClient,
    repo: &EnvRepo,
    commit: ObjectId,
    render_opts: &mut RenderOptions,
) -> Result<(Rendered, Arc<Discovery>), StatusError> {
    let index = {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.discovery_of(std::iter::empty()).await })
    };
    let builtin: ScopeLookup = Arc::new(builtin_scope);
    render_opts.scope = builtin.clone();
    let started = std::time::Instant::now();
    let rendered = on_this_thread(|| render(repo, commit, render_opts));
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "rendered");
    // An unreachable cluster is the first thing to say, before a render error.
    index
        .await
        .map_err(|error| StatusError::Task(error.to_string()))??;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "group index read"
    );
    let mut rendered = rendered?;
    let groups: BTreeSet<&str> = rendered
        .manifests
        .iter()
        .map(|m| m.id.group.as_str())
        .collect();
    let discovery = cluster.discovery_of(groups).await?;
    render_opts.scope = discovered_scope(&discovery);
    if !rendered.settle_scopes(&builtin, &render_opts.scope, &render_opts.default_namespace) {
        rendered = on_this_thread(|| render(repo, commit, render_opts))?;
    }
    Ok((rendered, discovery))
}

/// Resolves RESOURCE arguments against `discovery` (the environment's groups); a resource
/// type none of them names (a custom kind's short name the environment does not use) asks
/// discovery of every group, as kubectl would, and that fuller discovery is returned.
pub(crate) async fn resolve_resource_args(
    cluster: &ClusterClient,
    args: &[String],
    namespace: Option<&str>,
    discovery: Arc<Discovery>,
) -> Result<(Vec<ResourceFilter>, Arc<Discovery>), StatusError> {
    let resolve = |discovery: &Discovery| {
        args.iter()
            .map(|arg| resolve_resource_arg(arg, namespace, Some(discovery)))
            .collect::<Result<Vec<_>, _>>()
    };
    match resolve(&discovery) {
        Ok(filters) => Ok((filters, discovery)),
        Err(StatusError::UnknownResourceType { .. }) => {
            let all = cluster.discovery().await?;
            Ok((resolve(&all)?, all))
        }
        Err(error) => Err(error),
    }
}

/// Puts rows in the report's order: state, kind, namespace, name, group.
pub fn sort_rows(rows: &mut [ResourceStatus]) {
    rows.sort_by(|a, b| {
        (
            a.state,
            &a.id.kind,
            &a.id.namespace,
            &a.id.name,
            &a.id.group,
        )
            .cmp(&(
                b.state,
                &b.id.kind,
                &b.id.namespace,
                &b.id.name,
                &b.id.group,
            ))
    });
}

/// Evaluates one resource of a report again, with both texts of its diff (`live_yaml`,
/// `desired_yaml`) exactly as [`evaluate_with`] makes them with [`StatusOptions::texts`]: for
/// the UI's Detail pane, whose evaluations leave texts out. Renders only the resource's source
/// file (its kustomize unit, if any), GETs the live object and, for the server strategy, makes
/// the same dry-run decision. `api_version` and `source` come from the report's row (`source`
/// is `None` for an orphan). `lastCommit` and `matchesRevision` are left out.
pub async fn evaluate_resource(
    cluster: &ClusterClient,
    opts: &StatusOptions,
    id: &ResourceId,
    api_version: &str,
    source: Option<&Source>,
) -> Result<ResourceStatus, StatusError> {
    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    let (repo, commit) = blocking(move || {
        let repo = EnvRepo::open(&repo_dir)?;
        let commit = repo.resolve(&rev)?;
        Ok((repo, commit))
    })
    .await?;
    // The resource's group decides its identity; the file's other kinds are not compared.
    let discovery = cluster.discovery_of([id.group.as_str()]).await?;
    let mut render_opts = render_options(cluster, opts);
    render_opts.scope = discovered_scope(&discovery);
    render_opts.cache = RenderCache::on_disk(&repo.git_dir());
    let path = opts.target.path.clone();
    let file = source.map(|s| s.file.clone());
    let (manifest, rules) = blocking(move || match file {
        Some(file) => {
            let rendered = gitops_render::render_file(&repo, commit, &render_opts, &file)?;
            Ok((rendered.manifests, rendered.config.ignore_differences))
        }
        None => {
            let config = gitops_render::load_config(&repo, commit, &path)?;
            Ok((Vec::new(), config.ignore_differences))
        }
    })
    .await?;
    let manifest = manifest.into_iter().find(|m| &m.id == id);
    let rules = rules.as_slice();
    let gone = |what: String| StatusError::Gone {
        what,
        revision: opts.target.rev.clone(),
    };

    let Some(manifest) = manifest else {
        if let Some(source) = source {
            return Err(gone(format!(
                "{} is no longer defined in {}",
                id, source.file
            )));
        }
        // An orphan: its live object alone.
        let (group, version) = split_api_version(api_version);
        let resource = discovery
            .resolve(group, version, &id.kind)
            .map_err(|not_served| gone(not_served.message(api_version, &id.kind)))?
            .resource
            .clone();
        let live = list_one(cluster, &resource, id.namespace.as_deref(), &id.name)
            .await?
            .ok_or_else(|| gone(format!("{id} no longer exists in the cluster")))?;
        return Ok(orphan_row(id.clone(), &live, rules, true));
    };

    let (group, version) = split_api_version(&manifest.api_version);
    let resource = match discovery.resolve(group, version, &manifest.id.kind) {
        Ok(kind) => kind.resource.clone(),
        Err(not_served) => {
            let mut row = ResourceStatus::new(&manifest, DriftState::Unknown);
            row.error = Some(not_served.message(&manifest.api_version, &manifest.id.kind));
            row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, rules);
            return Ok(row);
        }
    };
    let live = match list_one(
        cluster,
        &resource,
        manifest.id.namespace.as_deref(),
        &manifest.id.name,
    )
    .await
    {
        Ok(Some(live)) => live,
        Ok(None) => {
            let mut row = ResourceStatus::new(&manifest, DriftState::Missing);
            row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, rules);
            return Ok(row);
        }
        Err(error) => {
            let mut row = ResourceStatus::new(&manifest, DriftState::Error);
            row.error = Some(error.to_string());
            return Ok(row);
        }
    };
    let client = compare_client(&manifest.id, &manifest.object, &live, rules);
    Ok(match (opts.strategy, client) {
        (_, Err(error)) => error_row(&manifest, Some(&live), &error),
        (Strategy::Client, Ok(comparison)) => {
            compared_row(&manifest, &live, comparison, Strategy::Client, true)
        }
        (Strategy::Server, Ok(comparison))
            if !comparison.is_drifted() && !owns_unsent_fields(&live, &manifest.object) =>
        {
            compared_row(&manifest, &live, comparison, Strategy::Server, true)
        }
        (Strategy::Server, Ok(comparison)) => {
            dry_run_row(
                cluster, &manifest, &resource, &live, comparison, rules, true,
            )
            .await
        }
    })
}

/// One object as [`evaluate_with`] sees it: through a LIST (`fieldSelector=metadata.name`),
/// whose items differ from a GET's answer in shape (the server leaves `apiVersion` and `kind`
/// out of built-in kinds' items; the cluster client puts them first), so that the texts made
/// from it are the same. `None` when it does not exist.
async fn list_one(
    cluster: &ClusterClient,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, ClusterError> {
    // Transient failures (5xx, 429) are retried: a row re-checked after a live change, or
    // the Detail pane's texts, must not turn into an error on one.
    let page = cluster.list_by_name(resource, namespace, name).await?;
    let item = match page {
        Value::Object(mut page) => match page.remove("items") {
            Some(Value::Array(items)) => items
                .into_iter()
                .find(|item| item.pointer("/metadata/name").and_then(Value::as_str) == Some(name)),
            _ => None,
        },
        _ => None,
    };
    Ok(item.map(|item| gitops_cluster::with_type_meta(item, resource)))
}

type LiveKey = (String, String, Option<String>);

/// LIST requests in flight at once (see where it is used).
const LISTS_IN_FLIGHT: usize = 4;

/// Manifests from which on the waiting ones are packed ([`PackedManifest`]): below, the
/// objects weigh little and packing them (a serialization and a parse each) only costs time.
const PACK_FROM: usize = 1000;

/// A manifest whose object waits as compact JSON text (`object` is `Null` meanwhile), or as
/// it is in an environment too small for that to matter.
struct PackedManifest {
    manifest: Manifest,
    /// `None`: not packed.
    json: Option<Box<str>>,
    /// The object's size in bytes of text (its JSON, or an estimate when not packed).
    size: usize,
}

impl PackedManifest {
    fn pack(mut manifest: Manifest, pack: bool) -> PackedManifest {
        if !pack {
            let size = text_size(&manifest.object);
            return PackedManifest {
                manifest,
                json: None,
                size,
            };
        }
        let object = std::mem::take(&mut manifest.object);
        // A Value always serializes; the fallback only keeps the types honest.
        let json = serde_json::to_string(&object).unwrap_or_default();
        PackedManifest {
            manifest,
            size: json.len(),
            json: Some(json.into_boxed_str()),
        }
    }

    /// The manifest with its object parsed back (exactly: serde_json round-trips its own
    /// output, key order included), or an Error row.
    fn unpack(self) -> Result<Manifest, Box<ResourceStatus>> {
        let PackedManifest {
            mut manifest, json, ..
        } = self;
        let Some(json) = json else {
            return Ok(manifest);
        };
        match serde_json::from_str(&json) {
            Ok(object) => {
                manifest.object = object;
                Ok(manifest)
            }
            Err(error) => {
                let mut row = ResourceStatus::new(&manifest, DriftState::Error);
                row.error = Some(format!(
                    "internal error: cannot read the manifest back: {error}"
                ));
                Err(Box::new(row))
            }
        }
    }
}

/// About the size of a value's JSON text: its strings and keys, a few bytes per node.
fn text_size(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|v| text_size(v) + 1).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + text_size(v))
                .sum::<usize>()
        }
        _ => 5,
    }
}

/// A LIST's objects by name (unnamed ones cannot match a manifest).
/// The ApplySet an object is a member of: its `applyset.kubernetes.io/part-of` label.
fn part_of(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/labels")?
        .get(applyset::PART_OF_LABEL)?
        .as_str()
}

fn by_name(objects: Vec<Value>) -> HashMap<String, Value> {
    objects
        .into_iter()
        .filter_map(|object| {
            let name = object.pointer("/metadata/name")?.as_str()?.to_owned();
            Some((name, object))
        })
        .collect()
}

impl ResourceStatus {
    fn new(manifest: &Manifest, state: DriftState) -> ResourceStatus {
        ResourceStatus {
            id: manifest.id.clone(),
            api_version: manifest.api_version.clone(),
            state,
            strategy: None,
            fields: Vec::new(),
            changes: Vec::new(),
            source: Some(manifest.source.clone()),
            last_commit: None,
            live_revision: None,
            matches_revision: None,
            live_resource_version: None,
            error: None,
            notes: Vec::new(),
            live_yaml: None,
            desired_yaml: None,
        }
    }

    fn with_live(mut self, live: &Value) -> ResourceStatus {
        self.live_revision = live
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.live_resource_version = live
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self
    }
}

fn compared_row(
    manifest: &Manifest,
    live: &Value,
    comparison: Comparison,
    strategy: Strategy,
    texts: bool,
) -> ResourceStatus {
    let mut row = ResourceStatus::new(manifest, comparison.state()).with_live(live);
    row.strategy = Some(strategy);
    if texts {
        match (comparison.live_yaml(), comparison.desired_yaml()) {
            (Ok(live_yaml), Ok(desired_yaml)) => {
                row.live_yaml = Some(live_yaml);
                row.desired_yaml = Some(desired_yaml);
            }
            (Err(error), _) | (_, Err(error)) => row.notes.push(error.to_string()),
        }
    }
    row.fields = comparison.fields;
    row.changes = comparison.changes;
    row
}

/// Why the API server would refuse the manifest's name or namespace (its name validation per
/// kind, as the server checks on create), with the file:line and the next step; `None` when
/// they are valid.
fn invalid_name(manifest: &Manifest) -> Option<String> {
    use k8s_model::names::{NameRule, dns1123_label};
    let id = &manifest.id;
    let rule = NameRule::of(&id.group, &id.kind);
    let problems = rule.check(&id.name);
    let rule = rule.describe();
    let (field, value, rule, problems) = match &id.namespace {
        _ if !problems.is_empty() => ("metadata.name", id.name.as_str(), rule, problems),
        Some(ns) if !dns1123_label(ns).is_empty() => (
            "metadata.namespace",
            ns.as_str(),
            "RFC 1123 label",
            dns1123_label(ns),
        ),
        _ => return None,
    };
    Some(format!(
        "{}:{}: {field} {value:?} of this {} is not a valid {rule}: {}; the API server refuses it, rename it",
        manifest.source.file,
        manifest.source.line,
        id.kind,
        problems.join("; ")
    ))
}

fn error_row(manifest: &Manifest, live: Option<&Value>, error: &DriftError) -> ResourceStatus {
    let mut row = ResourceStatus::new(manifest, DriftState::Error);
    if let Some(live) = live {
        row = row.with_live(live);
    }
    row.error = Some(error.to_string());
    row
}

/// Dry-runs one candidate and compares server-side; 403 falls back to the client comparison
/// already made, any other failure is an Error row with the server's message.
async fn dry_run_row(
    cluster: &ClusterClient,
    manifest: &Manifest,
    resource: &ApiResource,
    live: &Value,
    client: Comparison,
    rules: &[IgnoreRule],
    texts: bool,
) -> ResourceStatus {
    // Sync does not send ignored fields, so neither does its dry-run.
    let mut sent = manifest.object.clone();
    match IgnoreSet::from_rules(rules, &manifest.id, Some(live)) {
        Ok(ignore) => ignore.strip(&mut sent),
        Err(error) => return error_row(manifest, Some(live), &error),
    }
    let result = cluster
        .apply_dry_run(
            resource,
            manifest.id.namespace.as_deref(),
            &manifest.id.name,
            &sent,
        )
        .await;
    match result {
        Ok(dry_run) => {
            match compare_server(&manifest.id, &manifest.object, live, &dry_run, rules) {
                Ok(comparison) => compared_row(manifest, live, comparison, Strategy::Server, texts),
                Err(error) => error_row(manifest, Some(live), &error),
            }
        }
        Err(error) if error.is_forbidden() => {
            let mut row = compared_row(manifest, live, client, Strategy::Client, texts);
            row.notes.push(format!(
                "server-side dry-run forbidden ({}); compared client-side",
                error.server_message()
            ));
            row
        }
        Err(error) => {
            let mut row = ResourceStatus::new(manifest, DriftState::Error).with_live(live);
            row.error = Some(error.server_message());
            row
        }
    }
}

/// Adds a note to Missing resources whose namespace does not exist: a dry-run would 404, and
/// sync must create the namespace first.
async fn note_missing_namespaces(
    cluster: &ClusterClient,
    resources: &mut [ResourceStatus],
    namespaces: &BTreeSet<String>,
    declared_namespaces: &BTreeSet<String>,
) -> Result<(), StatusError> {
    if namespaces.is_empty() {
        return Ok(());
    }
    let namespace_resource = gitops_cluster::core_resource("Namespace", "namespaces");
    let checks: Vec<(String, Result<Option<Value>, ClusterError>)> =
        futures::stream::iter(namespaces.iter().cloned())
            .map(|ns| {
                let resource = namespace_resource.clone();
                async move {
                    let found = cluster.get(&resource, None, &ns).await;
                    (ns, found)
                }
            })
            .buffer_unordered(cluster.concurrency())
            .collect()
            .await;
    for (ns, found) in checks {
        let absent = match found {
            Ok(found) => found.is_none(),
            Err(error) if error.is_forbidden() => continue,
            Err(error) => return Err(error.into()),
        };
        if !absent {
            continue;
        }
        let declared = declared_namespaces.contains(&ns);
        let note = if declared {
            format!(
                "namespace {ns} does not exist yet (a server-side dry-run would fail with 404); sync creates it first"
            )
        } else {
            format!(
                "namespace {ns} does not exist (a server-side dry-run would fail with 404); create it or add it to the environment"
            )
        };
        for row in resources.iter_mut().filter(|r| {
            r.state == DriftState::Missing && r.id.namespace.as_deref() == Some(ns.as_str())
        }) {
            row.notes.push(note.clone());
        }
    }
    Ok(())
}

/// The identity of an ApplySet member from its live object.
pub(crate) fn member_id(member: &Value, discovery: &Discovery) -> Option<ResourceId> {
    let api_version = member.get("apiVersion")?.as_str()?;
    let kind = member.get("kind")?.as_str()?;
    let (group, _) = split_api_version(api_version);
    let namespaced = discovery.scope(group, kind).unwrap_or(true);
    Some(ResourceId {
        group: group.to_owned(),
        kind: kind.to_owned(),
        namespace: member
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|_| namespaced)
            .map(str::to_owned),
        name: member.pointer("/metadata/name")?.as_str()?.to_owned(),
    })
}

fn orphan_row(id: ResourceId, live: &Value, rules: &[IgnoreRule], texts: bool) -> ResourceStatus {
    let row = ResourceStatus {
        api_version: live
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        state: DriftState::Orphaned,
        strategy: None,
        fields: Vec::new(),
        changes: Vec::new(),
        source: None,
        last_commit: None,
        live_revision: None,
        matches_revision: None,
        live_resource_version: None,
        error: None,
        notes: Vec::new(),
        live_yaml: if texts {
            shown_yaml(&id, Some(live), live, rules)
        } else {
            None
        },
        desired_yaml: None,
        id,
    };
    row.with_live(live)
}

/// An object normalized, stripped and masked, as YAML; `None` if it cannot be written.
fn shown_yaml(
    id: &ResourceId,
    raw_live: Option<&Value>,
    object: &Value,
    rules: &[IgnoreRule],
) -> Option<String> {
    let [prepared] = prepare_objects(id, raw_live, [object], rules).ok()?;
    to_yaml(&prepared).ok()
}

/// Whether the live object's managedFields show a field our manager applied that `desired`
/// no longer sets: a dry-run would remove it, so the client comparison alone cannot say Synced.
/// Tracking keys sync adds (ApplySet label, revision and source annotations) do not count.
fn owns_unsent_fields(live: &Value, desired: &Value) -> bool {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    entries
        .iter()
        .filter(|entry| {
            entry.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                && entry.get("operation").and_then(Value::as_str) == Some("Apply")
                && entry
                    .get("subresource")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
        })
        .any(
            |entry| match entry.get("fieldsV1").map(FieldSet::from_fields_v1) {
                Some(Ok(set)) => set_exceeds(&set, desired, &[]),
                // Unreadable: let the server decide.
                Some(Err(_)) => true,
                None => false,
            },
        )
}

/// Whether `set` names a field `desired` lacks. `path` holds the map keys above, to spot the
/// tracking keys under `metadata.labels` / `metadata.annotations`.
fn set_exceeds(set: &FieldSet, desired: &Value, path: &[&str]) -> bool {
    set.entries()
        .any(|(element, child)| match (element, desired) {
            (PathElement::Field(name), Value::Object(map)) => {
                let tracking = match path {
                    ["metadata", "labels"] => IGNORED_LABELS.contains(&name.as_str()),
                    ["metadata", "annotations"] => IGNORED_ANNOTATIONS.contains(&name.as_str()),
                    _ => false,
                };
                if tracking {
                    return false;
                }
                let mut below = path.to_vec();
                below.push(name);
                match map.get(name) {
                    // A map desired lacks altogether: what is below decides, since tracking
                    // keys live in maps (labels, annotations) a manifest may not have.
                    None if !child.is_empty() => {
                        set_exceeds(child, &Value::Object(serde_json::Map::new()), &below)
                    }
                    None => true,
                    Some(value) => set_exceeds(child, value, &below),
                }
            }
            (PathElement::Key(key), Value::Array(items)) => {
                let item = items
                    .iter()
                    .find(|item| item_has_key(item, key, key_field_default));
                item.is_none_or(|item| set_exceeds(child, item, &[]))
            }
            (PathElement::Value(value), Value::Array(items)) => !items.contains(value),
            (PathElement::Index(n), Value::Array(items)) => items
                .get(*n)
                .is_none_or(|item| set_exceeds(child, item, &[])),
            // The shapes disagree: not provably unchanged.
            _ => true,
        })
}

/// Runs blocking work on the current thread, telling a multi-thread runtime so (its other tasks
/// move to other workers). For the head render: what it allocates then lands in this thread's
/// malloc arena, which the rows made on this thread reuse as the manifests are dropped; from a
/// blocking thread's arena, those pages stayed resident beside the rows (~20 MB of peak RSS at
/// 5,000 resources).
fn on_this_thread<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Runs blocking git/render work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StatusError> + Send + 'static,
) -> Result<T, StatusError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StatusError::Task(error.to_string()))?
}

/// Reads a commit's metadata as every output shows it.
pub fn commit_info(repo: &EnvRepo, id: ObjectId) -> Result<CommitInfo, StatusError> {
    Ok(repo.commit_info(id)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Packed or not, a waiting manifest comes back as it went in, and its size is about its
    /// JSON's.
    #[test]
    fn waiting_manifests_come_back_packed_or_not() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n"},
            "data": {"z": "1", "a": "two", "list": [1, 2.5, true, null]}});
        let manifest = Manifest {
            id: ResourceId {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: Some("n".into()),
                name: "a".into(),
            },
            api_version: "v1".into(),
            object: object.clone(),
            source: k8s_model::Source {
                file: "a.yaml".into(),
                document: 0,
                line: 1,
                end_line: 9,
            },
        };
        let json_len = serde_json::to_string(&object).unwrap().len();
        for pack in [true, false] {
            let packed = PackedManifest::pack(manifest.clone(), pack);
            assert_eq!(packed.json.is_some(), pack);
            assert!(packed.size * 2 > json_len && packed.size < json_len * 2);
            let back = packed.unpack().ok().unwrap();
            assert_eq!(back.object, object);
            let keys: Vec<&String> = back.object["data"].as_object().unwrap().keys().collect();
            assert_eq!(keys, ["z", "a", "list"]);
        }
    }

    fn cm(name: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {value:?}\n"
        )
    }

    /// The walk as it was before it re-rendered only changed files: a full render per commit.
    fn full_render_walk(
        repo: &EnvRepo,
        head: ObjectId,
        opts: &RenderOptions,
        targets: &BTreeSet<ResourceId>,
    ) -> HashMap<ResourceId, CommitInfo> {
        let objects = |commit| -> HashMap<ResourceId, Value> {
            match render(repo, commit, opts) {
                Ok(r) => r.manifests.into_iter().map(|m| (m.id, m.object)).collect(),
                Err(_) => HashMap::new(),
            }
        };
        let mut found = HashMap::new();
        let mut remaining = targets.clone();
        let mut current = head;
        while let Some(parent) = repo.first_parent(current).unwrap() {
            let (now, before) = (objects(current), objects(parent));
            for id in remaining.clone() {
                if now.get(&id) != before.get(&id) {
                    remaining.remove(&id);
                    found.insert(id, repo.commit_info(current).unwrap());
                }
            }
            current = parent;
        }
        for id in remaining {
            found.insert(id, repo.commit_info(current).unwrap());
        }
        found
    }

    #[test]
    fn last_changes_match_a_full_render_of_every_commit() {
        use gitops_git::fixture::FixtureRepo;
        let fx = FixtureRepo::new();
        for name in ["a", "b", "c", "d"] {
            fx.write(&format!("{name}.yaml"), &cm(name, "1"));
        }
        fx.commit("four config maps");
        fx.write("a.yaml", &cm("a", "2"));
        fx.commit("change a");
        // Sorts before c.yaml, so this c wins and c.yaml's is a duplicate; both read the same,
        // so c does not change here, though only 0dup.yaml does.
        fx.write("0dup.yaml", &cm("c", "1"));
        fx.commit("duplicate c");
        fx.git(&["rm", "-q", "0dup.yaml"]);
        fx.commit("drop the duplicate");
        fx.git(&["mv", "c.yaml", "moved-c.yaml"]);
        fx.commit("move c, same content");
        fx.write("broken.yaml", "not: [valid\n");
        fx.write("b.yaml", &cm("b", "2"));
        fx.commit("broken file and change b");
        fx.git(&["rm", "-q", "broken.yaml"]);
        fx.write(".kubectl-gitops.yaml", "exclude: [\"d.yaml\"]\n");
        fx.commit("exclude d");
        fx.write(".kubectl-gitops.yaml", "exclude: []\n");
        fx.write("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: e}}\n");
        fx.commit("include d again, add e");
        fx.write("z.yaml", &cm("z", "1"));
        fx.commit("add z");

        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let opts = RenderOptions::new("", "default");
        let rendered = render(&repo, head, &opts).unwrap();
        let targets: BTreeSet<ResourceId> =
            rendered.manifests.iter().map(|m| m.id.clone()).collect();
        let (found, walked) = crate::ops::history::last_changes(
            &repo,
            head,
            &opts,
            targets.iter().cloned(),
            DEFAULT_LAST_COMMIT_LIMIT,
        )
        .unwrap();
        let expected = full_render_walk(&repo, head, &opts, &targets);
        let summary = |m: &HashMap<ResourceId, CommitInfo>| -> BTreeMap<String, String> {
            m.iter()
                .map(|(id, c)| (id.name.clone(), c.summary.clone()))
                .collect()
        };
        assert_eq!(summary(&found), summary(&expected));
        assert_eq!(found.len(), 6, "{:?}", summary(&found));
        assert!(walked > 1);
        // The cases the changed-files step must hand over to a full render, spelled out.
        assert_eq!(summary(&found)["c"], "four config maps");
        assert_eq!(summary(&found)["d"], "include d again, add e");
        assert_eq!(summary(&found)["b"], "broken file and change b");
    }

    fn live_with_fields(fields_v1: Value) -> Value {
        json!({"metadata": {"managedFields": [
            {"manager": "kubectl-gitops", "operation": "Apply", "fieldsV1": fields_v1},
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:data": {"f:OTHER": {}}}},
        ]}})
    }

    #[test]
    fn owned_fields_desired_no_longer_sets_make_a_candidate() {
        let desired =
            json!({"metadata": {"name": "s", "labels": {"app": "s"}}, "data": {"A": "1"}});
        let same = live_with_fields(
            json!({"f:data": {"f:A": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}),
        );
        assert!(!owns_unsent_fields(&same, &desired));
        let dropped = live_with_fields(json!({"f:data": {"f:A": {}, "f:B": {}}}));
        assert!(owns_unsent_fields(&dropped, &desired));
        // Another manager's fields never count.
        let other_only = json!({"metadata": {"managedFields": [
            {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:data": {"f:B": {}}}}]}});
        assert!(!owns_unsent_fields(&other_only, &desired));
    }

    #[test]
    fn tracking_keys_sync_adds_are_not_candidates() {
        let desired = json!({"metadata": {"name": "s"}, "data": {"A": "1"}});
        let live = live_with_fields(json!({
            "f:data": {"f:A": {}},
            "f:metadata": {
                "f:labels": {"f:applyset.kubernetes.io/part-of": {}},
                "f:annotations": {"f:kubectl-gitops.io/revision": {}, "f:kubectl-gitops.io/source": {}},
            },
        }));
        assert!(!owns_unsent_fields(&live, &desired));
        let with_user_annotation = live_with_fields(json!({
            "f:metadata": {"f:annotations": {"f:team": {}}},
        }));
        assert!(owns_unsent_fields(&with_user_annotation, &desired));
    }

    #[test]
    fn keyed_list_items_are_matched_by_key() {
        let desired = json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        let owned = |name: &str| {
            live_with_fields(json!({"f:spec": {"f:containers": {
                format!("k:{{\"name\":\"{name}\"}}"): {".": {}, "f:name": {}, "f:image": {}}
            }}}))
        };
        assert!(!owns_unsent_fields(&owned("web"), &desired));
        assert!(owns_unsent_fields(&owned("sidecar"), &desired));
    }

    #[test]
    fn resource_args_resolve_offline() {
        let resolve = |arg: &str| resolve_resource_arg(arg, Some("prod"), None);
        let deploy = resolve("deploy/web").unwrap();
        assert_eq!(
            (
                deploy.group.as_str(),
                deploy.kind.as_str(),
                deploy.name.as_deref()
            ),
            ("apps", "Deployment", Some("web"))
        );
        assert_eq!(deploy.namespace.as_deref(), Some("prod"));
        assert_eq!(resolve("deployment.apps/web").unwrap(), deploy);
        assert_eq!(resolve("deployments/web").unwrap(), deploy);
        assert_eq!(resolve("cm/settings").unwrap().kind, "ConfigMap");
        assert_eq!(resolve("Service/web").unwrap().kind, "Service");
        assert_eq!(resolve("ingresses.networking.k8s.io").unwrap().name, None);
        // Cluster-scoped kinds ignore -n.
        assert_eq!(resolve("ns/prod").unwrap().namespace, None);
        assert!(matches!(
            resolve("widgets/x"),
            Err(StatusError::UnknownResourceType { .. })
        ));
        assert!(matches!(
            resolve("deploy/"),
            Err(StatusError::BadResourceArg { .. })
        ));
        assert!(matches!(
            resolve("/web"),
            Err(StatusError::BadResourceArg { .. })
        ));
    }

    #[test]
    fn filters_match_identity_and_namespace() {
        let id = |ns: Option<&str>| ResourceId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: ns.map(str::to_owned),
            name: "web".into(),
        };
        let filter = resolve_resource_arg("deploy/web", Some("prod"), None).unwrap();
        assert!(filter.matches(&id(Some("prod"))));
        assert!(!filter.matches(&id(Some("dev"))));
        let any_ns = resolve_resource_arg("deploy/web", None, None).unwrap();
        assert!(any_ns.matches(&id(Some("dev"))));
        let other = resolve_resource_arg("deploy/api", None, None).unwrap();
        assert!(!other.matches(&id(Some("dev"))));
    }
}
