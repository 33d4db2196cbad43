//! [`execute`]: the parent, then the ordered applies, then prune.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use futures::StreamExt;
use serde_json::{Value, json};

use super::controller::{ControllerRequest, ControllerStep, requested_at, write_failure};
use super::plan::group_kind;
use super::{
    ADDITIONAL_NAMESPACES_ANNOTATION, CRD_ESTABLISHED_TIMEOUT, ControllerOutcome, ControllerResult,
    POLL_INTERVAL, PlannedPrune, PlannedResource, ResourceResult, SyncAction, SyncFailure,
    SyncOutcome, SyncPlan, SyncResult, TOOLING_ANNOTATION,
};
use gitops_cluster::write::ApplyMode;
use gitops_cluster::{ClusterClient, ClusterError, applyset, core_resource};
use k8s_model::normalize::REVISION_ANNOTATION;

/// Applies the plan: controllers to suspend first (SPEC §11), the parent, then each step
/// (wave, kind) with bounded concurrency, then `--prune`, then the reconcile requests to the
/// controllers of the resources handed to them. `on_result(done, total, row)` is called as each
/// resource finishes. Stops at the first step with a failure: later resources are `skipped`,
/// and a rerun finishes. Call only with a plan without failures.
pub async fn execute(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    on_result: &(dyn Fn(usize, usize, &ResourceResult) + Sync),
) -> SyncResult {
    let cluster = &cluster.clone().with_concurrency(plan.concurrency);
    let total = plan.resources.len() + plan.prune.len();
    if !plan.failures.is_empty() {
        return nothing_written(
            plan,
            SyncFailure {
                id: None,
                message: "preflight failed: nothing written".to_owned(),
            },
        );
    }
    let mut controllers = Vec::new();
    if let Err(failure) = suspend_controllers(cluster, plan, &mut controllers).await {
        let mut result = nothing_written(plan, failure);
        result.controllers = controllers;
        return result;
    }
    if let Err(error) = write_parent_first(cluster, plan).await {
        return nothing_written(
            plan,
            parent_failure(format!(
                "cannot write the ApplySet parent configmap/{} in namespace {}: {error}; nothing else was written",
                plan.apply_set.name, plan.apply_set.namespace
            )),
        );
    }

    let run = Run {
        cluster,
        plan,
        on_result,
        total,
        done: AtomicUsize::new(0),
        unreachable: AtomicBool::new(false),
    };
    let mut written = Written {
        rows: Vec::with_capacity(total),
        errors: Vec::new(),
    };
    if run.apply_steps(&mut written).await {
        run.skip_prune(&mut written);
    } else {
        run.prune(&mut written).await;
    }
    let failed = !written.errors.is_empty();
    ask_controllers(cluster, plan, failed, &mut controllers, &mut written.errors).await;
    SyncResult {
        revision: plan.revision.clone(),
        apply_set: plan.apply_set.clone(),
        resources: written.rows,
        errors: written.errors,
        controllers,
    }
}

/// Suspends the controllers `--suspend` suspends, one by one, before anything else is written;
/// records the others left as they are. At the first refusal, stops: the rest are skipped and
/// the failure says which were suspended already.
async fn suspend_controllers(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    controllers: &mut Vec<ControllerResult>,
) -> Result<(), SyncFailure> {
    let mut refused: Option<SyncFailure> = None;
    for request in plan
        .controllers
        .iter()
        .filter(|c| c.step != ControllerStep::Reconcile)
    {
        let (result, error) = match (request.patch(""), &refused) {
            (None, _) => (ControllerOutcome::Unchanged, None),
            (Some(_), Some(_)) => (ControllerOutcome::Skipped, None),
            (Some(patch), None) => match send(cluster, request, &patch).await {
                Ok(()) => (ControllerOutcome::Suspended, None),
                Err(failure) => {
                    let message = failure.message.clone();
                    refused = Some(failure);
                    (ControllerOutcome::Failed, Some(message))
                }
            },
        };
        controllers.push(ControllerResult {
            request: request.clone(),
            result,
            error,
        });
    }
    match refused {
        None => Ok(()),
        Some(mut failure) => {
            let suspended: Vec<String> = controllers
                .iter()
                .filter(|c| c.result == ControllerOutcome::Suspended)
                .filter_map(|c| c.request.resume.clone())
                .collect();
            failure.message.push_str("; no resource was applied");
            if !suspended.is_empty() {
                failure.message.push_str(&format!(
                    "; already suspended, resume them with: {}",
                    suspended.join("; ")
                ));
            }
            for request in plan
                .controllers
                .iter()
                .filter(|c| c.step == ControllerStep::Reconcile)
            {
                controllers.push(ControllerResult {
                    request: request.clone(),
                    result: ControllerOutcome::Skipped,
                    error: None,
                });
            }
            Err(failure)
        }
    }
}

