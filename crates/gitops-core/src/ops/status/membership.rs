//! Ownership (SPEC §11): which live objects a GitOps controller of the environment applied
//! (Flux `Kustomization` and `HelmRelease`, Argo CD `Application`), so that those the desired
//! state no longer declares are `Orphaned` as ApplySet members are; and the revision each
//! controller deployed, the `liveRevision` of an object without our revision annotation.
//!
//! Where each mark comes from:
//! - Flux: kustomize-controller and helm-controller label what they apply with
//!   `kustomize.toolkit.fluxcd.io/name` + `/namespace` and `helm.toolkit.fluxcd.io/name` +
//!   `/namespace`; a Kustomization lists what it applied in `status.inventory.entries[].id`,
//!   `<namespace>_<name>_<group>_<kind>` (fluxcd/cli-utils `object.ObjMetadata.String`: the
//!   namespace empty for cluster-scoped objects, `:` in RBAC names written `__`). Its deployed
//!   revision is `status.lastAppliedRevision` (`main@sha1:<sha>`).
//! - Argo CD: the tracking annotation `argocd.argoproj.io/tracking-id`,
//!   `<app>:<group>/<kind>:<namespace>/<name>` (argo-cd `resource_tracking.go`
//!   `BuildAppInstanceValue`; Argo ignores one whose object part is not the object itself, as
//!   a copied object's), else the label `app.kubernetes.io/instance=<app>`; an Application lists
//!   its resources in `status.resources`. `<app>` is the Application's name, or
//!   `<namespace>_<name>` for one outside Argo CD's namespace. Its deployed revision is
//!   `status.sync.revision`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use k8s_model::{Owner, ResourceId, split_api_version};

/// Flux kustomize-controller's group.
pub const FLUX_KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// Flux helm-controller's group.
pub const FLUX_HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
/// Argo CD's group.
pub const ARGO_GROUP: &str = "argoproj.io";
/// Argo CD's tracking annotation.
pub const ARGO_TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Argo CD's default tracking label.
pub const ARGO_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// Who applies a resource, as `status -o wide` and the UI show it (SPEC §11).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ResourceOwner {
    /// A Flux Kustomization or HelmRelease, or an Argo CD Application, of the environment.
    Controller(Owner),
    /// This tool, through the environment's ApplySet.
    ApplySet,
}

impl fmt::Display for ResourceOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceOwner::Controller(owner) => owner.fmt(f),
            ResourceOwner::ApplySet => f.write_str("ApplySet"),
        }
    }
}

/// Whether `id` is a controller object whose members belong to the environment.
pub fn is_controller(id: &ResourceId) -> bool {
    matches!(
        (id.group.as_str(), id.kind.as_str()),
        (FLUX_KUSTOMIZE_GROUP, "Kustomization")
            | (FLUX_HELM_GROUP, "HelmRelease")
            | (ARGO_GROUP, "Application")
    )
}

/// A controller the live object names as the one that applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A Flux object, by its identity.
    Flux(ResourceId),
    /// An Argo CD Application, by its instance name (`name` or `namespace_name`).
    Argo(String),
}

/// The controllers a live object's labels and annotations name.
pub fn claims(live: &Value) -> Vec<Claim> {
    let labels = live.pointer("/metadata/labels");
    let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    let mut claims = Vec::new();
    for (group, kind, prefix) in [
        (FLUX_KUSTOMIZE_GROUP, "Kustomization", "kustomize"),
        (FLUX_HELM_GROUP, "HelmRelease", "helm"),
    ] {
        let name = label(&format!("{prefix}.toolkit.fluxcd.io/name"));
        let namespace = label(&format!("{prefix}.toolkit.fluxcd.io/namespace"));
        if let (Some(name), Some(namespace)) = (name, namespace) {
            claims.push(Claim::Flux(ResourceId {
                group: group.to_owned(),
                kind: kind.to_owned(),
                namespace: Some(namespace.to_owned()),
                name: name.to_owned(),
            }));
        }
    }
    let tracking = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ARGO_TRACKING_ANNOTATION))
        .and_then(Value::as_str);
    match tracking {
        Some(tracking) => claims.extend(tracking_app(tracking, live).map(Claim::Argo)),
        None => claims.extend(label(ARGO_INSTANCE_LABEL).map(|app| Claim::Argo(app.to_owned()))),
    }
    claims
}

