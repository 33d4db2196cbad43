//! Writing beside a controller (SPEC §11): targeted resources that a live Flux Kustomization or
//! HelmRelease, or Argo CD Application, of the environment reconciles are handed to it — Flux
//! is asked with the `reconcile.fluxcd.io/requestedAt` annotation (as `flux reconcile`), Argo CD
//! with a sync operation on the Application (as `argocd app sync`) — instead of being applied
//! here. A revision other than the one the controller tracks (a rollback) would be undone by
//! it: that needs `--suspend`, which suspends the Flux object (`spec.suspend: true`, as
//! `flux suspend`) or removes the Application's automated sync first; then the resources are
//! applied here and the user is told how to resume.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use kube::core::ApiResource;
use serde::Serialize;
use serde_json::{Value, json};

use super::SyncFailure;
use crate::ops::status::membership::{
    ARGO_GROUP, Controllers, FLUX_HELM_GROUP, deployed_revision, is_controller,
};
use gitops_cluster::{ClusterClient, ClusterError, Discovery};
use k8s_model::{Manifest, Owner, ResourceId};

/// Flux's reconcile request annotation (fluxcd/pkg `apis/meta` `ReconcileRequestAnnotation`);
/// `flux reconcile` sets it to the time now, RFC 3339 with nanoseconds.
pub const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";
/// The user an Argo CD sync operation started here names (`operation.initiatedBy.username`).
pub const ARGO_INITIATOR: &str = "kubectl-gitops";

/// What sync does to a controller that reconciles targeted resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ControllerStep {
    /// Asked to reconcile (Flux `requestedAt`, Argo CD sync operation) after the other writes;
    /// the resources it reconciles are not applied here.
    Reconcile,
    /// Suspended before anything is written (`--suspend`): Flux `spec.suspend: true`, or the
    /// Application's `spec.syncPolicy.automated` removed; its resources are applied here.
    Suspend,
    /// Already suspended (Flux), or an Application without automated sync in a rollback or
    /// under `--suspend`: its resources are applied here, and it is left as it is.
    Suspended,
}

/// A controller that reconciles targeted resources, and what sync does to it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerRequest {
    /// The Flux Kustomization or HelmRelease, or Argo CD Application.
    pub owner: Owner,
    /// Its `apiVersion` as served.
    pub api_version: String,
    /// Reconcile, suspend, or leave suspended.
    pub step: ControllerStep,
    /// The revision its status says it deployed (a commit sha, or a chart version), if any.
    pub tracked_revision: Option<String>,
    /// The targeted resources it reconciles.
    pub members: Vec<ResourceId>,
    /// The command that resumes it, for a suspended one.
    pub resume: Option<String>,
    /// What the user should know (an unpushed HEAD, a multi-source Application).
    pub notes: Vec<String>,
    #[serde(skip)]
    pub(super) resource: ApiResource,
    /// The Argo CD sync operation (`operation.sync`) to set, for an Application to reconcile.
    #[serde(skip)]
    argo_sync: Option<Value>,
}

impl ControllerRequest {
    /// Whether it is a Flux object (else an Argo CD Application).
    fn is_flux(&self) -> bool {
        self.owner.id.group != ARGO_GROUP
    }

    /// The merge patch its step sends, `None` when it is left as it is. `now` is the
    /// `requestedAt` value.
    pub(super) fn patch(&self, now: &str) -> Option<Value> {
        match (self.step, self.is_flux()) {
            (ControllerStep::Reconcile, true) => Some(json!({"metadata": {"annotations": {
                RECONCILE_REQUEST_ANNOTATION: now,
            }}})),
            (ControllerStep::Reconcile, false) => Some(json!({"operation": {
                "initiatedBy": {"username": ARGO_INITIATOR},
                "sync": self.argo_sync.clone().unwrap_or_else(|| json!({})),
            }})),
            (ControllerStep::Suspend, true) => Some(json!({"spec": {"suspend": true}})),
            (ControllerStep::Suspend, false) => {
                Some(json!({"spec": {"syncPolicy": {"automated": null}}}))
            }
            (ControllerStep::Suspended, _) => None,
        }
    }

