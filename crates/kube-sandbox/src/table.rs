//! `meta.k8s.io/v1` Table responses, what `kubectl get` asks for and prints.
//!
//! Columns and cells follow kubernetes v1.33 `pkg/printers/internalversion/printers.go`; CRDs'
//! `additionalPrinterColumns` follow `apiextensions-apiserver/pkg/registry/customresource/
//! tableconvertor`; kinds without a printer get the default convertor's Name / Created At;
//! ages are `apimachinery/pkg/util/duration.HumanDuration`.

use chrono::{DateTime, Utc};
use k8s_model::duration::human_duration;
use serde_json::{Value, json};

use super::kinds::KindInfo;
use super::selectors::match_expressions;

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One column definition: (name, type, priority, description).
type Col = (&'static str, &'static str, i64, &'static str);

/// A Table of `objects` with the kind's printer columns (`includeObject=Metadata` rows).
pub fn to_table(kind: &KindInfo, objects: &[&Value], resource_version: &str) -> Value {
    to_table_at(kind, objects, resource_version, Utc::now())
}

/// [`to_table`] with ages computed against `now`.
pub fn to_table_at(
    kind: &KindInfo,
    objects: &[&Value],
    resource_version: &str,
    now: DateTime<Utc>,
) -> Value {
    let cols = columns(kind);
    let defs: Vec<Value> = cols
        .iter()
        .map(|(name, typ, priority, desc)| {
            let format = if *name == "Name" { "name" } else { "" };
            column(name, typ, format, desc, *priority)
        })
        .collect();
    let rows = objects
        .iter()
        .map(|o| row(cells(kind, o, now), o))
        .collect();
    table(defs, rows, resource_version)
}

/// A Table for `kind` served by `crd` (the stored CustomResourceDefinition): the columns of
/// the CRD version `kind.version` (`additionalPrinterColumns`, else Name / Age). Without a CRD
/// it is [`to_table`].
pub fn to_table_with_crd(
    kind: &KindInfo,
    crd: Option<&Value>,
    objects: &[&Value],
    resource_version: &str,
) -> Value {
    let Some(crd) = crd else {
        return to_table(kind, objects, resource_version);
    };
    let columns: Vec<Value> = crd
        .get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(kind.version.as_str()))
        })
        .and_then(|v| v.get("additionalPrinterColumns"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    to_table_with_columns(&columns, objects, resource_version, Utc::now())
}

/// A Table for a custom resource with its CRD version's `additionalPrinterColumns` (an empty
/// slice gives the default Name / Age).
pub fn to_table_with_columns(
    printer_columns: &[Value],
    objects: &[&Value],
    resource_version: &str,
    now: DateTime<Utc>,
) -> Value {
    let default_age = [json!({"name": "Age", "type": "date",
        "jsonPath": ".metadata.creationTimestamp", "description": AGE_DESC})];
    let printer_columns = if printer_columns.is_empty() {
        &default_age[..]
    } else {
        printer_columns
    };
    let mut defs = vec![column("Name", "string", "name", NAME_DESC, 0)];
    for c in printer_columns {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let desc = c
            .get("description")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| {
                format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    s("jsonPath")
                )
            });
        defs.push(column(
            &s("name"),
            &s("type"),
            &s("format"),
            &desc,
            c.get("priority").and_then(Value::as_i64).unwrap_or(0),
        ));
    }
    let rows = objects
        .iter()
        .map(|o| {
            let mut cells = vec![json!(meta_str(o, "name"))];
            for c in printer_columns {
                let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or("");
                let typ = c.get("type").and_then(Value::as_str).unwrap_or("string");
                cells.push(match json_path(o, path) {
                    None => Value::Null,
                    Some(v) => typed_cell(typ, v, now),
                });
            }
            row(cells, o)
        })
        .collect();
    table(defs, rows, resource_version)
}

fn column(name: &str, typ: &str, format: &str, desc: &str, priority: i64) -> Value {
    json!({"name": name, "type": typ, "format": format, "description": desc,
        "priority": priority})
}

fn table(defs: Vec<Value>, rows: Vec<Value>, resource_version: &str) -> Value {
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": defs, "rows": rows})
}

/// A row with its `PartialObjectMetadata`.
fn row(cells: Vec<Value>, obj: &Value) -> Value {
    let metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({"cells": cells, "object": {"kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1", "metadata": metadata}})
}