/// The application of an Argo CD tracking id, when its object part is `live` itself.
fn tracking_app(tracking: &str, live: &Value) -> Option<String> {
    let mut parts = tracking.splitn(3, ':');
    let (app, group_kind, namespace_name) = (parts.next()?, parts.next()?, parts.next()?);
    let (group, kind) = group_kind.split_once('/')?;
    let (namespace, name) = namespace_name.split_once('/')?;
    let api_version = live.get("apiVersion").and_then(Value::as_str)?;
    let live_namespace = live
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let same = split_api_version(api_version).0 == group
        && live.get("kind").and_then(Value::as_str) == Some(kind)
        && live.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
        // Argo writes the Application's destination namespace for a cluster-scoped object.
        && (live_namespace.is_empty() || live_namespace == namespace);
    same.then(|| app.to_owned())
}

/// A Kustomization's inventory id (`<namespace>_<name>_<group>_<kind>`) as an identity.
pub fn parse_inventory_id(id: &str) -> Option<ResourceId> {
    let (namespace, rest) = id.split_once('_')?;
    let (rest, kind) = rest.rsplit_once('_')?;
    let (name, group) = rest.rsplit_once('_')?;
    if name.is_empty() || kind.is_empty() {
        return None;
    }
    let rbac = group == "rbac.authorization.k8s.io";
    Some(ResourceId {
        group: group.to_owned(),
        kind: kind.to_owned(),
        namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
        name: if rbac {
            name.replace("__", ":")
        } else {
            name.to_owned()
        },
    })
}

/// What the environment's controllers say of their members, from their live objects.
#[derive(Debug, Default)]
pub struct Controllers {
    /// Each desired controller: its deployed revision, when it says.
    revisions: BTreeMap<ResourceId, Option<String>>,
    /// The objects their status lists (Kustomization inventory, Application resources).
    listed: BTreeMap<ResourceId, Owner>,
    /// Each HelmRelease's Helm release: the namespace Helm stores it in, and its name.
    helm_releases: BTreeMap<ResourceId, (String, String)>,
}

impl Controllers {
    /// The controllers `desired` (every desired controller object) with their live objects
    /// (`None`: not in the cluster).
    pub fn new(desired: Vec<(ResourceId, Option<Value>)>) -> Controllers {
        let mut controllers = Controllers::default();
        for (id, live) in desired {
            let owner = Owner { id: id.clone() };
            let revision = live.as_ref().and_then(|live| deployed_revision(&id, live));
            if let Some(live) = &live
                && id.group == FLUX_HELM_GROUP
            {
                controllers
                    .helm_releases
                    .insert(id.clone(), helm_release_of(&id, live));
            }
            for member in live
                .as_ref()
                .map(|l| listed_members(&id, l))
                .unwrap_or_default()
            {
                controllers
                    .listed
                    .entry(member)
                    .or_insert_with(|| owner.clone());
            }
            controllers.revisions.insert(id, revision);
        }
        controllers
    }

    /// Whether the environment has no controller.
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The group-kinds of the objects the controllers' status lists.
    pub fn listed_kinds(&self) -> BTreeSet<(String, String)> {
        self.listed
            .keys()
            .map(|id| (id.group.clone(), id.kind.clone()))
            .collect()
    }

    /// The objects the controllers' status lists, with their owner.
    pub fn listed(&self) -> impl Iterator<Item = (&ResourceId, &Owner)> {
        self.listed.iter()
    }

    /// The environment's controller that applied the object `id` whose live object is `live`:
    /// from its labels and annotations, else from the controllers' status.
    pub fn owner_of(&self, id: &ResourceId, live: &Value) -> Option<Owner> {
        claims(live)
            .into_iter()
            .find_map(|claim| self.resolve(&claim))
            .or_else(|| self.listed.get(id).cloned())
    }

