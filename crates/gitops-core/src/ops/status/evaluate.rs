//! [`evaluate_with`]: the whole environment against the cluster, one LIST per kind and
//! namespace, dry-runs where the client comparison cannot decide, orphans, `lastCommit`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use kube::core::ApiResource;
use serde_json::Value;

use std::sync::Arc;

use super::resource_arg::ResourceFilter;
use crate::drift::{Comparison, Strategy, compare_client};
use gitops_cluster::{ClusterClient, ClusterError, Discovery, applyset};
use gitops_git::EnvRepo;
use gitops_git::ObjectId;
use gitops_render::RenderCache;
use gitops_render::{EnvConfig, RenderOptions, Rendered};
use k8s_model::{CommitInfo, IgnoreRule};
use k8s_model::{DriftState, Manifest, ResourceId, split_api_version};

use super::membership::{Controllers, ResourceOwner, is_controller};
use super::rows::{
    compared_row, dry_run_row, error_row, invalid_name, orphan_row, owns_unsent_fields, shown_yaml,
};
use super::{
    EvaluationStats, ResourceStatus, StatusError, StatusOptions, StatusReport, blocking,
    commit_info, render_discovered, sort_rows,
};

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
    let (repo, commit, revision) = open_revision(opts).await?;

    let started = std::time::Instant::now();
    let (head, selected) = Head::render(cluster, opts, &repo, commit, started).await?;
    let walk = spawn_last_commit_walk(opts, &selected, &repo, commit, &head.render_opts);
    let mut evaluation = Evaluation {
        cluster,
        opts,
        rules: &head.rendered.config.ignore_differences,
        // One row per selected manifest, plus orphans: sized once rather than grown by doubling.
        resources: Vec::with_capacity(selected.len()),
        stats: EvaluationStats::default(),
        live_marks: HashMap::new(),
    };
    let queued = evaluation.queue_lists(selected, &head.discovery);
    let members = ApplySetMembers::list(cluster, &head.rendered.config, &queued.listed_whole);
    let listed = evaluation
        .list_and_compare(queued, &members.apply_set_id)
        .await;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "listed and compared"
    );
    evaluation.dry_run(listed.needs_dry_run).await;
    note_missing_namespaces(
        cluster,
        &mut evaluation.resources,
        &listed.missing_namespaces,
        &head.declared_namespaces,
    )
    .await?;

    let mut warnings: Vec<String> = head
        .rendered
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    warnings.extend(head.discovery.warnings());
    let members_id = members.apply_set_id.clone();
    let (members, group_kinds) = members
        .read(&head.rendered.config.apply_set_namespace, &mut warnings)
        .await?;
    for kind in listed.unlisted_members {
        warnings.push(format!(
            "orphans of kind {kind} not shown: its list failed (see its rows)"
        ));
    }
    let controllers = read_controllers(cluster, &head, &mut warnings).await?;
    let controlled = evaluation
        .add_controller_orphans(&controllers, &head, &mut warnings)
        .await?;
    evaluation
        .add_orphans(
            members,
            &group_kinds,
            listed.listed_members,
            &head,
            &controlled,
        )
        .await?;
    evaluation.mark_owners(&controllers, &members_id);

    if let Some(walk) = walk {
        evaluation.mark_last_commits(walk, started).await?;
    }
    evaluation
        .mark_matches_revision(&repo, commit, &head.render_opts, listed.drifted_live)
        .await?;

    let Evaluation {
        mut resources,
        mut stats,
        ..
    } = evaluation;
    sort_rows(&mut resources);
    super::rows::attach_render_errors(&mut resources, &head.rendered.errors);
    stats.lists = cluster.stats().lists() - stats_before.0;
    stats.dry_runs = cluster.stats().dry_runs() - stats_before.1;
    Ok(StatusReport {
        revision,
        path: gitops_git::normalize_path(&opts.target.path),
        context: cluster.context().to_owned(),
        server: cluster.server().to_owned(),
        resources,
        render_errors: head
            .rendered
            .errors
            .iter()
            .map(ToString::to_string)
            .collect(),
        warnings,
        stats,
    })
}

/// Opens the repository and resolves `opts.rev`: the commit evaluated and its metadata.
async fn open_revision(
    opts: &StatusOptions,
) -> Result<(EnvRepo, ObjectId, CommitInfo), StatusError> {
    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    blocking(move || {
        let repo = EnvRepo::open(&repo_dir)?;
        let commit = repo.resolve(&rev)?;
        let revision = commit_info(&repo, commit)?;
        Ok((repo, commit, revision))
    })
    .await
}

