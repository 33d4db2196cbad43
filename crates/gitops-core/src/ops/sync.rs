//! Sync: preflight, ordered server-side applies, ApplySet tracking, prune and health waits
//! (SPEC §6). Both the CLI and the UI call it in two steps:
//!
//! ```no_run
//! use gitops_cluster::ClusterClient;
//! use gitops_core::ops::sync::{execute, plan, SyncOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = ClusterClient::connect(None, None).await?;
//! let opts = SyncOptions { resources: vec!["deploy/web".into()], ..SyncOptions::default() };
//! let plan = plan(&cluster, &opts).await?; // renders, dry-runs everything, writes nothing
//! if plan.failures.is_empty() && plan.changes() > 0 {
//!     let result = execute(&cluster, &plan, &|done, total, row| {
//!         eprintln!("{done}/{total} {} {:?}", row.id, row.result);
//!     })
//!     .await;
//!     std::process::exit(result.exit_code());
//! }
//! # Ok(()) }
//! ```

use crate::Target;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::StreamExt;
use kube::core::ApiResource;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::drift::{IgnoreSet, compare_server};
use crate::ops::status::{
    ResourceFilter, StatusError, commit_info, member_id, render_discovered, resolve_resource_args,
};
use gitops_cluster::write::ApplyMode;
use gitops_cluster::{ClusterClient, ClusterError, FIELD_MANAGER, applyset, core_resource};
use gitops_git::EnvRepo;
use gitops_render::{RenderCache, RenderOptions};
use k8s_model::fieldset::{FieldSet, path_string};
use k8s_model::normalize::{PART_OF_LABEL, REVISION_ANNOTATION, SOURCE_ANNOTATION};
use k8s_model::{CommitInfo, Manifest, ResourceId, Source, split_api_version};

/// Annotation on the parent naming the tool that manages the ApplySet (KEP-3659).
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent listing member namespaces other than its own (KEP-3659).
pub const ADDITIONAL_NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// Sync wave of a resource: an integer, lower first (default 0).
pub const SYNC_WAVE_ANNOTATION: &str = "kubectl-gitops.io/sync-wave";
/// Argo CD's sync wave, honoured when ours is absent.
pub const ARGO_SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";
/// `"false"` keeps a member that `--prune` would delete.
pub const PRUNE_ANNOTATION: &str = "kubectl-gitops.io/prune";

/// How long sync waits for a CRD it applied to become Established.
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);
/// How often health and CRD conditions are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Helm's install order (helm/pkg/release/util/kind_sorter.go `InstallOrder`); kinds not in
/// it, custom resources among them, come after.
const HELM_INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// What to sync and how.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The environment: repo, path, revision, namespace, cluster, kubectl.
    pub target: Target,
    /// RESOURCE arguments; empty for the whole environment.
    pub resources: Vec<String>,
    /// Exact identities to sync (the UI's "sync this resource"); empty for no restriction.
    /// Combined with `resources`, a resource must match both.
    pub only: Vec<ResourceId>,
    /// Bound on concurrent requests; `None` for the config's `sync.concurrency`.
    pub concurrency: Option<usize>,
    /// Take over fields other managers own (git wins); `false` refuses conflicts.
    pub force: bool,
    /// Plan the deletion of Orphaned members.
    pub prune: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            target: Target::default(),
            resources: Vec::new(),
            only: Vec::new(),
            concurrency: None,
            force: true,
            prune: false,
        }
    }
}

/// Errors that stop a sync before any plan exists (per-resource problems are
/// [`SyncFailure`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Repo, render, cluster or RESOURCE problems, as `status` reports them.
    #[error(transparent)]
    Evaluate(#[from] StatusError),
    /// The cluster could not be used.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// The ApplySet parent of the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplySetRef {
    /// `applyset-<hash>-v1`.
    pub id: String,
    /// `kubectl-gitops-<env>`.
    pub name: String,
    /// Namespace of the parent ConfigMap.
    pub namespace: String,
}

/// What sync will do to one desired resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncAction {
    /// Not in the cluster: created.
    Create,
    /// In the cluster, and the apply changes it (values, ownership or ApplySet membership).
    Configure,
    /// The apply would change nothing: not sent.
    Unchanged,
}

/// A field another manager owns live that the apply takes over (force).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TakenOver {
    /// Dotted path (`spec.replicas`).
    pub path: String,
    /// The manager that owned it (`kubectl`).
    pub manager: String,
}

/// One desired resource in the plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedResource {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion` as written.
    pub api_version: String,
    /// Where it comes from in git.
    pub source: Source,
    /// Create, configure or leave alone.
    pub action: SyncAction,
    /// Differing field paths, dotted (normalized, as `status` shows them).
    pub fields: Vec<String>,
    /// Fields taken over from other managers.
    pub taken_over: Vec<TakenOver>,
    /// Sync wave (annotation, default 0).
    pub wave: i64,
    /// Notes, e.g. that the dry-run waits for a namespace or CRD created by this sync.
    pub notes: Vec<String>,
    #[serde(skip)]
    resource: ApiResource,
    /// The object sent: ignored fields stripped, tracking keys added.
    #[serde(skip)]
    object: Value,
    #[serde(skip)]
    rank: usize,
}

/// An Orphaned member `--prune` deletes (or keeps).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedPrune {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion` of the live object.
    pub api_version: String,
    /// Annotated `kubectl-gitops.io/prune: "false"`: kept.
    pub keep: bool,
    #[serde(skip)]
    resource: ApiResource,
    #[serde(skip)]
    rank: usize,
}

