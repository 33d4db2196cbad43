//! [`plan`]: render, read the live objects and dry-run everything, writing nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use kube::core::ApiResource;
use serde_json::{Map, Value};

use super::controller::{self, ControllerRequest, ControllerStep, LiveControllers};
use super::{
    ADDITIONAL_NAMESPACES_ANNOTATION, ARGO_SYNC_WAVE_ANNOTATION, ApplySetRef, HELM_INSTALL_ORDER,
    PRUNE_ANNOTATION, PlannedPrune, PlannedResource, SYNC_WAVE_ANNOTATION, SyncAction, SyncError,
    SyncFailure, SyncOptions, SyncPlan, TakenOver,
};
use crate::drift::{IgnoreSet, compare_server};
use crate::ops::status::{ResourceFilter, StatusError, commit_info, member_id, render_discovered};
use gitops_cluster::Discovery;
use gitops_cluster::write::ApplyMode;
use gitops_cluster::{ClusterClient, ClusterError, FIELD_MANAGER, applyset, core_resource};
use gitops_git::{EnvRepo, ObjectId};
use gitops_render::EnvConfig;
use gitops_render::RenderCache;
use k8s_model::fieldset::{FieldSet, path_string};
use k8s_model::normalize::{PART_OF_LABEL, REVISION_ANNOTATION, SOURCE_ANNOTATION};
use k8s_model::{CommitInfo, IgnoreRule};
use k8s_model::{Manifest, Owner, ResourceId, Source, split_api_version};

/// Renders `opts.rev`, reads the live objects and dry-runs every targeted object: the plan.
/// Writes nothing.
pub async fn plan(cluster: &ClusterClient, opts: &SyncOptions) -> Result<SyncPlan, SyncError> {
    let (repo, commit, revision, head) = open_revisions(opts).await?;
    let desired = Desired::render(cluster, opts, &repo, commit).await?;
    let Desired {
        config,
        warnings,
        mut failures,
        filters,
        desired_ids,
        selected,
        discovery,
        env_controllers,
    } = desired;
    let concurrency = opts.concurrency.unwrap_or(config.sync_concurrency).max(1);
    let cluster = &cluster.clone().with_concurrency(concurrency);

    let parent = Parent::read(cluster, &config).await?;
    let mut targets = resolve_targets(selected, &discovery, &mut failures);
    let mut live = list_live(cluster, &targets, concurrency, &mut failures).await?;
    let whole = filters.is_empty() && opts.only.is_empty();
    let (controllers, steps) = hand_to_controllers(
        cluster,
        &discovery,
        env_controllers,
        &mut targets,
        &live,
        (opts, &revision.id, &head.id),
        &mut failures,
    )
    .await?;
    let created_namespaces = created_namespaces(&targets, &live);
    let planning = Planning {
        cluster,
        rules: &config.ignore_differences,
        force: opts.force,
        concurrency,
        apply_set_id: &parent.apply_set.id,
        revision_id: &revision.id,
    };
    let planned = planning
        .plan_targets(targets, &mut live, &created_namespaces)
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

    let prune = if opts.prune {
        plan_prune(cluster, opts, &parent.apply_set, &desired_ids, &filters).await?
    } else {
        Vec::new()
    };
    let controllers = match &controllers {
        Some(live_controllers) => controller_requests(
            live_controllers,
            &resources,
            &steps,
            opts,
            (&revision.id, &head.id),
            whole,
        ),
        None => Vec::new(),
    };
    failures.extend(controller::preflight(cluster, &controllers).await);
    failures.sort_by(|a, b| a.id.cmp(&b.id));

    Ok(SyncPlan {
        revision,
        head,
        path: gitops_git::normalize_path(&opts.target.path),
        context: cluster.context().to_owned(),
        apply_set: parent.apply_set,
        resources,
        prune,
        failures,
        warnings,
        force: opts.force,
        concurrency,
        parent_group_kinds: parent.group_kinds,
        parent_namespaces: parent.namespaces,
        whole,
        controllers,
    })
}

