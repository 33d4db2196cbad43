//! Structural merge knowledge per kind: list types and merge keys (for server-side apply) and
//! patch strategies (for strategic merge patch), for built-in kinds and from CRD schemas.

use std::collections::BTreeMap;

use k8s_model::merge::{self, Rule, Rules};
use serde_json::{Map, Value, json};

/// How a list merges: `x-kubernetes-list-type` (and `patchStrategy`/`patchMergeKey` for SMP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole; owned as one leaf.
    Atomic,
    /// A set of scalars; items owned one by one (`v:` keys).
    Set,
    /// A list of objects keyed by these fields (`k:` keys), e.g. containers by `name`.
    Map(Vec<String>),
}

/// How an object-valued node is owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapKind {
    /// A struct with declared fields: a field is owned as a leaf only when it is a scalar,
    /// null or empty (structured-merge-diff's "named fields").
    #[default]
    Struct,
    /// `map[string]X` (labels, data, preserve-unknown-fields): every key is owned itself.
    Granular,
    /// `x-kubernetes-map-type: atomic` / `+structType=atomic`: owned and replaced whole.
    Atomic,
}

/// Strategic merge patch behaviour of one list or struct field (`patchStrategy` tags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchStrategy {
    /// `patchMergeKey`; `None` with `merge` set means a list of primitives merged as a set.
    pub merge_key: Option<String>,
    /// `patchStrategy` contains `merge`.
    pub merge: bool,
    /// `patchStrategy` contains `retainKeys`.
    pub retain_keys: bool,
}

/// One node of the schema tree; list items are folded into their list's node, so a path is
/// field names only (as `TypeSchema::list_type` takes it).
#[derive(Debug, Clone, Default)]
struct Node {
    fields: BTreeMap<String, Node>,
    /// Schema of the values of a map (`additionalProperties`), any key.
    values: Option<Box<Node>>,
    map_kind: MapKind,
    list: Option<ListType>,
    patch: Option<PatchStrategy>,
    /// Defaults of list-map key fields (containerPort's `protocol` is `TCP`).
    key_defaults: Vec<(String, Value)>,
    /// The node's schema is known (not a guess for an undeclared field).
    declared: bool,
}

/// The merge schema of one kind.
#[derive(Debug, Clone, Default)]
pub struct TypeSchema {
    root: Node,
    custom: bool,
    status_subresource: bool,
    /// Fields besides `spec` the status subresource resets (`GetResetFields`).
    status_resets: Vec<Vec<String>>,
    empty_object: Value,
}

impl TypeSchema {
    /// Schema for a kind; `crd_schema` is the served version's `schema.openAPIV3Schema` for
    /// custom resources, `None` for built-in kinds.
    pub fn for_kind(group: &str, kind: &str, crd_schema: Option<&Value>) -> TypeSchema {
        if let Some(openapi) = crd_schema {
            let mut root = node_from_openapi(openapi);
            // metadata of a custom resource is always the real ObjectMeta
            let mut meta = Node {
                declared: true,
                ..Node::default()
            };
            apply_rules(&mut meta, "", merge::META);
            root.fields.insert("metadata".into(), meta);
            root.declared = true;
            root.map_kind = MapKind::Struct;
            return TypeSchema {
                root,
                custom: true,
                status_subresource: false,
                // the custom resource status strategy declares only `spec` as reset (it
                // copies the rest of the old object itself)
                status_resets: Vec::new(),
                empty_object: json!({}),
            };
        }
        builtin_schema(group, kind)
    }

    /// List type at `path` (field names from the object root, list items skipped),
    /// e.g. `["spec", "template", "spec", "containers"]`. Unknown lists are atomic.
    pub fn list_type(&self, path: &[&str]) -> ListType {
        self.node(path)
            .and_then(|n| n.list.clone())
            .unwrap_or(ListType::Atomic)
    }

    /// How the object at `path` is owned (struct, granular map, atomic).
    pub fn map_kind(&self, path: &[&str]) -> MapKind {
        match self.node(path) {
            Some(n) if n.declared => n.map_kind,
            Some(_) => MapKind::Struct,
            // undeclared parts of a custom resource are deduced maps, as SMD does for
            // preserve-unknown-fields; built-in undeclared parts are typed structs
            None if self.custom => MapKind::Granular,
            None => MapKind::Struct,
        }
    }

