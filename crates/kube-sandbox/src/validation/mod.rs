//! Validation that answers 422 Invalid (and strict field validation), as kube-apiserver does.
//!
//! Messages follow kubernetes v1.33: `apimachinery/pkg/util/validation` (name and label
//! syntax, `RegexError`), `apimachinery/pkg/util/validation/field/errors.go` (`ErrorBody`),
//! `apimachinery/pkg/api/validation` (ObjectMeta), `pkg/apis/core/validation`,
//! `pkg/apis/apps/validation`, `pkg/apis/batch/validation`.

use serde_json::{Map, Value};

use super::kinds::KindInfo;
use k8s_model::names::{NameRule, config_key, label_value, qualified_name};

mod fields;
mod other_kinds;
mod pod;
mod schema;
mod service;
mod unknown;
mod update;
mod workloads;

use other_kinds::{
    validate_binding, validate_config_map, validate_crd_name, validate_ingress,
    validate_role_rules, validate_secret_type,
};
use pod::validate_pod_spec;
pub use schema::validate_with_schema;
use service::validate_service;
pub use unknown::{unknown_fields, unknown_fields_round_trip, unknown_fields_with_schema};
use update::validate_update;
pub use workloads::selector_matches;
use workloads::{
    validate_apps_workload, validate_cron_job, validate_job_spec, validate_selected_template,
};

/// One invalid field, as in `Status.details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueForbidden`…
    pub reason: String,
    /// Dotted field path, e.g. `metadata.name`, `spec.template.spec.containers[0].image`.
    pub field: String,
    /// The message part after the field, e.g. `Invalid value: "Web": a lowercase RFC 1123 …`.
    pub message: String,
}

impl FieldError {
    /// `field: message`, the line kube prints for one cause.
    pub fn to_line(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

/// Collects field errors with kube's message shapes (`field.ErrorBody`).
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, reason: &str, field: &str, message: String) {
        self.0.push(FieldError {
            reason: reason.into(),
            field: field.into(),
            message,
        });
    }

    fn required(&mut self, field: &str, detail: &str) {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        self.push("FieldValueRequired", field, message);
    }

    /// `bad` is the bad value already formatted as Go's ErrorBody prints it.
    fn invalid(&mut self, field: &str, bad: &str, detail: &str) {
        self.push(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {bad}: {detail}"),
        );
    }

    fn unsupported(&mut self, field: &str, bad: &str, supported: &[&str]) {
        let list: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
        self.push(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {}: supported values: {}",
                go_quote(bad),
                list.join(", ")
            ),
        );
    }

    fn forbidden(&mut self, field: &str, detail: &str) {
        self.push("FieldValueForbidden", field, format!("Forbidden: {detail}"));
    }

    fn duplicate(&mut self, field: &str, bad: &str) {
        self.push(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {}", go_quote(bad)),
        );
    }
}

/// Go's `%q` of a string (close enough: JSON escaping agrees for printable text).
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Go's `%#v` of a `map[string]string` (keys sorted, as fmt prints maps).
fn go_string_map(m: Option<&Map<String, Value>>) -> String {
    let Some(m) = m else {
        return "map[string]string(nil)".into();
    };
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v.as_str().unwrap_or(""))))
        .collect();
    format!("map[string]string{{{}}}", body.join(", "))
}

/// Go's `%#v` of a `[]string`.
fn go_string_slice(v: Option<&Value>) -> String {
    let items: Vec<String> = v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| go_quote(s.as_str().unwrap_or("")))
        .collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// Go's `%#v` of a `v1.LabelSelector`, as immutable-selector errors print it.
fn go_label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return "null".into();
    };
    let labels = match sel.get("matchLabels").and_then(Value::as_object) {
        Some(m) => go_string_map(Some(m)),
        None => "map[string]string(nil)".into(),
    };
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    let values = match e.get("values").and_then(Value::as_array) {
                        Some(vs) => format!(
                            "[]string{{{}}}",
                            vs.iter()
                                .map(|v| go_quote(v.as_str().unwrap_or("")))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None => "[]string(nil)".into(),
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(e.get("key").and_then(Value::as_str).unwrap_or("")),
                        go_quote(e.get("operator").and_then(Value::as_str).unwrap_or("")),
                        values
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
        None => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// A bad value as `ErrorBody` prints simple values: strings quoted, numbers and bools bare.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Null => "null".into(),
        Value::Number(_) | Value::Bool(_) => v.to_string(),
        other => other.to_string(),
    }
}