    /// What was (or, `done` false, would be) done, as one line: `reconcile requested`.
    pub fn describe(&self, done: bool) -> String {
        let would = |text: &str| {
            if done {
                text.to_owned()
            } else {
                format!("would be {text}")
            }
        };
        match (self.step, self.is_flux()) {
            (ControllerStep::Reconcile, true) => {
                format!(
                    "{} ({RECONCILE_REQUEST_ANNOTATION})",
                    would("asked to reconcile")
                )
            }
            (ControllerStep::Reconcile, false) => {
                let revision = self
                    .argo_sync
                    .as_ref()
                    .and_then(|s| s.get("revision"))
                    .and_then(Value::as_str)
                    .map(|r| format!(" of {}", &r[..r.len().min(7)]))
                    .unwrap_or_default();
                would(&format!("asked to sync (sync operation{revision})"))
            }
            (ControllerStep::Suspend, true) => format!(
                "{} (spec.suspend: true) and its resources applied here",
                would("suspended")
            ),
            (ControllerStep::Suspend, false) => format!(
                "{} (spec.syncPolicy.automated removed) and its resources applied here",
                would("automated sync turned off")
            ),
            (ControllerStep::Suspended, true) => {
                "already suspended: its resources applied here".to_owned()
            }
            (ControllerStep::Suspended, false) => {
                "without automated sync: its resources applied here".to_owned()
            }
        }
    }
}

/// The resume command of a Flux object (`flux resume kustomization apps -n flux-system`).
fn flux_resume(owner: &Owner) -> String {
    let kind = if owner.id.group == FLUX_HELM_GROUP {
        "helmrelease"
    } else {
        "kustomization"
    };
    format!(
        "flux resume {kind} {}{}",
        owner.id.name,
        namespace_flag(owner)
    )
}

/// The patch restoring an Application's automated sync policy as it was.
fn argo_restore(owner: &Owner, automated: &Value) -> String {
    let patch = json!({"spec": {"syncPolicy": {"automated": automated}}});
    format!(
        "kubectl patch application {}{} --type=merge -p '{patch}'",
        owner.id.name,
        namespace_flag(owner)
    )
}

/// ` -n <namespace>` of a namespaced owner, for the commands printed.
fn namespace_flag(owner: &Owner) -> String {
    owner
        .id
        .namespace
        .as_deref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default()
}

/// The environment's controllers as they are live.
pub(super) struct LiveControllers {
    /// Each live controller object with the kind it is served as.
    objects: BTreeMap<ResourceId, (ApiResource, Value)>,
    /// Who owns what, from their labels, annotations and status.
    membership: Controllers,
}

