//! Legacy discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`) and `/version`.
//!
//! Aggregated discovery is not served: asked for `as=APIGroupDiscoveryList`, the legacy document
//! goes back as `application/json` and client-go falls back to per-group-version requests.

use serde_json::{Value, json};

use super::kinds::{KindInfo, served_at};

/// `/version` for `major.minor` (e.g. `1.33`), as kube-apiserver reports it.
pub fn version(kube_version: &str) -> Value {
    let (major, minor) = kube_version.split_once('.').unwrap_or(("1", "33"));
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor,
        "gitVersion": format!("v{major}.{minor}.0"),
        "gitCommit": "60a317eadfcb839692a5551a7f2d6ed4a8e4fae1",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T12:58:34Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// Named groups in the order their kinds are registered (built-in first, CRDs after), each with
/// every version its kinds are served at, preferred first (kube's version priority: GA before
/// beta before alpha, higher numbers first), as kube-apiserver lists a group whose CRDs serve
/// different versions (kube-prometheus: `monitoring.coreos.com` v1 and v1alpha1).
fn groups(kinds: &[KindInfo]) -> Vec<(&str, Vec<&str>)> {
    let mut seen: Vec<(&str, Vec<&str>)> = Vec::new();
    for k in kinds.iter().filter(|k| !k.group.is_empty()) {
        match seen.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, versions)) if !versions.contains(&k.version.as_str()) => {
                versions.push(&k.version)
            }
            Some(_) => {}
            None => seen.push((&k.group, vec![&k.version])),
        }
    }
    for (_, versions) in &mut seen {
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    seen
}

/// Kubernetes' version priority (`k8s.io/apimachinery/pkg/version.CompareKubeAwareVersionStrings`):
/// a greater key is preferred. Names that are not kube versions come last.
fn version_priority(version: &str) -> (u8, u64, u64) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let Ok(major) = rest[..digits].parse::<u64>() else {
        return (0, 0, 0);
    };
    let (stage, minor) = match &rest[digits..] {
        "" => return (3, major, 0),
        tail => match tail
            .strip_prefix("beta")
            .map(|m| (2, m))
            .or_else(|| tail.strip_prefix("alpha").map(|m| (1, m)))
        {
            Some((stage, m)) => match m.parse::<u64>() {
                Ok(minor) => (stage, minor),
                Err(_) => return (0, 0, 0),
            },
            None => return (0, 0, 0),
        },
    };
    (stage, major, minor)
}

fn group_doc(group: &str, versions: &[&str]) -> Value {
    let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    let all: Vec<Value> = versions.iter().map(|v| gv(v)).collect();
    json!({"name": group, "versions": all, "preferredVersion": gv(versions[0])})
}

/// `/apis`.
pub fn group_list(kinds: &[KindInfo]) -> Value {
    group_list_with(kinds, &[])
}