/// The name rule of a kind: Namespace a DNS-1123 label, Service a DNS-1035 label, RBAC a path
/// segment, everything else (CRDs' kinds included) a DNS-1123 subdomain.
fn name_messages(kind: &KindInfo, name: &str) -> Vec<String> {
    NameRule::of(&kind.group, &kind.kind).check(name)
}

// ---------------------------------------------------------------------------------------------
// validate

/// Errors of `obj` (after defaulting). `old` is the stored object on updates (immutability).
pub fn validate(kind: &KindInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Errors::default();
    validate_meta(kind, obj, &mut errs);
    validate_kind(kind, obj, &mut errs);
    if let Some(old) = old {
        validate_update(kind, obj, old, &mut errs);
    }
    errs.0
}

/// The rules of the kind itself, after those of its metadata.
fn validate_kind(kind: &KindInfo, obj: &Value, errs: &mut Errors) {
    let spec = obj.get("spec");
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("apps", "Deployment") | ("apps", "ReplicaSet") | ("apps", "StatefulSet") => {
            validate_apps_workload(kind, spec, errs);
        }
        ("apps", "DaemonSet") => {
            validate_selected_template(spec, "daemonset", &["Always"], errs);
        }
        ("batch", "Job") => validate_job_spec(spec, "spec", errs),
        ("batch", "CronJob") => validate_cron_job(spec, errs),
        ("", "Pod") => match spec {
            Some(s) => validate_pod_spec(s, "spec", Some(&["Always", "OnFailure", "Never"]), errs),
            None => errs.required("spec.containers", ""),
        },
        ("", "Service") => validate_service(spec, errs),
        ("", "ConfigMap") => validate_config_map(obj, errs),
        ("", "Secret") => {
            validate_data_keys(obj, "data", errs);
            validate_secret_type(obj, errs);
        }
        ("networking.k8s.io", "Ingress") => validate_ingress(spec, errs),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            validate_binding(kind, obj, errs);
        }
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => validate_role_rules(obj, errs),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            validate_crd_name(obj, spec, errs);
        }
        _ => {}
    }
}

/// `ValidateObjectMeta`: name, labels, annotations.
fn validate_meta(kind: &KindInfo, obj: &Value, errs: &mut Errors) {
    let meta = obj.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
    match name {
        None | Some("") => {
            errs.required("metadata.name", "name or generateName is required");
        }
        Some(name) => {
            for msg in name_messages(kind, name) {
                errs.invalid("metadata.name", &go_quote(name), &msg);
            }
        }
    }
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        validate_labels(labels, "metadata.labels", errs);
    }
    if let Some(annotations) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let mut total = 0usize;
        for (k, v) in annotations {
            for msg in qualified_name(&k.to_ascii_lowercase()) {
                errs.invalid("metadata.annotations", &go_quote(k), &msg);
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errs.push(
                "FieldValueTooLong",
                "metadata.annotations",
                format!("Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
            );
        }
    }
}

/// `ValidateLabels`: keys are qualified names, values label values.
fn validate_labels(labels: &Map<String, Value>, field: &str, errs: &mut Errors) {
    for (k, v) in labels {
        for msg in qualified_name(k) {
            errs.invalid(field, &go_quote(k), &msg);
        }
        let value = v.as_str().unwrap_or("");
        for msg in label_value(value) {
            errs.invalid(field, &go_quote(value), &msg);
        }
    }
}