/// A failure naming its resource: in preflight (nothing is written while any exists), or of
/// a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncFailure {
    /// The resource; `None` for a file that did not render, or the ApplySet parent.
    pub id: Option<ResourceId>,
    /// The server's (or renderer's) message.
    pub message: String,
}

impl std::fmt::Display for SyncFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{id}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Everything a sync will do, found without writing: the UI shows it behind a confirmation,
/// the CLI prints it and asks.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    /// The commit synced.
    pub revision: CommitInfo,
    /// HEAD of the repo, to tell a rollback.
    pub head: CommitInfo,
    /// `--path`.
    pub path: String,
    /// Kubeconfig context.
    pub context: String,
    /// The environment's ApplySet parent.
    pub apply_set: ApplySetRef,
    /// Desired resources in apply order.
    pub resources: Vec<PlannedResource>,
    /// Members `--prune` deletes or keeps, in delete order.
    pub prune: Vec<PlannedPrune>,
    /// Preflight failures; non-empty means nothing may be written.
    pub failures: Vec<SyncFailure>,
    /// What rendering passed over without failing (symlinks never followed), for stderr.
    pub warnings: Vec<String>,
    /// Whether fields of other managers are taken over.
    pub force: bool,
    concurrency: usize,
    /// Group-kinds and namespaces the parent lists now (kept until a prune, so that earlier
    /// members stay findable).
    parent_group_kinds: BTreeSet<String>,
    parent_namespaces: BTreeSet<String>,
    /// Whether the plan covers the whole environment (no RESOURCE filter).
    whole: bool,
}

impl SyncPlan {
    /// Resources that would be created, configured, or pruned.
    pub fn changes(&self) -> usize {
        self.resources
            .iter()
            .filter(|r| r.action != SyncAction::Unchanged)
            .count()
            + self.prune.iter().filter(|p| !p.keep).count()
    }

    /// Whether the synced commit is not HEAD: the cluster will differ from HEAD.
    pub fn is_rollback(&self) -> bool {
        self.revision.id != self.head.id
    }

    /// Count of planned resources per action.
    pub fn count(&self, action: SyncAction) -> usize {
        self.resources.iter().filter(|r| r.action == action).count()
    }
}

/// Result of one resource, like kubectl apply prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncOutcome {
    /// Created.
    Created,
    /// Changed.
    Configured,
    /// Nothing to change.
    Unchanged,
    /// Deleted by `--prune`.
    Pruned,
    /// Kept: annotated `kubectl-gitops.io/prune: "false"`.
    Kept,
    /// The write failed (message in `error`).
    Failed,
    /// Not attempted: an earlier step failed; rerun sync to finish.
    Skipped,
}

/// One row of the result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion`.
    pub api_version: String,
    /// What happened.
    pub result: SyncOutcome,
    /// The server's message for `failed`.
    pub error: Option<String>,
}

/// What a sync did.
#[derive(Debug, Clone)]
pub struct SyncResult {
    /// The commit synced.
    pub revision: CommitInfo,
    /// The ApplySet parent.
    pub apply_set: ApplySetRef,
    /// Every desired resource, then pruned and kept members.
    pub resources: Vec<ResourceResult>,
    /// Failures, each naming its resource (`None`: the ApplySet parent or the plan).
    pub errors: Vec<SyncFailure>,
}

impl SyncResult {
    /// 2 when anything failed or was skipped, else 0 (SPEC §5).
    pub fn exit_code(&self) -> i32 {
        if self.errors.is_empty()
            && !self
                .resources
                .iter()
                .any(|r| matches!(r.result, SyncOutcome::Failed | SyncOutcome::Skipped))
        {
            0
        } else {
            2
        }
    }
}