/// The environment rendered at the evaluated commit, with what the evaluation needs of it
/// beyond the rows.
struct Head {
    /// How the environment renders (scopes from discovery), for the history walks.
    render_opts: RenderOptions,
    /// The render, its manifests taken out.
    rendered: Rendered,
    discovery: Arc<Discovery>,
    /// The RESOURCE arguments, resolved.
    filters: Vec<ResourceFilter>,
    /// Every manifest's identity: the members outside them are orphans.
    desired_ids: BTreeSet<ResourceId>,
    /// The namespaces the environment itself declares.
    declared_namespaces: BTreeSet<String>,
    /// The desired controller objects (Flux Kustomizations and HelmReleases, Argo CD
    /// Applications), whose members belong to the environment (SPEC §11).
    controllers: Vec<ResourceId>,
    /// The group-kinds of the desired state.
    desired_kinds: BTreeSet<(String, String)>,
}

impl Head {
    /// Renders the environment at `commit` and resolves the RESOURCE arguments; returns it
    /// with the manifests they select, owned from here on.
    async fn render(
        cluster: &ClusterClient,
        opts: &StatusOptions,
        repo: &EnvRepo,
        commit: ObjectId,
        started: std::time::Instant,
    ) -> Result<(Head, Vec<Manifest>), StatusError> {
        let mut render_opts = opts.target.render_options(Some(cluster)).await;
        // The parsed documents weigh as much as the manifests rendered from them, and the walk
        // for `lastCommit` re-renders only the files each commit changed: not worth keeping,
        // not even while rendering (one file's documents at a time).
        let mut head_opts = render_opts.clone();
        head_opts.cache = RenderCache::on_disk(&repo.git_dir());
        let (mut rendered, filters, discovery) = render_discovered(
            cluster,
            repo,
            commit,
            &mut head_opts,
            &opts.resources,
            opts.target.namespace.as_deref(),
        )
        .await?;
        render_opts.scope = head_opts.scope.clone();
        // The walk for `lastCommit` starts from what this render read (a Flux environment's
        // followed paths), not from a second render of the whole environment.
        render_opts.known_inputs =
            gitops_render::environment_inputs_from(repo, &head_opts, &rendered)
                .ok()
                .map(|inputs| std::sync::Arc::new((commit, inputs)));
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis(),
            "rendered and discovered"
        );
        // What is needed of the manifests beyond their rows: identities (orphans, the walk)
        // and declared namespaces. The manifests themselves are owned from here on and dropped
        // as soon as their row is made, so they and the rows never all weigh at once.
        let desired_ids: BTreeSet<ResourceId> =
            rendered.manifests.iter().map(|m| m.id.clone()).collect();
        let declared_namespaces: BTreeSet<String> = rendered
            .manifests
            .iter()
            .filter(|m| m.id.group.is_empty() && m.id.kind == "Namespace")
            .map(|m| m.id.name.clone())
            .collect();
        let controllers: Vec<ResourceId> = desired_ids
            .iter()
            .filter(|id| is_controller(id))
            .cloned()
            .collect();
        let desired_kinds = desired_ids
            .iter()
            .map(|id| (id.group.clone(), id.kind.clone()))
            .collect();
        let selected: Vec<Manifest> = std::mem::take(&mut rendered.manifests)
            .into_iter()
            .filter(|m| filters.is_empty() || filters.iter().any(|f| f.matches(&m.id)))
            .collect();
        let head = Head {
            render_opts,
            rendered,
            discovery,
            filters,
            desired_ids,
            declared_namespaces,
            controllers,
            desired_kinds,
        };
        Ok((head, selected))
    }

    /// Whether `id` is an orphan: selected by the RESOURCE arguments, declared by no manifest.
    fn is_orphan(&self, id: &ResourceId) -> bool {
        !self.desired_ids.contains(id)
            && (self.filters.is_empty() || self.filters.iter().any(|f| f.matches(id)))
    }
}

/// The walk for `lastCommit`: the last commit that changed each target, and the commits walked.
type LastCommitWalk =
    tokio::task::JoinHandle<Result<(HashMap<ResourceId, CommitInfo>, usize), StatusError>>;