/// Sends `patch` to the controller of `request`; a refusal names it and what to do.
async fn send(
    cluster: &ClusterClient,
    request: &ControllerRequest,
    patch: &Value,
) -> Result<(), SyncFailure> {
    cluster
        .merge_patch(
            &request.resource,
            request.owner.id.namespace.as_deref(),
            &request.owner.id.name,
            patch,
            false,
        )
        .await
        .map(|_| ())
        .map_err(|error| write_failure(request, &error))
}

/// Asks each controller to reconcile what was handed to it, after the applies (skipped when
/// one failed: a rerun asks).
async fn ask_controllers(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    failed: bool,
    controllers: &mut Vec<ControllerResult>,
    errors: &mut Vec<SyncFailure>,
) {
    let now = requested_at();
    for request in plan
        .controllers
        .iter()
        .filter(|c| c.step == ControllerStep::Reconcile)
    {
        let (result, error) = match request.patch(&now) {
            None => (ControllerOutcome::Unchanged, None),
            Some(_) if failed => (ControllerOutcome::Skipped, None),
            Some(patch) => match send(cluster, request, &patch).await {
                Ok(()) => (ControllerOutcome::Requested, None),
                Err(failure) => {
                    let message = failure.message.clone();
                    errors.push(failure);
                    (ControllerOutcome::Failed, Some(message))
                }
            },
        };
        controllers.push(ControllerResult {
            request: request.clone(),
            result,
            error,
        });
    }
}

/// The row of a planned resource.
fn row(p: &PlannedResource, result: SyncOutcome, error: Option<String>) -> ResourceResult {
    ResourceResult {
        id: p.id.clone(),
        api_version: p.api_version.clone(),
        result,
        error,
        owner: p.owner.clone(),
    }
}

/// The result of a sync that wrote nothing: every resource skipped, and why.
fn nothing_written(plan: &SyncPlan, failure: SyncFailure) -> SyncResult {
    SyncResult {
        revision: plan.revision.clone(),
        apply_set: plan.apply_set.clone(),
        resources: plan
            .resources
            .iter()
            .map(|p| row(p, SyncOutcome::Skipped, None))
            .collect(),
        errors: vec![failure],
        controllers: plan
            .controllers
            .iter()
            .map(|request| ControllerResult {
                request: request.clone(),
                result: ControllerOutcome::Skipped,
                error: None,
            })
            .collect(),
    }
}

/// Writes the parent before any member, listing every kind and namespace a member may have
/// (kubectl does the same), so that a sync that dies midway leaves its members findable. A
/// sync that only hands resources to their controllers writes none.
async fn write_parent_first(cluster: &ClusterClient, plan: &SyncPlan) -> Result<(), ClusterError> {
    let handed_only = plan.prune.is_empty()
        && !plan.resources.is_empty()
        && plan.resources.iter().all(|p| p.handed);
    if handed_only {
        return Ok(());
    }
    let mut group_kinds = plan.parent_group_kinds.clone();
    let mut namespaces = plan.parent_namespaces.clone();
    for p in plan.resources.iter().filter(|p| !p.handed) {
        group_kinds.insert(group_kind(&p.id));
        if let Some(ns) = &p.id.namespace {
            namespaces.insert(ns.clone());
        }
    }
    write_parent(cluster, plan, &group_kinds, &namespaces).await
}

/// What the steps of a sync share.
struct Run<'a> {
    cluster: &'a ClusterClient,
    plan: &'a SyncPlan,
    on_result: &'a (dyn Fn(usize, usize, &ResourceResult) + Sync),
    /// Resources and prunes in the plan.
    total: usize,
    /// Rows reported so far.
    done: AtomicUsize,
    /// Whether an apply found the server gone.
    unreachable: AtomicBool,
}

/// The rows and errors of a sync so far.
struct Written {
    rows: Vec<ResourceResult>,
    errors: Vec<SyncFailure>,
}