/// Renders `opts.rev`, reads the live objects and dry-runs every targeted object: the plan.
/// Writes nothing.
pub async fn plan(cluster: &ClusterClient, opts: &SyncOptions) -> Result<SyncPlan, SyncError> {
    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    let (repo, commit, revision, head) = tokio::task::spawn_blocking(move || {
        let repo = EnvRepo::open(&repo_dir).map_err(StatusError::from)?;
        let commit = repo.resolve(&rev).map_err(StatusError::from)?;
        let revision = commit_info(&repo, commit)?;
        let head = match repo.resolve("HEAD") {
            Ok(head) => commit_info(&repo, head)?,
            // A bare repo without HEAD: the synced commit is all there is.
            Err(_) => revision.clone(),
        };
        Ok::<_, StatusError>((repo, commit, revision, head))
    })
    .await
    .map_err(|error| StatusError::Task(error.to_string()))??;

    let mut render_opts = RenderOptions::new(
        opts.target.path.clone(),
        opts.target
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.default_namespace().to_owned()),
    );
    render_opts.kubectl = opts.target.kubectl.clone();
    render_opts.cache = RenderCache::on_disk(&repo.git_dir());
    let (rendered, discovery) = render_discovered(cluster, &repo, commit, &mut render_opts).await?;
    let (filters, discovery) = resolve_resource_args(
        cluster,
        &opts.resources,
        opts.target.namespace.as_deref(),
        discovery,
    )
    .await?;
    let config = rendered.config.clone();
    let mut warnings: Vec<String> = rendered.warnings.iter().map(ToString::to_string).collect();
    warnings.extend(discovery.warnings());
    let concurrency = opts.concurrency.unwrap_or(config.sync_concurrency).max(1);
    let cluster = &cluster.clone().with_concurrency(concurrency);

    let mut failures: Vec<SyncFailure> = rendered
        .errors
        .iter()
        .map(|error| SyncFailure {
            id: None,
            message: error.to_string(),
        })
        .collect();
    let desired_ids: BTreeSet<ResourceId> =
        rendered.manifests.iter().map(|m| m.id.clone()).collect();
    let selected: Vec<Manifest> = rendered
        .manifests
        .into_iter()
        .filter(|m| selected_by(&filters, &opts.only, &m.id))
        .collect();

    let parent_name = applyset::parent_name(&config.env);
    let apply_set = ApplySetRef {
        id: applyset::applyset_id(&parent_name, &config.apply_set_namespace),
        name: parent_name,
        namespace: config.apply_set_namespace.clone(),
    };
    let parent = cluster
        .get(
            &core_resource("ConfigMap", "configmaps"),
            Some(&apply_set.namespace),
            &apply_set.name,
        )
        .await?;
    let parent_annotation = |key: &str| -> BTreeSet<String> {
        parent
            .as_ref()
            .and_then(|p| p.pointer("/metadata/annotations"))
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let parent_group_kinds = parent_annotation(applyset::CONTAINS_GROUP_KINDS_ANNOTATION);
    let parent_namespaces = parent_annotation(ADDITIONAL_NAMESPACES_ANNOTATION);

    // Kinds this sync makes served: the CRDs it applies.
    let crd_kinds: HashMap<(String, String), (ApiResource, bool)> = selected
        .iter()
        .filter(|m| m.id.kind == "CustomResourceDefinition")
        .filter_map(|m| crd_resource(&m.object))
        .map(|(resource, namespaced)| {
            (
                (resource.group.clone(), resource.kind.clone()),
                (resource, namespaced),
            )
        })
        .collect();

    // Resolve kinds; group the served ones for one LIST per kind and namespace.
    struct Target {
        manifest: Manifest,
        resource: ApiResource,
        pending_crd: bool,
    }
    let mut targets: Vec<Target> = Vec::new();
    for manifest in selected {
        let (group, version) = split_api_version(&manifest.api_version);
        match discovery.resolve(group, version, &manifest.id.kind) {
            Ok(kind) => targets.push(Target {
                resource: kind.resource.clone(),
                manifest,
                pending_crd: false,
            }),
            Err(not_served) => match crd_kinds.get(&(group.to_owned(), manifest.id.kind.clone())) {
                Some((resource, _)) => targets.push(Target {
                    resource: ApiResource {
                        version: version.to_owned(),
                        api_version: manifest.api_version.clone(),
                        ..resource.clone()
                    },
                    manifest,
                    pending_crd: true,
                }),
                None => failures.push(SyncFailure {
                    message: not_served.message(&manifest.api_version, &manifest.id.kind),
                    id: Some(manifest.id),
                }),
            },
        }
    }

    let mut list_keys: BTreeMap<(String, String, Option<String>), ApiResource> = BTreeMap::new();
    for target in targets.iter().filter(|t| !t.pending_crd) {
        list_keys
            .entry((
                target.resource.api_version.clone(),
                target.resource.plural.clone(),
                target.manifest.id.namespace.clone(),
            ))
            .or_insert_with(|| target.resource.clone());
    }
    let lists: Vec<_> = futures::stream::iter(list_keys)
        .map(|(key, resource)| async move {
            let listed = cluster.list(&resource, key.2.as_deref(), None).await;
            (key, listed)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut live: HashMap<(String, String, Option<String>, String), Value> = HashMap::new();
    for ((api_version, plural, namespace), listed) in lists {
        let objects = match listed {
            Ok(objects) => objects,
            // A namespace this sync creates: nothing in it yet.
            Err(error) if error.is_not_found() => Vec::new(),
            Err(error @ ClusterError::Unreachable { .. }) => return Err(error.into()),
            Err(error) => {
                failures.push(SyncFailure {
                    id: None,
                    message: error.to_string(),
                });
                continue;
            }
        };
        for object in objects {
            if let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) {
                live.insert(
                    (
                        api_version.clone(),
                        plural.clone(),
                        namespace.clone(),
                        name.to_owned(),
                    ),
                    object,
                );
            }
        }
    }

    // Namespaces this sync creates: objects in them cannot be dry-run before.
    let created_namespaces: BTreeSet<String> = targets
        .iter()
        .filter(|t| t.manifest.id.group.is_empty() && t.manifest.id.kind == "Namespace")
        .filter(|t| {
            !live.contains_key(&(
                t.resource.api_version.clone(),
                t.resource.plural.clone(),
                None,
                t.manifest.id.name.clone(),
            ))
        })
        .map(|t| t.manifest.id.name.clone())
        .collect();

    let rules = &config.ignore_differences;
    let revision_id = revision.id.clone();
    let force = opts.force;
    let planned: Vec<Result<PlannedResource, SyncFailure>> = futures::stream::iter(targets)
        .map(|target| {
            let live_object = live.remove(&(
                target.resource.api_version.clone(),
                target.resource.plural.clone(),
                target.manifest.id.namespace.clone(),
                target.manifest.id.name.clone(),
            ));
            let deferred = if target.pending_crd {
                Some("its CRD is created by this sync; validated when applied".to_owned())
            } else {
                target
                    .manifest
                    .id
                    .namespace
                    .as_ref()
                    .filter(|ns| created_namespaces.contains(*ns))
                    .map(|ns| {
                        format!("namespace {ns} is created by this sync; validated when applied")
                    })
            };
            let apply_set_id = apply_set.id.clone();
            let revision_id = revision_id.clone();
            async move {
                plan_one(
                    cluster,
                    target.manifest,
                    target.resource,
                    live_object,
                    deferred,
                    Tracking {
                        apply_set_id: &apply_set_id,
                        revision: &revision_id,
                    },
                    rules,
                    force,
                )
                .await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut resources = Vec::new();
    for item in planned {
        match item {
            Ok(resource) => resources.push(resource),
            Err(failure) => failures.push(failure),
        }
    }
    resources.sort_by(|a, b| {
        (a.wave, a.rank, &a.id.namespace, &a.id.name).cmp(&(
            b.wave,
            b.rank,
            &b.id.namespace,
            &b.id.name,
        ))
    });

    let mut prune = Vec::new();
    if opts.prune {
        // Identity, labels and annotations are all a prune looks at: metadata only.
        let members = cluster
            .applyset_member_metadata(&apply_set.name, &apply_set.namespace)
            .await?;
        let discovery = cluster.discovery_of_objects(&members).await?;
        for member in members {
            let Some(id) = member_id(&member, &discovery) else {
                continue;
            };
            if desired_ids.contains(&id) || !selected_by(&filters, &opts.only, &id) {
                continue;
            }
            // The LIST used the part-of selector; check again, as nothing without it may go.
            if member
                .pointer("/metadata/labels")
                .and_then(|l| l.get(PART_OF_LABEL))
                .and_then(Value::as_str)
                != Some(apply_set.id.as_str())
            {
                continue;
            }
            let api_version = member
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let (group, version) = split_api_version(&api_version);
            let Ok(kind) = discovery.resolve(group, version, &id.kind) else {
                continue;
            };
            let keep = member
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(PRUNE_ANNOTATION))
                .and_then(Value::as_str)
                == Some("false");
            prune.push(PlannedPrune {
                rank: kind_rank(&id.group, &id.kind),
                resource: kind.resource.clone(),
                api_version,
                keep,
                id,
            });
        }
        // Reverse of the apply order.
        prune.sort_by(|a, b| {
            (b.rank, &b.id.namespace, &b.id.name).cmp(&(a.rank, &a.id.namespace, &a.id.name))
        });
    }
    failures.sort_by(|a, b| a.id.cmp(&b.id));

    Ok(SyncPlan {
        revision,
        head,
        path: gitops_git::normalize_path(&opts.target.path),
        context: cluster.context().to_owned(),
        apply_set,
        resources,
        prune,
        failures,
        warnings,
        force,
        concurrency,
        parent_group_kinds,
        parent_namespaces,
        whole: filters.is_empty() && opts.only.is_empty(),
    })
}

/// Whether RESOURCE filters and exact identities both let `id` through.
fn selected_by(filters: &[ResourceFilter], only: &[ResourceId], id: &ResourceId) -> bool {
    (filters.is_empty() || filters.iter().any(|f| f.matches(id)))
        && (only.is_empty() || only.contains(id))
}

/// The tracking keys written on each member.
struct Tracking<'a> {
    apply_set_id: &'a str,
    revision: &'a str,
}

/// Plans one resource: the object to send, then (unless deferred) its dry-run, compared with
/// live.
#[allow(clippy::too_many_arguments)]
async fn plan_one(
    cluster: &ClusterClient,
    manifest: Manifest,
    resource: ApiResource,
    live: Option<Value>,
    deferred: Option<String>,
    tracking: Tracking<'_>,
    rules: &[k8s_model::IgnoreRule],
    force: bool,
) -> Result<PlannedResource, SyncFailure> {
    let failure = |message: String| SyncFailure {
        id: Some(manifest.id.clone()),
        message,
    };
    // Ignored fields are not sent, so never taken over (SPEC §4).
    let mut object = manifest.object.clone();
    IgnoreSet::from_rules(rules, &manifest.id, live.as_ref())
        .map_err(|error| failure(error.to_string()))?
        .strip(&mut object);
    add_tracking(&mut object, &manifest.source, &tracking);
    let wave = sync_wave(&manifest.object).map_err(failure)?;
    let mut planned = PlannedResource {
        id: manifest.id.clone(),
        api_version: manifest.api_version.clone(),
        source: manifest.source.clone(),
        action: if live.is_some() {
            SyncAction::Configure
        } else {
            SyncAction::Create
        },
        fields: Vec::new(),
        taken_over: Vec::new(),
        wave,
        notes: Vec::new(),
        rank: kind_rank(&manifest.id.group, &manifest.id.kind),
        resource,
        object,
    };
    if let Some(note) = deferred {
        planned.notes.push(note);
        return Ok(planned);
    }
    let dry_run = cluster
        .apply(
            &planned.resource,
            manifest.id.namespace.as_deref(),
            &manifest.id.name,
            &planned.object,
            ApplyMode {
                force,
                dry_run: true,
            },
        )
        .await;
    let dry_run = match dry_run {
        Ok(dry_run) => dry_run,
        Err(error) if error.is_conflict() => {
            return Err(failure(format!(
                "{} (--no-force refuses fields other managers own; drop --no-force to take them over)",
                error.server_message()
            )));
        }
        Err(error @ ClusterError::Unreachable { .. }) => return Err(failure(error.to_string())),
        Err(error) => return Err(failure(error.server_message())),
    };
    let Some(live) = live else {
        return Ok(planned);
    };
    let comparison = compare_server(&manifest.id, &manifest.object, &live, &dry_run, rules)
        .map_err(|error| failure(error.to_string()))?;
    planned.fields = comparison.fields;
    planned.taken_over = taken_over(&live, &dry_run);
    if without_volatile(&live) == without_volatile(&dry_run) {
        planned.action = SyncAction::Unchanged;
    }
    Ok(planned)
}

/// Adds the ApplySet label and the revision and source annotations (SPEC §6).
fn add_tracking(object: &mut Value, source: &Source, tracking: &Tracking<'_>) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let mut put = |field: &str, key: &str, value: String| {
        let entry = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Some(entry) = entry.as_object_mut() {
            entry.insert(key.to_owned(), Value::String(value));
        }
    };
    put("labels", PART_OF_LABEL, tracking.apply_set_id.to_owned());
    put(
        "annotations",
        REVISION_ANNOTATION,
        tracking.revision.to_owned(),
    );
    put(
        "annotations",
        SOURCE_ANNOTATION,
        format!("{}#{}", source.file, source.document),
    );
}

/// The sync wave annotation: ours, else Argo CD's; 0 without either.
fn sync_wave(object: &Value) -> Result<i64, String> {
    let annotations = object.pointer("/metadata/annotations");
    for key in [SYNC_WAVE_ANNOTATION, ARGO_SYNC_WAVE_ANNOTATION] {
        if let Some(value) = annotations.and_then(|a| a.get(key)) {
            let text = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            return text.trim().parse::<i64>().map_err(|_| {
                format!("annotation {key}: {text:?} is not an integer; write e.g. \"-1\" or \"2\"")
            });
        }
    }
    Ok(0)
}

/// Position in the apply order: Namespaces, CRDs, Helm's install order, then the rest
/// (custom resources).
fn kind_rank(group: &str, kind: &str) -> usize {
    let builtin = group.is_empty() || group.ends_with(".k8s.io") || !group.contains('.');
    match kind {
        "Namespace" if group.is_empty() => 0,
        "CustomResourceDefinition" if group == "apiextensions.k8s.io" => 1,
        _ => match HELM_INSTALL_ORDER.iter().position(|k| *k == kind) {
            Some(position) if builtin => 2 + position,
            _ => 2 + HELM_INSTALL_ORDER.len() + usize::from(!builtin),
        },
    }
}

/// The object without what changes on every write even when nothing else does (status and
/// its managedFields entries, timestamps, resourceVersion, and the generation, which a
/// Deployment bumps when only an annotation changes), and without
/// the values of the revision and source annotations: an object a new commit leaves as it is
/// is not rewritten just to say so (its annotations name the last sync that changed it). Their
/// keys stay in managedFields, so an object that lacks them is still written.
fn without_volatile(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
        metadata.remove("generation");
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.remove(REVISION_ANNOTATION);
            annotations.remove(SOURCE_ANNOTATION);
        }
        if let Some(Value::Array(entries)) = metadata.get_mut("managedFields") {
            // Controllers write status between our LIST and the dry-run; an apply never does.
            entries
                .retain(|entry| entry.get("subresource").and_then(Value::as_str) != Some("status"));
            for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
                entry.remove("time");
            }
        }
    }
    if let Some(map) = copy.as_object_mut() {
        map.remove("status");
    }
    copy
}

