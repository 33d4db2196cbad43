//! What the cluster serves: every (group, version, kind) with its resource name, scope, short
//! names and verbs, read once per run.

use std::collections::BTreeMap;

use kube::core::ApiResource;

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