impl LiveControllers {
    /// Reads every controller object the environment renders (`env`): those whose kind is not
    /// served, or that do not exist, are not live. A controller that owns a targeted manifest
    /// (`needed`) and cannot be read is a failure: sync cannot tell what it would undo.
    pub(super) async fn read(
        cluster: &ClusterClient,
        discovery: &Discovery,
        env: BTreeSet<ResourceId>,
        needed: &BTreeSet<ResourceId>,
        concurrency: usize,
        failures: &mut Vec<SyncFailure>,
    ) -> Result<LiveControllers, ClusterError> {
        let reads: Vec<_> = futures::stream::iter(env)
            .map(|id| async move {
                let Some(kind) = discovery.preferred_kind(&id.group, &id.kind) else {
                    return (id, Ok(None));
                };
                let resource = kind.resource.clone();
                let object = cluster
                    .get(&resource, id.namespace.as_deref(), &id.name)
                    .await;
                (id, object.map(|o| o.map(|o| (resource, o))))
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut objects = BTreeMap::new();
        let mut desired = Vec::new();
        for (id, read) in reads {
            match read {
                Ok(Some((resource, object))) => {
                    desired.push((id.clone(), Some(object.clone())));
                    objects.insert(id, (resource, object));
                }
                Ok(None) => desired.push((id, None)),
                Err(error @ ClusterError::Unreachable { .. }) => return Err(error),
                Err(error) if needed.contains(&id) => failures.push(SyncFailure {
                    message: format!(
                        "cannot read {} that reconciles targeted resources: {}; sync must read it to ask it (or, with --suspend, to suspend it): grant get on it, or leave its resources out",
                        Owner { id: id.clone() },
                        error.server_message()
                    ),
                    id: Some(id),
                }),
                Err(_) => desired.push((id, None)),
            }
        }
        Ok(LiveControllers {
            objects,
            membership: Controllers::new(desired),
        })
    }

    /// The live controller that reconciles `manifest` (whose live object is `live`): the one
    /// whose rendering made it, else the one its labels, annotations or status name.
    pub(super) fn owner_of(&self, manifest: &Manifest, live: Option<&Value>) -> Option<Owner> {
        manifest
            .owner
            .clone()
            .filter(|owner| self.objects.contains_key(&owner.id))
            .or_else(|| live.and_then(|live| self.membership.owner_of(&manifest.id, live)))
            .filter(|owner| owner.id != manifest.id && self.objects.contains_key(&owner.id))
    }

    /// What sync does to `owner`: `Err` with the refusal when syncing `revision` would be a
    /// rollback it undoes and `--suspend` was not given.
    pub(super) fn step(
        &self,
        owner: &Owner,
        revision: &str,
        head: &str,
        suspend: bool,
    ) -> Result<ControllerStep, String> {
        let Some((_, live)) = self.objects.get(&owner.id) else {
            return Err(format!("{owner} is not in the cluster"));
        };
        let tracked = deployed_revision(&owner.id, live);
        let flux = owner.id.group != ARGO_GROUP;
        let off = if flux {
            live.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
        } else {
            live.pointer("/spec/syncPolicy/automated")
                .is_none_or(Value::is_null)
        };
        let rollback = revision != head && tracked.as_deref() != Some(revision);
        if suspend || (rollback && off) || (flux && off) {
            return Ok(if off {
                ControllerStep::Suspended
            } else {
                ControllerStep::Suspend
            });
        }
        if rollback {
            let tracked = tracked
                .map(|t| format!(" (it deployed {})", &t[..t.len().min(12)]))
                .unwrap_or_default();
            let undo = if flux {
                "suspend it"
            } else {
                "turn off its automated sync"
            };
            return Err(format!(
                "{owner} reconciles these resources at the revision its source tracks{tracked}; syncing {} (not HEAD) is a rollback it would undo: pass --suspend to {undo} first and apply here, or roll back the way the controller keeps: `kubectl gitops revert <commit>`, push, and sync HEAD. Nothing written.",
                &revision[..revision.len().min(12)]
            ));
        }
        if !flux && let Some(operation) = live.get("operation").filter(|o| !o.is_null()) {
            let by = operation
                .pointer("/initiatedBy/username")
                .and_then(Value::as_str)
                .unwrap_or("someone");
            return Err(format!(
                "{owner}: another operation (started by {by}) is in progress; wait for it to finish (`kubectl get application {} -n {} -o jsonpath='{{.status.operationState.phase}}'`) or terminate it (`argocd app terminate-op`), then sync again. Nothing written.",
                owner.id.name,
                owner.id.namespace.as_deref().unwrap_or("argocd")
            ));
        }
        Ok(ControllerStep::Reconcile)
    }

    /// The request for `owner` taking `step` for `members`, syncing `revision` (HEAD is
    /// `head`); `whole`: the sync covers the whole environment; `prune`: `--prune`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn request(
        &self,
        owner: &Owner,
        step: ControllerStep,
        members: Vec<ResourceId>,
        revision: &str,
        head: &str,
        whole: bool,
        prune: bool,
    ) -> Option<ControllerRequest> {
        let (resource, live) = self.objects.get(&owner.id)?;
        let tracked = deployed_revision(&owner.id, live);
        let flux = owner.id.group != ARGO_GROUP;
        let mut notes = Vec::new();
        let resume = match step {
            ControllerStep::Reconcile => None,
            _ if flux => Some(flux_resume(owner)),
            ControllerStep::Suspend => live
                .pointer("/spec/syncPolicy/automated")
                .map(|automated| argo_restore(owner, automated)),
            ControllerStep::Suspended => None,
        };
        let mut argo_sync = None;
        if step == ControllerStep::Reconcile {
            if flux && tracked.as_deref().is_some_and(|t| t != revision) && revision == head {
                notes.push(format!(
                    "it applies what its source holds: HEAD ({}) is applied once it is pushed",
                    &revision[..revision.len().min(7)]
                ));
            }
            if !flux {
                let mut sync = serde_json::Map::new();
                if live.pointer("/spec/sources").is_some_and(Value::is_array) {
                    notes.push(
                        "an Application of several sources syncs each at its targetRevision"
                            .to_owned(),
                    );
                } else {
                    sync.insert("revision".into(), revision.into());
                }
                if prune {
                    sync.insert("prune".into(), true.into());
                }
                if !whole {
                    let resources: Vec<Value> = members
                        .iter()
                        .map(|m| {
                            json!({"group": m.group, "kind": m.kind, "name": m.name,
                                   "namespace": m.namespace.clone().unwrap_or_default()})
                        })
                        .collect();
                    sync.insert("resources".into(), resources.into());
                }
                argo_sync = Some(Value::Object(sync));
            }
        }
        Some(ControllerRequest {
            owner: owner.clone(),
            api_version: resource.api_version.clone(),
            step,
            tracked_revision: tracked,
            members,
            resume,
            notes,
            resource: resource.clone(),
            argo_sync,
        })
    }
}

/// The controllers the environment renders: controller objects, and the owners of rendered
/// objects.
pub(super) fn env_controllers<'a>(
    manifests: impl Iterator<Item = &'a Manifest>,
) -> BTreeSet<ResourceId> {
    let mut ids = BTreeSet::new();
    for manifest in manifests {
        if is_controller(&manifest.id) {
            ids.insert(manifest.id.clone());
        }
        if let Some(owner) = &manifest.owner {
            ids.insert(owner.id.clone());
        }
    }
    ids
}