/// Fields other managers own live that they no longer own after the apply: taken over.
fn taken_over(live: &Value, dry_run: &Value) -> Vec<TakenOver> {
    let entries = |object: &Value| -> Vec<(String, String, String, FieldSet)> {
        object
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| {
                let text = |key: &str| {
                    entry
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let fields = FieldSet::from_fields_v1(entry.get("fieldsV1")?).ok()?;
                Some((
                    text("manager"),
                    text("operation"),
                    text("subresource"),
                    fields,
                ))
            })
            .collect()
    };
    let after = entries(dry_run);
    let mut out = Vec::new();
    for (manager, operation, subresource, fields) in entries(live) {
        if manager == FIELD_MANAGER && operation == "Apply" {
            continue;
        }
        let kept = after
            .iter()
            .find(|(m, o, s, _)| *m == manager && *o == operation && *s == subresource)
            .map(|(_, _, _, f)| f.clone())
            .unwrap_or_default();
        for path in fields.difference(&kept).paths() {
            let text = path_string(&path);
            out.push(TakenOver {
                path: text.strip_prefix('.').unwrap_or(&text).to_owned(),
                manager: manager.clone(),
            });
        }
    }
    out
}

/// The served resource a CRD manifest defines, and whether it is namespaced.
fn crd_resource(crd: &Value) -> Option<(ApiResource, bool)> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let names = spec.get("names")?;
    let version = spec
        .get("versions")
        .and_then(Value::as_array)
        .and_then(|versions| {
            versions
                .iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .or_else(|| versions.first())
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)?;
    Some((
        ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: format!("{group}/{version}"),
            kind: names.get("kind")?.as_str()?.to_owned(),
            plural: names.get("plural")?.as_str()?.to_owned(),
        },
        spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
    ))
}

