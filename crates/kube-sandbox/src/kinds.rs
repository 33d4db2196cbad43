//! The registry of kinds the sandbox serves: built-in kinds plus the kinds CRDs make served.

use k8s_model::kinds::{BuiltinKind, builtin_kind};
use serde_json::Value;

/// One served resource type, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindInfo {
    /// API group; `""` for the core group.
    pub group: String,
    /// Preferred (and only) served version.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name, e.g. `deployments`.
    pub plural: String,
    /// Singular resource name, e.g. `deployment`.
    pub singular: String,
    /// Short names, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether the `status` subresource is served.
    pub status_subresource: bool,
    /// Whether the `scale` subresource is served (autoscaling/v1 Scale).
    pub scale_subresource: bool,
}

impl KindInfo {
    /// `apiVersion` as written in manifests: `v1` for core, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Kind qualified by group as the API server names it in messages: `Deployment.apps`, `ConfigMap`.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// The built-in kinds the sandbox serves (those a GitOps repository holds), in the order its
/// discovery lists them; their names, scope and subresources come from `k8s_model::kinds`.
const SERVED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "Pod"),
    ("", "PersistentVolumeClaim"),
    ("", "PersistentVolume"),
    ("", "Endpoints"),
    ("", "Event"),
    ("", "LimitRange"),
    ("", "ResourceQuota"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("policy", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("coordination.k8s.io", "Lease"),
    ("apiregistration.k8s.io", "APIService"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

impl KindInfo {
    /// A built-in kind as the sandbox serves it: its preferred version only.
    fn of_builtin(kind: &BuiltinKind) -> KindInfo {
        KindInfo {
            group: kind.group.into(),
            version: kind.version.into(),
            kind: kind.kind.into(),
            plural: kind.plural.into(),
            singular: kind.kind.to_ascii_lowercase(),
            short_names: kind.short_names.iter().map(|s| s.to_string()).collect(),
            namespaced: kind.namespaced,
            categories: if kind.flags.all {
                vec!["all".into()]
            } else {
                vec![]
            },
            status_subresource: kind.flags.status,
            scale_subresource: kind.flags.scale,
        }
    }
}

/// The built-in kinds the sandbox serves, with the names real Kubernetes 1.33 serves.
pub fn builtin_kinds() -> Vec<KindInfo> {
    SERVED
        .iter()
        .filter_map(|(group, kind)| builtin_kind(group, kind))
        .map(KindInfo::of_builtin)
        .collect()
}

/// The built-in kind named `kind` (`Deployment`), for tests.
#[cfg(test)]
pub(crate) fn builtin_named(kind: &str) -> KindInfo {
    builtin_kinds()
        .into_iter()
        .find(|k| k.kind == kind)
        .unwrap_or_else(|| panic!("{kind} is not a served built-in kind"))
}

/// The kinds of `kinds` served at `group`/`version`; `None` when that group-version is not
/// served.
pub(crate) fn served_at<'a>(
    kinds: &'a [KindInfo],
    group: &str,
    version: &str,
) -> Option<Vec<&'a KindInfo>> {
    let served: Vec<&KindInfo> = kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    (!served.is_empty()).then_some(served)
}

/// The kind a stored CustomResourceDefinition makes served, once it is Established.
///
/// Returns `None` when the CRD has no served version. The storage (first served) version is used.
pub fn kind_from_crd(crd: &Value) -> Option<KindInfo> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let names = spec.get("names")?;
    let versions = spec.get("versions")?.as_array()?;
    let version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .or_else(|| {
            versions
                .iter()
                .find(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        })?;
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = names.get("kind")?.as_str()?.to_string();
    let plural = names.get("plural")?.as_str()?.to_string();
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let subresources = version.get("subresources");
    Some(KindInfo {
        group,
        version: version.get("name")?.as_str()?.to_string(),
        kind,
        plural,
        singular,
        short_names: strs(names.get("shortNames")),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        categories: strs(names.get("categories")),
        status_subresource: subresources.and_then(|s| s.get("status")).is_some(),
        scale_subresource: subresources.and_then(|s| s.get("scale")).is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_kind_is_in_the_model_table() {
        assert_eq!(builtin_kinds().len(), SERVED.len());
    }

    #[test]
    fn crd_makes_its_kind() {
        let crd = serde_json::json!({
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wg"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}}}]}
        });
        let k = kind_from_crd(&crd).expect("kind");
        assert_eq!(k.api_version(), "example.com/v1");
        assert_eq!(k.singular, "widget");
        assert!(k.namespaced && k.status_subresource && !k.scale_subresource);
        assert_eq!(k.qualified_resource(), "widgets.example.com");
    }

    #[test]
    fn builtin_names_are_unique() {
        let kinds = builtin_kinds();
        let mut seen = std::collections::HashSet::new();
        for k in &kinds {
            assert!(
                seen.insert((k.group.clone(), k.plural.clone())),
                "{}",
                k.plural
            );
        }
    }
}