/// Removes from a controller object's manifest the field its suspension sets (Flux
/// `spec.suspend`, Argo CD `spec.syncPolicy.automated`), so that applying it does not undo it.
pub(super) fn strip_suspended_field(object: &mut Value) {
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("suspend");
        if let Some(policy) = spec.get_mut("syncPolicy").and_then(Value::as_object_mut) {
            policy.remove("automated");
        }
    }
}

/// The time now as `flux reconcile` writes it (Go's RFC 3339 with nanoseconds, UTC).
pub(super) fn requested_at() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Dry-runs each request's patch (RBAC, admission, a CRD gone since the plan read it) so that
/// nothing is half done; each refusal is a failure naming the controller. One at a time: an
/// environment has few controllers.
pub(super) async fn preflight(
    cluster: &ClusterClient,
    requests: &[ControllerRequest],
) -> Vec<SyncFailure> {
    let now = requested_at();
    let mut failures = Vec::new();
    for request in requests {
        let Some(patch) = request.patch(&now) else {
            continue;
        };
        let result = cluster
            .merge_patch(
                &request.resource,
                request.owner.id.namespace.as_deref(),
                &request.owner.id.name,
                &patch,
                true,
            )
            .await;
        if let Err(error) = result {
            failures.push(write_failure(request, &error));
        }
    }
    failures
}