impl Run<'_> {
    /// Reports `r` as the next row done.
    fn report(&self, r: &ResourceResult) {
        (self.on_result)(self.done.fetch_add(1, Relaxed) + 1, self.total, r);
    }

    /// Applies each step (wave, kind) in order; after a failed step the rest are skipped.
    /// Returns whether a step failed.
    async fn apply_steps(&self, written: &mut Written) -> bool {
        let mut steps: BTreeMap<(i64, usize), Vec<&PlannedResource>> = BTreeMap::new();
        for p in &self.plan.resources {
            steps.entry((p.wave, p.rank)).or_default().push(p);
        }
        let mut failed = false;
        for (_, step) in steps {
            if failed {
                for p in step {
                    let r = row(p, SyncOutcome::Skipped, None);
                    self.report(&r);
                    written.rows.push(r);
                }
                continue;
            }
            let results: Vec<ResourceResult> = futures::stream::iter(step.iter().copied())
                .map(|p| self.apply_one(p))
                .buffer_unordered(self.plan.concurrency)
                .collect()
                .await;
            for r in &results {
                if let (SyncOutcome::Failed, Some(error)) = (r.result, &r.error) {
                    failed = true;
                    written.errors.push(SyncFailure {
                        id: Some(r.id.clone()),
                        message: error.clone(),
                    });
                }
            }
            written.rows.extend(results);
            // CRDs must be Established before their custom resources are applied.
            if !failed {
                failed = self.wait_crds(&step, written).await;
            }
        }
        failed
    }

    /// Applies one resource (unless unchanged) and reports its row.
    async fn apply_one(&self, p: &PlannedResource) -> ResourceResult {
        let outcome = match p.action {
            SyncAction::Unchanged => row(p, SyncOutcome::Unchanged, None),
            // Its controller applies it, asked once the applies are done.
            _ if p.handed => row(p, SyncOutcome::Requested, None),
            // The server is gone: the rest is not attempted (a rerun finishes).
            _ if self.unreachable.load(Relaxed) => row(p, SyncOutcome::Skipped, None),
            action => {
                let written = self
                    .cluster
                    .apply(
                        &p.resource,
                        p.id.namespace.as_deref(),
                        &p.id.name,
                        &p.object,
                        ApplyMode {
                            force: self.plan.force,
                            dry_run: false,
                        },
                    )
                    .await;
                match written {
                    Ok(_) if action == SyncAction::Create => row(p, SyncOutcome::Created, None),
                    Ok(_) => row(p, SyncOutcome::Configured, None),
                    Err(error) => {
                        if matches!(error, ClusterError::Unreachable { .. }) {
                            self.unreachable.store(true, Relaxed);
                        }
                        row(p, SyncOutcome::Failed, Some(error.to_string()))
                    }
                }
            }
        };
        self.report(&outcome);
        outcome
    }

    /// Waits for the CRDs the step created or changed to be Established. Returns whether one
    /// was not.
    async fn wait_crds(&self, step: &[&PlannedResource], written: &mut Written) -> bool {
        let mut failed = false;
        for p in step.iter().filter(|p| {
            p.id.kind == "CustomResourceDefinition" && p.action != SyncAction::Unchanged
        }) {
            if let Err(message) = wait_established(self.cluster, p).await {
                failed = true;
                written.errors.push(SyncFailure {
                    id: Some(p.id.clone()),
                    message,
                });
            }
        }
        failed
    }

    /// After a failed apply: no prune; the rows say what was kept or skipped.
    fn skip_prune(&self, written: &mut Written) {
        for p in &self.plan.prune {
            written.rows.push(ResourceResult {
                id: p.id.clone(),
                api_version: p.api_version.clone(),
                result: if p.keep {
                    SyncOutcome::Kept
                } else {
                    SyncOutcome::Skipped
                },
                error: None,
                owner: None,
            });
        }
    }

    /// Prunes step by step (by kind rank, in delete order), then, after a complete prune of
    /// the whole environment, rewrites the parent.
    async fn prune(&self, written: &mut Written) {
        let mut prune_failed = false;
        let mut steps: Vec<(usize, Vec<&PlannedPrune>)> = Vec::new();
        for p in &self.plan.prune {
            match steps.last_mut() {
                Some((rank, items)) if *rank == p.rank => items.push(p),
                _ => steps.push((p.rank, vec![p])),
            }
        }
        for (_, step) in steps {
            let results: Vec<ResourceResult> = futures::stream::iter(step)
                .map(|p| self.prune_one(p))
                .buffer_unordered(self.plan.concurrency)
                .collect()
                .await;
            for r in &results {
                if let Some(error) = &r.error {
                    prune_failed = true;
                    written.errors.push(SyncFailure {
                        id: Some(r.id.clone()),
                        message: error.clone(),
                    });
                }
            }
            written.rows.extend(results);
        }
        if !prune_failed && !self.plan.prune.is_empty() && self.plan.whole {
            self.write_parent_after_prune(written).await;
        }
    }

    /// Deletes one member (unless kept) and reports its row.
    async fn prune_one(&self, p: &PlannedPrune) -> ResourceResult {
        let (result, error) = if p.keep {
            (SyncOutcome::Kept, None)
        } else {
            match self
                .cluster
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
            owner: None,
        };
        self.report(&r);
        r
    }

    /// After a complete prune the parent lists only what the members now have, as kubectl
    /// does; kept members stay listed.
    async fn write_parent_after_prune(&self, written: &mut Written) {
        let plan = self.plan;
        let mut group_kinds = BTreeSet::new();
        let mut namespaces = BTreeSet::new();
        let kept = plan.prune.iter().filter(|p| p.keep).map(|p| &p.id);
        let applied = plan.resources.iter().filter(|p| !p.handed).map(|p| &p.id);
        for id in applied.chain(kept) {
            group_kinds.insert(group_kind(id));
            if let Some(ns) = &id.namespace {
                namespaces.insert(ns.clone());
            }
        }
        if let Err(error) = write_parent(self.cluster, plan, &group_kinds, &namespaces).await {
            written.errors.push(parent_failure(format!(
                "pruned, but cannot update the ApplySet parent configmap/{}: {error}; rerun sync --prune",
                plan.apply_set.name
            )));
        }
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

pub(super) fn condition_true(object: &Value, condition: &str) -> bool {
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