    /// Whether `field` is a declared (named) field of the struct at `path`; map entries and
    /// unknown fields of custom resources are not.
    pub fn is_named_field(&self, path: &[&str], field: &str) -> bool {
        match self.map_kind(path) {
            MapKind::Struct => {
                if !self.custom {
                    return true;
                }
                self.node(path)
                    .is_some_and(|n| n.fields.contains_key(field))
            }
            MapKind::Granular | MapKind::Atomic => false,
        }
    }

    /// Default of a list-map key field missing from an item (e.g. ports' `protocol`: `TCP`).
    pub fn key_default(&self, path: &[&str], key: &str) -> Option<Value> {
        self.node(path)?
            .key_defaults
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Strategic merge patch strategy of the field at `path`; `None`: replace lists, merge maps.
    pub fn patch_strategy(&self, path: &[&str]) -> Option<PatchStrategy> {
        self.node(path).and_then(|n| n.patch.clone())
    }

    /// Whether this is a custom resource (the API server refuses strategic merge patches).
    pub fn is_custom(&self) -> bool {
        self.custom
    }

    /// Whether `status` is a subresource: writes to the main resource do not own status fields.
    pub fn status_subresource(&self) -> bool {
        self.status_subresource
    }

    /// Top-level paths a write through `subresource` may not change (the registry strategies'
    /// `GetResetFields`): the main resource does not touch `status` when status is a
    /// subresource; the status subresource does not touch `spec` (and for some kinds labels,
    /// owner references...).
    pub fn reset_fields(&self, subresource: Option<&str>) -> Vec<Vec<String>> {
        match subresource {
            None if self.status_subresource => vec![vec!["status".to_string()]],
            Some("status") => {
                let mut out = vec![vec!["spec".to_string()]];
                out.extend(self.status_resets.iter().cloned());
                out
            }
            _ => Vec::new(),
        }
    }

    /// Sets whether `status` is a subresource (custom resources: from the CRD's subresources).
    pub fn with_status_subresource(mut self, status: bool) -> TypeSchema {
        self.status_subresource = status;
        self
    }

    /// The zero value of the kind as the API server's typed converter sees it (non-pointer
    /// structs present, non-omitempty slices null): the "old" object of a create, so that
    /// managedFields mark only what the create added, as upstream does.
    pub fn empty_object(&self) -> Value {
        self.empty_object.clone()
    }

    fn node(&self, path: &[&str]) -> Option<&Node> {
        let mut node = &self.root;
        for seg in path {
            node = match node.fields.get(*seg) {
                Some(n) => n,
                None => node.values.as_deref()?,
            };
        }
        Some(node)
    }
}

fn node_at<'a>(root: &'a mut Node, path: &str) -> &'a mut Node {
    let mut node = root;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        node = node.fields.entry(seg.to_string()).or_default();
    }
    node
}

fn apply_rules(root: &mut Node, prefix: &str, rules: Rules) {
    for (rel, rule) in rules {
        let path = if prefix.is_empty() {
            (*rel).to_string()
        } else {
            format!("{prefix}.{rel}")
        };
        let node = node_at(root, &path);
        node.declared = true;
        match rule {
            Rule::MergeList(keys) | Rule::MergeRetainList(keys) | Rule::MapList(keys) => {
                node.list = Some(ListType::Map(keys.iter().map(|k| k.to_string()).collect()));
                node.key_defaults = keys
                    .iter()
                    .filter_map(|k| Some((k.to_string(), merge::key_default(k)?)))
                    .collect();
                if !matches!(rule, Rule::MapList(_)) {
                    node.patch = Some(PatchStrategy {
                        merge_key: keys.first().map(|k| k.to_string()),
                        merge: true,
                        retain_keys: matches!(rule, Rule::MergeRetainList(_)),
                    });
                }
            }
            Rule::AtomicMergeList(key) => {
                node.list = Some(ListType::Atomic);
                node.patch = Some(PatchStrategy {
                    merge_key: Some(key.to_string()),
                    merge: true,
                    retain_keys: false,
                });
            }
            Rule::MergeSet => {
                node.list = Some(ListType::Set);
                node.patch = Some(PatchStrategy {
                    merge_key: None,
                    merge: true,
                    retain_keys: false,
                });
            }
            Rule::MergeSetNoPatch => node.list = Some(ListType::Set),
            Rule::AtomicMap => node.map_kind = MapKind::Atomic,
            Rule::GranularMap => node.map_kind = MapKind::Granular,
            Rule::RetainKeys => {
                node.patch = Some(PatchStrategy {
                    merge_key: None,
                    merge: false,
                    retain_keys: true,
                })
            }
        }
    }
}