/// Starts the walk for `lastCommit` (unless its limit is 0). It needs git only: it runs on a
/// blocking thread while the requests wait on the cluster. Its targets are the selected
/// manifests, the rows that have a source.
fn spawn_last_commit_walk(
    opts: &StatusOptions,
    selected: &[Manifest],
    repo: &EnvRepo,
    commit: ObjectId,
    render_opts: &RenderOptions,
) -> Option<LastCommitWalk> {
    (opts.last_commit_limit > 0).then(|| {
        let targets: Vec<ResourceId> = selected.iter().map(|m| m.id.clone()).collect();
        let limit = opts.last_commit_limit;
        let repo = repo.clone();
        let render_opts = render_opts.clone();
        tokio::task::spawn_blocking(move || {
            crate::ops::history::last_changes(&repo, commit, &render_opts, targets, limit)
                .map_err(|error| StatusError::History(Box::new(error)))
        })
    })
}

/// The selected manifests the cluster serves, waiting for their LISTs.
struct Queued {
    /// Grouped by (resource, namespace) for one LIST each. While the LISTs are in flight the
    /// manifests wait packed as JSON text: a parsed object weighs about five times its text,
    /// and at thousands of resources the waiting manifests were the largest part of the peak.
    groups: BTreeMap<LiveKey, (ApiResource, Vec<PackedManifest>)>,
    /// Cluster-scoped kinds of the manifests: each is listed whole, and its ApplySet members
    /// are found in that list rather than read a second time.
    listed_whole: HashSet<(String, String)>,
}

/// A resource whose client comparison cannot decide: the manifest, its kind, the live object
/// and that comparison, for a dry-run.
type DryRunCandidate = (Manifest, ApiResource, Value, Comparison);

/// What the LISTs left besides rows.
#[derive(Default)]
struct Listed {
    /// Only the dry-run candidates keep their live object.
    needs_dry_run: Vec<DryRunCandidate>,
    /// Live objects the head version does not satisfy, for `matchesRevision` (SPEC §7).
    drifted_live: HashMap<ResourceId, Value>,
    /// Namespaces of Missing resources.
    missing_namespaces: BTreeSet<String>,
    /// Members found in the whole lists (objects, not metadata: no second read for orphans).
    listed_members: Vec<Value>,
    /// Kinds listed whole whose list failed: their orphans are not known.
    unlisted_members: Vec<String>,
}

/// An ApplySet's members (metadata) and the kinds its parent names.
type MembersAndKinds = (Vec<Value>, HashSet<(String, String)>);

/// The ApplySet's members (for orphans), listed while the manifests' kinds are.
struct ApplySetMembers {
    parent: String,
    apply_set_id: String,
    task: tokio::task::JoinHandle<Result<MembersAndKinds, ClusterError>>,
}

impl ApplySetMembers {
    /// Starts listing the members of the environment's ApplySet, except the kinds
    /// `listed_whole` (found in those lists).
    fn list(
        cluster: &ClusterClient,
        config: &EnvConfig,
        listed_whole: &HashSet<(String, String)>,
    ) -> ApplySetMembers {
        let parent = applyset::parent_name(&config.env);
        let apply_set_id = applyset::applyset_id(&parent, &config.apply_set_namespace);
        let task = {
            let cluster = cluster.clone();
            let parent = parent.clone();
            let namespace = config.apply_set_namespace.clone();
            let listed_whole = listed_whole.clone();
            tokio::spawn(async move {
                cluster
                    .applyset_member_metadata_except(&parent, &namespace, &listed_whole)
                    .await
            })
        };
        ApplySetMembers {
            parent,
            apply_set_id,
            task,
        }
    }

    /// The members (metadata) and the kinds the parent names. An unreachable cluster is an
    /// error; any other failure only hides the orphans, with a warning.
    async fn read(
        self,
        namespace: &str,
        warnings: &mut Vec<String>,
    ) -> Result<MembersAndKinds, StatusError> {
        let parent = self.parent;
        match self.task.await.map_err(StatusError::Task)? {
            Ok(members) => Ok(members),
            Err(error @ ClusterError::Unreachable { .. }) => Err(error.into()),
            Err(error) => {
                warnings.push(format!(
                    "orphans not shown: cannot read the members of ApplySet {namespace}/{parent}: {error}"
                ));
                Ok((Vec::new(), HashSet::new()))
            }
        }
    }
}

/// The rows of an evaluation as they are made, and what making them needs.
struct Evaluation<'a> {
    cluster: &'a ClusterClient,
    opts: &'a StatusOptions,
    rules: &'a [IgnoreRule],
    resources: Vec<ResourceStatus>,
    stats: EvaluationStats,
    /// The membership marks (labels and annotations of controllers and the ApplySet) of each
    /// desired resource found live; `None` when it has none.
    live_marks: HashMap<ResourceId, Option<Value>>,
}