/// What sync does to each live controller (SPEC §11), by the controllers that reconcile the
/// targets: reads them, marks each target it reconciles with its owner (and as handed over
/// when the owner is asked to reconcile), and records the refusals of a rollback without
/// `--suspend` as failures.
async fn hand_to_controllers(
    cluster: &ClusterClient,
    discovery: &Discovery,
    env_controllers: BTreeSet<ResourceId>,
    targets: &mut [SyncTarget],
    live: &LiveObjects,
    (opts, revision, head): (&SyncOptions, &str, &str),
    failures: &mut Vec<SyncFailure>,
) -> Result<(Option<LiveControllers>, BTreeMap<Owner, ControllerStep>), SyncError> {
    let mut steps = BTreeMap::new();
    if env_controllers.is_empty() {
        return Ok((None, steps));
    }
    let needed: BTreeSet<ResourceId> = targets
        .iter()
        .filter_map(|t| t.manifest.owner.as_ref().map(|o| o.id.clone()))
        .collect();
    let controllers = LiveControllers::read(
        cluster,
        discovery,
        env_controllers,
        &needed,
        cluster.concurrency(),
        failures,
    )
    .await?;
    let mut refused = BTreeSet::new();
    for target in targets.iter_mut() {
        let live_object = live.get(&live_key(target));
        let Some(owner) = controllers.owner_of(&target.manifest, live_object) else {
            continue;
        };
        if !steps.contains_key(&owner) && !refused.contains(&owner) {
            match controllers.step(&owner, revision, head, opts.suspend) {
                Ok(step) => {
                    steps.insert(owner.clone(), step);
                }
                Err(message) => {
                    failures.push(SyncFailure {
                        id: Some(owner.id.clone()),
                        message,
                    });
                    refused.insert(owner.clone());
                }
            }
        }
        target.handed = steps.get(&owner) == Some(&ControllerStep::Reconcile);
        target.owner = Some(owner);
    }
    // A controller suspended here and applied here too keeps what suspends it: git's
    // `spec.syncPolicy.automated` (or `spec.suspend: false`) is not sent.
    for target in targets.iter_mut() {
        let owner = Owner {
            id: target.manifest.id.clone(),
        };
        if steps.get(&owner) == Some(&ControllerStep::Suspend) {
            controller::strip_suspended_field(&mut target.manifest.object);
        }
    }
    Ok((Some(controllers), steps))
}

/// The request to each controller that reconciles planned resources. A controller to ask is
/// asked only when one of them would change; one to suspend, only when one is applied.
fn controller_requests(
    controllers: &LiveControllers,
    resources: &[PlannedResource],
    steps: &BTreeMap<Owner, ControllerStep>,
    opts: &SyncOptions,
    (revision, head): (&str, &str),
    whole: bool,
) -> Vec<ControllerRequest> {
    let mut members: BTreeMap<&Owner, Vec<&PlannedResource>> = BTreeMap::new();
    for resource in resources {
        if let Some(owner) = &resource.owner {
            members.entry(owner).or_default().push(resource);
        }
    }
    members
        .into_iter()
        .filter_map(|(owner, members)| {
            let step = *steps.get(owner)?;
            let changes = members.iter().any(|m| m.action != SyncAction::Unchanged);
            if !changes && step != ControllerStep::Suspended {
                return None;
            }
            let ids = members.iter().map(|m| m.id.clone()).collect();
            controllers.request(owner, step, ids, revision, head, whole, opts.prune)
        })
        .collect()
}

