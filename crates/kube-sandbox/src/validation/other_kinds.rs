//! Ingress paths, RBAC role bindings, Secret types.

use k8s_model::names::path_segment_name;
use serde_json::{Map, Value};

use super::{Errors, go_quote, go_string_slice, validate_data_keys};
use crate::kinds::KindInfo;

/// `validateIngressRuleValue` (networking/v1): every path has a supported `pathType`, and
/// Exact/Prefix paths are absolute.
pub(super) fn validate_ingress(spec: Option<&Value>, errs: &mut Errors) {
    const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
    let rules = spec.and_then(|s| s.get("rules")).and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let paths = rule
            .get("http")
            .and_then(|h| h.get("paths"))
            .and_then(Value::as_array);
        for (j, p) in paths.into_iter().flatten().enumerate() {
            let at = format!("spec.rules[{i}].http.paths[{j}]");
            let path = p.get("path").and_then(Value::as_str).unwrap_or("");
            match p.get("pathType").and_then(Value::as_str) {
                None => errs.required(&format!("{at}.pathType"), "pathType must be specified"),
                Some(t) if !PATH_TYPES.contains(&t) => {
                    errs.unsupported(&format!("{at}.pathType"), t, PATH_TYPES);
                }
                Some("Exact" | "Prefix") if !path.starts_with('/') => {
                    errs.invalid(
                        &format!("{at}.path"),
                        &go_quote(path),
                        "must be an absolute path",
                    );
                }
                Some(_) => {}
            }
        }
    }
}

/// `ValidateRoleBinding` / `ValidateClusterRoleBinding`: roleRef and subjects.
pub(super) fn validate_binding(kind: &KindInfo, obj: &Value, errs: &mut Errors) {
    let role_ref = obj.get("roleRef");
    let s = |k: &str| {
        role_ref
            .and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if s("apiGroup") != "rbac.authorization.k8s.io" {
        errs.unsupported(
            "roleRef.apiGroup",
            s("apiGroup"),
            &["rbac.authorization.k8s.io"],
        );
    }
    let kinds: &[&str] = if kind.kind == "RoleBinding" {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&s("kind")) {
        errs.unsupported("roleRef.kind", s("kind"), kinds);
    }
    if s("name").is_empty() {
        errs.required("roleRef.name", "");
    } else {
        for msg in path_segment_name(s("name")) {
            errs.invalid("roleRef.name", &go_quote(s("name")), &msg);
        }
    }
    let subjects = obj.get("subjects").and_then(Value::as_array);
    for (i, subject) in subjects.into_iter().flatten().enumerate() {
        let at = format!("subjects[{i}]");
        let get = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("");
        if get("name").is_empty() {
            errs.required(&format!("{at}.name"), "");
        }
        match get("kind") {
            "ServiceAccount" => {
                if kind.kind == "ClusterRoleBinding" && get("namespace").is_empty() {
                    errs.required(&format!("{at}.namespace"), "");
                }
            }
            "User" | "Group" => {}
            other => errs.unsupported(
                &format!("{at}.kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            ),
        }
    }
}

/// `ValidateSecret`'s per-type required keys.
pub(super) fn validate_secret_type(obj: &Value, errs: &mut Errors) {
    let data = obj.get("data").and_then(Value::as_object);
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let secret_type = obj.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    let required: &[&str] = match secret_type {
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            &["username", "password"]
        }
        "kubernetes.io/service-account-token" => {
            let annotated = obj
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .is_some();
            if !annotated {
                errs.required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                );
            }
            &[]
        }
        _ => &[],
    };
    for key in required {
        if !has(key) {
            errs.required(&format!("data[{key}]"), "");
        }
    }
}

/// ConfigMaps: data and binaryData keys, no key in both.
pub(super) fn validate_config_map(obj: &Value, errs: &mut Errors) {
    validate_data_keys(obj, "data", errs);
    let binary = obj.get("binaryData").and_then(Value::as_object);
    for key in obj
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::keys)
    {
        if binary.is_some_and(|b| b.contains_key(key)) {
            errs.invalid(
                &format!("data[{key}]"),
                &go_quote(key),
                "duplicate of key present in binaryData",
            );
        }
    }
    validate_data_keys(obj, "binaryData", errs);
}

/// `ValidatePolicyRule` of Roles and ClusterRoles: verbs, and resources or URLs, not both.
pub(super) fn validate_role_rules(obj: &Value, errs: &mut Errors) {
    for (i, rule) in obj
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let verbs = rule.get("verbs").and_then(Value::as_array);
        if verbs.is_none_or(Vec::is_empty) {
            errs.required(
                &format!("rules[{i}].verbs"),
                "verbs must contain at least one value",
            );
        }
        let empty = |k: &str| {
            rule.get(k)
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        };
        let urls = !empty("nonResourceURLs");
        if urls && (!empty("resources") || !empty("apiGroups")) {
            errs.invalid(
                &format!("rules[{i}].nonResourceURLs"),
                &go_string_slice(rule.get("nonResourceURLs")),
                "rules cannot apply to both regular resources and non-resource URLs",
            );
        } else if !urls && empty("apiGroups") && !empty("resources") {
            errs.required(
                &format!("rules[{i}].apiGroups"),
                "resource rules must supply at least one api group",
            );
        }
    }
}

/// A CustomResourceDefinition is named `<spec.names.plural>.<spec.group>`.
pub(super) fn validate_crd_name(obj: &Value, spec: Option<&Value>, errs: &mut Errors) {
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let s = |k: &[&str]| {
        let mut cur = spec;
        for p in k {
            cur = cur.and_then(|c| c.get(*p));
        }
        cur.and_then(Value::as_str).unwrap_or("").to_string()
    };
    let required = format!("{}.{}", s(&["names", "plural"]), s(&["group"]));
    if !name.is_empty() && name != required {
        errs.invalid(
            "metadata.name",
            &go_quote(name),
            r#"must be spec.names.plural+"."+spec.group"#,
        );
    }
}