    /// The controller of the environment a claim names.
    fn resolve(&self, claim: &Claim) -> Option<Owner> {
        match claim {
            Claim::Flux(id) => self
                .revisions
                .contains_key(id)
                .then(|| Owner { id: id.clone() }),
            Claim::Argo(app) => self
                .revisions
                .keys()
                .filter(|id| id.group == ARGO_GROUP && id.kind == "Application")
                .find(|id| {
                    id.name == *app
                        || id
                            .namespace
                            .as_ref()
                            .is_some_and(|ns| *app == format!("{ns}_{}", id.name))
                })
                .map(|id| Owner { id: id.clone() }),
        }
    }

    /// The Helm release (storage namespace, name) of a HelmRelease `owner` found live.
    pub fn helm_release(&self, owner: &Owner) -> Option<(&str, &str)> {
        self.helm_releases
            .get(&owner.id)
            .map(|(namespace, name)| (namespace.as_str(), name.as_str()))
    }

    /// The revision `owner` deployed, when its status says.
    pub fn revision(&self, owner: &Owner) -> Option<&str> {
        self.revisions.get(&owner.id)?.as_deref()
    }
}

/// The revision a controller's status says it applied: a Git commit (`main@sha1:<sha>` and the
/// older `main/<sha>` written as the sha), else as the status writes it (a chart version).
pub fn deployed_revision(id: &ResourceId, live: &Value) -> Option<String> {
    let revision = match id.group.as_str() {
        ARGO_GROUP => live
            .pointer("/status/sync/revision")
            .or_else(|| live.pointer("/status/sync/revisions/0")),
        _ => live.pointer("/status/lastAppliedRevision"),
    }?
    .as_str()
    .filter(|r| !r.is_empty())?;
    let is_sha = |s: &str| matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let sha = revision
        .rsplit_once("@sha1:")
        .or_else(|| revision.rsplit_once("@sha256:"))
        .or_else(|| revision.rsplit_once('/'))
        .map(|(_, sha)| sha)
        .filter(|sha| is_sha(sha));
    Some(sha.unwrap_or(revision).to_owned())
}