/// A `cellForJSONValue` of the CRD table convertor.
fn typed_cell(typ: &str, v: &Value, now: DateTime<Utc>) -> Value {
    match typ {
        "date" => match v.as_str() {
            Some(s) => json!(age_of(Some(s), now)),
            None => Value::Null,
        },
        "integer" => v.as_i64().map(Value::from).unwrap_or(Value::Null),
        "number" => v.as_f64().map(Value::from).unwrap_or(Value::Null),
        "boolean" => v.as_bool().map(Value::from).unwrap_or(Value::Null),
        _ => match v {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

/// A simple JSONPath as CRD printer columns use (`.spec.replicas`, `.status.conditions[0]`,
/// `.status.conditions[?(@.type=="Ready")].status`).
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = obj;
    let mut rest = path.trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = &after[..end];
            rest = after[end + 1..].trim_start_matches('.');
            let arr = cur.as_array()?;
            if let Ok(i) = inner.parse::<usize>() {
                cur = arr.get(i)?;
            } else {
                // ?(@.key=="value")
                let cond = inner.strip_prefix("?(@.")?.strip_suffix(')')?;
                let (key, value) = cond.split_once("==")?;
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = arr
                    .iter()
                    .find(|e| e.get(key.trim()).and_then(Value::as_str) == Some(value))?;
            }
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        cur = cur.get(&rest[..end])?;
        rest = rest[end..].trim_start_matches('.');
    }
    Some(cur)
}

/// `translateTimestampSince`: `<unknown>` for a missing time.
fn age_of(ts: Option<&str>, now: DateTime<Utc>) -> String {
    match ts.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => human_duration((now - t.with_timezone(&Utc)).num_seconds()),
        None => "<unknown>".into(),
    }
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn get<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = obj;
    for p in path {
        cur = cur.get(*p)?;
    }
    Some(cur)
}

fn int(obj: &Value, path: &[&str]) -> i64 {
    get(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

fn string(obj: &Value, path: &[&str]) -> String {
    get(obj, path)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn count(obj: &Value, path: &[&str]) -> i64 {
    match get(obj, path) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// `metav1.FormatLabelSelector`: `app=web,tier in (a,b)`, `<none>` when empty.
fn format_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return "<none>".into();
    };
    let mut parts = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut keys: Vec<&String> = ml.keys().collect();
        keys.sort();
        for k in keys {
            parts.push(format!("{k}={}", ml[k].as_str().unwrap_or("")));
        }
    }
    for e in match_expressions(sel) {
        let key = e.key;
        let mut values = e.values;
        values.sort();
        let vs = values.join(",");
        parts.push(match e.operator {
            "In" => format!("{key} in ({vs})"),
            "NotIn" => format!("{key} notin ({vs})"),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            op => format!("{key} {op} ({vs})"),
        });
    }
    or_none(parts.join(","))
}

/// `labels.FormatLabels` of a plain map (Service selectors, node selectors).
fn format_map(m: Option<&Value>) -> String {
    let Some(m) = m.and_then(Value::as_object) else {
        return "<none>".into();
    };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}={}", m[*k].as_str().unwrap_or("")))
        .collect();
    or_none(parts.join(","))
}

/// Container names and images of a pod spec, comma-joined (`layoutContainerCells`).
fn containers_images(pod_spec: Option<&Value>) -> (String, String) {
    let list = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let names: Vec<&str> = list
        .into_iter()
        .flatten()
        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or(""))
        .collect();
    let images: Vec<&str> = list
        .into_iter()
        .flatten()
        .map(|c| c.get("image").and_then(Value::as_str).unwrap_or(""))
        .collect();
    (names.join(","), images.join(","))
}