/// `Kind.group` as kubectl writes it in `contains-group-kinds` (`Kind` for core).
fn group_kind(id: &ResourceId) -> String {
    id.group_kind()
}

/// Applies the plan: the parent first, then each step (wave, kind) with bounded concurrency,
/// then `--prune`. `on_result(done, total, row)` is called as each resource finishes. Stops
/// at the first step with a failure: later resources are `skipped`, and a rerun finishes.
/// Call only with a plan without failures.
pub async fn execute(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    on_result: &(dyn Fn(usize, usize, &ResourceResult) + Sync),
) -> SyncResult {
    let cluster = &cluster.clone().with_concurrency(plan.concurrency);
    let total = plan.resources.len() + plan.prune.len();
    let mut rows: Vec<ResourceResult> = Vec::with_capacity(total);
    let mut errors = Vec::new();
    let row = |p: &PlannedResource, result: SyncOutcome, error: Option<String>| ResourceResult {
        id: p.id.clone(),
        api_version: p.api_version.clone(),
        result,
        error,
    };
    if !plan.failures.is_empty() {
        errors.push(SyncFailure {
            id: None,
            message: "preflight failed: nothing written".to_owned(),
        });
        return SyncResult {
            revision: plan.revision.clone(),
            apply_set: plan.apply_set.clone(),
            resources: plan
                .resources
                .iter()
                .map(|p| row(p, SyncOutcome::Skipped, None))
                .collect(),
            errors,
        };
    }

    // The parent first, listing every kind and namespace a member may have (kubectl does the
    // same), so that a sync that dies midway leaves its members findable.
    let mut group_kinds = plan.parent_group_kinds.clone();
    let mut namespaces = plan.parent_namespaces.clone();
    for p in &plan.resources {
        group_kinds.insert(group_kind(&p.id));
        if let Some(ns) = &p.id.namespace {
            namespaces.insert(ns.clone());
        }
    }
    if let Err(error) = write_parent(cluster, plan, &group_kinds, &namespaces).await {
        errors.push(parent_failure(format!(
            "cannot write the ApplySet parent configmap/{} in namespace {}: {error}; nothing else was written",
            plan.apply_set.name, plan.apply_set.namespace
        )));
        return SyncResult {
            revision: plan.revision.clone(),
            apply_set: plan.apply_set.clone(),
            resources: plan
                .resources
                .iter()
                .map(|p| row(p, SyncOutcome::Skipped, None))
                .collect(),
            errors,
        };
    }

    let mut steps: BTreeMap<(i64, usize), Vec<&PlannedResource>> = BTreeMap::new();
    for p in &plan.resources {
        steps.entry((p.wave, p.rank)).or_default().push(p);
    }
    let mut failed = false;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let unreachable = std::sync::atomic::AtomicBool::new(false);
    for (_, step) in steps {
        if failed {
            for p in step {
                let r = row(p, SyncOutcome::Skipped, None);
                on_result(done.fetch_add(1, Relaxed) + 1, total, &r);
                rows.push(r);
            }
            continue;
        }
        let results: Vec<ResourceResult> = futures::stream::iter(step.iter().copied())
            .map(|p| {
                let done = &done;
                let unreachable = &unreachable;
                async move {
                    let outcome = match p.action {
                        SyncAction::Unchanged => row(p, SyncOutcome::Unchanged, None),
                        // The server is gone: the rest is not attempted (a rerun finishes).
                        _ if unreachable.load(Relaxed) => row(p, SyncOutcome::Skipped, None),
                        action => {
                            let written = cluster
                                .apply(
                                    &p.resource,
                                    p.id.namespace.as_deref(),
                                    &p.id.name,
                                    &p.object,
                                    ApplyMode {
                                        force: plan.force,
                                        dry_run: false,
                                    },
                                )
                                .await;
                            match written {
                                Ok(_) if action == SyncAction::Create => {
                                    row(p, SyncOutcome::Created, None)
                                }
                                Ok(_) => row(p, SyncOutcome::Configured, None),
                                Err(error) => {
                                    if matches!(error, ClusterError::Unreachable { .. }) {
                                        unreachable.store(true, Relaxed);
                                    }
                                    row(p, SyncOutcome::Failed, Some(error.to_string()))
                                }
                            }
                        }
                    };
                    on_result(done.fetch_add(1, Relaxed) + 1, total, &outcome);
                    outcome
                }
            })
            .buffer_unordered(plan.concurrency)
            .collect()
            .await;
        for r in &results {
            if let (SyncOutcome::Failed, Some(error)) = (r.result, &r.error) {
                failed = true;
                errors.push(SyncFailure {
                    id: Some(r.id.clone()),
                    message: error.clone(),
                });
            }
        }
        rows.extend(results);
        // CRDs must be Established before their custom resources are applied.
        if !failed {
            for p in step.iter().filter(|p| {
                p.id.kind == "CustomResourceDefinition" && p.action != SyncAction::Unchanged
            }) {
                if let Err(message) = wait_established(cluster, p).await {
                    failed = true;
                    errors.push(SyncFailure {
                        id: Some(p.id.clone()),
                        message,
                    });
                }
            }
        }
    }

    if failed {
        for p in &plan.prune {
            rows.push(ResourceResult {
                id: p.id.clone(),
                api_version: p.api_version.clone(),
                result: if p.keep {
                    SyncOutcome::Kept
                } else {
                    SyncOutcome::Skipped
                },
                error: None,
            });
        }
    } else {
        let mut prune_failed = false;
        let mut steps: Vec<(usize, Vec<&PlannedPrune>)> = Vec::new();
        for p in &plan.prune {
            match steps.last_mut() {
                Some((rank, items)) if *rank == p.rank => items.push(p),
                _ => steps.push((p.rank, vec![p])),
            }
        }
        for (_, step) in steps {
            let results: Vec<ResourceResult> = futures::stream::iter(step)
                .map(|p| {
                    let done = &done;
                    async move {
                        let (result, error) = if p.keep {
                            (SyncOutcome::Kept, None)
                        } else {
                            match cluster
                                .delete(&p.resource, p.id.namespace.as_deref(), &p.id.name)
                                .await
                            {
                                Ok(_) => (SyncOutcome::Pruned, None),
                                Err(error) => (SyncOutcome::Failed, Some(error.to_string())),
                            }
                        };
                        let r = ResourceResult {
                            id: p.id.clone(),
                            api_version: p.api_version.clone(),
                            result,
                            error,
                        };
                        on_result(done.fetch_add(1, Relaxed) + 1, total, &r);
                        r
                    }
                })
                .buffer_unordered(plan.concurrency)
                .collect()
                .await;
            for r in &results {
                if let Some(error) = &r.error {
                    prune_failed = true;
                    errors.push(SyncFailure {
                        id: Some(r.id.clone()),
                        message: error.clone(),
                    });
                }
            }
            rows.extend(results);
        }
        // After a complete prune the parent lists only what the members now have, as kubectl
        // does; kept members stay listed.
        if !prune_failed && !plan.prune.is_empty() && plan.whole {
            let mut group_kinds = BTreeSet::new();
            let mut namespaces = BTreeSet::new();
            let kept = plan.prune.iter().filter(|p| p.keep).map(|p| &p.id);
            for id in plan.resources.iter().map(|p| &p.id).chain(kept) {
                group_kinds.insert(group_kind(id));
                if let Some(ns) = &id.namespace {
                    namespaces.insert(ns.clone());
                }
            }
            if let Err(error) = write_parent(cluster, plan, &group_kinds, &namespaces).await {
                errors.push(parent_failure(format!(
                    "pruned, but cannot update the ApplySet parent configmap/{}: {error}; rerun sync --prune",
                    plan.apply_set.name
                )));
            }
        }
    }
    SyncResult {
        revision: plan.revision.clone(),
        apply_set: plan.apply_set.clone(),
        resources: rows,
        errors,
    }
}