impl Evaluation<'_> {
    /// Queues the manifests whose kind the cluster serves for their LISTs; the others get
    /// their row at once.
    fn queue_lists(&mut self, selected: Vec<Manifest>, discovery: &Discovery) -> Queued {
        let mut queued = Queued {
            groups: BTreeMap::new(),
            listed_whole: HashSet::new(),
        };
        let pack = selected.len() >= PACK_FROM;
        for manifest in selected {
            // The API server refuses such a name (422), so it can never be live: an Error that
            // names the rule, not a Missing that a sync would then refuse at preflight.
            if let Some(problem) = invalid_name(&manifest) {
                let mut row = ResourceStatus::new(&manifest, DriftState::Error);
                row.error = Some(problem);
                self.push_desired(row, &manifest);
                continue;
            }
            let (group, version) = split_api_version(&manifest.api_version);
            match discovery.resolve(group, version, &manifest.id.kind) {
                Ok(kind) => {
                    let resource = &kind.resource;
                    if !kind.namespaced {
                        queued
                            .listed_whole
                            .insert((resource.group.clone(), resource.kind.clone()));
                    }
                    queued
                        .groups
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
                    self.push_desired(row, &manifest);
                }
            }
        }
        queued
    }

    /// Adds `row` of `manifest`, with its desired text when texts are shown.
    fn push_desired(&mut self, mut row: ResourceStatus, manifest: &Manifest) {
        if self.opts.texts {
            row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, self.rules);
        }
        self.resources.push(row);
    }

    /// Runs the LISTs and compares each as it arrives, its live objects dropped right after:
    /// holding every list at once (managedFields and all) was most of the peak memory.
    async fn list_and_compare(&mut self, queued: Queued, apply_set_id: &str) -> Listed {
        let cluster = self.cluster;
        let mut listed = Listed::default();
        // Largest first (by the desired objects' size, which the live ones follow): the
        // longest LISTs (CRDs, dashboards in ConfigMaps) start at once and the small ones fill
        // the gaps, instead of a large one starting last.
        let mut groups: Vec<_> = queued.groups.into_iter().collect();
        groups.sort_by_cached_key(|(_, (_, manifests))| {
            std::cmp::Reverse(manifests.iter().map(|m| m.size).sum::<usize>())
        });
        let mut lists = futures::stream::iter(groups)
            .map(|(key, (resource, manifests))| async move {
                let listed = cluster.list(&resource, key.2.as_deref(), None).await;
                (resource, manifests, listed)
            })
            // Each LIST answer is parsed whole (up to LIST_CHUNK objects with their
            // managedFields) before it is compared: a few in flight keep the pipe full at a
            // fraction of the memory of 16. The dry-runs, small and many, use the full bound.
            .buffer_unordered(cluster.concurrency().min(LISTS_IN_FLIGHT));
        while let Some((resource, manifests, answer)) = lists.next().await {
            let whole = queued
                .listed_whole
                .contains(&(resource.group.clone(), resource.kind.clone()));
            let mut live = match answer {
                Ok(objects) => by_name(objects),
                Err(error) => {
                    if whole {
                        listed
                            .unlisted_members
                            .push(format!("{}.{}", resource.kind, resource.group));
                    }
                    let error = error.to_string();
                    for packed in manifests {
                        let mut row = ResourceStatus::new(&packed.manifest, DriftState::Error);
                        row.error = Some(error.clone());
                        self.resources.push(row);
                    }
                    continue;
                }
            };
            for packed in manifests {
                self.compare_listed(packed, &mut live, &resource, &mut listed);
            }
            if whole {
                listed.listed_members.extend(
                    live.into_values()
                        .filter(|object| part_of(object) == Some(apply_set_id)),
                );
            }
        }
        drop(lists);
        listed
    }

    /// Compares one manifest with its live object from the LIST: a row, or a dry-run
    /// candidate when the server strategy cannot trust the client comparison.
    fn compare_listed(
        &mut self,
        packed: PackedManifest,
        live: &mut HashMap<String, Value>,
        resource: &ApiResource,
        listed: &mut Listed,
    ) {
        let (opts, rules) = (self.opts, self.rules);
        let manifest = match packed.unpack() {
            Ok(manifest) => manifest,
            Err(row) => {
                self.resources.push(*row);
                return;
            }
        };
        let Some(live_object) = live.remove(manifest.id.name.as_str()) else {
            if let Some(ns) = &manifest.id.namespace {
                listed.missing_namespaces.insert(ns.clone());
            }
            self.push_desired(
                ResourceStatus::new(&manifest, DriftState::Missing),
                &manifest,
            );
            return;
        };
        self.live_marks
            .insert(manifest.id.clone(), membership_marks(&live_object));
        let client = compare_client(&manifest.id, &manifest.object, &live_object, rules);
        if opts.matches_revision
            && opts.last_commit_limit > 0
            && matches!(&client, Ok(c) if c.is_drifted())
        {
            listed
                .drifted_live
                .insert(manifest.id.clone(), live_object.clone());
        }
        match (opts.strategy, client) {
            (_, Err(error)) => {
                self.resources
                    .push(error_row(&manifest, Some(&live_object), &error))
            }
            (Strategy::Client, Ok(comparison)) => {
                self.resources.push(compared_row(
                    &manifest,
                    &live_object,
                    comparison,
                    Strategy::Client,
                    opts.texts,
                ));
            }
            (Strategy::Server, Ok(comparison)) => {
                if !comparison.is_drifted() && !owns_unsent_fields(&live_object, &manifest.object) {
                    self.stats.dry_runs_skipped += 1;
                    self.resources.push(compared_row(
                        &manifest,
                        &live_object,
                        comparison,
                        Strategy::Server,
                        opts.texts,
                    ));
                } else {
                    listed.needs_dry_run.push((
                        manifest,
                        resource.clone(),
                        live_object,
                        comparison,
                    ));
                }
            }
        }
    }

    /// Dry-runs the candidates and adds their rows, with the cluster's full bound.
    async fn dry_run(&mut self, candidates: Vec<DryRunCandidate>) {
        let (cluster, rules, texts) = (self.cluster, self.rules, self.opts.texts);
        let dry_run_rows: Vec<ResourceStatus> = futures::stream::iter(candidates)
            .map(|(manifest, resource, live_object, client)| async move {
                dry_run_row(
                    cluster,
                    &manifest,
                    &resource,
                    &live_object,
                    client,
                    rules,
                    texts,
                )
                .await
            })
            .buffer_unordered(cluster.concurrency())
            .collect()
            .await;
        self.resources.extend(dry_run_rows);
    }

    /// Adds a row for each orphan: a member of the ApplySet no manifest declares.
    async fn add_orphans(
        &mut self,
        members: Vec<Value>,
        group_kinds: &HashSet<(String, String)>,
        listed_members: Vec<Value>,
        head: &Head,
        controlled: &HashSet<ResourceId>,
    ) -> Result<(), StatusError> {
        let cluster = self.cluster;
        let discovery = cluster.discovery_of_objects(&members).await?;
        // Members found in whole lists are whole already; only kinds the parent names have
        // members.
        let listed_orphans: Vec<(ResourceId, Value)> = listed_members
            .into_iter()
            .filter_map(|member| Some((member_id(&member, &discovery)?, member)))
            .filter(|(id, _)| {
                group_kinds.contains(&(id.group.clone(), id.kind.clone()))
                    && head.is_orphan(id)
                    && !controlled.contains(id)
            })
            .collect();
        // Members were listed by metadata: the orphans (few) are read whole.
        let orphans: Vec<(ResourceId, Value)> = members
            .into_iter()
            .filter_map(|member| Some((member_id(&member, &discovery)?, member)))
            .filter(|(id, _)| head.is_orphan(id) && !controlled.contains(id))
            .collect();
        let orphans = read_whole(cluster, &discovery, orphans).await;
        for (id, member) in orphans.into_iter().chain(listed_orphans) {
            let mut row = orphan_row(id, &member, self.rules, self.opts.texts);
            row.owner = Some(ResourceOwner::ApplySet);
            self.resources.push(row);
        }
        Ok(())
    }

    /// Adds a row for each member of the environment's controllers (SPEC §11) that no
    /// manifest declares; returns their identities. Members are found in the metadata of
    /// every object of the kinds the environment declares, the controllers list and the
    /// common kinds ([`MEMBER_KINDS`]), across namespaces.
    async fn add_controller_orphans(
        &mut self,
        controllers: &Controllers,
        head: &Head,
        warnings: &mut Vec<String>,
    ) -> Result<HashSet<ResourceId>, StatusError> {
        let mut found = HashSet::new();
        if controllers.is_empty() {
            return Ok(found);
        }
        let cluster = self.cluster;
        let mut kinds = head.desired_kinds.clone();
        kinds.extend(controllers.listed_kinds());
        kinds.extend(
            MEMBER_KINDS
                .iter()
                .map(|(group, kind)| ((*group).to_owned(), (*kind).to_owned())),
        );
        let discovery = cluster
            .discovery_of(kinds.iter().map(|(group, _)| group.as_str()))
            .await?;
        let resources: Vec<ApiResource> = kinds
            .iter()
            .filter_map(|(group, kind)| discovery.preferred_kind(group, kind))
            .filter(|served| served.verbs.is_empty() || served.verbs.iter().any(|v| v == "list"))
            .map(|served| served.resource.clone())
            .collect();
        let lists: Vec<(ApiResource, Result<Vec<Value>, ClusterError>)> =
            futures::stream::iter(resources)
                .map(|resource| async move {
                    let listed = cluster.list_metadata(&resource, None, None).await;
                    (resource, listed)
                })
                .buffer_unordered(cluster.concurrency().min(LISTS_IN_FLIGHT))
                .collect()
                .await;
        let mut orphans = Vec::new();
        let mut owners = HashMap::new();
        for (resource, listed) in lists {
            let items = match listed {
                Ok(items) => items,
                Err(error @ ClusterError::Unreachable { .. }) => return Err(error.into()),
                Err(error) => {
                    warnings.push(format!(
                        "orphans of kind {}.{} not shown: cannot list its members of the environment's controllers: {error}",
                        resource.kind, resource.group
                    ));
                    continue;
                }
            };
            for item in items {
                let Some(id) = member_id(&item, &discovery) else {
                    continue;
                };
                if !head.is_orphan(&id) {
                    continue;
                }
                if let Some(owner) = controllers.owner_of(&id, &item) {
                    owners.insert(id.clone(), owner);
                    orphans.push((id, item));
                }
            }
        }
        let released =
            deployed_release_objects(cluster, controllers, owners.values(), &discovery, warnings)
                .await?;
        for (id, member) in read_whole(cluster, &discovery, orphans).await {
            if let Some((release, object)) = released.get(&id)
                && let Some(owner) = owners.remove(&id)
            {
                let row =
                    self.released_row(id.clone(), object, &member, owner, release, controllers);
                found.insert(id);
                self.resources.push(row);
                continue;
            }
            let mut row = orphan_row(id.clone(), &member, self.rules, self.opts.texts);
            if let Some(owner) = owners.remove(&id) {
                if row.live_revision.is_none() {
                    row.live_revision = controllers.revision(&owner).map(str::to_owned);
                }
                row.owner = Some(ResourceOwner::Controller(owner));
            }
            found.insert(id);
            self.resources.push(row);
        }
        Ok(found)
    }

    /// The row of a HelmRelease's member that git does not render (the chart is not rendered
    /// here) but its deployed Helm release does (SPEC §11): compared (client strategy) with the
    /// release manifest's version of it.
    fn released_row(
        &self,
        id: ResourceId,
        object: &Value,
        live: &Value,
        owner: k8s_model::Owner,
        release: &str,
        controllers: &Controllers,
    ) -> ResourceStatus {
        let manifest = Manifest {
            api_version: object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            id,
            object: object.clone(),
            source: k8s_model::Source {
                file: String::new(),
                document: 0,
                line: 0,
                end_line: 0,
            },
            owner: Some(owner.clone()),
        };
        let mut row = match compare_client(&manifest.id, &manifest.object, live, self.rules) {
            Ok(comparison) => compared_row(
                &manifest,
                live,
                comparison,
                Strategy::Client,
                self.opts.texts,
            ),
            Err(error) => error_row(&manifest, Some(live), &error),
        };
        row.source = None;
        if row.live_revision.is_none() {
            row.live_revision = controllers.revision(&owner).map(str::to_owned);
        }
        row.notes.push(format!(
            "compared with the manifest of Helm release {release}, which {owner} deployed (its chart is not rendered here)"
        ));
        row
    }

    /// Sets each desired row's owner, when its manifest names none, from its live object
    /// (SPEC §11): the environment's controller that applied it, else the ApplySet
    /// (`apply_set_id`) it is a member of; and its `liveRevision`, when it has no revision
    /// annotation, from its controller's status.
    fn mark_owners(&mut self, controllers: &Controllers, apply_set_id: &str) {
        let no_marks = Value::Null;
        for row in &mut self.resources {
            let Some(marks) = self.live_marks.get(&row.id) else {
                continue;
            };
            if row.owner.is_none() {
                let marks = marks.as_ref().unwrap_or(&no_marks);
                row.owner = controllers
                    .owner_of(&row.id, marks)
                    .map(ResourceOwner::Controller)
                    .or_else(|| {
                        (part_of(marks) == Some(apply_set_id)).then_some(ResourceOwner::ApplySet)
                    });
            }
            if row.live_revision.is_none()
                && let Some(ResourceOwner::Controller(owner)) = &row.owner
            {
                row.live_revision = controllers.revision(owner).map(str::to_owned);
            }
        }
        self.live_marks = HashMap::new();
    }

    /// Sets each row's `lastCommit` from the walk, once it is done.
    async fn mark_last_commits(
        &mut self,
        walk: LastCommitWalk,
        started: std::time::Instant,
    ) -> Result<(), StatusError> {
        let (found, walked) = walk.await.map_err(StatusError::Task)??;
        self.stats.commits_walked = walked;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis(),
            "last commits found"
        );
        for row in &mut self.resources {
            row.last_commit = found.get(&row.id).cloned();
        }
        Ok(())
    }

    /// SPEC §7: a live object the head version satisfies matches the commit that introduced
    /// that version (`lastCommit`); the others (`drifted_live`) are looked up in their history.
    async fn mark_matches_revision(
        &mut self,
        repo: &EnvRepo,
        commit: ObjectId,
        render_opts: &RenderOptions,
        drifted_live: HashMap<ResourceId, Value>,
    ) -> Result<(), StatusError> {
        let opts = self.opts;
        let drifted_ids: BTreeSet<ResourceId> = drifted_live.keys().cloned().collect();
        let matched = if drifted_live.is_empty() {
            HashMap::new()
        } else {
            let (repo, render_opts, limit) =
                (repo.clone(), render_opts.clone(), opts.last_commit_limit);
            let rules = self.rules.to_vec();
            blocking(move || {
                crate::ops::history::matches_revisions(
                    &repo,
                    commit,
                    &render_opts,
                    &drifted_live,
                    &rules,
                    limit,
                )
                .map_err(|error| StatusError::History(Box::new(error)))
            })
            .await?
        };
        for row in &mut self.resources {
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
        Ok(())
    }
}