fn columns(kind: &KindInfo) -> Vec<Col> {
    const NAME: Col = ("Name", "string", 0, NAME_DESC);
    const AGE: Col = ("Age", "string", 0, AGE_DESC);
    let c =
        |name: &'static str, typ: &'static str, priority: i64| -> Col { (name, typ, priority, "") };
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Namespace") => vec![NAME, c("Status", "string", 0), AGE],
        ("", "ConfigMap") => vec![NAME, c("Data", "string", 0), AGE],
        ("", "Secret") => vec![NAME, c("Type", "string", 0), c("Data", "string", 0), AGE],
        ("", "Service") => vec![
            NAME,
            c("Type", "string", 0),
            c("Cluster-IP", "string", 0),
            c("External-IP", "string", 0),
            c("Port(s)", "string", 0),
            AGE,
            c("Selector", "string", 1),
        ],
        ("", "ServiceAccount") => vec![NAME, c("Secrets", "string", 0), AGE],
        ("", "Pod") => vec![
            NAME,
            c("Ready", "string", 0),
            c("Status", "string", 0),
            c("Restarts", "string", 0),
            AGE,
            c("IP", "string", 1),
            c("Node", "string", 1),
            c("Nominated Node", "string", 1),
            c("Readiness Gates", "string", 1),
        ],
        ("", "PersistentVolumeClaim") => vec![
            NAME,
            c("Status", "string", 0),
            c("Volume", "string", 0),
            c("Capacity", "string", 0),
            c("Access Modes", "string", 0),
            c("StorageClass", "string", 0),
            c("VolumeAttributesClass", "string", 0),
            AGE,
            c("VolumeMode", "string", 1),
        ],
        ("", "Endpoints") => vec![NAME, c("Endpoints", "string", 0), AGE],
        ("", "ResourceQuota") => vec![
            NAME,
            AGE,
            c("Request", "string", 0),
            c("Limit", "string", 0),
        ],
        ("apps", "Deployment") => vec![
            NAME,
            c("Ready", "string", 0),
            c("Up-to-date", "string", 0),
            c("Available", "string", 0),
            AGE,
            c("Containers", "string", 1),
            c("Images", "string", 1),
            c("Selector", "string", 1),
        ],
        ("apps", "StatefulSet") => vec![
            NAME,
            c("Ready", "string", 0),
            AGE,
            c("Containers", "string", 1),
            c("Images", "string", 1),
        ],
        ("apps", "DaemonSet") => vec![
            NAME,
            c("Desired", "integer", 0),
            c("Current", "integer", 0),
            c("Ready", "integer", 0),
            c("Up-to-date", "integer", 0),
            c("Available", "integer", 0),
            c("Node Selector", "string", 0),
            AGE,
            c("Containers", "string", 1),
            c("Images", "string", 1),
            c("Selector", "string", 1),
        ],
        ("apps", "ReplicaSet") => vec![
            NAME,
            c("Desired", "integer", 0),
            c("Current", "integer", 0),
            c("Ready", "integer", 0),
            AGE,
            c("Containers", "string", 1),
            c("Images", "string", 1),
            c("Selector", "string", 1),
        ],
        ("batch", "Job") => vec![
            NAME,
            c("Status", "string", 0),
            c("Completions", "string", 0),
            c("Duration", "string", 0),
            AGE,
            c("Containers", "string", 1),
            c("Images", "string", 1),
            c("Selector", "string", 1),
        ],
        ("batch", "CronJob") => vec![
            NAME,
            c("Schedule", "string", 0),
            c("Timezone", "string", 0),
            c("Suspend", "boolean", 0),
            c("Active", "integer", 0),
            c("Last Schedule", "string", 0),
            AGE,
            c("Containers", "string", 1),
            c("Images", "string", 1),
            c("Selector", "string", 1),
        ],
        ("networking.k8s.io", "Ingress") => vec![
            NAME,
            c("Class", "string", 0),
            c("Hosts", "string", 0),
            c("Address", "string", 0),
            c("Ports", "string", 0),
            AGE,
        ],
        ("networking.k8s.io", "IngressClass") => vec![
            NAME,
            c("Controller", "string", 0),
            c("Parameters", "string", 0),
            AGE,
        ],
        ("networking.k8s.io", "NetworkPolicy") => {
            vec![NAME, c("Pod-Selector", "string", 0), AGE]
        }
        ("autoscaling", "HorizontalPodAutoscaler") => vec![
            NAME,
            c("Reference", "string", 0),
            c("Targets", "string", 0),
            c("MinPods", "string", 0),
            c("MaxPods", "string", 0),
            c("Replicas", "string", 0),
            AGE,
        ],
        ("policy", "PodDisruptionBudget") => vec![
            NAME,
            c("Min Available", "string", 0),
            c("Max Unavailable", "string", 0),
            c("Allowed Disruptions", "integer", 0),
            AGE,
        ],
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            vec![NAME, c("Created At", "date", 0)]
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            NAME,
            c("Role", "string", 0),
            AGE,
            c("Users", "string", 1),
            c("Groups", "string", 1),
            c("ServiceAccounts", "string", 1),
        ],
        ("storage.k8s.io", "StorageClass") => vec![
            NAME,
            c("Provisioner", "string", 0),
            c("ReclaimPolicy", "string", 0),
            c("VolumeBindingMode", "string", 0),
            c("AllowVolumeExpansion", "string", 0),
            AGE,
        ],
        ("scheduling.k8s.io", "PriorityClass") => vec![
            NAME,
            c("Value", "integer", 0),
            c("Global-Default", "boolean", 0),
            AGE,
            c("PreemptionPolicy", "string", 0),
        ],
        ("coordination.k8s.io", "Lease") => vec![NAME, c("Holder", "string", 0), AGE],
        // Kinds without a printer get the default table convertor.
        ("apiextensions.k8s.io", _) | ("", "LimitRange") => {
            vec![NAME, c("Created At", "date", 0)]
        }
        _ => vec![NAME, AGE],
    }
}