/// A failure of the ApplySet parent (no member to name).
fn parent_failure(message: String) -> SyncFailure {
    SyncFailure { id: None, message }
}

/// Server-side applies the ApplySet parent ConfigMap (KEP-3659 keys, plus our revision).
async fn write_parent(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    group_kinds: &BTreeSet<String>,
    namespaces: &BTreeSet<String>,
) -> Result<(), ClusterError> {
    let additional: Vec<&str> = namespaces
        .iter()
        .map(String::as_str)
        .filter(|ns| *ns != plan.apply_set.namespace)
        .collect();
    let parent = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": plan.apply_set.name,
            "namespace": plan.apply_set.namespace,
            "labels": {applyset::APPLYSET_ID_LABEL: plan.apply_set.id},
            "annotations": {
                TOOLING_ANNOTATION: format!("kubectl-gitops/{}", crate::version::VERSION),
                applyset::CONTAINS_GROUP_KINDS_ANNOTATION:
                    group_kinds.iter().map(String::as_str).collect::<Vec<_>>().join(","),
                ADDITIONAL_NAMESPACES_ANNOTATION: additional.join(","),
                REVISION_ANNOTATION: plan.revision.id,
            },
        },
    });
    cluster
        .apply(
            &core_resource("ConfigMap", "configmaps"),
            Some(&plan.apply_set.namespace),
            &plan.apply_set.name,
            &parent,
            ApplyMode {
                force: true,
                dry_run: false,
            },
        )
        .await
        .map(|_| ())
}