/// Opens the repository: the commit `opts.rev` names, its metadata, and HEAD's (to tell a
/// rollback).
async fn open_revisions(
    opts: &SyncOptions,
) -> Result<(EnvRepo, ObjectId, CommitInfo, CommitInfo), SyncError> {
    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    Ok(tokio::task::spawn_blocking(move || {
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
    .map_err(StatusError::Task)??)
}

/// The environment rendered at the synced commit, and the manifests the sync targets.
struct Desired {
    config: EnvConfig,
    /// What rendering passed over, and discovery's warnings.
    warnings: Vec<String>,
    /// The render errors, as preflight failures.
    failures: Vec<SyncFailure>,
    /// The RESOURCE arguments, resolved.
    filters: Vec<ResourceFilter>,
    /// Every manifest's identity: members outside them are pruned.
    desired_ids: BTreeSet<ResourceId>,
    /// The manifests RESOURCE arguments and `--only` select.
    selected: Vec<Manifest>,
    discovery: Arc<Discovery>,
    /// The controller objects the environment renders, and the owners of what it renders.
    env_controllers: BTreeSet<ResourceId>,
}

impl Desired {
    /// Renders the environment at `commit` and resolves the RESOURCE arguments.
    async fn render(
        cluster: &ClusterClient,
        opts: &SyncOptions,
        repo: &EnvRepo,
        commit: ObjectId,
    ) -> Result<Desired, SyncError> {
        let mut render_opts = opts.target.render_options(Some(cluster)).await;
        render_opts.cache = RenderCache::on_disk(&repo.git_dir());
        let (rendered, filters, discovery) = render_discovered(
            cluster,
            repo,
            commit,
            &mut render_opts,
            &opts.resources,
            opts.target.namespace.as_deref(),
        )
        .await?;
        let config = rendered.config.clone();
        let mut warnings: Vec<String> = rendered.warnings.iter().map(ToString::to_string).collect();
        warnings.extend(discovery.warnings());
        let failures: Vec<SyncFailure> = rendered
            .errors
            .iter()
            .map(|error| SyncFailure {
                id: None,
                message: error.to_string(),
            })
            .collect();
        let desired_ids: BTreeSet<ResourceId> =
            rendered.manifests.iter().map(|m| m.id.clone()).collect();
        let env_controllers = controller::env_controllers(rendered.manifests.iter());
        let selected: Vec<Manifest> = rendered
            .manifests
            .into_iter()
            .filter(|m| selected_by(&filters, &opts.only, &m.id))
            .collect();
        Ok(Desired {
            config,
            warnings,
            failures,
            filters,
            desired_ids,
            selected,
            discovery,
            env_controllers,
        })
    }
}

/// The environment's ApplySet parent and what it lists now.
struct Parent {
    apply_set: ApplySetRef,
    /// Its group-kinds annotation.
    group_kinds: BTreeSet<String>,
    /// Its additional-namespaces annotation.
    namespaces: BTreeSet<String>,
}

impl Parent {
    /// Reads the parent (absent before the first sync).
    async fn read(cluster: &ClusterClient, config: &EnvConfig) -> Result<Parent, SyncError> {
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
        Ok(Parent {
            group_kinds: parent_annotation(applyset::CONTAINS_GROUP_KINDS_ANNOTATION),
            namespaces: parent_annotation(ADDITIONAL_NAMESPACES_ANNOTATION),
            apply_set,
        })
    }
}

/// A selected manifest with the kind it is applied as.
struct SyncTarget {
    manifest: Manifest,
    resource: ApiResource,
    /// Whether its kind is served only once this sync applies its CRD.
    pending_crd: bool,
    /// The live controller that reconciles it.
    owner: Option<Owner>,
    /// Whether its controller is asked to reconcile it instead of applying it here.
    handed: bool,
}

/// The key of a target's live object.
fn live_key(target: &SyncTarget) -> (String, String, Option<String>, String) {
    (
        target.resource.api_version.clone(),
        target.resource.plural.clone(),
        target.manifest.id.namespace.clone(),
        target.manifest.id.name.clone(),
    )
}

/// Resolves the selected manifests' kinds: served ones, and those whose CRD this sync applies;
/// a kind neither is a failure.
fn resolve_targets(
    selected: Vec<Manifest>,
    discovery: &Discovery,
    failures: &mut Vec<SyncFailure>,
) -> Vec<SyncTarget> {
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

    let mut targets: Vec<SyncTarget> = Vec::new();
    for manifest in selected {
        let (group, version) = split_api_version(&manifest.api_version);
        match discovery.resolve(group, version, &manifest.id.kind) {
            Ok(kind) => targets.push(SyncTarget {
                resource: kind.resource.clone(),
                manifest,
                pending_crd: false,
                owner: None,
                handed: false,
            }),
            Err(not_served) => match crd_kinds.get(&(group.to_owned(), manifest.id.kind.clone())) {
                Some((resource, _)) => targets.push(SyncTarget {
                    resource: ApiResource {
                        version: version.to_owned(),
                        api_version: manifest.api_version.clone(),
                        ..resource.clone()
                    },
                    manifest,
                    pending_crd: true,
                    owner: None,
                    handed: false,
                }),
                None => failures.push(SyncFailure {
                    message: not_served.message(&manifest.api_version, &manifest.id.kind),
                    id: Some(manifest.id),
                }),
            },
        }
    }
    targets
}

/// Live objects by (apiVersion, plural, namespace, name).
type LiveObjects = HashMap<(String, String, Option<String>, String), Value>;

/// Lists the served targets' kinds, one LIST per kind and namespace. A failed LIST is a
/// failure; an unreachable cluster an error.
async fn list_live(
    cluster: &ClusterClient,
    targets: &[SyncTarget],
    concurrency: usize,
    failures: &mut Vec<SyncFailure>,
) -> Result<LiveObjects, SyncError> {
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
    let mut live: LiveObjects = HashMap::new();
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
    Ok(live)
}

/// Namespaces this sync creates: objects in them cannot be dry-run before.
fn created_namespaces(targets: &[SyncTarget], live: &LiveObjects) -> BTreeSet<String> {
    targets
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
        .collect()
}

/// What planning each target shares.
struct Planning<'a> {
    cluster: &'a ClusterClient,
    rules: &'a [IgnoreRule],
    force: bool,
    concurrency: usize,
    apply_set_id: &'a str,
    revision_id: &'a str,
}

impl Planning<'_> {
    /// Plans every target ([`plan_one`]) with the sync's bound, each with its live object
    /// (taken from `live`); a target whose namespace or CRD this sync creates is deferred.
    async fn plan_targets(
        &self,
        targets: Vec<SyncTarget>,
        live: &mut LiveObjects,
        created_namespaces: &BTreeSet<String>,
    ) -> Vec<Result<PlannedResource, SyncFailure>> {
        let (cluster, rules, force) = (self.cluster, self.rules, self.force);
        futures::stream::iter(targets)
            .map(|target| {
                let live_object = live.remove(&live_key(&target));
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
                            format!(
                                "namespace {ns} is created by this sync; validated when applied"
                            )
                        })
                };
                let apply_set_id = self.apply_set_id.to_owned();
                let revision_id = self.revision_id.to_owned();
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
                        (target.owner, target.handed),
                    )
                    .await
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }
}

