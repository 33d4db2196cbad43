//! kube-rs access for the benchmark tools: a client from a kubeconfig file and server-side apply
//! of JSON objects. Shared by the `workload` and `loadgen` examples through `#[path]`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Client, Config};
use serde_json::Value;

/// The field manager our tool applies with.
pub const FIELD_MANAGER: &str = "kubectl-gitops";

/// Errors talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {message}; pass the file `kubectl gitops sandbox` printed")]
    Kubeconfig {
        /// Kubeconfig path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An object lacks apiVersion, kind or metadata.name.
    #[error("object without {0}: every manifest needs apiVersion, kind and metadata.name")]
    Malformed(&'static str),
    /// The API server refused or failed a request.
    #[error("{action} {kind} {name}: {source}")]
    Api {
        /// What was attempted.
        action: &'static str,
        /// Object kind.
        kind: String,
        /// `namespace/name` or `name`.
        name: String,
        /// Cause.
        #[source]
        source: Box<kube::Error>,
    },
}

/// A client for the cluster of `path`'s current context; clones share one connection pool.
pub async fn client_from(path: &Path) -> Result<Client, ClusterError> {
    let fail = |message: String| ClusterError::Kubeconfig {
        path: path.display().to_string(),
        message,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| fail(e.to_string()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| fail(e.to_string()))?;
    Client::try_from(config).map_err(|e| fail(e.to_string()))
}

/// Where a kind is served; the kinds the generator writes are known, others are discovered.
#[derive(Clone)]
pub struct Kinds {
    client: Client,
    known: HashMap<(String, String), (ApiResource, bool)>,
}

impl Kinds {
    /// The built-in kinds of the workload, without a discovery round trip.
    pub fn new(client: Client) -> Self {
        let mut known = HashMap::new();
        for (api_version, kind, plural, namespaced) in [
            ("v1", "Namespace", "namespaces", false),
            ("v1", "ConfigMap", "configmaps", true),
            ("v1", "Secret", "secrets", true),
            ("v1", "Service", "services", true),
            ("apps/v1", "Deployment", "deployments", true),
            ("apps/v1", "StatefulSet", "statefulsets", true),
        ] {
            let (group, version) = split_api_version(api_version);
            let gvk = GroupVersionKind::gvk(group, version, kind);
            known.insert(
                (api_version.to_string(), kind.to_string()),
                (ApiResource::from_gvk_with_plural(&gvk, plural), namespaced),
            );
        }
        Kinds { client, known }
    }

    /// The client these kinds are served by.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// An `Api` for `api_version`/`kind` in `namespace` (ignored for cluster-scoped kinds).
    pub async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, ClusterError> {
        let (resource, namespaced) = match self.known.get(&(api_version.into(), kind.into())) {
            Some(found) => found.clone(),
            None => {
                let (group, version) = split_api_version(api_version);
                let gvk = GroupVersionKind::gvk(group, version, kind);
                let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
                    .await
                    .map_err(|e| ClusterError::Api {
                        action: "discover",
                        kind: kind.into(),
                        name: api_version.into(),
                        source: Box::new(e),
                    })?;
                (ar, caps.scope == Scope::Namespaced)
            }
        };
        Ok(match (namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &resource),
            (true, None) => Api::default_namespaced_with(self.client.clone(), &resource),
            (false, _) => Api::all_with(self.client.clone(), &resource),
        })
    }

    /// Server-side applies `object` as `manager` (forcing conflicts, as a GitOps sync does).
    pub async fn apply(&self, object: &Value, manager: &str) -> Result<(), ClusterError> {
        let id = ObjectId::of(object)?;
        let api = self
            .api(&id.api_version, &id.kind, id.namespace.as_deref())
            .await?;
        api.patch(
            &id.name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(object),
        )
        .await
        .map_err(|e| ClusterError::Api {
            action: "apply",
            kind: id.kind.clone(),
            name: id.display_name(),
            source: Box::new(e),
        })?;
        Ok(())
    }
}

/// The identity of an object: apiVersion, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// `group/version` or `version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, if the manifest names one.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectId {
    /// Reads the identity fields of a manifest.
    pub fn of(object: &Value) -> Result<ObjectId, ClusterError> {
        let text = |ptr: &str| {
            object
                .pointer(ptr)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(ObjectId {
            api_version: text("/apiVersion").ok_or(ClusterError::Malformed("apiVersion"))?,
            kind: text("/kind").ok_or(ClusterError::Malformed("kind"))?,
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name").ok_or(ClusterError::Malformed("metadata.name"))?,
        })
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}