/// The orphans read whole (members were listed by metadata); one deleted since it was listed
/// is no orphan, one unreadable keeps its metadata.
async fn read_whole(
    cluster: &ClusterClient,
    discovery: &Discovery,
    orphans: Vec<(ResourceId, Value)>,
) -> Vec<(ResourceId, Value)> {
    futures::stream::iter(orphans)
        .map(|(id, member)| async move {
            // Deleted since it was listed: no orphan; unreadable: its metadata.
            let whole = match discovery.preferred_kind(&id.group, &id.kind) {
                Some(served) => cluster
                    .get(&served.resource, id.namespace.as_deref(), &id.name)
                    .await
                    .unwrap_or(Some(member)),
                None => Some(member),
            };
            (id, whole)
        })
        .buffer_unordered(cluster.concurrency())
        .filter_map(|(id, object)| async move { object.map(|o| (id, o)) })
        .collect()
        .await
}

/// Kinds searched for members of the environment's controllers besides those the environment
/// declares and the controllers list: what charts and kustomizations most often make.
const MEMBER_KINDS: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("networking.k8s.io", "Ingress"),
];

/// The desired controllers with their live objects, read (one GET each) to know their
/// deployed revision and what their status lists. One that cannot be read is a warning.
async fn read_controllers(
    cluster: &ClusterClient,
    head: &Head,
    warnings: &mut Vec<String>,
) -> Result<Controllers, StatusError> {
    if head.controllers.is_empty() {
        return Ok(Controllers::default());
    }
    let discovery = &head.discovery;
    let read: Vec<(ResourceId, Result<Option<Value>, ClusterError>)> =
        futures::stream::iter(head.controllers.iter().cloned())
            .map(|id| async move {
                let live = match discovery.preferred_kind(&id.group, &id.kind) {
                    Some(served) => {
                        cluster
                            .get(&served.resource, id.namespace.as_deref(), &id.name)
                            .await
                    }
                    // Its CRD is not installed: its row says Unknown.
                    None => Ok(None),
                };
                (id, live)
            })
            .buffer_unordered(cluster.concurrency())
            .collect()
            .await;
    let mut desired = Vec::with_capacity(read.len());
    for (id, live) in read {
        match live {
            Ok(live) => desired.push((id, live)),
            Err(error @ ClusterError::Unreachable { .. }) => return Err(error.into()),
            Err(error) => {
                warnings.push(format!(
                    "the revision and members of {id} are not known: cannot read it: {error}"
                ));
                desired.push((id, None));
            }
        }
    }
    Ok(Controllers::new(desired))
}