/// ConfigMap/Secret keys: `data[key]: Invalid value: "key": a valid config key …`.
fn validate_data_keys(obj: &Value, field: &str, errs: &mut Errors) {
    if let Some(data) = obj.get(field).and_then(Value::as_object) {
        for k in data.keys() {
            for msg in config_key(k) {
                errs.invalid(&format!("{field}[{k}]"), &go_quote(k), &msg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_named as kind;
    use serde_json::json;

    fn lines(kind_name: &str, obj: &Value, old: Option<&Value>) -> Vec<String> {
        validate(&kind(kind_name), obj, old)
            .iter()
            .map(FieldError::to_line)
            .collect()
    }

    fn deployment(name: &str, selector: Value, labels: Value) -> Value {
        json!({"metadata": {"name": name},
            "spec": {"replicas": 1, "selector": selector,
                "template": {"metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}],
                        "restartPolicy": "Always"}}}})
    }

    // Names per kind: (kind, name, expected messages). Messages from
    // apimachinery/pkg/util/validation/validation.go (RegexError with the upstream examples).
    #[test]
    fn names_are_checked_per_kind() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("ConfigMap", "web.config-1", &[]),
            (
                "ConfigMap",
                "Web",
                &[
                    r#"metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
                ],
            ),
            (
                "Namespace",
                "team.a",
                &[
                    r#"metadata.name: Invalid value: "team.a": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
                ],
            ),
            ("Namespace", "team-a", &[]),
            (
                "Service",
                "1web",
                &[
                    r#"metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
                ],
            ),
            ("ClusterRole", "system:aggregate-to-view", &[]),
            (
                "ClusterRole",
                "a/b",
                &[r#"metadata.name: Invalid value: "a/b": may not contain '/'"#],
            ),
            (
                "Secret",
                "",
                &["metadata.name: Required value: name or generateName is required"],
            ),
        ];
        for (k, name, expected) in cases {
            let mut obj = json!({"metadata": {"name": name}});
            if *k == "Service" {
                obj["spec"] = json!({"ports": [{"port": 80, "protocol": "TCP"}]});
            }
            assert_eq!(lines(k, &obj, None), *expected, "{k} {name}");
        }
    }

    #[test]
    fn long_names_report_length_too() {
        let name = "a".repeat(64);
        let out = lines("Namespace", &json!({"metadata": {"name": name}}), None);
        assert_eq!(
            out,
            [format!(
                "metadata.name: Invalid value: \"{name}\": must be no more than 63 characters"
            )]
        );
    }

    #[test]
    fn label_and_annotation_keys_and_values() {
        let obj = json!({"metadata": {"name": "x",
            "labels": {"app": "web", "bad key": "v", "k": "bad value!"},
            "annotations": {"example.com/ok": "anything at all", "a/b/c": "x"}}});
        let out = lines("ConfigMap", &obj, None);
        assert_eq!(out.len(), 3, "{out:#?}");
        assert!(out[0].starts_with(
            r#"metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters"#
        ));
        assert!(out[1].starts_with(
            r#"metadata.labels: Invalid value: "bad value!": a valid label must be an empty string"#
        ));
        assert!(out[2].starts_with(
            r#"metadata.annotations: Invalid value: "a/b/c": a qualified name must consist"#
        ));
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let ok = deployment(
            "web",
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        assert!(lines("Deployment", &ok, None).is_empty());
        let bad = deployment(
            "web",
            json!({"matchLabels": {"app": "api"}}),
            json!({"app": "web"}),
        );
        assert_eq!(
            lines("Deployment", &bad, None),
            [
                r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`"#
            ]
        );
        let mut missing = ok.clone();
        missing["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(
            lines("Deployment", &missing, None),
            ["spec.selector: Required value"]
        );
    }

    #[test]
    fn containers_replicas_and_restart_policy() {
        let mut d = deployment("web", json!({"matchLabels": {"a": "b"}}), json!({"a": "b"}));
        d["spec"]["replicas"] = json!(-1);
        d["spec"]["template"]["spec"]["containers"] = json!([{"name": "Web"}]);
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let out = lines("Deployment", &d, None);
        assert_eq!(
            out[0],
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert!(out[1].starts_with(
            r#"spec.template.spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label"#
        ));
        assert_eq!(
            out[2],
            "spec.template.spec.containers[0].image: Required value"
        );
        assert_eq!(
            out[3],
            r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#
        );
        d["spec"]["template"]["spec"]["containers"] = json!([]);
        assert!(
            lines("Deployment", &d, None)
                .contains(&"spec.template.spec.containers: Required value".to_string())
        );
    }

    // A Job whose template was defaulted to restartPolicy Always: the 1.33 message.
    #[test]
    fn job_restart_policy() {
        let job = json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {
            "containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Always"}}}});
        assert_eq!(
            lines("Job", &job, None),
            [
                r#"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#
            ]
        );
    }

    #[test]
    fn service_ports() {
        let cases: &[(Value, &[&str])] = &[
            (
                json!({"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}),
                &[],
            ),
            (json!({"clusterIP": "None"}), &[]),
            (
                json!({"type": "ClusterIP"}),
                &["spec.ports: Required value"],
            ),
            (
                json!({"ports": [{"port": 70000, "protocol": "TCP"}]}),
                &[
                    "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                ],
            ),
            (
                json!({"ports": [{"port": 80}, {"port": 81}]}),
                &[
                    "spec.ports[0].name: Required value",
                    "spec.ports[1].name: Required value",
                ],
            ),
            (
                json!({"type": "Magic", "ports": [{"port": 80}]}),
                &[
                    r#"spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#,
                ],
            ),
        ];
        for (spec, expected) in cases {
            let obj = json!({"metadata": {"name": "web"}, "spec": spec});
            assert_eq!(lines("Service", &obj, None), *expected, "{spec}");
        }
    }

    #[test]
    fn deployment_strategy_secret_types_and_crd_names() {
        let mut d = deployment("web", json!({"matchLabels": {"a": "b"}}), json!({"a": "b"}));
        d["spec"]["strategy"] = json!({"type": "Recreate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
        assert_eq!(
            lines("Deployment", &d, None),
            [
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ]
        );
        d["spec"]["strategy"] = json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
        assert_eq!(
            lines("Deployment", &d, None),
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
            ]
        );
        let tls = json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": "eA=="}});
        assert_eq!(
            lines("Secret", &tls, None),
            ["data[tls.key]: Required value"]
        );
        let crd = json!({"metadata": {"name": "widgets.example.org"},
            "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"}}});
        assert_eq!(
            lines("CustomResourceDefinition", &crd, None),
            [
                r#"metadata.name: Invalid value: "widgets.example.org": must be spec.names.plural+"."+spec.group"#
            ]
        );
    }

    #[test]
    fn ingress_paths_and_rbac_bindings() {
        let ing = json!({"metadata": {"name": "web"}, "spec": {"rules": [{"host": "a.example",
            "http": {"paths": [
                {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"path": "api", "pathType": "Prefix",
                    "backend": {"service": {"name": "api", "port": {"number": 80}}}}]}}]}});
        assert_eq!(
            lines("Ingress", &ing, None),
            [
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
                r#"spec.rules[0].http.paths[1].path: Invalid value: "api": must be an absolute path"#
            ]
        );
        let binding = json!({"metadata": {"name": "b"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}]});
        assert!(lines("RoleBinding", &binding, None).is_empty());
        assert_eq!(
            lines("ClusterRoleBinding", &binding, None),
            [
                r#"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#,
                "subjects[0].namespace: Required value"
            ]
        );
        let mut changed = binding.clone();
        changed["roleRef"]["name"] = json!("edit");
        assert_eq!(
            lines("RoleBinding", &changed, Some(&binding)),
            [
                r#"roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"edit"}: cannot change roleRef"#
            ]
        );
        let role = json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]});
        assert_eq!(
            lines("Role", &role, None),
            ["rules[0].verbs: Required value: verbs must contain at least one value"]
        );
    }

    #[test]
    fn config_keys() {
        let dup =
            json!({"metadata": {"name": "c"}, "data": {"a": "x"}, "binaryData": {"a": "eA=="}});
        assert_eq!(
            lines("ConfigMap", &dup, None),
            [r#"data[a]: Invalid value: "a": duplicate of key present in binaryData"#]
        );
        let obj = json!({"metadata": {"name": "c"}, "data": {"ok.key_1": "", "bad key": ""}});
        assert_eq!(
            lines("ConfigMap", &obj, None),
            [
                r#"data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"#
            ]
        );
    }

    #[test]
    fn immutable_fields_on_update() {
        let old = deployment(
            "web",
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        let new = deployment(
            "web",
            json!({"matchLabels": {"app": "web2"}}),
            json!({"app": "web2"}),
        );
        assert_eq!(
            lines("Deployment", &new, Some(&old)),
            [
                r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
            ]
        );
        let old_svc = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]}});
        let new_svc = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.99",
            "clusterIPs": ["10.96.0.99"], "ports": [{"port": 80}]}});
        assert_eq!(
            lines("Service", &new_svc, Some(&old_svc)),
            [
                r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set"#,
                r#"spec.clusterIP: Invalid value: "10.96.0.99": field is immutable"#
            ]
        );
        let old_pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "nginx:1.27"}], "restartPolicy": "Always"}});
        let mut new_image = old_pod.clone();
        new_image["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        assert!(lines("Pod", &new_image, Some(&old_pod)).is_empty());
        let mut new_env = old_pod.clone();
        new_env["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]);
        let out = lines("Pod", &new_env, Some(&old_pod));
        assert_eq!(out.len(), 1);
        assert!(
            out[0].starts_with("spec: Forbidden: pod updates may not change fields other than")
        );
        let old_cm = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let new_cm = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "2"}});
        assert_eq!(
            lines("ConfigMap", &new_cm, Some(&old_cm)),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let old_pvc = json!({"metadata": {"name": "p"}, "spec": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}});
        let mut grown = old_pvc.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert!(lines("PersistentVolumeClaim", &grown, Some(&old_pvc)).is_empty());
        let mut changed = old_pvc.clone();
        changed["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert_eq!(
            lines("PersistentVolumeClaim", &changed, Some(&old_pvc)).len(),
            1
        );
    }

    #[test]
    fn unknown_fields_of_builtin_kinds() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labelz": {"a": "b"}},
            "spec": {"replica": 2, "template": {"spec": {"containers": [
                {"name": "a", "image": "a", "imagePullPolice": "Always"}]}}, "paused": null}});
        assert_eq!(
            unknown_fields(&kind("Deployment"), &obj),
            [
                "metadata.labelz",
                "spec.replica",
                "spec.template.spec.containers[0].imagePullPolice"
            ]
        );
        let clean = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": "http"}], "clusterIP": "None"},
            "status": {"loadBalancer": {}}});
        assert!(unknown_fields(&kind("Service"), &clean).is_empty());
    }

    // Apply configurations are partial: required fields (selector, template, container
    // names, port numbers) may be missing, and unknown fields must still be found.
    #[test]
    fn unknown_fields_of_partial_objects() {
        let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replica": 3, "template": {"spec": {"containers": [
                {"image": "nginx:1.27", "imagePullPolice": "Always",
                    "ports": [{"protocol": "TCP", "hostPor": 1}]}]}}}});
        assert_eq!(
            unknown_fields(&kind("Deployment"), &patch),
            [
                "spec.replica",
                "spec.template.spec.containers[0].imagePullPolice",
                "spec.template.spec.containers[0].ports[0].hostPor"
            ]
        );
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"name": "http", "targetPort": 8080, "nodeport": 30000}]}});
        assert_eq!(
            unknown_fields(&kind("Service"), &svc),
            ["spec.ports[0].nodeport"]
        );
        let scale_only = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 2}});
        assert!(unknown_fields(&kind("Deployment"), &scale_only).is_empty());
    }

    // Typical manifests of every built-in kind have no unknown fields (no false positives for
    // strict field validation).
    #[test]
    fn typical_manifests_have_no_unknown_fields() {
        let cases = [
            (
                "Namespace",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a",
                "labels": {"x": "y"}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            ),
            (
                "Secret",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "type": "Opaque", "data": {"a": "YQ=="}, "stringData": {"b": "c"}, "immutable": false}),
            ),
            (
                "Pod",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "a"}}}],
                    "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
                    "securityContext": {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}}}],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"a": "b"}}}}]}},
                    "volumes": [{"name": "v", "configMap": {"name": "c", "defaultMode": 420}}]}}),
            ),
            (
                "CronJob",
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                "spec": {"schedule": "* * * * *", "timeZone": "Etc/UTC", "jobTemplate": {"spec": {
                    "backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "i"}]}}}}}}),
            ),
            (
                "Ingress",
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "i", "annotations": {"a": "b"}},
                "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a"], "secretName": "t"}],
                    "rules": [{"host": "a", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
            ),
            (
                "NetworkPolicy",
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "n"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"a": "b"}}}],
                        "ports": [{"protocol": "TCP", "port": 80}]}]}}),
            ),
            (
                "HorizontalPodAutoscaler",
                json!({"apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                    "minReplicas": 1, "maxReplicas": 3, "metrics": [{"type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}}}),
            ),
            (
                "ClusterRole",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"],
                    "verbs": ["get"]}], "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}),
            ),
            (
                "CustomResourceDefinition",
                json!({"apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wg"]},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                                "properties": {"size": {"type": "integer", "default": 1, "minimum": 0},
                                    "tags": {"type": "array", "items": {"type": "string"},
                                        "x-kubernetes-list-type": "set"}}}}}},
                        "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                            "jsonPath": ".spec.size"}],
                        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas"}}}]}}),
            ),
        ];
        for (k, obj) in cases {
            assert_eq!(unknown_fields(&kind(k), &obj), Vec::<String>::new(), "{k}");
        }
    }

    // Messages as a 1.33 server gives them for a custom resource, e.g. (kube-openapi
    // validate/errors.go) `spec.size in body must be of type integer: "string"`.
    #[test]
    fn custom_resources_against_their_schema() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 0, "maximum": 10},
                "color": {"type": "string", "enum": ["red", "blue"]},
                "name": {"type": "string", "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": true},
                "tags": {"type": "array", "maxItems": 1, "items": {"type": "string"}}}}}});
        let check = |spec: Value| -> Vec<String> {
            validate_with_schema(
                &schema,
                &json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w"}, "spec": spec}),
            )
            .iter()
            .map(FieldError::to_line)
            .collect()
        };
        assert!(
            check(json!({"size": 3, "color": "red", "port": "http", "tags": ["a"]})).is_empty()
        );
        assert_eq!(
            check(json!({"size": "three"})),
            [
                r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#
            ]
        );
        assert_eq!(
            check(json!({"color": "red"})),
            ["spec.size: Required value"]
        );
        let enum_schema = json!({"properties": {"n": {"type": "integer", "enum": [1, 2]}}});
        let lines: Vec<String> = validate_with_schema(&enum_schema, &json!({"n": "x"}))
            .iter()
            .map(FieldError::to_line)
            .collect();
        // apiextensions-apiserver validation_test.go ("enum").
        assert_eq!(
            lines,
            [
                r#"n: Invalid value: "string": n in body must be of type integer: "string""#,
                r#"n: Unsupported value: "x": supported values: "1", "2""#
            ]
        );
        assert_eq!(
            check(json!({"size": 11, "color": "green", "name": "toolong", "tags": ["a", "b"]})),
            [
                "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
                r#"spec.color: Unsupported value: "green": supported values: "red", "blue""#,
                "spec.name: Too long: may not be more than 5 bytes",
                "spec.tags: Too many: 2: must have at most 1 items"
            ]
        );
    }

    #[test]
    fn unknown_fields_of_custom_resources() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "items": {"type": "array", "items": {"type": "object",
                    "properties": {"name": {"type": "string"}}}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}}}}}});
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1, "colour": "red", "items": [{"name": "a", "nmae": "b"}],
                "extra": {"anything": 1}, "tags": {"x": "y"}},
            "stauts": {}});
        assert_eq!(
            unknown_fields_with_schema(&schema, &obj),
            ["spec.colour", "spec.items[0].nmae", "stauts"]
        );
    }
}