/// Waits until a CRD's condition `Established` is `True`.
async fn wait_established(cluster: &ClusterClient, crd: &PlannedResource) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + CRD_ESTABLISHED_TIMEOUT;
    loop {
        let object = cluster
            .get(&crd.resource, None, &crd.id.name)
            .await
            .map_err(|error| error.to_string())?;
        if object
            .as_ref()
            .is_some_and(|o| condition_true(o, "Established"))
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "not Established after {}s; its custom resources were not applied (check `kubectl describe crd {}`)",
                CRD_ESTABLISHED_TIMEOUT.as_secs(),
                crd.id.name
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn condition_true(object: &Value, condition: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(condition)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// A workload still not healthy when `--wait` gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unhealthy {
    /// The workload.
    pub id: ResourceId,
    /// What it still lacks (`1/2 replicas available`).
    pub reason: String,
}

/// Waits until every workload of the plan is healthy (SPEC §6: Deployment, StatefulSet,
/// DaemonSet rolled out; Job complete; others present), up to `timeout`. Returns the ones
/// still unhealthy at the deadline (empty: all healthy).
pub async fn wait_healthy(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    timeout: Duration,
) -> Result<Vec<Unhealthy>, ClusterError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pending: Vec<&PlannedResource> = plan.resources.iter().collect();
    let cluster = &cluster.clone().with_concurrency(plan.concurrency);
    loop {
        let checks: Vec<(usize, Result<Option<String>, ClusterError>)> =
            futures::stream::iter(pending.iter().enumerate())
                .map(|(index, p)| async move {
                    let object = cluster
                        .get(&p.resource, p.id.namespace.as_deref(), &p.id.name)
                        .await;
                    (
                        index,
                        object.map(|o| match o {
                            None => Some("not found".to_owned()),
                            Some(o) => unhealthy_reason(&p.id, &o),
                        }),
                    )
                })
                .buffer_unordered(plan.concurrency)
                .collect()
                .await;
        let mut still = Vec::new();
        for (index, check) in checks {
            if let Some(reason) = check? {
                still.push((index, reason));
            }
        }
        still.sort();
        if still.is_empty() {
            return Ok(Vec::new());
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(still
                .into_iter()
                .map(|(index, reason)| Unhealthy {
                    id: pending[index].id.clone(),
                    reason,
                })
                .collect());
        }
        pending = still.into_iter().map(|(index, _)| pending[index]).collect();
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Why a live workload is not healthy yet; `None` when it is.
fn unhealthy_reason(id: &ResourceId, live: &Value) -> Option<String> {
    let int = |pointer: &str| live.pointer(pointer).and_then(Value::as_i64);
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration").unwrap_or(0);
    let rolled_out = |wanted: i64, updated: i64, available: i64, total: Option<i64>| {
        if observed < generation {
            Some(format!(
                "observedGeneration {observed} behind generation {generation}"
            ))
        } else if updated < wanted {
            Some(format!("{updated}/{wanted} replicas updated"))
        } else if available < wanted {
            Some(format!("{available}/{wanted} replicas available"))
        } else if total.is_some_and(|t| t > wanted) {
            Some(format!(
                "{} old replicas pending termination",
                total.unwrap_or(0) - wanted
            ))
        } else {
            None
        }
    };
    match (id.group.as_str(), id.kind.as_str()) {
        ("apps", "Deployment") => {
            let wanted = int("/spec/replicas").unwrap_or(1);
            rolled_out(
                wanted,
                int("/status/updatedReplicas").unwrap_or(0),
                int("/status/availableReplicas").unwrap_or(0),
                int("/status/replicas"),
            )
        }
        ("apps", "StatefulSet") => {
            let wanted = int("/spec/replicas").unwrap_or(1);
            rolled_out(
                wanted,
                int("/status/updatedReplicas").unwrap_or(0),
                int("/status/availableReplicas")
                    .or_else(|| int("/status/readyReplicas"))
                    .unwrap_or(0),
                None,
            )
        }
        ("apps", "DaemonSet") => {
            let wanted = int("/status/desiredNumberScheduled").unwrap_or(0);
            rolled_out(
                wanted,
                int("/status/updatedNumberScheduled").unwrap_or(0),
                int("/status/numberAvailable").unwrap_or(0),
                None,
            )
        }
        ("batch", "Job") => (!condition_true(live, "Complete")).then(|| "not complete".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_order_puts_namespaces_crds_helm_kinds_then_custom_resources() {
        let order = [
            ("", "Namespace"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("", "ServiceAccount"),
            ("", "ConfigMap"),
            ("", "Service"),
            ("apps", "Deployment"),
            ("networking.k8s.io", "Ingress"),
            ("", "Endpoints"),
            ("example.com", "Widget"),
        ];
        let ranks: Vec<usize> = order.iter().map(|(g, k)| kind_rank(g, k)).collect();
        let mut sorted = ranks.clone();
        sorted.sort();
        assert_eq!(ranks, sorted);
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        // A custom resource named like a built-in kind is still a custom resource.
        assert!(kind_rank("example.com", "Deployment") > kind_rank("apps", "Deployment"));
    }

    #[test]
    fn waves_read_ours_then_argo() {
        let with = |annotations: Value| json!({"metadata": {"annotations": annotations}});
        assert_eq!(sync_wave(&json!({"metadata": {}})), Ok(0));
        assert_eq!(
            sync_wave(&with(json!({SYNC_WAVE_ANNOTATION: "-2"}))),
            Ok(-2)
        );
        assert_eq!(
            sync_wave(&with(json!({ARGO_SYNC_WAVE_ANNOTATION: "3"}))),
            Ok(3)
        );
        assert_eq!(
            sync_wave(&with(
                json!({SYNC_WAVE_ANNOTATION: "1", ARGO_SYNC_WAVE_ANNOTATION: "5"})
            )),
            Ok(1)
        );
        assert!(sync_wave(&with(json!({SYNC_WAVE_ANNOTATION: "soon"}))).is_err());
    }

    #[test]
    fn taken_over_fields_name_the_manager_that_lost_them() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kubectl-gitops", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {}}}},
            {"manager": "kubectl", "operation": "Update", "subresource": "scale",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "other", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}}},
        ]}});
        let dry_run = json!({"metadata": {"managedFields": [
            {"manager": "kubectl-gitops", "operation": "Apply",
             "fieldsV1": {"f:spec": {"f:template": {}, "f:replicas": {}}}},
            {"manager": "other", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}}},
        ]}});
        assert_eq!(
            taken_over(&live, &dry_run),
            vec![TakenOver {
                path: "spec.replicas".into(),
                manager: "kubectl".into()
            }]
        );
    }

    #[test]
    fn tracking_keys_are_added_beside_the_manifests_own() {
        let mut object = json!({"metadata": {"name": "a", "labels": {"app": "a"}}});
        let source = Source {
            file: "apps/a.yaml".into(),
            document: 1,
            line: 3,
            end_line: 9,
        };
        add_tracking(
            &mut object,
            &source,
            &Tracking {
                apply_set_id: "applyset-x-v1",
                revision: "abc",
            },
        );
        assert_eq!(object["metadata"]["labels"]["app"], "a");
        assert_eq!(object["metadata"]["labels"][PART_OF_LABEL], "applyset-x-v1");
        assert_eq!(
            object["metadata"]["annotations"][REVISION_ANNOTATION],
            "abc"
        );
        assert_eq!(
            object["metadata"]["annotations"][SOURCE_ANNOTATION],
            "apps/a.yaml#1"
        );
    }

    #[test]
    fn deployment_health_follows_rollout_status() {
        let id = ResourceId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some("ns".into()),
            name: "web".into(),
        };
        let live = |observed: i64, updated: i64, available: i64| {
            json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
                   "status": {"observedGeneration": observed, "updatedReplicas": updated,
                              "availableReplicas": available, "replicas": 2}})
        };
        assert!(unhealthy_reason(&id, &live(1, 2, 2)).is_some());
        assert!(unhealthy_reason(&id, &live(2, 1, 2)).is_some());
        assert!(unhealthy_reason(&id, &live(2, 2, 1)).is_some());
        assert_eq!(unhealthy_reason(&id, &live(2, 2, 2)), None);
    }
}
