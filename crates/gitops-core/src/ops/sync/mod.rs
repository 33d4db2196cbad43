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
use std::collections::BTreeSet;
use std::time::Duration;

use kube::core::ApiResource;
use serde::Serialize;
use serde_json::Value;

use crate::ops::status::StatusError;
use gitops_cluster::ClusterError;
use k8s_model::{CommitInfo, Owner, ResourceId, Source};

mod controller;
mod execute;
mod health;
mod plan;

pub use controller::{
    ARGO_INITIATOR, ControllerRequest, ControllerStep, RECONCILE_REQUEST_ANNOTATION,
};
pub use execute::execute;
pub use health::{Unhealthy, wait_healthy};
pub use plan::plan;

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
    /// Suspend the Flux objects, or turn off the Argo CD automated sync, that reconcile the
    /// targeted resources, and apply them here (needed for a rollback of them; SPEC §11).
    pub suspend: bool,
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
            suspend: false,
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
    /// The live Flux or Argo CD object that reconciles it (SPEC §11).
    pub owner: Option<Owner>,
    /// Whether its owner is asked to reconcile it instead of it being applied here.
    pub handed: bool,
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
    /// What is asked of, or done to, the controllers that reconcile targeted resources:
    /// suspensions before anything else is written, reconcile requests after the applies.
    pub controllers: Vec<ControllerRequest>,
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
    /// Not applied here: its controller was asked to reconcile it (SPEC §11).
    Requested,
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
    /// The live Flux or Argo CD object that reconciles it.
    pub owner: Option<Owner>,
}

/// What became of one controller's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ControllerOutcome {
    /// Asked to reconcile.
    Requested,
    /// Suspended (Flux), or its automated sync turned off (Argo CD).
    Suspended,
    /// Left as it was (already suspended, or without automated sync).
    Unchanged,
    /// The write failed (message in `error`).
    Failed,
    /// Not attempted: an earlier write failed.
    Skipped,
}

/// One controller's row of the result.
#[derive(Debug, Clone)]
pub struct ControllerResult {
    /// The request.
    pub request: ControllerRequest,
    /// What happened.
    pub result: ControllerOutcome,
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
    /// What was asked of, or done to, each controller.
    pub controllers: Vec<ControllerResult>,
}

impl SyncResult {
    /// 2 when anything failed or was skipped, else 0 (SPEC §5).
    pub fn exit_code(&self) -> i32 {
        if self.errors.is_empty()
            && !self
                .resources
                .iter()
                .any(|r| matches!(r.result, SyncOutcome::Failed | SyncOutcome::Skipped))
            && !self.controllers.iter().any(|c| {
                matches!(
                    c.result,
                    ControllerOutcome::Failed | ControllerOutcome::Skipped
                )
            })
        {
            0
        } else {
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::health::unhealthy_reason;
    use super::plan::{Tracking, add_tracking, kind_rank, sync_wave, taken_over};
    use super::*;
    use k8s_model::normalize::{PART_OF_LABEL, REVISION_ANNOTATION, SOURCE_ANNOTATION};
    use serde_json::json;

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