/// A refused write of `request`, naming the object and what to do.
pub(super) fn write_failure(request: &ControllerRequest, error: &ClusterError) -> SyncFailure {
    let verb = match request.step {
        ControllerStep::Reconcile => "ask",
        _ => "suspend",
    };
    let next = if error.is_forbidden() {
        format!(
            "grant patch on {} in namespace {}, or sync without its resources",
            request.resource.plural,
            request.owner.id.namespace.as_deref().unwrap_or("-")
        )
    } else if error.is_not_found() {
        format!(
            "{} or its CRD is gone; check `kubectl get {}.{}`",
            request.owner, request.resource.plural, request.resource.group
        )
    } else {
        "check the object and sync again".to_owned()
    };
    SyncFailure {
        id: Some(request.owner.id.clone()),
        message: format!(
            "cannot {verb} {}: {}; {next}",
            request.owner,
            error.server_message()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::status::membership::FLUX_KUSTOMIZE_GROUP;

    fn owner(group: &str, kind: &str) -> Owner {
        Owner {
            id: ResourceId {
                group: group.into(),
                kind: kind.into(),
                namespace: Some("flux-system".into()),
                name: "apps".into(),
            },
        }
    }

    fn live(owner: &Owner, object: Value) -> LiveControllers {
        let resource = ApiResource {
            group: owner.id.group.clone(),
            version: "v1".into(),
            api_version: format!("{}/v1", owner.id.group),
            kind: owner.id.kind.clone(),
            plural: "things".into(),
        };
        LiveControllers {
            objects: BTreeMap::from([(owner.id.clone(), (resource, object.clone()))]),
            membership: Controllers::new(vec![(owner.id.clone(), Some(object))]),
        }
    }

    const OLD: &str = "1111111111111111111111111111111111111111";
    const HEAD: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn flux_steps_follow_rollback_suspend_and_the_tracked_revision() {
        let ks = owner(FLUX_KUSTOMIZE_GROUP, "Kustomization");
        let tracking = |rev: &str, suspended: bool| {
            live(
                &ks,
                json!({"spec": {"suspend": suspended},
                       "status": {"lastAppliedRevision": format!("main@sha1:{rev}")}}),
            )
        };
        let at_head = tracking(HEAD, false);
        assert_eq!(
            at_head.step(&ks, HEAD, HEAD, false),
            Ok(ControllerStep::Reconcile)
        );
        let refused = at_head.step(&ks, OLD, HEAD, false).unwrap_err();
        assert!(refused.contains("--suspend"), "{refused}");
        assert!(refused.contains("kubectl gitops revert"), "{refused}");
        assert_eq!(
            at_head.step(&ks, OLD, HEAD, true),
            Ok(ControllerStep::Suspend)
        );
        // The revision it tracks is not a rollback, even when HEAD is ahead.
        assert_eq!(
            tracking(OLD, false).step(&ks, OLD, HEAD, false),
            Ok(ControllerStep::Reconcile)
        );
        // Suspended: a reconcile request would do nothing; its resources are applied here.
        assert_eq!(
            tracking(HEAD, true).step(&ks, OLD, HEAD, false),
            Ok(ControllerStep::Suspended)
        );
        let request = at_head
            .request(&ks, ControllerStep::Suspend, vec![], OLD, HEAD, true, false)
            .unwrap();
        assert_eq!(
            request.resume.as_deref(),
            Some("flux resume kustomization apps -n flux-system")
        );
        assert_eq!(
            request.patch("now"),
            Some(json!({"spec": {"suspend": true}}))
        );
        assert_eq!(
            at_head
                .request(
                    &ks,
                    ControllerStep::Reconcile,
                    vec![],
                    HEAD,
                    HEAD,
                    true,
                    false
                )
                .and_then(|r| r.patch("2026-12-07T00:00:00Z")),
            Some(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": "2026-12-07T00:00:00Z"}}}))
        );
        let hr = owner(FLUX_HELM_GROUP, "HelmRelease");
        assert_eq!(
            flux_resume(&hr),
            "flux resume helmrelease apps -n flux-system"
        );
        assert!(
            chrono::DateTime::parse_from_rfc3339(&requested_at()).is_ok(),
            "{}",
            requested_at()
        );
    }

    #[test]
    fn argo_requests_set_a_sync_operation_or_remove_automated_sync() {
        let app = owner(ARGO_GROUP, "Application");
        let automated = json!({"prune": true, "selfHeal": true});
        let controllers = live(
            &app,
            json!({"spec": {"source": {}, "syncPolicy": {"automated": automated}},
                   "status": {"sync": {"revision": HEAD}}}),
        );
        let member = ResourceId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some("web".into()),
            name: "web".into(),
        };
        let request = controllers
            .request(
                &app,
                ControllerStep::Reconcile,
                vec![member],
                HEAD,
                HEAD,
                false,
                false,
            )
            .unwrap();
        assert_eq!(
            request.patch("now"),
            Some(json!({"operation": {
                "initiatedBy": {"username": "kubectl-gitops"},
                "sync": {"revision": HEAD, "resources": [
                    {"group": "apps", "kind": "Deployment", "name": "web", "namespace": "web"}]},
            }}))
        );
        let suspend = controllers
            .request(
                &app,
                ControllerStep::Suspend,
                vec![],
                OLD,
                HEAD,
                true,
                false,
            )
            .unwrap();
        assert_eq!(
            suspend.patch("now"),
            Some(json!({"spec": {"syncPolicy": {"automated": null}}}))
        );
        assert_eq!(
            suspend.resume.as_deref(),
            Some(
                "kubectl patch application apps -n flux-system --type=merge -p '{\"spec\":{\"syncPolicy\":{\"automated\":{\"prune\":true,\"selfHeal\":true}}}}'"
            )
        );
        // Without automated sync nothing would undo a rollback.
        let manual = live(&app, json!({"spec": {"source": {}}}));
        assert_eq!(
            manual.step(&app, OLD, HEAD, false),
            Ok(ControllerStep::Suspended)
        );
        assert_eq!(
            manual.step(&app, HEAD, HEAD, false),
            Ok(ControllerStep::Reconcile)
        );
        let busy = live(
            &app,
            json!({"spec": {}, "operation": {"initiatedBy": {"username": "admin"}}}),
        );
        assert!(
            busy.step(&app, HEAD, HEAD, false)
                .unwrap_err()
                .contains("in progress")
        );
    }
}
