//! How Kubernetes merges the lists and maps of built-in kinds: the markers of their Go types
//! (`+listType`, `+listMapKey`, `patchStrategy`, `patchMergeKey`, `+mapType`, `+structType`) as
//! the generated OpenAPI carries them, for the fields where they matter.
//!
//! One table: the sandbox builds its server-side apply and strategic merge patch schemas from
//! it, the drift engine and blame match list items by its keys ([`ListKeys`]).

use serde_json::Value;

/// One marker of a Go type's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `+listType=map`, `patchStrategy=merge`, `patchMergeKey` = first key.
    MergeList(&'static [&'static str]),
    /// As `MergeList` with `patchStrategy=merge,retainKeys`.
    MergeRetainList(&'static [&'static str]),
    /// `+listType=map` without a patch strategy (strategic merge patch replaces it).
    MapList(&'static [&'static str]),
    /// `+listType=atomic` with `patchStrategy=merge` by this key (Job conditions).
    AtomicMergeList(&'static str),
    /// `+listType=set`, `patchStrategy=merge`.
    MergeSet,
    /// `+listType=set` without a patch strategy.
    MergeSetNoPatch,
    /// `+mapType=atomic` / `+structType=atomic`.
    AtomicMap,
    /// `map[string]X`.
    GranularMap,
    /// `patchStrategy=retainKeys` on a struct.
    RetainKeys,
}

impl Rule {
    /// The key fields of a list-map (`+listType=map`); `None` for every other marker.
    pub fn list_keys(self) -> Option<&'static [&'static str]> {
        match self {
            Rule::MergeList(keys) | Rule::MergeRetainList(keys) | Rule::MapList(keys) => Some(keys),
            _ => None,
        }
    }
}

/// Markers by dotted path (field names, list items skipped) relative to where the table
/// applies; `""` is that place itself.
pub type Rules = &'static [(&'static str, Rule)];

/// Tables and the dotted paths from the object root they apply at.
pub type KindRules = &'static [(&'static str, Rules)];

/// Under a pod spec.
pub const POD_SPEC: Rules = &[
    ("containers", Rule::MergeList(&["name"])),
    ("initContainers", Rule::MergeList(&["name"])),
    ("ephemeralContainers", Rule::MergeList(&["name"])),
    ("volumes", Rule::MergeRetainList(&["name"])),
    ("imagePullSecrets", Rule::MergeList(&["name"])),
    ("hostAliases", Rule::MergeList(&["ip"])),
    (
        "topologySpreadConstraints",
        Rule::MergeList(&["topologyKey", "whenUnsatisfiable"]),
    ),
    ("topologySpreadConstraints.labelSelector", Rule::AtomicMap),
    ("schedulingGates", Rule::MergeList(&["name"])),
    ("resourceClaims", Rule::MergeRetainList(&["name"])),
    ("nodeSelector", Rule::AtomicMap),
    ("overhead", Rule::GranularMap),
    ("volumes.csi.volumeAttributes", Rule::GranularMap),
    (
        "volumes.ephemeral.volumeClaimTemplate.metadata.labels",
        Rule::GranularMap,
    ),
    (
        "volumes.ephemeral.volumeClaimTemplate.metadata.annotations",
        Rule::GranularMap,
    ),
    (
        "volumes.ephemeral.volumeClaimTemplate.spec.selector",
        Rule::AtomicMap,
    ),
    (
        "volumes.ephemeral.volumeClaimTemplate.spec.resources.requests",
        Rule::GranularMap,
    ),
    (
        "volumes.ephemeral.volumeClaimTemplate.spec.resources.limits",
        Rule::GranularMap,
    ),
    ("resources.limits", Rule::GranularMap),
    ("resources.requests", Rule::GranularMap),
    // `+structType=atomic` types: LocalObjectReference, NodeSelector, TypedLocalObjectReference
    ("imagePullSecrets", Rule::AtomicMap),
    (
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        Rule::AtomicMap,
    ),
    ("volumes.cephfs.secretRef", Rule::AtomicMap),
    ("volumes.cinder.secretRef", Rule::AtomicMap),
    ("volumes.flexVolume.secretRef", Rule::AtomicMap),
    ("volumes.iscsi.secretRef", Rule::AtomicMap),
    ("volumes.rbd.secretRef", Rule::AtomicMap),
    ("volumes.scaleIO.secretRef", Rule::AtomicMap),
    ("volumes.storageos.secretRef", Rule::AtomicMap),
    ("volumes.csi.nodePublishSecretRef", Rule::AtomicMap),
    (
        "volumes.ephemeral.volumeClaimTemplate.spec.dataSource",
        Rule::AtomicMap,
    ),
];

