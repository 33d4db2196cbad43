//! The ONE table of the built-in kinds Kubernetes 1.33 serves: group, preferred version, kind,
//! plural, short names, scope, category `all`, and the `status` / `scale` subresources. Offline
//! scope (`--offline`, SPEC §3), RESOURCE arguments without discovery, and the sandbox's served
//! kinds all read it. Kinds not listed (CRDs) are unknown here: ask discovery.
//!
//! Source: `kubectl api-resources -o wide` of kube-apiserver 1.33 with its default API groups
//! (beta groups that are off by default are listed at the version they take when turned on).

/// Whether a kind is namespaced.
const NAMESPACED: bool = true;
/// Whether a kind is cluster-scoped.
const CLUSTER: bool = false;

/// The discovery flags of a kind beyond its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// In the `all` category (`kubectl get all`).
    pub all: bool,
    /// The `status` subresource is served.
    pub status: bool,
    /// The `scale` subresource is served (autoscaling/v1 Scale).
    pub scale: bool,
}

/// One built-in resource type, as discovery describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinKind {
    /// API group; `""` for the core group.
    pub group: &'static str,
    /// Preferred version.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Plural resource name, e.g. `deployments`.
    pub plural: &'static str,
    /// Short names, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Category and subresources.
    pub flags: Flags,
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    flags: Flags,
) -> BuiltinKind {
    BuiltinKind {
        group,
        version,
        kind,
        plural,
        short_names,
        namespaced,
        flags,
    }
}

/// Every built-in kind. Core kinds first: kubectl prefers the core group for a bare name
/// (`events`), and [`builtin_type`] finds the first match.
pub const BUILTIN_KINDS: &[BuiltinKind] = &[
    kind(
        "",
        "v1",
        "Namespace",
        "namespaces",
        &["ns"],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        &["cm"],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "Secret",
        "secrets",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "Service",
        "services",
        &["svc"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "Pod",
        "pods",
        &["po"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        NAMESPACED,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        &["pv"],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        &["ep"],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "Event",
        "events",
        &["ev"],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        &["limits"],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        &["quota"],
        NAMESPACED,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "Node",
        "nodes",
        &["no"],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "PodTemplate",
        "podtemplates",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        &["rc"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: true,
        },
    ),
    kind(
        "",
        "v1",
        "Binding",
        "bindings",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "",
        "v1",
        "ComponentStatus",
        "componentstatuses",
        &["cs"],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: true,
        },
    ),
    kind(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        &["sts"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: true,
        },
    ),
    kind(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        &["ds"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: false,
        },
    ),
    kind(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        &["rs"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: true,
        },
    ),
    kind(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "batch",
        "v1",
        "Job",
        "jobs",
        &[],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: false,
        },
    ),
    kind(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        &["cj"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: false,
        },
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        &["ing"],
        NAMESPACED,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "IPAddress",
        "ipaddresses",
        &["ip"],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "ServiceCIDR",
        "servicecidrs",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        &["hpa"],
        NAMESPACED,
        Flags {
            all: true,
            status: true,
            scale: false,
        },
    ),
    kind(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        &["pdb"],
        NAMESPACED,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        &["sc"],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "CSINode",
        "csinodes",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "storage.k8s.io",
        "v1beta1",
        "VolumeAttributesClass",
        "volumeattributesclasses",
        &["vac"],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        &["pc"],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        &["ev"],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        "runtimeclasses",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        &["csr"],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "certificates.k8s.io",
        "v1beta1",
        "ClusterTrustBundle",
        "clustertrustbundles",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "FlowSchema",
        "flowschemas",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "resource.k8s.io",
        "v1beta1",
        "DeviceClass",
        "deviceclasses",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "resource.k8s.io",
        "v1beta1",
        "ResourceClaim",
        "resourceclaims",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: true,
            scale: false,
        },
    ),
    kind(
        "resource.k8s.io",
        "v1beta1",
        "ResourceClaimTemplate",
        "resourceclaimtemplates",
        &[],
        NAMESPACED,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
    kind(
        "resource.k8s.io",
        "v1beta1",
        "ResourceSlice",
        "resourceslices",
        &[],
        CLUSTER,
        Flags {
            all: false,
            status: false,
            scale: false,
        },
    ),
];