/// The objects of the deployed Helm release of each HelmRelease among `owners`, by identity,
/// with the release (`namespace/name vN`). A release that cannot be read is a warning (its
/// members stay orphans).
async fn deployed_release_objects<'a>(
    cluster: &ClusterClient,
    controllers: &Controllers,
    owners: impl Iterator<Item = &'a k8s_model::Owner>,
    discovery: &Discovery,
    warnings: &mut Vec<String>,
) -> Result<HashMap<ResourceId, (String, Value)>, StatusError> {
    let releases: BTreeSet<(String, String)> = owners
        .filter_map(|owner| controllers.helm_release(owner))
        .map(|(namespace, name)| (namespace.to_owned(), name.to_owned()))
        .collect();
    let mut objects = HashMap::new();
    for (namespace, name) in releases {
        let release =
            match crate::ops::helm_release::latest_deployed_release(cluster, &namespace, &name)
                .await
            {
                Ok(Some(release)) => release,
                Ok(None) => continue,
                Err(error) => {
                    warnings.push(error.to_string());
                    continue;
                }
            };
        let shown = format!("{namespace}/{name} v{}", release.revision);
        match release.objects() {
            Ok(released) => {
                for object in released {
                    if let Some(id) = member_id(&object, discovery) {
                        objects.insert(id, (shown.clone(), object));
                    }
                }
            }
            Err(error) => warnings.push(error.to_string()),
        }
    }
    Ok(objects)
}