/// Under each container (containers, initContainers, ephemeralContainers).
pub const CONTAINER: Rules = &[
    ("ports", Rule::MergeList(&["containerPort", "protocol"])),
    ("env", Rule::MergeList(&["name"])),
    ("volumeMounts", Rule::MergeList(&["mountPath"])),
    ("volumeDevices", Rule::MergeList(&["devicePath"])),
    ("resources.limits", Rule::GranularMap),
    ("resources.requests", Rule::GranularMap),
    ("resources.claims", Rule::MapList(&["name"])),
    // ConfigMapKeySelector, SecretKeySelector, ObjectFieldSelector, ResourceFieldSelector
    ("env.valueFrom.configMapKeyRef", Rule::AtomicMap),
    ("env.valueFrom.secretKeyRef", Rule::AtomicMap),
    ("env.valueFrom.fieldRef", Rule::AtomicMap),
    ("env.valueFrom.resourceFieldRef", Rule::AtomicMap),
];

/// Under any ObjectMeta.
pub const META: Rules = &[
    ("labels", Rule::GranularMap),
    ("annotations", Rule::GranularMap),
    ("finalizers", Rule::MergeSet),
    ("ownerReferences", Rule::MergeList(&["uid"])),
    // OwnerReference is `+structType=atomic`: each item is owned whole
    ("ownerReferences", Rule::AtomicMap),
];

/// `status.conditions` merged by `type`, as most kinds declare them.
pub const CONDITIONS: Rules = &[("status.conditions", Rule::MergeList(&["type"]))];

const ATOMIC: Rules = &[("", Rule::AtomicMap)];
const RETAIN_KEYS: Rules = &[("", Rule::RetainKeys)];

/// Tables of a kind with a pod template at `$t` (the kind's metadata, the template's metadata
/// and pod spec with the spec's containers), then the kind's own.
macro_rules! with_pod_template {
    ($t:literal $(, $own:expr)* $(,)?) => {
        &[
            ("metadata", META),
            (concat!($t, ".metadata"), META),
            (concat!($t, ".spec"), POD_SPEC),
            (concat!($t, ".spec.containers"), CONTAINER),
            (concat!($t, ".spec.initContainers"), CONTAINER),
            (concat!($t, ".spec.ephemeralContainers"), CONTAINER),
            $($own),*
        ]
    };
}

const WORKLOAD: KindRules =
    with_pod_template!("spec.template", ("spec.selector", ATOMIC), ("", CONDITIONS));

const DEPLOYMENT: KindRules = with_pod_template!(
    "spec.template",
    ("spec.selector", ATOMIC),
    ("spec.strategy", RETAIN_KEYS),
    ("", CONDITIONS),
);

const JOB_STATUS: Rules = &[
    ("status.conditions", Rule::AtomicMergeList("type")),
    (
        "status.uncountedTerminatedPods.failed",
        Rule::MergeSetNoPatch,
    ),
    (
        "status.uncountedTerminatedPods.succeeded",
        Rule::MergeSetNoPatch,
    ),
];

const JOB: KindRules =
    with_pod_template!("spec.template", ("spec.selector", ATOMIC), ("", JOB_STATUS));

const CRON_JOB: KindRules = with_pod_template!(
    "spec.jobTemplate.spec.template",
    ("spec.jobTemplate.metadata", META),
    ("spec.jobTemplate.spec.selector", ATOMIC),
);

/// ReplicationController: its selector is a plain map, not a LabelSelector.
const REPLICATION_CONTROLLER: KindRules = with_pod_template!("spec.template", ("", CONDITIONS));

const POD_TEMPLATE: KindRules = with_pod_template!("template");

const POD: KindRules = &[
    ("metadata", META),
    ("spec", POD_SPEC),
    ("spec.containers", CONTAINER),
    ("spec.initContainers", CONTAINER),
    ("spec.ephemeralContainers", CONTAINER),
    (
        "",
        &[
            ("status.conditions", Rule::MergeList(&["type"])),
            ("status.podIPs", Rule::MergeList(&["ip"])),
            ("status.hostIPs", Rule::MergeList(&["ip"])),
        ],
    ),
];

const SERVICE: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("spec.ports", Rule::MergeList(&["port", "protocol"])),
            ("spec.selector", Rule::AtomicMap),
            ("status.conditions", Rule::MergeList(&["type"])),
        ],
    ),
];