fn cells(kind: &KindInfo, o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(meta_str(o, "name"));
    let created = get(o, &["metadata", "creationTimestamp"]).and_then(Value::as_str);
    let age = json!(age_of(created, now));
    let created_at = json!(created.unwrap_or("<unknown>"));
    let template_spec = get(o, &["spec", "template", "spec"]);
    let (containers, images) = containers_images(template_spec);
    let selector = format_selector(get(o, &["spec", "selector"]));
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Namespace") => vec![name, json!(string(o, &["status", "phase"])), age],
        ("", "ConfigMap") => {
            vec![
                name,
                json!(count(o, &["data"]) + count(o, &["binaryData"])),
                age,
            ]
        }
        ("", "Secret") => vec![
            name,
            json!(string(o, &["type"])),
            json!(count(o, &["data"])),
            age,
        ],
        ("", "Service") => service_cells(o, name, age),
        ("", "ServiceAccount") => vec![name, json!(count(o, &["secrets"])), age],
        ("", "Pod") => pod_cells(o, name, age),
        ("", "PersistentVolumeClaim") => {
            let modes: Vec<String> = get(o, &["status", "accessModes"])
                .or_else(|| get(o, &["spec", "accessModes"]))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|m| {
                    match m {
                        "ReadWriteOnce" => "RWO",
                        "ReadOnlyMany" => "ROX",
                        "ReadWriteMany" => "RWX",
                        "ReadWriteOncePod" => "RWOP",
                        other => other,
                    }
                    .to_string()
                })
                .collect();
            let bound = !string(o, &["spec", "volumeName"]).is_empty();
            let capacity = if bound {
                string(o, &["status", "capacity", "storage"])
            } else {
                String::new()
            };
            vec![
                name,
                json!(string(o, &["status", "phase"])),
                json!(string(o, &["spec", "volumeName"])),
                json!(capacity),
                json!(if bound {
                    modes.join(",")
                } else {
                    String::new()
                }),
                json!(string(o, &["spec", "storageClassName"])),
                json!(or_none(string(o, &["spec", "volumeAttributesClassName"]))),
                age,
                json!(string(o, &["spec", "volumeMode"])),
            ]
        }
        ("", "Endpoints") => {
            let mut eps = Vec::new();
            for s in get(o, &["subsets"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for a in s
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ip = a.get("ip").and_then(Value::as_str).unwrap_or("");
                    for p in s
                        .get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        eps.push(format!(
                            "{ip}:{}",
                            p.get("port").and_then(Value::as_i64).unwrap_or(0)
                        ));
                    }
                }
            }
            vec![name, json!(or_none(eps.join(","))), age]
        }
        ("", "ResourceQuota") => vec![name, age, json!(""), json!("")],
        ("apps", "Deployment") => vec![
            name,
            json!(format!(
                "{}/{}",
                int(o, &["status", "readyReplicas"]),
                int(o, &["spec", "replicas"])
            )),
            json!(int(o, &["status", "updatedReplicas"])),
            json!(int(o, &["status", "availableReplicas"])),
            age,
            json!(containers),
            json!(images),
            json!(selector),
        ],
        ("apps", "StatefulSet") => vec![
            name,
            json!(format!(
                "{}/{}",
                int(o, &["status", "readyReplicas"]),
                int(o, &["spec", "replicas"])
            )),
            age,
            json!(containers),
            json!(images),
        ],
        ("apps", "DaemonSet") => vec![
            name,
            json!(int(o, &["status", "desiredNumberScheduled"])),
            json!(int(o, &["status", "currentNumberScheduled"])),
            json!(int(o, &["status", "numberReady"])),
            json!(int(o, &["status", "updatedNumberScheduled"])),
            json!(int(o, &["status", "numberAvailable"])),
            json!(format_map(get(
                o,
                &["spec", "template", "spec", "nodeSelector"]
            ))),
            age,
            json!(containers),
            json!(images),
            json!(selector),
        ],
        ("apps", "ReplicaSet") => vec![
            name,
            json!(int(o, &["spec", "replicas"])),
            json!(int(o, &["status", "replicas"])),
            json!(int(o, &["status", "readyReplicas"])),
            age,
            json!(containers),
            json!(images),
            json!(selector),
        ],
        ("batch", "Job") => job_cells(o, name, age, now, containers, images, selector),
        ("batch", "CronJob") => {
            let (containers, images) =
                containers_images(get(o, &["spec", "jobTemplate", "spec", "template", "spec"]));
            let last = get(o, &["status", "lastScheduleTime"]).and_then(Value::as_str);
            vec![
                name,
                json!(string(o, &["spec", "schedule"])),
                json!(or_none(string(o, &["spec", "timeZone"]))),
                // printBoolPtr
                json!(
                    match get(o, &["spec", "suspend"]).and_then(Value::as_bool) {
                        Some(true) => "True",
                        Some(false) => "False",
                        None => "<unset>",
                    }
                ),
                json!(count(o, &["status", "active"])),
                json!(if last.is_some() {
                    age_of(last, now)
                } else {
                    "<none>".into()
                }),
                age,
                json!(containers),
                json!(images),
                json!(format_selector(get(
                    o,
                    &["spec", "jobTemplate", "spec", "selector"]
                ))),
            ]
        }
        ("networking.k8s.io", "Ingress") => {
            // formatHosts: at most three hosts, then "+ N more...".
            let rules = get(o, &["spec", "rules"])
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let shown: Vec<&str> = rules
                .iter()
                .filter_map(|r| r.get("host").and_then(Value::as_str))
                .filter(|h| !h.is_empty())
                .take(3)
                .collect();
            let more = rules.len() > 3 && shown.len() == 3;
            let hosts = if shown.is_empty() {
                "*".to_string()
            } else if more {
                format!("{} + {} more...", shown.join(","), rules.len() - 3)
            } else {
                shown.join(",")
            };
            let address: Vec<String> = get(o, &["status", "loadBalancer", "ingress"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                })
                .map(String::from)
                .collect();
            let tls = count(o, &["spec", "tls"]) > 0;
            vec![
                name,
                json!(or_none(string(o, &["spec", "ingressClassName"]))),
                json!(hosts),
                json!(address.join(",")),
                json!(if tls { "80, 443" } else { "80" }),
                age,
            ]
        }
        ("networking.k8s.io", "IngressClass") => vec![
            name,
            json!(string(o, &["spec", "controller"])),
            json!("<none>"),
            age,
        ],
        ("networking.k8s.io", "NetworkPolicy") => vec![
            name,
            json!(format_selector(get(o, &["spec", "podSelector"]))),
            age,
        ],
        ("autoscaling", "HorizontalPodAutoscaler") => {
            let target = format!(
                "{}/{}",
                string(o, &["spec", "scaleTargetRef", "kind"]),
                string(o, &["spec", "scaleTargetRef", "name"])
            );
            let min = get(o, &["spec", "minReplicas"])
                .and_then(Value::as_i64)
                .map_or("<unset>".to_string(), |m| m.to_string());
            vec![
                name,
                json!(target),
                json!("<unknown>"),
                json!(min),
                json!(int(o, &["spec", "maxReplicas"])),
                json!(int(o, &["status", "currentReplicas"])),
                age,
            ]
        }
        ("policy", "PodDisruptionBudget") => {
            let show = |k: &str| {
                get(o, &["spec", k]).map_or("N/A".to_string(), |v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            };
            vec![
                name,
                json!(show("minAvailable")),
                json!(show("maxUnavailable")),
                json!(int(o, &["status", "disruptionsAllowed"])),
                age,
            ]
        }
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => vec![name, created_at],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            let role = format!(
                "{}/{}",
                string(o, &["roleRef", "kind"]),
                string(o, &["roleRef", "name"])
            );
            let subjects = |k: &str| {
                let list: Vec<String> = get(o, &["subjects"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|s| s.get("kind").and_then(Value::as_str) == Some(k))
                    .map(|s| {
                        let n = s.get("name").and_then(Value::as_str).unwrap_or("");
                        match s.get("namespace").and_then(Value::as_str) {
                            Some(ns) if k == "ServiceAccount" => format!("{ns}/{n}"),
                            _ => n.to_string(),
                        }
                    })
                    .collect();
                json!(list.join(", "))
            };
            vec![
                name,
                json!(role),
                age,
                subjects("User"),
                subjects("Group"),
                subjects("ServiceAccount"),
            ]
        }
        ("storage.k8s.io", "StorageClass") => {
            let mut n = meta_str(o, "name").to_string();
            let default = get(
                o,
                &[
                    "metadata",
                    "annotations",
                    "storageclass.kubernetes.io/is-default-class",
                ],
            )
            .and_then(Value::as_str)
                == Some("true");
            if default {
                n.push_str(" (default)");
            }
            vec![
                json!(n),
                json!(string(o, &["provisioner"])),
                json!(or_default(string(o, &["reclaimPolicy"]), "Delete")),
                json!(or_default(string(o, &["volumeBindingMode"]), "Immediate")),
                json!(
                    get(o, &["allowVolumeExpansion"])
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string()
                ),
                age,
            ]
        }
        ("scheduling.k8s.io", "PriorityClass") => vec![
            name,
            json!(int(o, &["value"])),
            json!(
                get(o, &["globalDefault"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            age,
            json!(or_default(
                string(o, &["preemptionPolicy"]),
                "PreemptLowerPriority"
            )),
        ],
        ("coordination.k8s.io", "Lease") => {
            vec![name, json!(string(o, &["spec", "holderIdentity"])), age]
        }
        ("apiextensions.k8s.io", _) | ("", "LimitRange") => vec![name, created_at],
        _ => vec![name, age],
    }
}

fn or_default(s: String, default: &str) -> String {
    if s.is_empty() { default.into() } else { s }
}

/// `printService`.
fn service_cells(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let svc_type = string(o, &["spec", "type"]);
    let cluster_ip = get(o, &["spec", "clusterIPs"])
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| "<none>".into());
    let external_ips: Vec<String> = get(o, &["spec", "externalIPs"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    let external = match svc_type.as_str() {
        "ClusterIP" | "NodePort" => or_none(external_ips.join(",")),
        "ExternalName" => string(o, &["spec", "externalName"]),
        "LoadBalancer" => {
            let mut ips: Vec<String> = get(o, &["status", "loadBalancer", "ingress"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                })
                .map(String::from)
                .collect();
            ips.extend(external_ips);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = get(o, &["spec", "ports"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(np) => format!("{port}:{np}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect();
    vec![
        name,
        json!(svc_type),
        json!(cluster_ip),
        json!(external),
        json!(or_none(ports.join(","))),
        age,
        json!(format_map(get(o, &["spec", "selector"]))),
    ]
}

/// `printPod` (the parts the sandbox can know: no kubelet restarts).
fn pod_cells(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let total = count(o, &["spec", "containers"]);
    let statuses = get(o, &["status", "containerStatuses"]).and_then(Value::as_array);
    let ready = statuses
        .into_iter()
        .flatten()
        .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
        .sum();
    let reason = get(o, &["status", "reason"])
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| string(o, &["status", "phase"]));
    let gates = count(o, &["spec", "readinessGates"]);
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        age,
        json!(or_none(
            get(o, &["status", "podIPs"])
                .and_then(|ips| ips.get(0))
                .and_then(|ip| ip.get("ip"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        )),
        json!(or_none(string(o, &["spec", "nodeName"]))),
        json!(or_none(string(o, &["status", "nominatedNodeName"]))),
        json!(if gates == 0 {
            "<none>".to_string()
        } else {
            format!("0/{gates}")
        }),
    ]
}

/// `printJob` (1.33, with the Status column).
fn job_cells(
    o: &Value,
    name: Value,
    age: Value,
    now: DateTime<Utc>,
    containers: String,
    images: String,
    selector: String,
) -> Vec<Value> {
    let completions = match get(o, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(c) => format!("{}/{c}", int(o, &["status", "succeeded"])),
        None => {
            let parallelism = int(o, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{}/1 of {parallelism}", int(o, &["status", "succeeded"]))
            } else {
                format!("{}/1", int(o, &["status", "succeeded"]))
            }
        }
    };
    let has = |t: &str| {
        get(o, &["status", "conditions"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
            .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
    };
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if get(o, &["metadata", "deletionTimestamp"]).is_some_and(|d| !d.is_null()) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let parse = |k: &str| {
        get(o, &["status", k])
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let duration = match (parse("startTime"), parse("completionTime")) {
        (Some(start), Some(end)) => human_duration((end - start).num_seconds()),
        (Some(start), None) => human_duration((now - start).num_seconds()),
        _ => String::new(),
    };
    vec![
        name,
        json!(status),
        json!(completions),
        json!(duration),
        age,
        json!(containers),
        json!(images),
        json!(selector),
    ]
}

/// Column names of a Table, upper-cased as kubectl prints them (used by tests and callers that
/// print tables themselves).
pub fn headers(table: &Value) -> Vec<String> {
    table
        .get("columnDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("priority").and_then(Value::as_i64) == Some(0))
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .map(str::to_uppercase)
        .collect()
}

/// The cells of row `i`, for tests and callers.
pub fn row_cells(table: &Value, i: usize) -> Option<&Vec<Value>> {
    table.get("rows")?.get(i)?.get("cells")?.as_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_named as kind;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn created(seconds_ago: i64) -> String {
        (now() - chrono::Duration::seconds(seconds_ago))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    // Cases from apimachinery/pkg/util/duration/duration_test.go (TestHumanDuration).
    #[test]
    fn table_shape_and_partial_object_metadata() {
        let cm = json!({"metadata": {"name": "app", "namespace": "default",
            "creationTimestamp": created(5), "resourceVersion": "7"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        let t = to_table_at(&kind("ConfigMap"), &[&cm], "42", now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"]["resourceVersion"], "42");
        assert_eq!(headers(&t), ["NAME", "DATA", "AGE"]);
        assert_eq!(
            row_cells(&t, 0).unwrap(),
            &vec![json!("app"), json!(3), json!("5s")]
        );
        let object = &t["rows"][0]["object"];
        assert_eq!(object["kind"], "PartialObjectMetadata");
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(object["metadata"]["resourceVersion"], "7");
        let def = &t["columnDefinitions"][0];
        let keys: Vec<&String> = def.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "type", "format", "description", "priority"]);
        assert_eq!(def["format"], "name");
    }

    // (kind, object, headers, cells) as `kubectl get` prints them from a 1.33 server.
    #[test]
    fn printer_columns_per_kind() {
        let cases = vec![
            (
                "Deployment",
                json!({"metadata": {"name": "web", "creationTimestamp": created(182)},
                    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
                    "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
                vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                vec![
                    json!("web"),
                    json!("2/3"),
                    json!(3),
                    json!(2),
                    json!("3m2s"),
                    json!("web"),
                    json!("nginx:1.27"),
                    json!("app=web"),
                ],
            ),
            (
                "Secret",
                json!({"metadata": {"name": "s", "creationTimestamp": created(3 * 86400)},
                    "type": "Opaque", "data": {"a": "YQ=="}}),
                vec!["NAME", "TYPE", "DATA", "AGE"],
                vec![json!("s"), json!("Opaque"), json!(1), json!("3d")],
            ),
            (
                "Service",
                json!({"metadata": {"name": "web", "creationTimestamp": created(60)},
                    "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"],
                        "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                            {"port": 53, "protocol": "UDP"}],
                        "selector": {"app": "web"}}}),
                vec![
                    "NAME",
                    "TYPE",
                    "CLUSTER-IP",
                    "EXTERNAL-IP",
                    "PORT(S)",
                    "AGE",
                ],
                vec![
                    json!("web"),
                    json!("NodePort"),
                    json!("10.96.0.10"),
                    json!("<none>"),
                    json!("80:30080/TCP,53/UDP"),
                    json!("60s"),
                    json!("app=web"),
                ],
            ),
            (
                "Service",
                json!({"metadata": {"name": "lb", "creationTimestamp": created(1)},
                    "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"], "ports": []}}),
                vec![
                    "NAME",
                    "TYPE",
                    "CLUSTER-IP",
                    "EXTERNAL-IP",
                    "PORT(S)",
                    "AGE",
                ],
                vec![
                    json!("lb"),
                    json!("LoadBalancer"),
                    json!("10.96.0.11"),
                    json!("<pending>"),
                    json!("<none>"),
                    json!("1s"),
                    json!("<none>"),
                ],
            ),
            (
                "Namespace",
                json!({"metadata": {"name": "team", "creationTimestamp": created(7200)},
                    "status": {"phase": "Active"}}),
                vec!["NAME", "STATUS", "AGE"],
                vec![json!("team"), json!("Active"), json!("120m")],
            ),
            (
                "Job",
                json!({"metadata": {"name": "pi", "creationTimestamp": created(30)},
                    "spec": {"completions": 1, "template": {"spec": {"containers": []}}},
                    "status": {"succeeded": 1, "startTime": created(30), "completionTime": created(20),
                        "conditions": [{"type": "Complete", "status": "True"}]}}),
                vec!["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
                vec![
                    json!("pi"),
                    json!("Complete"),
                    json!("1/1"),
                    json!("10s"),
                    json!("30s"),
                    json!(""),
                    json!(""),
                    json!("<none>"),
                ],
            ),
            (
                "StatefulSet",
                json!({"metadata": {"name": "db"}, "spec": {"replicas": 1}}),
                vec!["NAME", "READY", "AGE"],
                vec![
                    json!("db"),
                    json!("0/1"),
                    json!("<unknown>"),
                    json!(""),
                    json!(""),
                ],
            ),
            (
                "CronJob",
                json!({"metadata": {"name": "nightly", "creationTimestamp": created(600)},
                    "spec": {"schedule": "0 3 * * *", "suspend": false,
                        "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                            {"name": "backup", "image": "busybox:1.36"}]}}}}}}),
                vec![
                    "NAME",
                    "SCHEDULE",
                    "TIMEZONE",
                    "SUSPEND",
                    "ACTIVE",
                    "LAST SCHEDULE",
                    "AGE",
                ],
                vec![
                    json!("nightly"),
                    json!("0 3 * * *"),
                    json!("<none>"),
                    json!("False"),
                    json!(0),
                    json!("<none>"),
                    json!("10m"),
                    json!("backup"),
                    json!("busybox:1.36"),
                    json!("<none>"),
                ],
            ),
            (
                "Ingress",
                json!({"metadata": {"name": "web", "creationTimestamp": created(59)},
                    "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example"]}],
                        "rules": [{"host": "a.example"}, {"host": "b.example"},
                            {"host": "c.example"}, {"host": "d.example"}]}}),
                vec!["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
                vec![
                    json!("web"),
                    json!("nginx"),
                    json!("a.example,b.example,c.example + 1 more..."),
                    json!(""),
                    json!("80, 443"),
                    json!("59s"),
                ],
            ),
            (
                "CustomResourceDefinition",
                json!({"metadata": {"name": "widgets.example.com",
                    "creationTimestamp": "2026-01-01T00:00:00Z"}}),
                vec!["NAME", "CREATED AT"],
                vec![json!("widgets.example.com"), json!("2026-01-01T00:00:00Z")],
            ),
        ];
        for (k, obj, want_headers, want_cells) in cases {
            let t = to_table_at(&kind(k), &[&obj], "1", now());
            assert_eq!(headers(&t), want_headers, "{k}");
            assert_eq!(row_cells(&t, 0).unwrap(), &want_cells, "{k}");
        }
    }

    #[test]
    fn crd_columns_come_from_the_served_version() {
        let crd = json!({"spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false},
                {"name": "v1", "served": true, "storage": true,
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]}]}});
        let kind = crate::kinds::kind_from_crd(&crd).unwrap();
        let w = json!({"metadata": {"name": "gear"}, "spec": {"size": 3}});
        let t = to_table_with_crd(&kind, Some(&crd), &[&w], "1");
        assert_eq!(headers(&t), ["NAME", "SIZE"]);
        assert_eq!(row_cells(&t, 0).unwrap(), &vec![json!("gear"), json!(3)]);
        let plain = to_table_with_crd(&kind, None, &[&w], "1");
        assert_eq!(headers(&plain), ["NAME", "AGE"]);
    }

    #[test]
    fn custom_resource_columns() {
        let w = json!({"metadata": {"name": "w1", "creationTimestamp": created(90)},
            "spec": {"size": 3},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let plain = to_table_with_columns(&[], &[&w], "5", now());
        assert_eq!(headers(&plain), ["NAME", "AGE"]);
        assert_eq!(
            row_cells(&plain, 0).unwrap(),
            &vec![json!("w1"), json!("90s")]
        );
        let cols = [
            json!({"name": "Size", "type": "integer", "jsonPath": ".spec.size"}),
            json!({"name": "Ready", "type": "string",
                "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
            json!({"name": "Missing", "type": "string", "jsonPath": ".spec.nothing"}),
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        ];
        let t = to_table_with_columns(&cols, &[&w], "5", now());
        assert_eq!(headers(&t), ["NAME", "SIZE", "READY", "MISSING", "AGE"]);
        assert_eq!(
            row_cells(&t, 0).unwrap(),
            &vec![
                json!("w1"),
                json!(3),
                json!("True"),
                Value::Null,
                json!("90s")
            ]
        );
    }
}
