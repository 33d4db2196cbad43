//! The demo's live side: the older commit synced to the sandbox, then drift made by hand the way
//! other actors make it (an operator's `kubectl scale` and `kubectl edit`, an autoscaler).

use gitops_core::Target;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::json;

use super::DemoError;
use crate::cluster::ClusterClient;
use crate::ops::sync::{self, SyncOptions};
use crate::repo::{EnvRepo, ObjectId};

/// Namespace of every object of the sample environment.
pub const NAMESPACE: &str = "demo";

/// Replicas `kubectl scale deploy/web` leaves live.
pub const WEB_SCALED_REPLICAS: i64 = 5;

/// `LOG_LEVEL` that `kubectl edit cm/settings` leaves live.
pub const EDITED_LOG_LEVEL: &str = "debug";

/// What a sync of one commit applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// The commit applied.
    pub commit: ObjectId,
    /// How many objects were applied, the ApplySet parent not counted.
    pub applied: usize,
}

/// Syncs `path` at `commit` to the cluster, as `kubectl gitops sync --rev <commit> --yes` does:
/// the same plan and execution (ApplySet tracking, order, preflight).
pub async fn sync_commit(
    client: &ClusterClient,
    repo: &EnvRepo,
    path: &str,
    commit: ObjectId,
) -> Result<Synced, DemoError> {
    let opts = SyncOptions {
        target: Target {
            repo: repo.root().to_path_buf(),
            path: path.to_owned(),
            rev: commit.to_string(),
            ..Target::default()
        },
        ..SyncOptions::default()
    };
    let plan = sync::plan(client, &opts)
        .await
        .map_err(|e| DemoError::Write {
            what: format!("plan the sync of {commit}"),
            message: e.to_string(),
        })?;
    if let Some(failure) = plan.failures.first() {
        return Err(DemoError::Write {
            what: format!("preflight the sync of {commit}"),
            message: failure.to_string(),
        });
    }
    let result = sync::execute(client, &plan, &|_, _, _| {}).await;
    if let Some(error) = result.errors.first() {
        return Err(DemoError::Write {
            what: format!("sync {commit}"),
            message: error.to_string(),
        });
    }
    Ok(Synced {
        commit,
        applied: result.resources.len(),
    })
}

fn api(
    client: &ClusterClient,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let kube = client.kube_client().clone();
    match namespace {
        Some(ns) => Api::namespaced_with(kube, ns, resource),
        None => Api::all_with(kube, resource),
    }
}

fn deployments() -> ApiResource {
    ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    }
}

/// Drift as other actors make it, on top of the synced commit:
/// - `kubectl scale deploy/web --replicas=5` (manager `kubectl`, the scale subresource);
/// - `kubectl edit cm/settings` setting `LOG_LEVEL: debug` (manager `kubectl-edit`);
/// - an autoscaler scaling the api (manager `kube-controller-manager`), which the environment's
///   ignoreDifferences rule keeps out of drift.
///
/// The orphan needs no hand: the synced commit still has the report-exporter that HEAD removed.
pub async fn make_drift(client: &ClusterClient) -> Result<(), DemoError> {
    scale(client, "web", WEB_SCALED_REPLICAS, "kubectl").await?;
    scale(client, "api", 4, "kube-controller-manager").await?;
    let configmaps = crate::cluster::core_resource("ConfigMap", "configmaps");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    api(client, &configmaps, Some(NAMESPACE))
        .patch(
            "settings",
            &edit,
            &Patch::Strategic(json!({"data": {"LOG_LEVEL": EDITED_LOG_LEVEL}})),
        )
        .await
        .map(drop)
        .map_err(|e| DemoError::Write {
            what: format!("edit ConfigMap {NAMESPACE}/settings"),
            message: e.to_string(),
        })
}

/// Sets the replicas of Deployment `name` through its scale subresource, as `manager`.
async fn scale(
    client: &ClusterClient,
    name: &str,
    replicas: i64,
    manager: &str,
) -> Result<(), DemoError> {
    let params = PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    };
    api(client, &deployments(), Some(NAMESPACE))
        .patch_scale(
            name,
            &params,
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .map(drop)
        .map_err(|e| DemoError::Write {
            what: format!("scale Deployment {NAMESPACE}/{name} as {manager}"),
            message: e.to_string(),
        })
}