const DATA: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("data", Rule::GranularMap),
            ("binaryData", Rule::GranularMap),
            ("stringData", Rule::GranularMap),
        ],
    ),
];

const PERSISTENT_VOLUME_CLAIM: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("spec.selector", Rule::AtomicMap),
            ("spec.dataSource", Rule::AtomicMap),
            ("spec.resources.requests", Rule::GranularMap),
            ("spec.resources.limits", Rule::GranularMap),
            ("status.capacity", Rule::GranularMap),
            ("status.allocatedResources", Rule::GranularMap),
            ("status.allocatedResourceStatuses", Rule::GranularMap),
            ("status.conditions", Rule::MergeList(&["type"])),
        ],
    ),
];

const PERSISTENT_VOLUME: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("spec.capacity", Rule::GranularMap),
            ("spec.csi.volumeAttributes", Rule::GranularMap),
            ("spec.flexVolume.options", Rule::GranularMap),
            ("spec.claimRef", Rule::AtomicMap),
            ("spec.nodeAffinity.required", Rule::AtomicMap),
            ("spec.cephfs.secretRef", Rule::AtomicMap),
            ("spec.csi.controllerPublishSecretRef", Rule::AtomicMap),
            ("spec.csi.controllerExpandSecretRef", Rule::AtomicMap),
            ("spec.csi.nodePublishSecretRef", Rule::AtomicMap),
            ("spec.csi.nodeStageSecretRef", Rule::AtomicMap),
            ("spec.csi.nodeExpandSecretRef", Rule::AtomicMap),
        ],
    ),
];

/// Kinds whose only marked lists are their conditions.
const WITH_CONDITIONS: KindRules = &[("metadata", META), ("", CONDITIONS)];

const RESOURCE_QUOTA: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("spec.hard", Rule::GranularMap),
            ("status.hard", Rule::GranularMap),
            ("status.used", Rule::GranularMap),
        ],
    ),
];

const NETWORK_POLICY: KindRules = &[("metadata", META), ("spec.podSelector", ATOMIC)];

const SERVICE_ACCOUNT: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("secrets", Rule::MergeList(&["name"])),
            ("secrets", Rule::AtomicMap),
        ],
    ),
];

const EVENT: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("involvedObject", Rule::AtomicMap),
            ("related", Rule::AtomicMap),
        ],
    ),
];

const INGRESS: KindRules = &[
    ("metadata", META),
    ("", &[("spec.defaultBackend.resource", Rule::AtomicMap)]),
];

const POD_DISRUPTION_BUDGET: KindRules = &[
    ("metadata", META),
    (
        "",
        &[
            ("spec.selector", Rule::AtomicMap),
            ("status.conditions", Rule::MergeList(&["type"])),
            ("status.disruptedPods", Rule::GranularMap),
        ],
    ),
];

const STORAGE_CLASS: KindRules = &[
    ("metadata", META),
    ("", &[("parameters", Rule::GranularMap)]),
];

const METADATA_ONLY: KindRules = &[("metadata", META)];

/// The marker tables of a built-in kind (its metadata's at least); `None` for a kind that is
/// not built in (a custom resource: its CRD's schema says how it merges).
pub fn builtin_rules(group: &str, kind: &str) -> Option<KindRules> {
    crate::kinds::builtin_kind(group, kind)?;
    Some(match (group, kind) {
        ("apps", "Deployment") => DEPLOYMENT,
        ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") => WORKLOAD,
        ("batch", "Job") => JOB,
        ("batch", "CronJob") => CRON_JOB,
        ("", "ReplicationController") => REPLICATION_CONTROLLER,
        ("", "PodTemplate") => POD_TEMPLATE,
        ("", "Pod") => POD,
        ("", "Service") => SERVICE,
        ("", "ConfigMap" | "Secret") => DATA,
        ("", "PersistentVolumeClaim") => PERSISTENT_VOLUME_CLAIM,
        ("", "PersistentVolume") => PERSISTENT_VOLUME,
        ("", "Namespace")
        | ("autoscaling", "HorizontalPodAutoscaler")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => WITH_CONDITIONS,
        ("", "ResourceQuota") => RESOURCE_QUOTA,
        ("networking.k8s.io", "NetworkPolicy") => NETWORK_POLICY,
        ("", "ServiceAccount") => SERVICE_ACCOUNT,
        ("", "Event") => EVENT,
        ("networking.k8s.io", "Ingress") => INGRESS,
        ("policy", "PodDisruptionBudget") => POD_DISRUPTION_BUDGET,
        ("storage.k8s.io", "StorageClass") => STORAGE_CLASS,
        _ => METADATA_ONLY,
    })
}

