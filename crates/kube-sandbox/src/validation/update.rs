//! Immutable fields on update.

use serde_json::Value;

use super::{Errors, go_label_selector, go_quote, go_string_slice, go_value};
use crate::kinds::KindInfo;

/// Immutable fields on update.
pub(super) fn validate_update(kind: &KindInfo, obj: &Value, old: &Value, errs: &mut Errors) {
    match (kind.group.as_str(), kind.kind.as_str()) {
        // ReplicaSet too: its registry strategy refuses a selector change for every
        // group-version but the removed extensions/v1beta1.
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => {
            validate_selector_unchanged(obj, old, errs);
        }
        ("batch", "Job") => validate_job_update(obj, old, errs),
        ("", "Service") => validate_service_update(obj, old, errs),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            validate_role_ref_update(obj, old, errs);
        }
        ("", "Pod") => validate_pod_update(obj, old, errs),
        ("", "PersistentVolumeClaim") => validate_claim_update(obj, old, errs),
        ("", "Secret" | "ConfigMap") => validate_data_update(kind, obj, old, errs),
        _ => {}
    }
}

/// The value at `path`, with null the same as absent.
fn at(v: &Value, path: &[&str]) -> Option<Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    Some(cur.clone()).filter(|c| !c.is_null())
}

/// `spec.selector` of workloads and Jobs never changes.
fn validate_selector_unchanged(obj: &Value, old: &Value, errs: &mut Errors) {
    let new_sel = at(obj, &["spec", "selector"]);
    if new_sel != at(old, &["spec", "selector"]) {
        errs.invalid(
            "spec.selector",
            &go_label_selector(new_sel.as_ref()),
            "field is immutable",
        );
    }
}

/// Jobs: selector, pod template and completions are immutable.
fn validate_job_update(obj: &Value, old: &Value, errs: &mut Errors) {
    validate_selector_unchanged(obj, old, errs);
    let new_tpl = at(obj, &["spec", "template"]);
    if new_tpl != at(old, &["spec", "template"]) {
        // kube prints the internal core.PodTemplateSpec with %#v here; the JSON form
        // carries the same information in a readable size.
        let shown = new_tpl.map_or("null".to_string(), |t| t.to_string());
        errs.invalid(
            "spec.template",
            &format!("core.PodTemplateSpec{shown}"),
            "field is immutable",
        );
    }
    let new_completions = at(obj, &["spec", "completions"]);
    if new_completions != at(old, &["spec", "completions"]) {
        errs.invalid(
            "spec.completions",
            &new_completions.map_or("null".into(), |v| go_value(&v)),
            "field is immutable",
        );
    }
}

/// Services: an allocated clusterIP stays, unless the type changes to or from ExternalName.
fn validate_service_update(obj: &Value, old: &Value, errs: &mut Errors) {
    let old_ip = at(old, &["spec", "clusterIP"]);
    let new_ip = at(obj, &["spec", "clusterIP"]);
    let old_type = at(old, &["spec", "type"]).and_then(|t| t.as_str().map(String::from));
    let new_type = at(obj, &["spec", "type"]).and_then(|t| t.as_str().map(String::from));
    let to_external =
        new_type.as_deref() == Some("ExternalName") || old_type.as_deref() == Some("ExternalName");
    if old_ip.is_some() && new_ip.is_some() && old_ip != new_ip && !to_external {
        let ips = at(obj, &["spec", "clusterIPs"]);
        errs.invalid(
            "spec.clusterIPs[0]",
            &go_string_slice(ips.as_ref()),
            "may not change once set",
        );
        errs.invalid(
            "spec.clusterIP",
            &new_ip.map_or("null".into(), |v| go_value(&v)),
            "field is immutable",
        );
    }
}

/// RoleBindings and ClusterRoleBindings: `roleRef` is immutable.
fn validate_role_ref_update(obj: &Value, old: &Value, errs: &mut Errors) {
    let new_ref = at(obj, &["roleRef"]);
    if new_ref != at(old, &["roleRef"]) {
        let s = |k: &str| {
            new_ref
                .as_ref()
                .and_then(|r| r.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        errs.invalid(
            "roleRef",
            &format!(
                "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
                go_quote(&s("apiGroup")),
                go_quote(&s("kind")),
                go_quote(&s("name"))
            ),
            "cannot change roleRef",
        );
    }
}

/// `ValidatePodUpdate`: a Pod's spec is immutable but for a few fields.
fn validate_pod_update(obj: &Value, old: &Value, errs: &mut Errors) {
    // Only images, activeDeadlineSeconds, added tolerations and terminationGracePeriodSeconds
    // may change (kube appends a diff of the spec).
    let mutable_blanked = |v: Option<Value>| {
        v.map(|mut spec| {
            for key in ["containers", "initContainers"] {
                if let Some(list) = spec.get_mut(key).and_then(Value::as_array_mut) {
                    for c in list.iter_mut().filter_map(Value::as_object_mut) {
                        c.remove("image");
                    }
                }
            }
            if let Some(m) = spec.as_object_mut() {
                for key in [
                    "activeDeadlineSeconds",
                    "tolerations",
                    "terminationGracePeriodSeconds",
                ] {
                    m.remove(key);
                }
            }
            spec
        })
    };
    if mutable_blanked(at(obj, &["spec"])) != mutable_blanked(at(old, &["spec"])) {
        errs.forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        );
    }
}

/// PersistentVolumeClaims: the spec is immutable but for requests and the attributes class.
fn validate_claim_update(obj: &Value, old: &Value, errs: &mut Errors) {
    let strip = |v: Option<Value>| {
        v.map(|mut s| {
            if let Some(r) = s.get_mut("resources").and_then(Value::as_object_mut) {
                r.remove("requests");
                if r.is_empty()
                    && let Some(m) = s.as_object_mut()
                {
                    m.remove("resources");
                }
            }
            if let Some(m) = s.as_object_mut() {
                m.remove("volumeAttributesClassName");
            }
            s
        })
    };
    if strip(at(obj, &["spec"])) != strip(at(old, &["spec"])) {
        errs.forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        );
    }
}

/// Secrets and ConfigMaps: data frozen once `immutable` is set; a Secret's type always.
fn validate_data_update(kind: &KindInfo, obj: &Value, old: &Value, errs: &mut Errors) {
    if at(old, &["immutable"]).and_then(|v| v.as_bool()) == Some(true) {
        let fields: &[&str] = if kind.kind == "Secret" {
            &["data", "type"]
        } else {
            &["data", "binaryData"]
        };
        for f in fields {
            if at(obj, &[f]) != at(old, &[f]) {
                let detail = if *f == "type" {
                    "field is immutable".to_string()
                } else {
                    "field is immutable when `immutable` is set".to_string()
                };
                if *f == "type" {
                    let bad = at(obj, &[f]).map_or("null".into(), |v| go_value(&v));
                    errs.invalid(f, &bad, &detail);
                } else {
                    errs.forbidden(f, &detail);
                }
            }
        }
        if at(obj, &["immutable"]).and_then(|v| v.as_bool()) != Some(true) {
            errs.forbidden("immutable", "field is immutable when `immutable` is set");
        }
    } else if kind.kind == "Secret" && at(obj, &["type"]) != at(old, &["type"]) {
        let bad = at(obj, &["type"]).map_or("null".into(), |v| go_value(&v));
        errs.invalid("type", &bad, "field is immutable");
    }
}
