//! RESOURCE arguments (`deploy/web`, `cm`): resolved to the kinds and names they select.

use std::sync::Arc;

use gitops_cluster::{ClusterClient, Discovery};
use k8s_model::ResourceId;
use k8s_model::kinds::builtin_type;

use super::StatusError;

/// A RESOURCE argument resolved to a kind, and optionally a name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFilter {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name; `None` selects every resource of the kind.
    pub name: Option<String>,
    /// Namespace (from `-n`) for namespaced kinds; `None` matches any.
    pub namespace: Option<String>,
}

impl ResourceFilter {
    /// Whether the filter selects `id`.
    pub fn matches(&self, id: &ResourceId) -> bool {
        self.group == id.group
            && self.kind == id.kind
            && self.name.as_deref().is_none_or(|n| n == id.name)
            && (self.namespace.is_none()
                || id.namespace.is_none()
                || self.namespace == id.namespace)
    }
}

/// The built-in type `resource_type` names, as (group, kind, namespaced), or the error naming
/// `arg` and where it was looked for.
fn builtin_or(
    arg: &str,
    resource_type: &str,
    where_: &'static str,
) -> Result<(String, String, Option<bool>), StatusError> {
    let found = builtin_type(resource_type).ok_or_else(|| StatusError::UnknownResourceType {
        arg: arg.to_owned(),
        resource_type: resource_type.to_owned(),
        where_,
    })?;
    Ok((
        found.group.to_owned(),
        found.kind.to_owned(),
        Some(found.namespaced),
    ))
}

/// Resolves a RESOURCE argument written as kubectl takes it (`deploy/web`,
/// `deployment.apps/web`, `Service/web`, `cm/settings`, or a type alone): through discovery
/// when given (short names, plural and singular), else through the built-in table.
/// `namespace` is `-n`; it restricts namespaced kinds only.
pub fn resolve_resource_arg(
    arg: &str,
    namespace: Option<&str>,
    discovery: Option<&Discovery>,
) -> Result<ResourceFilter, StatusError> {
    let (resource_type, name) = match arg.split_once('/') {
        Some((resource_type, name)) => (resource_type, Some(name)),
        None => (arg, None),
    };
    if resource_type.is_empty() || name.is_some_and(|n| n.is_empty() || n.contains('/')) {
        return Err(StatusError::BadResourceArg {
            arg: arg.to_owned(),
        });
    }
    let (group, kind, namespaced) = match discovery {
        Some(discovery) => match discovery.find_type(resource_type) {
            Some(served) => (
                served.resource.group.clone(),
                served.resource.kind.clone(),
                Some(served.namespaced),
            ),
            // A built-in kind the cluster does not serve (an old API removed) still selects
            // the manifests declaring it, which then show as Unknown.
            None => builtin_or(arg, resource_type, " to the cluster")?,
        },
        None => builtin_or(arg, resource_type, " offline")?,
    };
    Ok(ResourceFilter {
        namespace: namespace
            .filter(|_| namespaced != Some(false))
            .map(str::to_owned),
        group,
        kind,
        name: name.map(str::to_owned),
    })
}

/// Resolves RESOURCE arguments against `discovery` (the environment's groups); a resource
/// type none of them names (a custom kind's short name the environment does not use) asks
/// discovery of every group, as kubectl would, and that fuller discovery is returned.
pub(crate) async fn resolve_resource_args(
    cluster: &ClusterClient,
    args: &[String],
    namespace: Option<&str>,
    discovery: Arc<Discovery>,
) -> Result<(Vec<ResourceFilter>, Arc<Discovery>), StatusError> {
    let resolve = |discovery: &Discovery| {
        args.iter()
            .map(|arg| resolve_resource_arg(arg, namespace, Some(discovery)))
            .collect::<Result<Vec<_>, _>>()
    };
    match resolve(&discovery) {
        Ok(filters) => Ok((filters, discovery)),
        Err(StatusError::UnknownResourceType { .. }) => {
            let all = cluster.discovery().await?;
            Ok((resolve(&all)?, all))
        }
        Err(error) => Err(error),
    }
}