impl BuiltinKind {
    /// Whether `name` (any case) names this type as kubectl takes it: plural, singular (the
    /// kind in lower case) or a short name.
    pub fn is_named(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name == self.plural
            || name == self.kind.to_ascii_lowercase()
            || self.short_names.contains(&name.as_str())
    }
}

/// The built-in kind `kind` of `group`.
pub fn builtin_kind(group: &str, kind: &str) -> Option<&'static BuiltinKind> {
    BUILTIN_KINDS
        .iter()
        .find(|k| k.group == group && k.kind == kind)
}

/// Whether a built-in kind is namespaced: `Some(true)` namespaced, `Some(false)` cluster-scoped,
/// `None` not a built-in kind (ask discovery).
pub fn builtin_scope(group: &str, kind: &str) -> Option<bool> {
    builtin_kind(group, kind).map(|k| k.namespaced)
}

/// The built-in type a RESOURCE type argument names as kubectl resolves it without discovery:
/// `deploy`, `deployments`, `deployment.apps`, `deployments.v1.apps`, `Service`. A bare name
/// prefers the core group.
pub fn builtin_type(resource_type: &str) -> Option<&'static BuiltinKind> {
    let named = |name: &str, group_ok: &dyn Fn(&str) -> bool| {
        BUILTIN_KINDS
            .iter()
            .find(|k| group_ok(k.group) && k.is_named(name))
    };
    if let Some(found) =
        named(resource_type, &|g| g.is_empty()).or_else(|| named(resource_type, &|_| true))
    {
        return Some(found);
    }
    let (name, rest) = resource_type.split_once('.')?;
    named(name, &|g| g == rest).or_else(|| {
        let (_version, group) = rest.split_once('.')?;
        named(name, &|g| g == group)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scopes() {
        assert_eq!(builtin_scope("", "Namespace"), Some(false));
        assert_eq!(
            builtin_scope("rbac.authorization.k8s.io", "ClusterRole"),
            Some(false)
        );
        assert_eq!(builtin_scope("apps", "Deployment"), Some(true));
        assert_eq!(builtin_scope("", "ConfigMap"), Some(true));
        // Same kind name, other group: not guessed.
        assert_eq!(builtin_scope("apps", "ConfigMap"), None);
        assert_eq!(builtin_scope("example.com", "Widget"), None);
    }

    #[test]
    fn each_kind_is_listed_once_and_each_name_resolves_to_its_kind() {
        for (i, k) in BUILTIN_KINDS.iter().enumerate() {
            assert!(
                !BUILTIN_KINDS[..i]
                    .iter()
                    .any(|o| o.group == k.group && o.kind == k.kind),
                "{}.{} listed twice",
                k.kind,
                k.group
            );
            assert_eq!(k.plural, k.plural.to_ascii_lowercase());
            // Qualified by group, every name finds this kind.
            let qualify = |name: &str| {
                if k.group.is_empty() {
                    name.to_owned()
                } else {
                    format!("{name}.{}", k.group)
                }
            };
            for name in [k.plural, &k.kind.to_ascii_lowercase()]
                .into_iter()
                .chain(k.short_names.iter().copied())
            {
                let found = builtin_type(&qualify(name)).or_else(|| builtin_type(name));
                let found = found.map(|f| (f.group, f.kind));
                if k.group.is_empty() || found != Some(("", k.kind)) {
                    assert_eq!(found, Some((k.group, k.kind)), "{name}");
                }
            }
        }
    }

    #[test]
    fn resource_types_resolve_as_kubectl_resolves_them() {
        let resolved = |t: &str| builtin_type(t).map(|k| (k.group, k.kind));
        assert_eq!(resolved("deploy"), Some(("apps", "Deployment")));
        assert_eq!(resolved("Deployment"), Some(("apps", "Deployment")));
        assert_eq!(resolved("deployments.apps"), Some(("apps", "Deployment")));
        assert_eq!(
            resolved("deployments.v1.apps"),
            Some(("apps", "Deployment"))
        );
        assert_eq!(resolved("events"), Some(("", "Event")));
        assert_eq!(
            resolved("events.events.k8s.io"),
            Some(("events.k8s.io", "Event"))
        );
        assert_eq!(
            resolved("crds"),
            Some(("apiextensions.k8s.io", "CustomResourceDefinition"))
        );
        assert_eq!(resolved("widgets"), None);
        assert_eq!(resolved("deployments.batch"), None);
    }
}