/// The members `--prune` deletes or keeps, in delete order (the reverse of the apply order):
/// those of the ApplySet no manifest declares, within the RESOURCE arguments and `--only`.
async fn plan_prune(
    cluster: &ClusterClient,
    opts: &SyncOptions,
    apply_set: &ApplySetRef,
    desired_ids: &BTreeSet<ResourceId>,
    filters: &[ResourceFilter],
) -> Result<Vec<PlannedPrune>, SyncError> {
    let mut prune = Vec::new();
    // Identity, labels and annotations are all a prune looks at: metadata only.
    let members = cluster
        .applyset_member_metadata(&apply_set.name, &apply_set.namespace)
        .await?;
    let discovery = cluster.discovery_of_objects(&members).await?;
    for member in members {
        let Some(id) = member_id(&member, &discovery) else {
            continue;
        };
        if desired_ids.contains(&id) || !selected_by(filters, &opts.only, &id) {
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
    Ok(prune)
}

/// Whether RESOURCE filters and exact identities both let `id` through.
fn selected_by(filters: &[ResourceFilter], only: &[ResourceId], id: &ResourceId) -> bool {
    (filters.is_empty() || filters.iter().any(|f| f.matches(id)))
        && (only.is_empty() || only.contains(id))
}

/// The tracking keys written on each member.
pub(super) struct Tracking<'a> {
    pub(super) apply_set_id: &'a str,
    pub(super) revision: &'a str,
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
    (owner, handed): (Option<Owner>, bool),
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
    // What a controller applies carries its marks, not ours.
    if !handed {
        add_tracking(&mut object, &manifest.source, &tracking);
    }
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
        owner,
        handed,
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
                // Nothing is written for a handed resource: its controller's fields stay its.
                force: force || handed,
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
    if handed {
        // Its controller applies it with its own manager: only what git says counts.
        if planned.fields.is_empty() {
            planned.action = SyncAction::Unchanged;
        }
        return Ok(planned);
    }
    planned.taken_over = taken_over(&live, &dry_run);
    if without_volatile(&live) == without_volatile(&dry_run) {
        planned.action = SyncAction::Unchanged;
    }
    Ok(planned)
}

/// Adds the ApplySet label and the revision and source annotations (SPEC §6).
pub(super) fn add_tracking(object: &mut Value, source: &Source, tracking: &Tracking<'_>) {
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
pub(super) fn sync_wave(object: &Value) -> Result<i64, String> {
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
pub(super) fn kind_rank(group: &str, kind: &str) -> usize {
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
pub(super) fn taken_over(live: &Value, dry_run: &Value) -> Vec<TakenOver> {
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
pub(super) fn group_kind(id: &ResourceId) -> String {
    id.group_kind()
}