/// `/apis` with the groups of non-local APIServices (`remote`, from
/// [`remote_api_services`]): listed like any group, their discovery answers 503.
pub fn group_list_with(kinds: &[KindInfo], remote: &[(String, String)]) -> Value {
    let mut groups: Vec<(&str, Vec<&str>)> = groups(kinds);
    for (group, version) in remote {
        match groups.iter_mut().find(|(g, _)| g == group) {
            Some((_, versions)) if !versions.contains(&version.as_str()) => versions.push(version),
            Some(_) => {}
            None => groups.push((group, vec![version])),
        }
    }
    let groups: Vec<Value> = groups.into_iter().map(|(g, v)| group_doc(g, &v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `(group, version)` of every stored APIService served by a backend Service (`spec.service`
/// set). Nothing runs such a backend in the sandbox, so each is unavailable.
pub fn remote_api_services(store: &super::store::Store) -> Vec<(String, String)> {
    let key = super::store::ResourceKey::new("apiregistration.k8s.io", "apiservices");
    store
        .list(&key, None)
        .filter_map(|stored| {
            let object = stored.value();
            let spec = object.get("spec")?;
            spec.get("service").filter(|s| !s.is_null())?;
            let group = spec.get("group")?.as_str()?.to_owned();
            let version = spec.get("version")?.as_str()?.to_owned();
            Some((group, version))
        })
        .collect()
}

/// `/apis/<group>`; `None` when the group is not served.
pub fn group(kinds: &[KindInfo], group: &str) -> Option<Value> {
    let (g, v) = groups(kinds).into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_doc(g, &v);
    if let Some(m) = doc.as_object_mut() {
        m.shift_insert(0, "kind".into(), json!("APIGroup"));
        m.shift_insert(1, "apiVersion".into(), json!("v1"));
    }
    Some(doc)
}

fn verbs(kind: &KindInfo) -> Vec<&'static str> {
    if kind.kind == "Namespace" {
        // kube-apiserver does not serve deletecollection for namespaces.
        vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ]
    } else {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

/// `/api/v1` or `/apis/<group>/<version>`; `None` when the group-version is not served.
pub fn resource_list(kinds: &[KindInfo], group: &str, version: &str) -> Option<Value> {
    let served = served_at(kinds, group, version)?;
    let mut resources: Vec<(String, Value)> = Vec::new();
    for k in served {
        let mut r = serde_json::Map::new();
        r.insert("name".into(), json!(k.plural));
        r.insert("singularName".into(), json!(k.singular));
        r.insert("namespaced".into(), json!(k.namespaced));
        r.insert("kind".into(), json!(k.kind));
        r.insert("verbs".into(), json!(verbs(k)));
        if !k.short_names.is_empty() {
            r.insert("shortNames".into(), json!(k.short_names));
        }
        if !k.categories.is_empty() {
            r.insert("categories".into(), json!(k.categories));
        }
        resources.push((k.plural.clone(), Value::Object(r)));
        let sub = |name: &str| {
            json!({"name": format!("{}/{name}", k.plural), "singularName": "",
                "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]})
        };
        if k.status_subresource {
            resources.push((format!("{}/status", k.plural), sub("status")));
        }
        if k.scale_subresource {
            let name = format!("{}/scale", k.plural);
            resources.push((
                name.clone(),
                json!({"name": name, "singularName": "", "namespaced": k.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale",
                    "verbs": ["get", "patch", "update"]}),
            ));
        }
    }
    resources.sort_by(|a, b| a.0.cmp(&b.0));
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
    }))
}

/// The aggregated discovery version a client asks for in `Accept` (`v2` or `v2beta1`), if any.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    for option in accept.split(',') {
        let params: Vec<&str> = option.split(';').map(str::trim).collect();
        if params.contains(&"as=APIGroupDiscoveryList") && params.contains(&"g=apidiscovery.k8s.io")
        {
            if params.contains(&"v=v2") {
                return Some("v2");
            }
            if params.contains(&"v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

fn aggregated_resource(k: &KindInfo) -> Value {
    let kind_ref = |g: &str, v: &str, kind: &str| json!({"group": g, "version": v, "kind": kind});
    let mut subresources = Vec::new();
    if k.scale_subresource {
        subresources.push(json!({"subresource": "scale",
            "responseKind": kind_ref("autoscaling", "v1", "Scale"),
            "verbs": ["get", "patch", "update"]}));
    }
    if k.status_subresource {
        subresources.push(json!({"subresource": "status",
            "responseKind": kind_ref(&k.group, &k.version, &k.kind),
            "verbs": ["get", "patch", "update"]}));
    }
    let mut r = serde_json::Map::new();
    r.insert("resource".into(), json!(k.plural));
    r.insert(
        "responseKind".into(),
        kind_ref(&k.group, &k.version, &k.kind),
    );
    r.insert(
        "scope".into(),
        json!(if k.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    r.insert("singularResource".into(), json!(k.singular));
    r.insert("verbs".into(), json!(verbs(k)));
    if !k.short_names.is_empty() {
        r.insert("shortNames".into(), json!(k.short_names));
    }
    if !k.categories.is_empty() {
        r.insert("categories".into(), json!(k.categories));
    }
    if !subresources.is_empty() {
        r.insert("subresources".into(), json!(subresources));
    }
    Value::Object(r)
}

/// Aggregated discovery (`apidiscovery.k8s.io` `APIGroupDiscoveryList`) for `/api` (`core`)
/// or `/apis`, in the asked `version` (`v2` or `v2beta1`).
pub fn aggregated(kinds: &[KindInfo], core: bool, version: &str) -> Value {
    aggregated_with(kinds, core, version, &[])
}

/// [`aggregated`] with the group versions of non-local APIServices (`remote`, from
/// [`remote_api_services`]) whose backend does not answer: as kube-apiserver lists them, a
/// version with `freshness: Stale` and no resources.
pub fn aggregated_with(
    kinds: &[KindInfo],
    core: bool,
    version: &str,
    remote: &[(String, String)],
) -> Value {
    let mut names: Vec<&str> = Vec::new();
    for k in kinds {
        if k.group.is_empty() == core && !names.contains(&k.group.as_str()) {
            names.push(&k.group);
        }
    }
    let mut items: Vec<Value> = names
        .into_iter()
        .map(|group| {
            let served: Vec<&KindInfo> = kinds.iter().filter(|k| k.group == group).collect();
            let mut versions: Vec<&str> = Vec::new();
            for k in &served {
                if !versions.contains(&k.version.as_str()) {
                    versions.push(&k.version);
                }
            }
            let versions: Vec<Value> = versions
                .into_iter()
                .map(|v| {
                    let mut resources: Vec<&&KindInfo> =
                        served.iter().filter(|k| k.version == v).collect();
                    resources.sort_by(|a, b| a.plural.cmp(&b.plural));
                    let resources: Vec<Value> = resources
                        .into_iter()
                        .map(|k| aggregated_resource(k))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if group.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": group, "creationTimestamp": null})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    for (group, stale) in remote.iter().filter(|_| !core) {
        let entry = json!({"version": stale, "freshness": "Stale"});
        let listed = items
            .iter_mut()
            .find(|item| item["metadata"]["name"].as_str() == Some(group.as_str()));
        match listed {
            Some(item) => {
                let versions = item["versions"].as_array_mut();
                if let Some(versions) = versions
                    && !versions
                        .iter()
                        .any(|v| v["version"].as_str() == Some(stale))
                {
                    versions.push(entry);
                }
            }
            None => items.push(json!({
                "metadata": {"name": group, "creationTimestamp": null},
                "versions": [entry],
            })),
        }
    }
    json!({"kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_kinds;

    #[test]
    fn apps_v1_lists_subresources() {
        let doc = resource_list(&builtin_kinds(), "apps", "v1").unwrap();
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments"));
        assert!(names.contains(&"deployments/status"));
        assert!(names.contains(&"deployments/scale"));
        assert!(!names.contains(&"daemonsets/scale"));
        let scale = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        let deploy = &doc["resources"][names.iter().position(|n| *n == "deployments").unwrap()];
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["categories"], json!(["all"]));
    }

    #[test]
    fn group_list_has_each_group_once() {
        let doc = group_list(&builtin_kinds());
        let names: Vec<&str> = doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"apps"));
        assert!(!names.contains(&""));
        let mut dedup = names.clone();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len());
        assert!(resource_list(&builtin_kinds(), "nope", "v1").is_none());
        assert_eq!(group(&builtin_kinds(), "apps").unwrap()["kind"], "APIGroup");
    }

    /// As kube-apiserver 1.28 lists an APIService whose backend is down: the group with a
    /// stale version and no resources; `/api` is not concerned.
    #[test]
    fn aggregated_discovery_lists_unavailable_api_services_as_stale() {
        let remote = [
            ("metrics.k8s.io".to_owned(), "v1beta1".to_owned()),
            ("apps".to_owned(), "v2".to_owned()),
        ];
        let doc = aggregated_with(&builtin_kinds(), false, "v2beta1", &remote);
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        let group = |name: &str| {
            doc["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["metadata"]["name"] == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            group("metrics.k8s.io")["versions"],
            json!([{"version": "v1beta1", "freshness": "Stale"}])
        );
        let apps = group("apps");
        assert_eq!(apps["versions"][0]["freshness"], "Current");
        assert_eq!(
            apps["versions"][1],
            json!({"version": "v2", "freshness": "Stale"})
        );
        let core = aggregated_with(&builtin_kinds(), true, "v2", &remote);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn aggregated_discovery_lists_resources_with_subresources() {
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(accept), Some("v2"));
        assert_eq!(aggregated_version("application/json"), None);
        let doc = aggregated(&builtin_kinds(), false, "v2");
        let apps = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["scope"], "Namespaced");
        assert_eq!(deploy["subresources"][0]["subresource"], "scale");
        assert_eq!(deploy["subresources"][0]["responseKind"]["kind"], "Scale");
        let core = aggregated(&builtin_kinds(), true, "v2");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert!(core["items"][0]["metadata"].get("name").is_none());
    }

    #[test]
    fn versions_by_kube_priority() {
        let mut versions = vec![
            "v1alpha1", "v2beta1", "v1", "v1beta2", "v2", "foo", "v1beta1",
        ];
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(
            versions,
            [
                "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"
            ]
        );
    }

    #[test]
    fn version_reports_minor() {
        let v = version("1.31");
        assert_eq!(v["minor"], "31");
        assert_eq!(v["gitVersion"], "v1.31.0");
    }
}