/// The Helm release a HelmRelease makes, as helm-controller names and stores it: the name
/// from `status.history[0].name`, else `spec.releaseName`, else `<targetNamespace>-<name>` or
/// `<name>`; stored in `spec.storageNamespace`, else `status.storageNamespace`, else the
/// HelmRelease's namespace.
pub(crate) fn helm_release_of(id: &ResourceId, live: &Value) -> (String, String) {
    let field = |pointer: &str| {
        live.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = field("/status/history/0/name")
        .or_else(|| field("/spec/releaseName"))
        .map(str::to_owned)
        .unwrap_or_else(|| match field("/spec/targetNamespace") {
            Some(target) => format!("{target}-{}", id.name),
            None => id.name.clone(),
        });
    let namespace = field("/spec/storageNamespace")
        .or_else(|| field("/status/storageNamespace"))
        .map(str::to_owned)
        .or_else(|| id.namespace.clone())
        .unwrap_or_default();
    (namespace, name)
}

/// The objects a controller's status lists as applied.
fn listed_members(id: &ResourceId, live: &Value) -> Vec<ResourceId> {
    let items = |pointer: &str| {
        live.pointer(pointer)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .to_vec()
    };
    match (id.group.as_str(), id.kind.as_str()) {
        (FLUX_KUSTOMIZE_GROUP, "Kustomization") => items("/status/inventory/entries")
            .iter()
            .filter_map(|entry| parse_inventory_id(entry.get("id")?.as_str()?))
            .collect(),
        (ARGO_GROUP, "Application") => items("/status/resources")
            .iter()
            .filter_map(|resource| {
                let field = |key: &str| resource.get(key).and_then(Value::as_str);
                Some(ResourceId {
                    group: field("group").unwrap_or_default().to_owned(),
                    kind: field("kind")?.to_owned(),
                    namespace: field("namespace")
                        .filter(|ns| !ns.is_empty())
                        .map(str::to_owned),
                    name: field("name")?.to_owned(),
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ResourceId {
        ResourceId {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn inventory_ids_as_flux_writes_them() {
        // fluxcd/cli-utils object.ObjMetadata.String: namespace_name_group_kind.
        assert_eq!(
            parse_inventory_id("apps_web_apps_Deployment"),
            Some(id("apps", "Deployment", Some("apps"), "web"))
        );
        assert_eq!(
            parse_inventory_id("default_settings__ConfigMap"),
            Some(id("", "ConfigMap", Some("default"), "settings"))
        );
        assert_eq!(
            parse_inventory_id("_podinfo__Namespace"),
            Some(id("", "Namespace", None, "podinfo"))
        );
        assert_eq!(
            parse_inventory_id("_system__controller_rbac.authorization.k8s.io_ClusterRole"),
            Some(id(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                None,
                "system:controller"
            ))
        );
        assert_eq!(parse_inventory_id("nonsense"), None);
    }

    #[test]
    fn claims_from_flux_labels_and_argo_tracking() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "web", "labels": {
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            }},
        });
        assert_eq!(
            claims(&live),
            [Claim::Flux(id(
                FLUX_KUSTOMIZE_GROUP,
                "Kustomization",
                Some("flux-system"),
                "apps"
            ))]
        );
        let tracked = |tracking: &str| {
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "prod",
                    "labels": {"app.kubernetes.io/instance": "other"},
                    "annotations": {"argocd.argoproj.io/tracking-id": tracking}},
            })
        };
        assert_eq!(
            claims(&tracked("guestbook:apps/Deployment:prod/web")),
            [Claim::Argo("guestbook".into())]
        );
        // A copied object: the tracking id names another; the label is not read either.
        assert_eq!(claims(&tracked("guestbook:apps/Deployment:prod/api")), []);
    }

    #[test]
    fn helm_release_names_as_helm_controller_makes_them() {
        let hr = id(
            FLUX_HELM_GROUP,
            "HelmRelease",
            Some("flux-system"),
            "podinfo",
        );
        let release = |live: Value| {
            let controllers = Controllers::new(vec![(hr.clone(), Some(live))]);
            controllers
                .helm_release(&Owner { id: hr.clone() })
                .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
        };
        assert_eq!(
            release(json!({"spec": {}})),
            Some(("flux-system".into(), "podinfo".into()))
        );
        assert_eq!(
            release(json!({"spec": {"targetNamespace": "apps", "storageNamespace": "apps"}})),
            Some(("apps".into(), "apps-podinfo".into()))
        );
        assert_eq!(
            release(
                json!({"spec": {"releaseName": "web"}, "status": {"history": [{"name": "web-2"}]}})
            ),
            Some(("flux-system".into(), "web-2".into()))
        );
    }

    #[test]
    fn revisions_and_members_from_controller_status() {
        let ks = id(
            FLUX_KUSTOMIZE_GROUP,
            "Kustomization",
            Some("flux-system"),
            "apps",
        );
        let app = id(ARGO_GROUP, "Application", Some("argocd"), "guestbook");
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let controllers = Controllers::new(vec![
            (
                ks.clone(),
                Some(json!({"status": {
                    "lastAppliedRevision": format!("main@sha1:{sha}"),
                    "inventory": {"entries": [{"id": "web_a__ConfigMap", "v": "v1"}]},
                }})),
            ),
            (
                app.clone(),
                Some(json!({"status": {
                    "sync": {"revision": "abc"},
                    "resources": [{"group": "apps", "kind": "Deployment", "namespace": "prod", "name": "web", "version": "v1"}],
                }})),
            ),
        ]);
        assert_eq!(controllers.revision(&Owner { id: ks.clone() }), Some(sha));
        assert_eq!(
            controllers.revision(&Owner { id: app.clone() }),
            Some("abc")
        );
        let bare = json!({"metadata": {}});
        assert_eq!(
            controllers.owner_of(&id("", "ConfigMap", Some("web"), "a"), &bare),
            Some(Owner { id: ks })
        );
        assert_eq!(
            controllers.owner_of(&id("apps", "Deployment", Some("prod"), "web"), &bare),
            Some(Owner { id: app.clone() })
        );
        let labelled =
            json!({"metadata": {"labels": {"app.kubernetes.io/instance": "argocd_guestbook"}}});
        assert_eq!(
            controllers.owner_of(&id("", "Service", Some("x"), "y"), &labelled),
            Some(Owner { id: app })
        );
        let stranger = json!({"metadata": {"labels": {"app.kubernetes.io/instance": "other"}}});
        assert_eq!(
            controllers.owner_of(&id("", "Service", Some("x"), "y"), &stranger),
            None
        );
    }
}