/// The labels and annotations of `live` that say who applies it (controllers, the ApplySet),
/// with its identity (Argo CD's tracking id names it); `None` when it has none.
fn membership_marks(live: &Value) -> Option<Value> {
    let labels = live.pointer("/metadata/labels").and_then(Value::as_object);
    let annotations = live
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let marked_label = |key: &str| {
        key.ends_with(".toolkit.fluxcd.io/name")
            || key.ends_with(".toolkit.fluxcd.io/namespace")
            || key == super::membership::ARGO_INSTANCE_LABEL
            || key == applyset::PART_OF_LABEL
    };
    let labels: serde_json::Map<String, Value> = labels
        .into_iter()
        .flatten()
        .filter(|(key, _)| marked_label(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let tracking = annotations
        .and_then(|a| a.get(super::membership::ARGO_TRACKING_ANNOTATION))
        .cloned();
    if labels.is_empty() && tracking.is_none() {
        return None;
    }
    let mut metadata = serde_json::Map::new();
    for key in ["name", "namespace"] {
        if let Some(value) = live.pointer(&format!("/metadata/{key}")) {
            metadata.insert(key.to_owned(), value.clone());
        }
    }
    metadata.insert("labels".to_owned(), Value::Object(labels));
    if let Some(tracking) = tracking {
        metadata.insert(
            "annotations".to_owned(),
            serde_json::json!({ super::membership::ARGO_TRACKING_ANNOTATION: tracking }),
        );
    }
    Some(serde_json::json!({
        "apiVersion": live.get("apiVersion"),
        "kind": live.get("kind"),
        "metadata": metadata,
    }))
}

type LiveKey = (String, String, Option<String>);

/// LIST requests in flight at once (see where it is used).
const LISTS_IN_FLIGHT: usize = 4;

/// Manifests from which on the waiting ones are packed ([`PackedManifest`]): below, the
/// objects weigh little and packing them (a serialization and a parse each) only costs time.
const PACK_FROM: usize = 1000;

/// A manifest whose object waits as compact JSON text (`object` is `Null` meanwhile), or as
/// it is in an environment too small for that to matter.
pub(super) struct PackedManifest {
    manifest: Manifest,
    /// `None`: not packed.
    pub(super) json: Option<Box<str>>,
    /// The object's size in bytes of text (its JSON, or an estimate when not packed).
    pub(super) size: usize,
}

impl PackedManifest {
    pub(super) fn pack(mut manifest: Manifest, pack: bool) -> PackedManifest {
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
    pub(super) fn unpack(self) -> Result<Manifest, Box<ResourceStatus>> {
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