/// A built-in kind's schema: its merge markers from [`k8s_model::merge`], its status
/// subresource and reset fields, its empty object.
fn builtin_schema(group: &str, kind: &str) -> TypeSchema {
    let mut root = Node {
        declared: true,
        ..Node::default()
    };
    let tables = merge::builtin_rules(group, kind).unwrap_or(&[("metadata", merge::META)]);
    for (at, rules) in tables {
        apply_rules(&mut root, at, rules);
    }
    let status_subresource = super::kinds::builtin_kinds()
        .iter()
        .any(|k| k.group == group && k.kind == kind && k.status_subresource);
    let meta = |k: &str| vec!["metadata".to_string(), k.to_string()];
    let status_resets = match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => vec![meta("labels")],
        ("", "Pod") => vec![meta("deletionTimestamp"), meta("ownerReferences")],
        _ => Vec::new(),
    };
    TypeSchema {
        root,
        custom: false,
        status_subresource,
        status_resets,
        empty_object: empty_object(group, kind),
    }
}

/// The zero value of a built-in kind as the API server's typed converter sees it (see
/// [`TypeSchema::empty_object`]).
fn empty_object(group: &str, kind: &str) -> Value {
    let template_kinds = [
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
    ];
    let empty_pod_spec = json!({"containers": null});
    let empty_template = json!({"metadata": {"creationTimestamp": null}, "spec": empty_pod_spec});
    let mut empty = json!({"metadata": {"creationTimestamp": null}});
    match (group, kind) {
        ("apps" | "batch", k) if template_kinds.contains(&k) => {
            let mut spec = Map::new();
            spec.insert("selector".into(), Value::Null);
            spec.insert("template".into(), empty_template);
            match k {
                "Deployment" => {
                    spec.insert("strategy".into(), json!({}));
                }
                "StatefulSet" | "DaemonSet" => {
                    spec.insert("updateStrategy".into(), json!({}));
                }
                _ => {}
            }
            if k == "StatefulSet" {
                spec.insert("serviceName".into(), json!(""));
            }
            empty["spec"] = Value::Object(spec);
            empty["status"] = json!({});
        }
        ("batch", "CronJob") => {
            empty["spec"] = json!({
                "schedule": "",
                "jobTemplate": {"metadata": {"creationTimestamp": null},
                                "spec": {"template": empty_template}},
            });
            empty["status"] = json!({});
        }
        ("", "Pod") => {
            empty["spec"] = empty_pod_spec;
            empty["status"] = json!({});
        }
        ("", "Service") | ("networking.k8s.io", "Ingress") => {
            empty["spec"] = json!({});
            empty["status"] = json!({"loadBalancer": {}});
        }
        ("", "PersistentVolumeClaim") => {
            empty["spec"] = json!({"resources": {}});
            empty["status"] = json!({});
        }
        ("", "PersistentVolume" | "Namespace" | "ResourceQuota") => {
            empty["spec"] = json!({});
            empty["status"] = json!({});
        }
        ("", "LimitRange") => empty["spec"] = json!({"limits": null}),
        ("networking.k8s.io", "NetworkPolicy") => empty["spec"] = json!({"podSelector": {}}),
        ("", "Event") => {
            empty["involvedObject"] = json!({});
            empty["source"] = json!({});
            empty["firstTimestamp"] = Value::Null;
            empty["lastTimestamp"] = Value::Null;
            empty["eventTime"] = Value::Null;
            empty["reportingComponent"] = json!("");
            empty["reportingInstance"] = json!("");
        }
        ("networking.k8s.io", "IngressClass") | ("coordination.k8s.io", "Lease") => {
            empty["spec"] = json!({})
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            empty["spec"] = json!({"scaleTargetRef": {"kind": "", "name": ""}, "maxReplicas": 0});
            empty["status"] = json!({"desiredReplicas": 0});
        }
        ("policy", "PodDisruptionBudget") => {
            empty["spec"] = json!({});
            empty["status"] = json!({"disruptionsAllowed": 0, "currentHealthy": 0,
                                     "desiredHealthy": 0, "expectedPods": 0});
        }
        ("storage.k8s.io", "StorageClass") => empty["provisioner"] = json!(""),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            empty["spec"] = json!({"group": "", "names": {"plural": "", "kind": ""},
                                   "scope": "", "versions": null});
            empty["status"] = json!({"acceptedNames": {"plural": "", "kind": ""},
                                     "storedVersions": null});
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            empty["roleRef"] = json!({"apiGroup": "", "kind": "", "name": ""});
        }
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            empty["rules"] = Value::Null;
        }
        _ => {}
    }
    empty
}

