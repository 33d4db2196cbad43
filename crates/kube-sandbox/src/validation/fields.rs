//! The fields the built-in kinds know, as one table (`fields.txt`), and the walk that finds the
//! fields an object has and its kind does not (`fieldValidation=Strict`).
//!
//! The table is what the k8s-openapi 1.33 types read when they deserialize: the test
//! `table_is_what_k8s_openapi_reads` traces their `Deserialize` impls and compares, and
//! `walk_equals_round_trip` proves the walk finds what the plain way
//! ([`super::unknown::unknown_fields_round_trip`]: through the type and back) finds. The table
//! replaces about 1.3 MB of deserializers and serializers in the release binary.
//!
//! Format, one type per line: `Name field field:shape …`, where a bare field is a scalar and a
//! shape is `*` (any JSON, kept whole), a type name, `[shape]` (a list), `{shape}` (a map with
//! string keys), or one of the CRD schema unions `%OrBool`, `%OrArray`, `%OrStrings`. `root
//! <group|core> <Kind> <Type>` lines name the type of each kind's objects.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::unknown::join;

#[cfg(test)]
mod trace;

/// The table's text (generated: see the module docs).
pub(crate) const TABLE: &str = include_str!("fields.txt");

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A string, number or boolean (also `Quantity`, `IntOrString`, `Time`).
    Scalar,
    /// Any JSON, kept whole (`RawExtension`, `FieldsV1`, a CRD schema's `JSON`).
    Any,
    /// An object of a named type.
    Type(String),
    List(Box<Shape>),
    Map(Box<Shape>),
    /// `JSONSchemaPropsOrBool`: a boolean or a schema.
    OrBool,
    /// `JSONSchemaPropsOrArray`: a schema or a list of schemas.
    OrArray,
    /// `JSONSchemaPropsOrStringArray`: a schema or a list of strings.
    OrStrings,
}

/// The CRD schema type the `%Or…` unions hold.
const SCHEMA_PROPS: &str = "JSONSchemaProps";

/// The parsed table.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct FieldTable {
    /// (group, kind) → type name.
    pub(crate) roots: HashMap<(String, String), String>,
    /// type name → field → shape.
    pub(crate) types: HashMap<String, HashMap<String, Shape>>,
}

