//! The demo's live side: the older commit synced to the sandbox, then drift made by hand the way
//! other actors make it (an operator's `kubectl scale` and `kubectl edit`, an autoscaler).

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::DemoError;
use crate::cluster::{ClusterClient, FIELD_MANAGER, applyset};
use crate::model::normalize::{PART_OF_LABEL, REVISION_ANNOTATION, SOURCE_ANNOTATION};
use crate::model::{Manifest, split_api_version};
use crate::render::{RenderOptions, render};
use crate::repo::{EnvRepo, ObjectId};

/// The ApplySet parent's tooling annotation (KEP-3659).
const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";

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

// ─── SWAP POINT (sync) ──────────────────────────────────────────────────────────────────────────
// Until ops::sync lands, the demo applies a commit itself: every rendered object by server-side
// apply (manager kubectl-gitops, force), Namespaces first, with the ApplySet tracking sync writes
// (SPEC §6), so status finds orphans and the deployed revision. Once ops::sync exists, replace
// this function's body by one call to it (all resources, no prune, no confirmation); its
// callers need no change.
/// Syncs `path` at `commit` to the cluster, as `kubectl gitops sync --rev <commit> --yes` does.
pub async fn sync_commit(
    client: &ClusterClient,
    repo: &EnvRepo,
    path: &str,
    commit: ObjectId,
) -> Result<Synced, DemoError> {
    let rendered = {
        let repo = repo.clone();
        let opts = RenderOptions::new(path, "default");
        tokio::task::spawn_blocking(move || render(&repo, commit, &opts))
            .await
            .map_err(|e| DemoError::Render {
                commit,
                message: e.to_string(),
            })?
            .map_err(|e| DemoError::Render {
                commit,
                message: e.to_string(),
            })?
    };
    if let Some(error) = rendered.errors.first() {
        return Err(DemoError::Render {
            commit,
            message: error.to_string(),
        });
    }
    let discovery = client.discovery().await.map_err(DemoError::Cluster)?;
    let mut members: Vec<(&Manifest, ApiResource)> = Vec::new();
    for manifest in &rendered.manifests {
        let (group, version) = split_api_version(&manifest.api_version);
        let served = discovery
            .resolve(group, version, &manifest.id.kind)
            .map_err(|e| DemoError::Write {
                what: format!("apply {}", manifest.id),
                message: e.message(&manifest.api_version, &manifest.id.kind),
            })?;
        members.push((manifest, served.resource.clone()));
    }
    // Namespaces before what lives in them.
    members.sort_by_key(|(manifest, _)| manifest.id.kind != "Namespace");

    let parent_name = applyset::parent_name(&rendered.config.env);
    let parent_namespace = rendered.config.apply_set_namespace.clone();
    let id = applyset::applyset_id(&parent_name, &parent_namespace);
    let mut group_kinds: Vec<String> = members
        .iter()
        .map(|(m, _)| match m.id.group.as_str() {
            "" => m.id.kind.clone(),
            group => format!("{}.{group}", m.id.kind),
        })
        .collect();
    group_kinds.sort();
    group_kinds.dedup();
    // The parent first, naming every member kind, so that members are never untracked.
    let parent = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": parent_name,
            "namespace": parent_namespace,
            "labels": {applyset::APPLYSET_ID_LABEL: id},
            "annotations": {
                TOOLING_ANNOTATION: format!("kubectl-gitops/{}", crate::version::VERSION),
                applyset::CONTAINS_GROUP_KINDS_ANNOTATION: group_kinds.join(","),
                REVISION_ANNOTATION: commit.to_string(),
            },
        },
    });
    let configmaps = crate::cluster::core_resource("ConfigMap", "configmaps");
    apply(
        client,
        &configmaps,
        Some(&parent_namespace),
        &parent_name,
        &parent,
    )
    .await?;

    for (manifest, resource) in &members {
        let mut object = manifest.object.clone();
        let source = format!("{}#{}", manifest.source.file, manifest.source.document);
        set_metadata(&mut object, "labels", PART_OF_LABEL, &id);
        set_metadata(
            &mut object,
            "annotations",
            REVISION_ANNOTATION,
            &commit.to_string(),
        );
        set_metadata(&mut object, "annotations", SOURCE_ANNOTATION, &source);
        apply(
            client,
            resource,
            manifest.id.namespace.as_deref(),
            &manifest.id.name,
            &object,
        )
        .await?;
    }
    Ok(Synced {
        commit,
        applied: members.len(),
    })
}
// ─── end of SWAP POINT (sync) ───────────────────────────────────────────────────────────────────

/// Sets `metadata.<map>.<key>` of `object` to `value`, creating the map when absent.
fn set_metadata(object: &mut Value, map: &str, key: &str, value: &str) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let entries = metadata.entry(map).or_insert_with(|| json!({}));
        if let Some(entries) = entries.as_object_mut() {
            entries.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
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

/// Server-side apply of `object` as `kubectl-gitops`, taking over conflicting fields.
async fn apply(
    client: &ClusterClient,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
    object: &Value,
) -> Result<(), DemoError> {
    api(client, resource, namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
        .map(drop)
        .map_err(|e| DemoError::Write {
            what: format!("apply {} {name}", resource.kind),
            message: e.to_string(),
        })
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
