//! What the cluster serves: every (group, version, kind) with its resource name, scope, short
//! names and verbs, read once per run.

use std::collections::BTreeMap;

use kube::core::ApiResource;
use serde::Deserialize;

/// One served kind at one group version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedKind {
    /// Group, version, kind and plural resource name, as kube-rs takes them.
    pub resource: ApiResource,
    /// Whether objects of the kind live in namespaces.
    pub namespaced: bool,
    /// Lower-case singular name (`deployment`); discovery may leave it empty.
    pub singular: String,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Verbs the resource supports (`list`, `patch`, ...).
    pub verbs: Vec<String>,
}

impl ServedKind {
    /// Whether `name` names this kind the way kubectl accepts it: plural, singular, short name
    /// or kind, case-insensitively.
    pub fn is_named(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name == self.resource.plural
            || name == self.singular
            || name == self.resource.kind.to_ascii_lowercase()
            || self.short_names.contains(&name)
    }
}

/// `Accept` of aggregated discovery, as kubectl asks for it: `apidiscovery.k8s.io/v2` (GA in
/// Kubernetes 1.30), `v2beta1` (1.26-1.29), else the group list of servers without it.
pub(crate) const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// One group of an aggregated discovery answer (`/api` or `/apis`): its versions in the
/// server's preference order, each with its kinds, or `None` when the server's copy is stale
/// (an aggregated API whose backend does not answer: that version must be asked directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AggregatedGroup {
    /// The group's name (empty for core).
    pub name: String,
    /// (version, kinds) pairs, preferred first.
    pub versions: Vec<(String, Option<Vec<ServedKind>>)>,
}

/// Reads an aggregated discovery document (`APIGroupDiscoveryList` of `apidiscovery.k8s.io`
/// v2 or v2beta1, which have the same fields). `None` when the answer is something else: a
/// server without aggregated discovery answers the plain group list.
pub(crate) fn aggregated_groups(doc: serde_json::Value) -> Option<Vec<AggregatedGroup>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct List {
        #[serde(default)]
        api_version: String,
        #[serde(default)]
        kind: String,
        #[serde(default)]
        items: Vec<Group>,
    }
    #[derive(Deserialize)]
    struct Group {
        #[serde(default)]
        metadata: Metadata,
        #[serde(default)]
        versions: Vec<Version>,
    }
    #[derive(Deserialize, Default)]
    struct Metadata {
        #[serde(default)]
        name: String,
    }
    #[derive(Deserialize)]
    struct Version {
        version: String,
        #[serde(default)]
        resources: Vec<Resource>,
        #[serde(default)]
        freshness: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Resource {
        resource: String,
        response_kind: Option<Kind>,
        #[serde(default)]
        scope: String,
        #[serde(default)]
        singular_resource: String,
        #[serde(default)]
        short_names: Vec<String>,
        #[serde(default)]
        verbs: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Kind {
        kind: String,
    }

    let list: List = serde_json::from_value(doc).ok()?;
    if list.kind != "APIGroupDiscoveryList" || !list.api_version.starts_with("apidiscovery.k8s.io/")
    {
        return None;
    }
    let groups = list
        .items
        .into_iter()
        .map(|group| {
            let name = group.metadata.name;
            let versions = group
                .versions
                .into_iter()
                .map(|version| {
                    let kinds = (version.freshness != "Stale").then(|| {
                        version
                            .resources
                            .into_iter()
                            .filter_map(|resource| {
                                let kind = resource.response_kind?.kind;
                                Some(ServedKind {
                                    resource: ApiResource {
                                        group: name.clone(),
                                        version: version.version.clone(),
                                        api_version: if name.is_empty() {
                                            version.version.clone()
                                        } else {
                                            format!("{name}/{}", version.version)
                                        },
                                        plural: resource.resource,
                                        kind: kind.clone(),
                                    },
                                    namespaced: resource.scope == "Namespaced",
                                    singular: if resource.singular_resource.is_empty() {
                                        kind.to_ascii_lowercase()
                                    } else {
                                        resource.singular_resource
                                    },
                                    short_names: resource.short_names,
                                    verbs: resource.verbs,
                                })
                            })
                            .collect()
                    });
                    (version.version, kinds)
                })
                .collect();
            AggregatedGroup { name, versions }
        })
        .collect();
    Some(groups)
}

/// A group version whose discovery document could not be read (an aggregated API that is down);
/// its kinds are reported Unknown with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedGroup {
    /// `group/version` (`v1` for core).
    pub group_version: String,
    /// Why.
    pub message: String,
}

/// The discovery result of one run.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Served kinds in discovery order (groups in the server's preference order, each group's
    /// preferred version first).
    pub kinds: Vec<ServedKind>,
    /// Preferred version per group.
    pub preferred: BTreeMap<String, String>,
    /// Group versions that failed.
    pub failed: Vec<FailedGroup>,
}

/// Why a kind cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotServed {
    /// The group serves the kind, but not at that version.
    Version {
        /// Versions that do serve it.
        served: Vec<String>,
    },
    /// The group's discovery failed.
    DiscoveryFailed(String),
    /// Nothing serves the kind.
    Kind,
}

