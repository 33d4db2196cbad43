//! The registry of kinds the sandbox serves: built-in kinds plus the kinds CRDs make served.

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

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
    all: bool,
    status: bool,
    scale: bool,
) -> KindInfo {
    KindInfo {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        namespaced,
        categories: if all { vec!["all".into()] } else { vec![] },
        status_subresource: status,
        scale_subresource: scale,
    }
}

/// The built-in kinds a GitOps repository holds, with the names real Kubernetes 1.33 serves.
pub fn builtin_kinds() -> Vec<KindInfo> {
    vec![
        builtin(
            "",
            "v1",
            "Namespace",
            "namespaces",
            &["ns"],
            false,
            false,
            true,
            false,
        ),
        builtin(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            &["cm"],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "Secret",
            "secrets",
            &[],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "Service",
            "services",
            &["svc"],
            true,
            true,
            true,
            false,
        ),
        builtin(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            &["sa"],
            true,
            false,
            false,
            false,
        ),
        builtin("", "v1", "Pod", "pods", &["po"], true, true, true, false),
        builtin(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            &["pvc"],
            true,
            false,
            true,
            false,
        ),
        builtin(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            &["pv"],
            false,
            false,
            true,
            false,
        ),
        builtin(
            "",
            "v1",
            "Endpoints",
            "endpoints",
            &["ep"],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "Event",
            "events",
            &["ev"],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "LimitRange",
            "limitranges",
            &["limits"],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            &["quota"],
            true,
            false,
            true,
            false,
        ),
        builtin(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            &["deploy"],
            true,
            true,
            true,
            true,
        ),
        builtin(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            &["sts"],
            true,
            true,
            true,
            true,
        ),
        builtin(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            &["ds"],
            true,
            true,
            true,
            false,
        ),
        builtin(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            &["rs"],
            true,
            true,
            true,
            true,
        ),
        builtin("batch", "v1", "Job", "jobs", &[], true, true, true, false),
        builtin(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            &["cj"],
            true,
            true,
            true,
            false,
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            &["ing"],
            true,
            false,
            true,
            false,
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            &[],
            false,
            false,
            false,
            false,
        ),
        builtin(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            &["netpol"],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            &["hpa"],
            true,
            true,
            true,
            false,
        ),
        builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            &["pdb"],
            true,
            false,
            true,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            &[],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            &[],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            &[],
            false,
            false,
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            false,
            false,
            false,
            false,
        ),
        builtin(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            &["sc"],
            false,
            false,
            false,
            false,
        ),
        builtin(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            &["pc"],
            false,
            false,
            false,
            false,
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            &[],
            true,
            false,
            false,
            false,
        ),
        builtin(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            &[],
            false,
            false,
            true,
            false,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            false,
            false,
            true,
            false,
        ),
    ]
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