impl FieldTable {
    /// The table compiled in, parsed once.
    pub(crate) fn builtin() -> &'static FieldTable {
        static TABLE_CELL: OnceLock<FieldTable> = OnceLock::new();
        TABLE_CELL.get_or_init(|| FieldTable::parse(TABLE).expect("fields.txt is well-formed"))
    }

    /// Parses the text format (see the module docs).
    pub(crate) fn parse(text: &str) -> Result<FieldTable, String> {
        let mut table = FieldTable::default();
        for (n, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            match words.next() {
                None => {}
                Some(w) if w.starts_with('#') => {}
                Some("root") => {
                    let (Some(group), Some(kind), Some(ty)) =
                        (words.next(), words.next(), words.next())
                    else {
                        return Err(format!("line {}: root needs group, kind, type", n + 1));
                    };
                    let group = if group == "core" { "" } else { group };
                    table
                        .roots
                        .insert((group.to_string(), kind.to_string()), ty.to_string());
                }
                Some(name) => {
                    let mut fields = HashMap::new();
                    for word in words {
                        let (field, shape) = match word.split_once(':') {
                            Some((f, s)) => (
                                f,
                                parse_shape(s)
                                    .map_err(|e| format!("line {}: field {f}: {e}", n + 1))?,
                            ),
                            None => (word, Shape::Scalar),
                        };
                        fields.insert(field.to_string(), shape);
                    }
                    table.types.insert(name.to_string(), fields);
                }
            }
        }
        Ok(table)
    }

    /// Paths of the non-null fields of `obj` (an object of `group`/`kind`) that the kind does
    /// not know; `None` when the kind is not in the table.
    pub(crate) fn unknown_fields(
        &self,
        group: &str,
        kind: &str,
        obj: &Value,
    ) -> Option<Vec<String>> {
        let ty = self.roots.get(&(group.to_string(), kind.to_string()))?;
        let mut out = Vec::new();
        self.walk_type(ty, obj, "", &mut out);
        Some(out)
    }

    /// Unknown fields of `obj` read as the type `ty` (e.g. `ObjectMeta`), under `path`.
    pub(crate) fn unknown_fields_of_type(&self, ty: &str, obj: &Value, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.walk_type(ty, obj, path, &mut out);
        out
    }

    fn walk_type(&self, ty: &str, value: &Value, path: &str, out: &mut Vec<String>) {
        let (Some(fields), Value::Object(map)) = (self.types.get(ty), value) else {
            return;
        };
        for (k, v) in map {
            match fields.get(k) {
                Some(shape) => self.walk(shape, v, &join(path, k), out),
                None if !v.is_null() => out.push(join(path, k)),
                None => {}
            }
        }
    }

    fn walk(&self, shape: &Shape, value: &Value, path: &str, out: &mut Vec<String>) {
        match (shape, value) {
            (Shape::Type(ty), _) => self.walk_type(ty, value, path, out),
            (Shape::List(item), Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk(item, v, &format!("{path}[{i}]"), out);
                }
            }
            (Shape::Map(item), Value::Object(map)) => {
                for (k, v) in map {
                    self.walk(item, v, &join(path, k), out);
                }
            }
            (Shape::OrBool | Shape::OrArray | Shape::OrStrings, Value::Object(_)) => {
                self.walk_type(SCHEMA_PROPS, value, path, out);
            }
            (Shape::OrArray, Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk_type(SCHEMA_PROPS, v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
}

fn parse_shape(s: &str) -> Result<Shape, String> {
    let shape = match s {
        "" => return Err("empty shape".into()),
        "-" => Shape::Scalar,
        "*" => Shape::Any,
        "%OrBool" => Shape::OrBool,
        "%OrArray" => Shape::OrArray,
        "%OrStrings" => Shape::OrStrings,
        _ if s.starts_with('[') && s.ends_with(']') => {
            Shape::List(Box::new(parse_shape(&s[1..s.len() - 1])?))
        }
        _ if s.starts_with('{') && s.ends_with('}') => {
            Shape::Map(Box::new(parse_shape(&s[1..s.len() - 1])?))
        }
        _ if s.chars().all(|c| c.is_ascii_alphanumeric()) => Shape::Type(s.to_string()),
        _ => return Err(format!("unreadable shape {s:?}")),
    };
    Ok(shape)
}

/// The text of a shape, as [`parse_shape`] reads it; `None` for a scalar (written bare).
#[cfg(test)]
pub(crate) fn shape_text(shape: &Shape) -> Option<String> {
    Some(match shape {
        Shape::Scalar => return None,
        Shape::Any => "*".into(),
        Shape::Type(t) => t.clone(),
        Shape::List(s) => format!("[{}]", shape_text(s).unwrap_or_else(|| "-".into())),
        Shape::Map(s) => format!("{{{}}}", shape_text(s).unwrap_or_else(|| "-".into())),
        Shape::OrBool => "%OrBool".into(),
        Shape::OrArray => "%OrArray".into(),
        Shape::OrStrings => "%OrStrings".into(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    use super::trace::Tracer;
    use super::{FieldTable, SCHEMA_PROPS, Shape, TABLE};
    use crate::validation::unknown_fields_round_trip;

    /// Every (group, type) whose fields the table holds: the kinds the plain way knows.
    fn trace_k8s_openapi() -> Tracer {
        use k8s_openapi::api::{
            apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
            coordination::v1 as coordination, core::v1 as core, networking::v1 as networking,
            policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
            storage::v1 as storage,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
        let mut tracer = Tracer::default();
        macro_rules! roots {
            ($($group:literal $ty:ty),* $(,)?) => {
                $(
                    tracer
                        .root::<$ty>($group, <$ty as k8s_openapi::Resource>::KIND)
                        .unwrap_or_else(|e| panic!("tracing {}: {e}", stringify!($ty)));
                )*
            };
        }
        roots! {
            "" core::Namespace, "" core::ConfigMap, "" core::Secret, "" core::Service,
            "" core::ServiceAccount, "" core::Pod, "" core::PersistentVolumeClaim,
            "" core::PersistentVolume, "" core::Endpoints, "" core::Event, "" core::LimitRange,
            "" core::ResourceQuota,
            "apps" apps::Deployment, "apps" apps::StatefulSet, "apps" apps::DaemonSet,
            "apps" apps::ReplicaSet,
            "batch" batch::Job, "batch" batch::CronJob,
            "networking.k8s.io" networking::Ingress, "networking.k8s.io" networking::IngressClass,
            "networking.k8s.io" networking::NetworkPolicy,
            "autoscaling" autoscaling::HorizontalPodAutoscaler,
            "policy" policy::PodDisruptionBudget,
            "rbac.authorization.k8s.io" rbac::Role, "rbac.authorization.k8s.io" rbac::RoleBinding,
            "rbac.authorization.k8s.io" rbac::ClusterRole,
            "rbac.authorization.k8s.io" rbac::ClusterRoleBinding,
            "storage.k8s.io" storage::StorageClass, "scheduling.k8s.io" scheduling::PriorityClass,
            "coordination.k8s.io" coordination::Lease,
            "apiextensions.k8s.io" apiext::CustomResourceDefinition,
        }
        tracer
    }

    #[test]
    fn table_is_what_k8s_openapi_reads() {
        let traced = trace_k8s_openapi().render();
        if std::env::var_os("UPDATE_FIELD_TABLE").is_some() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/validation/fields.txt");
            std::fs::write(&path, &traced).unwrap();
        }
        assert!(
            traced == TABLE,
            "fields.txt differs from what k8s-openapi's types read; regenerate it with \
             UPDATE_FIELD_TABLE=1 cargo test -p kube-sandbox table_is_what_k8s_openapi_reads"
        );
        let table = FieldTable::parse(TABLE).unwrap();
        assert_eq!(table.roots.len(), 31);
        assert_eq!(
            table.types["Deployment"]["spec"],
            Shape::Type("DeploymentSpec".into())
        );
        assert_eq!(
            table.types["PodSpec"]["containers"],
            Shape::List(Box::new(Shape::Type("Container".into())))
        );
        assert_eq!(
            table.types["ObjectMeta"]["labels"],
            Shape::Map(Box::new(Shape::Scalar))
        );
        assert_eq!(table.types["ManagedFieldsEntry"]["fieldsV1"], Shape::Any);
        assert_eq!(table.types[SCHEMA_PROPS]["items"], Shape::OrArray);
        assert_eq!(
            table.types[SCHEMA_PROPS]["additionalProperties"],
            Shape::OrBool
        );
    }

    #[test]
    fn the_table_parses_what_it_renders() {
        let table = FieldTable::parse(TABLE).unwrap();
        for fields in table.types.values() {
            for shape in fields.values() {
                let text = super::shape_text(shape);
                if let Some(text) = text {
                    assert_eq!(&super::parse_shape(&text).unwrap(), shape);
                }
            }
        }
        assert!(FieldTable::parse("Broken f:[x").is_err());
        assert!(FieldTable::parse("root apps").is_err());
    }

    /// Sets `zzUnknown` (and a null `zzNull`) in every object the table types, recursively.
    fn inject(table: &FieldTable, shape: &Shape, value: &mut Value) {
        match (shape, value) {
            (Shape::Type(ty), Value::Object(map)) => {
                let Some(fields) = table.types.get(ty) else {
                    return;
                };
                for (k, v) in map.iter_mut() {
                    if let Some(shape) = fields.get(k) {
                        inject(table, shape, v);
                    }
                }
                map.insert("zzUnknown".into(), json!("x"));
                map.insert("zzNull".into(), Value::Null);
            }
            (Shape::List(item), Value::Array(items)) => {
                for v in items {
                    inject(table, item, v);
                }
            }
            (Shape::Map(item), Value::Object(map)) => {
                for v in map.values_mut() {
                    inject(table, item, v);
                }
            }
            (Shape::OrBool | Shape::OrArray | Shape::OrStrings, v @ Value::Object(_)) => {
                inject(table, &Shape::Type(SCHEMA_PROPS.into()), v);
            }
            (Shape::OrArray, Value::Array(items)) => {
                for v in items {
                    inject(table, &Shape::Type(SCHEMA_PROPS.into()), v);
                }
            }
            _ => {}
        }
    }

    /// kube-prometheus' manifests (the corpus bundle, cloned), or `None` outside CI where the
    /// corpus is absent.
    fn corpus_objects() -> Option<Vec<Value>> {
        let dir = std::env::var_os("KUBECTL_GITOPS_CORPUS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
            });
        let bundle = dir.join("kube-prometheus.bundle");
        if !bundle.is_file() {
            assert!(
                std::env::var_os("CI").is_none(),
                "the corpus is missing at {}",
                dir.display()
            );
            eprintln!(
                "note: no corpus at {}; only the built-in samples are compared",
                dir.display()
            );
            return None;
        }
        let checkout = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("git")
            .args(["clone", "-q"])
            .arg(&bundle)
            .arg(checkout.path())
            .status()
            .unwrap();
        assert!(status.success(), "git clone {}", bundle.display());
        let mut objects = Vec::new();
        let mut dirs = vec![checkout.path().join("manifests")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    objects.extend(docs.into_iter().filter(Value::is_object));
                }
            }
        }
        Some(objects)
    }

    fn samples() -> Vec<Value> {
        vec![
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"a": "b"},
                    "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
                        "containers": [{"name": "a", "image": "a",
                            "resources": {"limits": {"cpu": "1", "memory": 1024}},
                            "ports": [{"containerPort": 80}],
                            "livenessProbe": {"httpGet": {"port": "http", "path": "/"}}}],
                        "volumes": [{"name": "v", "configMap": {"name": "c"}}]}}},
                "status": {"conditions": [{"type": "Available", "status": "True",
                    "lastUpdateTime": "2024-01-01T00:00:00Z"}]}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "data": {"k": "dmFsdWU="}, "stringData": {"x": "y"}, "type": "Opaque"}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"ports": [{"port": 80, "targetPort": "http"}]}}),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "crons.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "crons", "kind": "Cron"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                            "spec": {"type": "object", "additionalProperties": {"type": "string"},
                                "x-kubernetes-preserve-unknown-fields": true,
                                "default": {"a": {"b": 1}}},
                            "list": {"type": "array", "items": {"type": "string"}},
                            "tuple": {"type": "array", "items": [{"type": "string"}]},
                            "deps": {"type": "object", "dependencies": {
                                "a": ["b"], "c": {"type": "object"}}}}}}}]}}),
        ]
    }

    /// The walk finds exactly what the round trip finds, on kube-prometheus' manifests and on
    /// samples, as written and with unknown (and null) fields set in every typed object.
    #[test]
    fn walk_equals_round_trip() {
        let table = FieldTable::builtin();
        let mut objects = samples();
        objects.extend(corpus_objects().unwrap_or_default());
        let (mut compared, mut injected_found) = (0, 0);
        for obj in objects {
            let (group, kind) = group_kind(&obj);
            let Some(root) = table.roots.get(&(group.clone(), kind.clone())) else {
                assert!(
                    unknown_fields_round_trip(&group, &kind, &obj).is_none(),
                    "{kind}"
                );
                continue;
            };
            let mut with_unknown = obj.clone();
            inject(table, &Shape::Type(root.clone()), &mut with_unknown);
            for o in [&obj, &with_unknown] {
                let plain = unknown_fields_round_trip(&group, &kind, o).unwrap_or_else(|| {
                    panic!("{kind} {} does not fit its type", o["metadata"]["name"])
                });
                let walked = table.unknown_fields(&group, &kind, o).unwrap();
                assert_eq!(walked, plain, "{kind} {}", o["metadata"]["name"]);
                compared += 1;
            }
            injected_found += table
                .unknown_fields(&group, &kind, &with_unknown)
                .unwrap()
                .len();
        }
        eprintln!("{compared} objects compared, {injected_found} injected fields found");
        assert!(compared >= 8, "only {compared} objects compared");
        assert!(
            injected_found >= 20,
            "only {injected_found} injected fields found"
        );
    }

    fn group_kind(obj: &Value) -> (String, String) {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        (
            group.to_string(),
            obj["kind"].as_str().unwrap_or_default().to_string(),
        )
    }
}