impl NotServed {
    /// Message for an Unknown resource.
    pub fn message(&self, api_version: &str, kind: &str) -> String {
        match self {
            NotServed::Version { served } => format!(
                "the cluster serves {kind} only at version {}, not {api_version}",
                served.join(", ")
            ),
            NotServed::DiscoveryFailed(message) => {
                format!("discovery of {api_version} failed: {message}")
            }
            NotServed::Kind => {
                format!("the cluster does not serve {kind} ({api_version}); is its CRD installed?")
            }
        }
    }
}

impl Discovery {
    /// One warning per group version whose discovery failed, as kubectl gives one, for the
    /// report's warnings (its kinds are reported Unknown where used).
    pub fn warnings(&self) -> Vec<String> {
        self.failed
            .iter()
            .map(|failed| {
                format!(
                    "the cluster did not answer discovery of {}: {}; resources of that group are reported Unknown",
                    failed.group_version, failed.message
                )
            })
            .collect()
    }

    /// The served kind for an object's `apiVersion` and `kind`.
    pub fn resolve(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<&ServedKind, NotServed> {
        let mut served = Vec::new();
        for candidate in &self.kinds {
            if candidate.resource.group == group && candidate.resource.kind == kind {
                if candidate.resource.version == version {
                    return Ok(candidate);
                }
                served.push(candidate.resource.version.clone());
            }
        }
        let group_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        if let Some(failed) = self
            .failed
            .iter()
            .find(|failed| failed.group_version == group_version)
        {
            return Err(NotServed::DiscoveryFailed(failed.message.clone()));
        }
        if served.is_empty() {
            Err(NotServed::Kind)
        } else {
            Err(NotServed::Version { served })
        }
    }

    /// The kind at its group's preferred version (else the first version serving it).
    pub fn preferred_kind(&self, group: &str, kind: &str) -> Option<&ServedKind> {
        let matching = || {
            self.kinds
                .iter()
                .filter(move |k| k.resource.group == group && k.resource.kind == kind)
        };
        let preferred = self.preferred.get(group);
        matching()
            .find(|k| Some(&k.resource.version) == preferred)
            .or_else(|| matching().next())
    }

    /// Scope of a kind: `Some(true)` namespaced, `Some(false)` cluster-scoped, `None` not served.
    pub fn scope(&self, group: &str, kind: &str) -> Option<bool> {
        self.kinds
            .iter()
            .find(|k| k.resource.group == group && k.resource.kind == kind)
            .map(|k| k.namespaced)
    }

    /// Finds the kind a kubectl resource type names: `deploy`, `deployments`, `Deployment`,
    /// `deployment.apps`, `deployments.v1.apps`. Core and the groups' preferred versions win
    /// over other matches, as in kubectl.
    pub fn find_type<'a>(&'a self, resource_type: &str) -> Option<&'a ServedKind> {
        let preferred_first = |kinds: Vec<&'a ServedKind>| -> Option<&'a ServedKind> {
            kinds
                .iter()
                .find(|k| self.preferred.get(&k.resource.group) == Some(&k.resource.version))
                .or(kinds.first())
                .copied()
        };
        // The whole string as a name first (`cm`), then `name.group` / `name.version.group`.
        let direct: Vec<&ServedKind> = self
            .kinds
            .iter()
            .filter(|k| k.is_named(resource_type))
            .collect();
        if !direct.is_empty() {
            let core: Vec<&ServedKind> = direct
                .iter()
                .filter(|k| k.resource.group.is_empty())
                .copied()
                .collect();
            return preferred_first(if core.is_empty() { direct } else { core });
        }
        let (name, rest) = resource_type.split_once('.')?;
        let with_group: Vec<&ServedKind> = self
            .kinds
            .iter()
            .filter(|k| k.is_named(name) && k.resource.group == rest)
            .collect();
        if !with_group.is_empty() {
            return preferred_first(with_group);
        }
        let (version, group) = rest.split_once('.')?;
        self.kinds.iter().find(|k| {
            k.is_named(name) && k.resource.group == group && k.resource.version == version
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kube-apiserver 1.28's answer (v2beta1): kinds per version in the server's order, the
    /// singular name defaulted from the kind, subresources left out, a stale version `None`;
    /// a plain group list is no aggregated answer.
    #[test]
    fn aggregated_discovery_documents_are_read() {
        let doc = serde_json::json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2beta1",
            "metadata": {},
            "items": [
                {"metadata": {"name": "apps", "creationTimestamp": null}, "versions": [
                    {"version": "v1", "freshness": "Current", "resources": [
                        {"resource": "deployments", "scope": "Namespaced",
                         "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                         "singularResource": "deployment", "shortNames": ["deploy"],
                         "verbs": ["get", "list"],
                         "subresources": [{"subresource": "scale", "verbs": ["get"],
                            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}}]},
                        {"resource": "widgets", "scope": "Cluster",
                         "responseKind": {"group": "apps", "version": "v1", "kind": "Widget"},
                         "verbs": ["get"]}
                    ]}
                ]},
                {"metadata": {"name": "metrics.k8s.io", "creationTimestamp": null},
                 "versions": [{"version": "v1beta1", "freshness": "Stale"}]}
            ]
        });
        let groups = aggregated_groups(doc).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].name, "apps");
        let (version, kinds) = &groups[0].versions[0];
        assert_eq!(version, "v1");
        let kinds = kinds.as_ref().unwrap();
        let mut deploy = served("apps", "v1", "Deployment", "deployments", &["deploy"]);
        deploy.verbs = vec!["get".into(), "list".into()];
        assert_eq!(kinds[0], deploy);
        assert_eq!(kinds[1].singular, "widget");
        assert!(!kinds[1].namespaced);
        assert_eq!(kinds.len(), 2);
        assert_eq!(groups[1].versions, vec![("v1beta1".to_owned(), None)]);

        let plain = serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []});
        assert_eq!(aggregated_groups(plain), None);
    }

    fn served(group: &str, version: &str, kind: &str, plural: &str, short: &[&str]) -> ServedKind {
        ServedKind {
            resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: if group.is_empty() {
                    version.into()
                } else {
                    format!("{group}/{version}")
                },
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced: kind != "Namespace",
            singular: kind.to_ascii_lowercase(),
            short_names: short.iter().map(|s| s.to_string()).collect(),
            verbs: vec!["list".into(), "patch".into()],
        }
    }

    fn sample() -> Discovery {
        Discovery {
            kinds: vec![
                served("", "v1", "ConfigMap", "configmaps", &["cm"]),
                served("", "v1", "Namespace", "namespaces", &["ns"]),
                served("apps", "v1", "Deployment", "deployments", &["deploy"]),
                served(
                    "autoscaling",
                    "v2",
                    "HorizontalPodAutoscaler",
                    "horizontalpodautoscalers",
                    &["hpa"],
                ),
                served(
                    "autoscaling",
                    "v1",
                    "HorizontalPodAutoscaler",
                    "horizontalpodautoscalers",
                    &["hpa"],
                ),
                served("events.k8s.io", "v1", "Event", "events", &["ev"]),
                served("", "v1", "Event", "events", &["ev"]),
            ],
            preferred: [
                ("apps", "v1"),
                ("autoscaling", "v2"),
                ("", "v1"),
                ("events.k8s.io", "v1"),
            ]
            .into_iter()
            .map(|(g, v)| (g.to_owned(), v.to_owned()))
            .collect(),
            failed: vec![FailedGroup {
                group_version: "metrics.k8s.io/v1beta1".into(),
                message: "503 service unavailable".into(),
            }],
        }
    }

    #[test]
    fn resolves_types_like_kubectl() {
        let d = sample();
        let kind = |t: &str| {
            d.find_type(t)
                .map(|k| k.resource.api_version.clone() + "/" + &k.resource.kind)
        };
        assert_eq!(kind("deploy").as_deref(), Some("apps/v1/Deployment"));
        assert_eq!(
            kind("deployment.apps").as_deref(),
            Some("apps/v1/Deployment")
        );
        assert_eq!(kind("Deployments").as_deref(), Some("apps/v1/Deployment"));
        assert_eq!(kind("cm").as_deref(), Some("v1/ConfigMap"));
        assert_eq!(
            kind("hpa").as_deref(),
            Some("autoscaling/v2/HorizontalPodAutoscaler")
        );
        assert_eq!(
            kind("hpa.v1.autoscaling").as_deref(),
            Some("autoscaling/v1/HorizontalPodAutoscaler")
        );
        // Core wins over another group's kind of the same name, as in kubectl.
        assert_eq!(kind("events").as_deref(), Some("v1/Event"));
        assert_eq!(
            kind("events.events.k8s.io").as_deref(),
            Some("events.k8s.io/v1/Event")
        );
        assert_eq!(kind("widgets"), None);
        assert_eq!(kind("deploy.nope"), None);
    }

    #[test]
    fn resolve_explains_what_is_not_served() {
        let d = sample();
        assert!(d.resolve("apps", "v1", "Deployment").is_ok());
        assert_eq!(
            d.resolve("apps", "v1beta1", "Deployment"),
            Err(NotServed::Version {
                served: vec!["v1".into()]
            })
        );
        assert_eq!(
            d.resolve("example.com", "v1", "Widget"),
            Err(NotServed::Kind)
        );
        assert!(matches!(
            d.resolve("metrics.k8s.io", "v1beta1", "PodMetrics"),
            Err(NotServed::DiscoveryFailed(_))
        ));
        assert_eq!(d.scope("", "Namespace"), Some(false));
        assert_eq!(d.scope("apps", "Deployment"), Some(true));
        assert_eq!(d.scope("example.com", "Widget"), None);
        assert_eq!(
            d.preferred_kind("autoscaling", "HorizontalPodAutoscaler")
                .map(|k| k.resource.version.as_str()),
            Some("v2")
        );
    }
}