/// Builds the schema tree of a CRD's `openAPIV3Schema`.
fn node_from_openapi(schema: &Value) -> Node {
    let mut node = Node {
        declared: true,
        ..Node::default()
    };
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let int_or_string = schema.get("x-kubernetes-int-or-string").is_some();
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            node.fields.insert(name.clone(), node_from_openapi(sub));
        }
    }
    match schema.get("additionalProperties") {
        Some(Value::Object(sub)) => {
            node.values = Some(Box::new(node_from_openapi(&Value::Object(sub.clone()))));
            node.map_kind = MapKind::Granular;
        }
        Some(Value::Bool(true)) => node.map_kind = MapKind::Granular,
        _ => {}
    }
    if preserve && node.fields.is_empty() {
        node.map_kind = MapKind::Granular;
    }
    if ty != "array"
        && schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
    {
        node.map_kind = MapKind::Atomic;
    }
    if ty == "array" {
        let items = schema
            .get("items")
            .map(node_from_openapi)
            .unwrap_or_default();
        // list items are folded into the list node: the item's fields are the list's fields
        node.fields = items.fields;
        node.values = items.values;
        node.map_kind = items.map_kind;
        node.list = Some(
            match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListType::Set,
                Some("map") => {
                    let keys: Vec<String> = schema
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    node.key_defaults = keys
                        .iter()
                        .filter_map(|k| {
                            let d = schema.pointer(&format!(
                                "/items/properties/{}/default",
                                k.replace('~', "~0").replace('/', "~1")
                            ))?;
                            Some((k.clone(), d.clone()))
                        })
                        .collect();
                    ListType::Map(keys)
                }
                _ => ListType::Atomic,
            },
        );
    }
    if int_or_string {
        node.map_kind = MapKind::Struct;
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_lists_and_maps() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let cases: &[(&[&str], ListType)] = &[
            (
                &["spec", "template", "spec", "containers"],
                ListType::Map(vec!["name".into()]),
            ),
            (
                &["spec", "template", "spec", "containers", "ports"],
                ListType::Map(vec!["containerPort".into(), "protocol".into()]),
            ),
            (
                &["spec", "template", "spec", "containers", "env"],
                ListType::Map(vec!["name".into()]),
            ),
            (
                &["spec", "template", "spec", "initContainers", "volumeMounts"],
                ListType::Map(vec!["mountPath".into()]),
            ),
            (
                &["spec", "template", "spec", "containers", "args"],
                ListType::Atomic,
            ),
            (
                &["spec", "template", "spec", "tolerations"],
                ListType::Atomic,
            ),
            (
                &["spec", "template", "spec", "topologySpreadConstraints"],
                ListType::Map(vec!["topologyKey".into(), "whenUnsatisfiable".into()]),
            ),
            (&["metadata", "finalizers"], ListType::Set),
            (
                &["metadata", "ownerReferences"],
                ListType::Map(vec!["uid".into()]),
            ),
            (
                &["status", "conditions"],
                ListType::Map(vec!["type".into()]),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(&s.list_type(path), want, "{path:?}");
        }
        assert_eq!(s.map_kind(&["spec", "selector"]), MapKind::Atomic);
        assert_eq!(s.map_kind(&["metadata", "labels"]), MapKind::Granular);
        assert_eq!(
            s.map_kind(&["spec", "template", "metadata", "labels"]),
            MapKind::Granular
        );
        assert_eq!(
            s.key_default(
                &["spec", "template", "spec", "containers", "ports"],
                "protocol"
            ),
            Some(json!("TCP"))
        );
        assert!(s.status_subresource());
        let vols = s
            .patch_strategy(&["spec", "template", "spec", "volumes"])
            .unwrap();
        assert!(vols.merge && vols.retain_keys);
        assert_eq!(vols.merge_key.as_deref(), Some("name"));
    }

    #[test]
    fn reset_fields_follow_the_registry_strategies() {
        let d = TypeSchema::for_kind("apps", "Deployment", None);
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(d.reset_fields(None), vec![p(&["status"])]);
        assert_eq!(
            d.reset_fields(Some("status")),
            vec![p(&["spec"]), p(&["metadata", "labels"])]
        );
        assert!(d.reset_fields(Some("scale")).is_empty());
        let cm = TypeSchema::for_kind("", "ConfigMap", None);
        assert!(cm.reset_fields(None).is_empty());
        let cr = TypeSchema::for_kind("example.com", "W", Some(&json!({"type": "object"})));
        assert!(cr.reset_fields(None).is_empty());
        let cr = cr.with_status_subresource(true);
        assert_eq!(cr.reset_fields(None), vec![p(&["status"])]);
        assert_eq!(cr.reset_fields(Some("status")), vec![p(&["spec"])]);
    }

    #[test]
    fn service_and_pod_and_cronjob() {
        let svc = TypeSchema::for_kind("", "Service", None);
        assert_eq!(
            svc.list_type(&["spec", "ports"]),
            ListType::Map(vec!["port".into(), "protocol".into()])
        );
        assert_eq!(svc.map_kind(&["spec", "selector"]), MapKind::Atomic);
        let pod = TypeSchema::for_kind("", "Pod", None);
        assert_eq!(
            pod.list_type(&["spec", "volumes"]),
            ListType::Map(vec!["name".into()])
        );
        let cj = TypeSchema::for_kind("batch", "CronJob", None);
        assert_eq!(
            cj.list_type(&[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers"
            ]),
            ListType::Map(vec!["name".into()])
        );
        let job = TypeSchema::for_kind("batch", "Job", None);
        assert_eq!(job.list_type(&["status", "conditions"]), ListType::Atomic);
        assert_eq!(
            job.patch_strategy(&["status", "conditions"])
                .and_then(|p| p.merge_key),
            Some("type".to_string())
        );
    }

    #[test]
    fn crd_schema_annotations() {
        let crd = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "routes": {"type": "array", "x-kubernetes-list-type": "map",
                                   "x-kubernetes-list-map-keys": ["name"],
                                   "items": {"type": "object", "properties": {
                                       "name": {"type": "string"},
                                       "hosts": {"type": "array", "x-kubernetes-list-type": "set",
                                                 "items": {"type": "string"}}}}},
                        "plain": {"type": "array", "items": {"type": "string"}},
                        "sel": {"type": "object", "x-kubernetes-map-type": "atomic",
                                "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }
            }
        });
        let s = TypeSchema::for_kind("example.com", "Widget", Some(&crd));
        assert_eq!(
            s.list_type(&["spec", "routes"]),
            ListType::Map(vec!["name".into()])
        );
        assert_eq!(s.list_type(&["spec", "routes", "hosts"]), ListType::Set);
        assert_eq!(s.list_type(&["spec", "plain"]), ListType::Atomic);
        assert_eq!(s.map_kind(&["spec", "sel"]), MapKind::Atomic);
        assert_eq!(s.map_kind(&["spec", "free"]), MapKind::Granular);
        assert_eq!(s.map_kind(&["spec", "free", "x", "y"]), MapKind::Granular);
        assert_eq!(s.map_kind(&["metadata", "labels"]), MapKind::Granular);
        assert!(s.is_custom());
        assert!(s.is_named_field(&["spec"], "routes"));
        assert!(!s.is_named_field(&["spec", "free"], "anything"));
    }
}