/// The value a list-map key field takes when an item lacks it: `protocol` defaults to `TCP` as
/// the API server defaults it; other key fields have no default.
pub fn key_default(field: &str) -> Option<Value> {
    (field == "protocol").then(|| Value::String("TCP".into()))
}

/// Which lists of one kind are list-maps, and by which key fields.
#[derive(Debug, Clone, Copy)]
pub struct ListKeys {
    tables: Option<KindRules>,
}

impl ListKeys {
    /// The lists of `kind` of `group`. Built-in kinds answer from their tables. Custom
    /// resources often embed pod specs and containers (Prometheus, Alertmanager): their lists
    /// are keyed by field name as the pod spec and container tables key them (`containers` by
    /// `name`, `ports` by `containerPort`+`protocol`, ...).
    pub fn of(group: &str, kind: &str) -> ListKeys {
        ListKeys {
            tables: builtin_rules(group, kind),
        }
    }

    /// Key fields of the list at `path` (field names from the object root, list items
    /// skipped); `None`: the list is atomic or a set, compared whole.
    pub fn at<'p>(
        &self,
        path: impl IntoIterator<Item = &'p str> + Clone,
    ) -> Option<&'static [&'static str]> {
        match self.tables {
            Some(tables) => tables.iter().find_map(|(at, rules)| {
                rules.iter().find_map(|(rel, rule)| {
                    let keys = rule.list_keys()?;
                    let full = at
                        .split('.')
                        .chain(rel.split('.'))
                        .filter(|s| !s.is_empty());
                    full.eq(path.clone()).then_some(keys)
                })
            }),
            None => {
                let field = path.into_iter().last()?;
                [POD_SPEC, CONTAINER].iter().find_map(|rules| {
                    rules
                        .iter()
                        .find(|(rel, _)| *rel == field)
                        .and_then(|(_, rule)| rule.list_keys())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_lists_by_path() {
        let deployment = ListKeys::of("apps", "Deployment");
        let at = |keys: &ListKeys, path: &str| keys.at(path.split('.'));
        assert_eq!(
            at(&deployment, "spec.template.spec.containers"),
            Some(&["name"][..])
        );
        assert_eq!(
            at(&deployment, "spec.template.spec.initContainers.ports"),
            Some(&["containerPort", "protocol"][..])
        );
        assert_eq!(
            at(&deployment, "spec.template.spec.topologySpreadConstraints"),
            Some(&["topologyKey", "whenUnsatisfiable"][..])
        );
        assert_eq!(
            at(&deployment, "metadata.ownerReferences"),
            Some(&["uid"][..])
        );
        // sets and atomic lists are not keyed; a field name elsewhere is not either
        assert_eq!(at(&deployment, "metadata.finalizers"), None);
        assert_eq!(at(&deployment, "spec.template.spec.tolerations"), None);
        assert_eq!(at(&deployment, "spec.containers"), None);
        let service = ListKeys::of("", "Service");
        assert_eq!(at(&service, "spec.ports"), Some(&["port", "protocol"][..]));
        let policy = ListKeys::of("networking.k8s.io", "NetworkPolicy");
        assert_eq!(at(&policy, "spec.ingress.ports"), None);
        let cron = ListKeys::of("batch", "CronJob");
        assert_eq!(
            at(&cron, "spec.jobTemplate.spec.template.spec.containers.env"),
            Some(&["name"][..])
        );
    }

    #[test]
    fn custom_resources_by_field_name() {
        let prometheus = ListKeys::of("monitoring.coreos.com", "Prometheus");
        let at = |path: &str| prometheus.at(path.split('.'));
        assert_eq!(at("spec.containers"), Some(&["name"][..]));
        assert_eq!(at("spec.containers.volumeMounts"), Some(&["mountPath"][..]));
        assert_eq!(
            at("spec.initContainers.ports"),
            Some(&["containerPort", "protocol"][..])
        );
        assert_eq!(at("spec.tolerations"), None);
        assert_eq!(at("spec.ruleSelector"), None);
    }

    #[test]
    fn every_table_names_built_in_kinds_only() {
        assert!(builtin_rules("example.com", "Widget").is_none());
        for kind in crate::kinds::BUILTIN_KINDS {
            let tables = builtin_rules(kind.group, kind.kind).expect("built-in");
            assert_eq!(tables[0], ("metadata", META), "{}", kind.kind);
        }
        assert_eq!(key_default("protocol"), Some(Value::String("TCP".into())));
        assert_eq!(key_default("name"), None);
    }
}
