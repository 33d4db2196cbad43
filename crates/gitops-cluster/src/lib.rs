//! The live cluster through kube-rs (async): a client from kubeconfig resolved as kubectl does,
//! discovery cached for the run, LISTs per kind and namespace, ApplySet members, and server-side
//! apply dry-runs. Transient failures (5xx, 429, connection resets) are retried with backoff.

pub mod applyset;
pub mod discovery;
pub mod watch;
pub mod write;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::params::{GetParams, ListParams};
use kube::core::{ApiResource, DynamicObject, Resource};
use serde_json::Value;
use tokio::sync::OnceCell;

pub use discovery::{Discovery, FailedGroup, NotServed, ServedKind};

/// Field manager of every write and dry-run (SPEC §6).
pub const FIELD_MANAGER: &str = "kubectl-gitops";

/// Default bound on concurrent API requests (STYLE: bounded and configurable).
pub const DEFAULT_CONCURRENCY: usize = 16;

/// ApplySet member LISTs in flight at once.
const MEMBER_LISTS_IN_FLIGHT: usize = 4;

/// Attempts for a request that fails transiently, the first included. A sync of hundreds of
/// objects makes hundreds of requests: against a server failing a quarter of them, 4 attempts
/// still lost one request in 300 (0.25^4), so a sync of 320 failed most times. 8 attempts
/// lose one in 65,000, which still failed about one sync of 320 in a hundred (the fault test,
/// several hundred requests: seen as a flaky test); 10 lose one in a million,
/// and wait at most ~21 s (backoff 0.1 s doubling, capped at 5 s).
const MAX_ATTEMPTS: u32 = 10;

/// Longest wait between attempts, also the cap on a server's `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Page size of LISTs, as kubectl's `--chunk-size` default.
const LIST_CHUNK: u32 = 500;

/// Errors of the cluster layer; each names the cluster (and resource) involved and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No kubeconfig could be read, or the context is not in it.
    #[error("{message} (kubeconfig {kubeconfig}); {hint}")]
    Kubeconfig {
        /// The files tried.
        kubeconfig: String,
        /// What went wrong.
        message: String,
        /// What to do.
        hint: &'static str,
    },
    /// The server could not be reached at all.
    #[error(
        "cannot reach the cluster at {server}: {} (kubeconfig {kubeconfig}, context {context}); check the context or pass --kubeconfig",
        transport_reason(.source)
    )]
    Unreachable {
        /// Server URL.
        server: String,
        /// Why (`connection refused`, a TLS error, ...).
        #[source]
        source: Box<kube::Error>,
        /// The kubeconfig files used.
        kubeconfig: String,
        /// The context used.
        context: String,
    },
    /// The server answered with an error status.
    #[error("{what}: {message} ({code} {reason})")]
    Api {
        /// The request (`list apps/v1 deployments in prod`).
        what: String,
        /// HTTP status code.
        code: u16,
        /// Machine-readable reason (`Forbidden`, `Invalid`, ...).
        reason: String,
        /// The server's message.
        message: String,
    },
    /// Any other client failure (a malformed response, a request that cannot be built).
    #[error("{what}: {source}")]
    Client {
        /// The request.
        what: String,
        /// What went wrong.
        #[source]
        source: Box<kube::Error>,
    },
    /// A LIST answer that is not a JSON object.
    #[error("{what}: the server's answer is not a JSON object")]
    NotAnObject {
        /// The request.
        what: String,
    },
}

impl ClusterError {
    /// HTTP status of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the server refused the request for lack of permission (403).
    pub fn is_forbidden(&self) -> bool {
        self.code() == Some(403)
    }

    /// Whether the object (or its namespace) does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// The server's message alone, for per-resource errors that already name the resource.
    pub fn server_message(&self) -> String {
        match self {
            ClusterError::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Counts of API requests made through one client, for benchmarks and tests.
#[derive(Debug, Default)]
pub struct RequestStats {
    lists: AtomicUsize,
    gets: AtomicUsize,
    dry_runs: AtomicUsize,
    retries: AtomicUsize,
    discoveries: AtomicUsize,
}

impl RequestStats {
    /// LIST requests (pages counted one each).
    pub fn lists(&self) -> usize {
        self.lists.load(Ordering::Relaxed)
    }
    /// GET requests (discovery excluded).
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::Relaxed)
    }
    /// Discovery requests (`/api`, `/apis`, a group version's document).
    pub fn discoveries(&self) -> usize {
        self.discoveries.load(Ordering::Relaxed)
    }
    /// Server-side apply dry-runs.
    pub fn dry_runs(&self) -> usize {
        self.dry_runs.load(Ordering::Relaxed)
    }
    /// Attempts repeated after a transient failure.
    pub fn retries(&self) -> usize {
        self.retries.load(Ordering::Relaxed)
    }
}

/// A connection to one cluster: kube client, the kubeconfig context it came from, and the
/// discovery cache of the run. Cheap to clone.
#[derive(Clone)]
pub struct ClusterClient {
    client: kube::Client,
    context: String,
    server: String,
    default_namespace: String,
    kubeconfig: String,
    concurrency: usize,
    discovery: Arc<DiscoveryState>,
    stats: Arc<RequestStats>,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("context", &self.context)
            .field("server", &self.server)
            .field("default_namespace", &self.default_namespace)
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

/// The kubeconfig files kubectl would read: `--kubeconfig`, else every existing file of
/// `$KUBECONFIG` (a path list, merged first-wins), else `~/.kube/config`.
pub fn kubeconfig_paths(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    std::env::var_os("HOME")
        .map(|home| vec![PathBuf::from(home).join(".kube").join("config")])
        .unwrap_or_default()
}

fn describe_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "none: $KUBECONFIG and $HOME are unset".to_owned();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// The namespace of the kubeconfig's context (`context` or the current one) read from the
/// kubeconfig alone, with no request: what `-n` defaults to under `--offline`. `None` when
/// there is no usable kubeconfig (then `default`, as kubectl has it).
pub async fn context_namespace(kubeconfig: Option<&Path>, context: Option<&str>) -> Option<String> {
    ClusterClient::connect(kubeconfig, context)
        .await
        .ok()
        .map(|c| c.default_namespace().to_owned())
}

impl ClusterClient {
    /// Connects as kubectl would: kubeconfig from `kubeconfig`, `$KUBECONFIG` or
    /// `~/.kube/config`; `context` or the current context; the context's namespace. Makes no
    /// request: an unreachable server shows on the first call, as [`ClusterError::Unreachable`].
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<ClusterClient, ClusterError> {
        let paths = kubeconfig_paths(kubeconfig);
        let described = describe_paths(&paths);
        let config_error = |message: String, hint: &'static str| ClusterError::Kubeconfig {
            kubeconfig: described.clone(),
            message,
            hint,
        };
        let mut merged: Option<Kubeconfig> = None;
        for path in &paths {
            // kubectl skips missing files of a $KUBECONFIG list, but not an explicit one.
            if kubeconfig.is_none() && paths.len() > 1 && !path.exists() {
                continue;
            }
            let read = Kubeconfig::read_from(path).map_err(|e| {
                config_error(
                    format!("cannot read kubeconfig {}: {e}", path.display()),
                    "fix the file, or pass --kubeconfig",
                )
            })?;
            merged = Some(match merged {
                None => read,
                Some(first) => first.merge(read).map_err(|e| {
                    config_error(
                        format!("cannot merge kubeconfig {}: {e}", path.display()),
                        "fix the file, or pass --kubeconfig",
                    )
                })?,
            });
        }
        let Some(config_file) = merged else {
            return Err(config_error(
                "no kubeconfig found".to_owned(),
                "pass --kubeconfig or set KUBECONFIG",
            ));
        };
        let context_name = match context {
            Some(name) => name.to_owned(),
            None => config_file.current_context.clone().ok_or_else(|| {
                config_error(
                    "no current context".to_owned(),
                    "pass --context or run `kubectl config use-context NAME`",
                )
            })?,
        };
        if !config_file.contexts.iter().any(|c| c.name == context_name) {
            let known: Vec<&str> = config_file
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(config_error(
                format!(
                    "context {context_name:?} is not in the kubeconfig (contexts: {})",
                    known.join(", ")
                ),
                "pass --context with one of them",
            ));
        }
        let options = KubeConfigOptions {
            context: Some(context_name.clone()),
            cluster: None,
            user: None,
        };
        let config = kube::Config::from_custom_kubeconfig(config_file, &options)
            .await
            .map_err(|e| {
                config_error(
                    format!("cannot use context {context_name:?}: {e}"),
                    "check the context's cluster and user entries",
                )
            })?;
        let mut config = config;
        // kube's own retry layer waits up to 15 times and honours any Retry-After; ours is
        // bounded (MAX_ATTEMPTS, MAX_BACKOFF) and also covers other 5xx and connection resets.
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let server = server.strip_suffix('/').unwrap_or(&server).to_owned();
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).map_err(|e| {
            config_error(
                format!("cannot build a client for context {context_name:?}: {e}"),
                "check the context's cluster and user entries",
            )
        })?;
        Ok(ClusterClient {
            client,
            context: context_name,
            server,
            default_namespace,
            kubeconfig: described,
            concurrency: DEFAULT_CONCURRENCY,
            discovery: Arc::default(),
            stats: Arc::new(RequestStats::default()),
        })
    }

    /// Wraps an existing kube client (tests, or a caller that built its own config; set its
    /// `default_retry` to false, as [`ClusterClient::connect`] does, so that retries stay
    /// bounded). `context` and `server` only label messages.
    pub fn from_client(
        client: kube::Client,
        context: impl Into<String>,
        server: impl Into<String>,
    ) -> ClusterClient {
        ClusterClient {
            default_namespace: client.default_namespace().to_owned(),
            client,
            context: context.into(),
            server: server.into(),
            kubeconfig: "(none)".to_owned(),
            concurrency: DEFAULT_CONCURRENCY,
            discovery: Arc::default(),
            stats: Arc::new(RequestStats::default()),
        }
    }

    /// This client without aggregated discovery: the group list, then each group version's
    /// document (the plain way, as servers before Kubernetes 1.26 need it; tests compare the
    /// two). Starts a fresh discovery cache.
    pub fn with_discovery_by_group(mut self) -> ClusterClient {
        self.discovery = Arc::new(DiscoveryState {
            by_group: true,
            ..DiscoveryState::default()
        });
        self
    }

    /// Sets the bound on concurrent requests (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> ClusterClient {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Bound on concurrent requests.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Name of the kubeconfig context.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// Server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The context's namespace, `default` when it sets none.
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// The kubeconfig files used, `:`-separated.
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    /// Request counters of this client (shared by its clones).
    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// The underlying kube client, for calls this layer does not wrap yet.
    pub fn kube_client(&self) -> &kube::Client {
        &self.client
    }

    /// Discovery of every group the server serves. Commands ask [`Self::discovery_of`] the
    /// groups their kinds need instead (SPEC §5); this is for what cannot know them in advance
    /// (a history's kinds across every commit, a resource type no rendered kind names).
    pub async fn discovery(&self) -> Result<Arc<Discovery>, ClusterError> {
        let index = self.discovery_index().await?;
        let all: Vec<String> = index.groups.iter().map(|g| g.name.clone()).collect();
        self.discovery_of(all.iter().map(String::as_str)).await
    }

    /// Discovery of the core group and of `groups` (the empty name is core; groups the server
    /// does not list are simply not served). Each group's documents are read once for the life
    /// of this client (and its clones), its versions concurrently; a group version that fails
    /// (an aggregated API whose backend is down) is one entry of [`Discovery::failed`], and
    /// only a cluster that cannot be reached is an error. The result holds core and the
    /// groups asked for (in the server's order), whatever else was read before.
    pub async fn discovery_of<'a>(
        &self,
        groups: impl IntoIterator<Item = &'a str>,
    ) -> Result<Arc<Discovery>, ClusterError> {
        let index = self.discovery_index().await?;
        let wanted: BTreeSet<&str> = groups.into_iter().filter(|g| !g.is_empty()).collect();
        let mut read = self.discovery.groups.lock().await;
        let missing: Vec<(usize, String, String)> = index
            .groups
            .iter()
            .filter(|g| wanted.contains(g.name.as_str()) && !read.contains_key(&g.name))
            .flat_map(|g| {
                g.versions
                    .iter()
                    .map(move |version| (g.name.clone(), format!("{}/{version}", g.name)))
            })
            .enumerate()
            .map(|(order, (group, group_version))| (order, group, group_version))
            .collect();
        let fetched: Vec<(usize, String, String, Result<_, ClusterError>)> =
            futures::stream::iter(missing)
                .map(|(order, group, group_version)| async move {
                    let what = format!("discover /apis/{group_version}");
                    self.stats.discoveries.fetch_add(1, Ordering::Relaxed);
                    // An aggregated API whose backend is down answers 503 at once and keeps
                    // doing so: one warning and on (as kubectl), never a back-off stall.
                    let result = self
                        .retrying(&what, false, || {
                            self.client.list_api_group_resources(&group_version)
                        })
                        .await;
                    (order, group, group_version, result)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        let mut fetched = fetched;
        fetched.sort_by_key(|(order, ..)| *order);
        let mut answers: BTreeMap<String, Vec<VersionDiscovery>> = BTreeMap::new();
        for (_, group, group_version, result) in fetched {
            let answer = match result {
                Ok(list) => {
                    let mut kinds = Vec::new();
                    let (name, version) = k8s_model::split_api_version(&group_version);
                    push_kinds(&mut kinds, name, version, &list.resources);
                    Ok(kinds)
                }
                Err(error @ ClusterError::Unreachable { .. }) => return Err(error),
                Err(error) => {
                    tracing::debug!("{error}; its kinds are reported Unknown");
                    Err(failed_message(&error))
                }
            };
            answers.entry(group).or_default().push(VersionDiscovery {
                group_version,
                answer,
            });
        }
        read.extend(answers);
        let mut discovery = Discovery {
            kinds: index.core.clone(),
            preferred: index.preferred.clone(),
            ..Discovery::default()
        };
        for group in index
            .groups
            .iter()
            .filter(|g| wanted.contains(g.name.as_str()))
        {
            for version in read.get(&group.name).into_iter().flatten() {
                match &version.answer {
                    Ok(kinds) => discovery.kinds.extend(kinds.iter().cloned()),
                    Err(message) => discovery.failed.push(FailedGroup {
                        group_version: version.group_version.clone(),
                        message: message.clone(),
                    }),
                }
            }
        }
        Ok(Arc::new(discovery))
    }

    /// [`Self::discovery_of`] the groups of `objects`' `apiVersion`s (ApplySet members,
    /// already discovered to list them: no request).
    pub async fn discovery_of_objects(
        &self,
        objects: &[Value],
    ) -> Result<Arc<Discovery>, ClusterError> {
        let groups: BTreeSet<&str> = objects
            .iter()
            .filter_map(|o| o.get("apiVersion").and_then(Value::as_str))
            .map(|api_version| k8s_model::split_api_version(api_version).0)
            .collect();
        self.discovery_of(groups).await
    }

    /// The core group's kinds and the list of groups with their versions (`/api/v1`, `/apis`):
    /// two requests, read once for the life of this client.
    async fn discovery_index(&self) -> Result<Arc<DiscoveryIndex>, ClusterError> {
        self.discovery
            .index
            .get_or_try_init(|| async {
                let aggregated = match self.discovery.by_group {
                    true => Ok(None),
                    false => self.aggregated_index().await,
                };
                match aggregated {
                    Ok(Some(index)) => return Ok(Arc::new(index)),
                    Ok(None) => {}
                    Err(error @ ClusterError::Unreachable { .. }) => return Err(error),
                    Err(error) => {
                        tracing::debug!("{error}; discovering group by group");
                    }
                }
                self.stats.discoveries.fetch_add(2, Ordering::Relaxed);
                let (core, groups) = futures::try_join!(
                    self.with_retry("discover /api/v1", || {
                        self.client.list_core_api_resources("v1")
                    }),
                    self.with_retry("discover /apis", || self.client.list_api_groups()),
                )?;
                let mut index = DiscoveryIndex::default();
                index.preferred.insert(String::new(), "v1".to_owned());
                push_kinds(&mut index.core, "", "v1", &core.resources);
                for group in &groups.groups {
                    let preferred = group
                        .preferred_version
                        .as_ref()
                        .map(|v| v.version.clone())
                        .or_else(|| group.versions.first().map(|v| v.version.clone()));
                    if let Some(version) = preferred.clone() {
                        index.preferred.insert(group.name.clone(), version);
                    }
                    // Preferred version first, so lookups by group and kind find it first.
                    let mut versions: Vec<String> =
                        group.versions.iter().map(|v| v.version.clone()).collect();
                    versions.sort_by_key(|v| Some(v) != preferred.as_ref());
                    index.groups.push(ListedGroup {
                        name: group.name.clone(),
                        versions,
                    });
                }
                Ok(Arc::new(index))
            })
            .await
            .cloned()
    }

    /// Aggregated discovery (`/api` and `/apis`, two requests for every kind the server
    /// serves, as kubectl reads it): the index, and every group whose versions are all fresh
    /// noted as read. A stale version (an aggregated API whose backend is down) leaves its
    /// group unread: [`Self::discovery_of`] asks it directly when a manifest needs it, and so
    /// says why it is unavailable. `None` when the server has no aggregated discovery.
    async fn aggregated_index(&self) -> Result<Option<DiscoveryIndex>, ClusterError> {
        let fetch = |path: &'static str| {
            let what = format!("discover {path}");
            self.stats.discoveries.fetch_add(1, Ordering::Relaxed);
            async move {
                let doc = self
                    .with_retry(&what, || async {
                        let request = http::Request::get(path)
                            .header(http::header::ACCEPT, discovery::AGGREGATED_ACCEPT)
                            .body(Vec::new())
                            .map_err(kube::Error::HttpError)?;
                        self.client.request::<Value>(request).await
                    })
                    .await?;
                Ok::<_, ClusterError>(discovery::aggregated_groups(doc))
            }
        };
        let (core, groups) = futures::try_join!(fetch("/api"), fetch("/apis"))?;
        let (Some(core), Some(groups)) = (core, groups) else {
            return Ok(None);
        };
        let mut index = DiscoveryIndex::default();
        index.preferred.insert(String::new(), "v1".to_owned());
        for group in core {
            for (version, kinds) in group.versions {
                if version == "v1" {
                    index.core.extend(kinds.into_iter().flatten());
                }
            }
        }
        let mut read = self.discovery.groups.lock().await;
        for group in groups.into_iter().filter(|g| !g.name.is_empty()) {
            if let Some((preferred, _)) = group.versions.first() {
                index
                    .preferred
                    .insert(group.name.clone(), preferred.clone());
            }
            index.groups.push(ListedGroup {
                name: group.name.clone(),
                versions: group.versions.iter().map(|(v, _)| v.clone()).collect(),
            });
            if group.versions.iter().all(|(_, kinds)| kinds.is_some()) {
                let versions = group
                    .versions
                    .into_iter()
                    .map(|(version, kinds)| VersionDiscovery {
                        group_version: format!("{}/{version}", group.name),
                        answer: Ok(kinds.unwrap_or_default()),
                    })
                    .collect();
                read.insert(group.name, versions);
            }
        }
        Ok(Some(index))
    }

    /// The answer to a LIST of one name (a `metadata.name` field selector: no error when
    /// it does not exist), retried on transient failures as every other request.
    pub async fn list_by_name(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ClusterError> {
        let url = DynamicObject::url_path(resource, namespace);
        let what = format!(
            "list {} {}/{name}{}",
            resource.api_version,
            resource.plural,
            namespace
                .map(|ns| format!(" in namespace {ns}"))
                .unwrap_or_default()
        );
        let params = ListParams::default().fields(&format!("metadata.name={name}"));
        self.with_retry(&what, || {
            let request = kube::core::Request::new(url.clone()).list(&params);
            async move {
                let request = request.map_err(kube::Error::BuildRequest)?;
                self.client.request::<Value>(request).await
            }
        })
        .await
    }

    /// Every object of a kind in `namespace` (all namespaces for `None`, or a cluster-scoped
    /// kind), optionally filtered by a label selector, paged. Items carry `apiVersion` and
    /// `kind` (the server leaves them out of list items).
    pub async fn list(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        self.list_as(resource, namespace, label_selector, false)
            .await
    }

    /// [`Self::list`] of the objects' `metadata` only (the API server's
    /// `PartialObjectMetadataList`), each with the resource's `apiVersion` and `kind`: a
    /// fraction of the bytes where objects are large (CRDs, dashboards in ConfigMaps).
    pub async fn list_metadata(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        self.list_as(resource, namespace, label_selector, true)
            .await
    }

    async fn list_as(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        metadata_only: bool,
    ) -> Result<Vec<Value>, ClusterError> {
        let url = DynamicObject::url_path(resource, namespace);
        let what = match namespace {
            Some(ns) => format!(
                "list {} {} in namespace {ns}",
                resource.api_version, resource.plural
            ),
            None => format!("list {} {}", resource.api_version, resource.plural),
        };
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().limit(LIST_CHUNK);
            if let Some(selector) = label_selector {
                params = params.labels(selector);
            }
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            self.stats.lists.fetch_add(1, Ordering::Relaxed);
            let asked = std::time::Instant::now();
            let page: Value = self
                .with_retry(&what, || {
                    let request = kube::core::Request::new(url.clone()).list(&params);
                    async move {
                        let mut request = request.map_err(kube::Error::BuildRequest)?;
                        if metadata_only {
                            request.headers_mut().insert(
                                http::header::ACCEPT,
                                http::header::HeaderValue::from_static(METADATA_LIST),
                            );
                        }
                        self.client.request::<Value>(request).await
                    }
                })
                .await?;
            let Value::Object(mut page) = page else {
                return Err(ClusterError::NotAnObject { what });
            };
            if let Some(Value::Array(page_items)) = page.remove("items") {
                tracing::debug!(
                    elapsed_ms = asked.elapsed().as_millis(),
                    items = page_items.len(),
                    "{what}"
                );
                items.extend(page_items.into_iter().map(|mut item| {
                    // `PartialObjectMetadata` of `meta.k8s.io/v1`: the object's own type
                    // instead.
                    if metadata_only && let Value::Object(fields) = &mut item {
                        fields.remove("apiVersion");
                        fields.remove("kind");
                    }
                    with_type_meta(item, resource)
                }));
            }
            token = page
                .get("metadata")
                .and_then(|m| m.get("continue"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    /// One object, `None` when it does not exist.
    pub async fn get(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let url = DynamicObject::url_path(resource, namespace);
        let what = describe("get", resource, namespace, name);
        self.stats.gets.fetch_add(1, Ordering::Relaxed);
        let result = self
            .with_retry(&what, || {
                let request =
                    kube::core::Request::new(url.clone()).get(name, &GetParams::default());
                async move {
                    let request = request.map_err(kube::Error::BuildRequest)?;
                    self.client.request::<Value>(request).await
                }
            })
            .await;
        match result {
            Ok(object) => Ok(Some(object)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Server-side apply dry-run of `object` (manager `kubectl-gitops`, `force`,
    /// `dryRun=All`): what a sync would make the live object. A 403 is
    /// [`ClusterError::is_forbidden`], the caller's signal to fall back to the client strategy.
    pub async fn apply_dry_run(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        object: &Value,
    ) -> Result<Value, ClusterError> {
        let mode = write::ApplyMode {
            force: true,
            dry_run: true,
        };
        self.apply(resource, namespace, name, object, mode).await
    }

    /// Members of an ApplySet: objects labelled `applyset.kubernetes.io/part-of=<id>`, listed
    /// in all namespaces for each group-kind the parent's `contains-group-kinds` annotation
    /// names. No parent, or no annotation, means no members. Group-kinds the cluster no longer
    /// serves are skipped (nothing of them can exist).
    pub async fn applyset_members(
        &self,
        parent_name: &str,
        parent_namespace: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        self.members_and_kinds(parent_name, parent_namespace, false, &HashSet::new(), None)
            .await
    }

    /// [`Self::applyset_members`], each member's `apiVersion`, `kind` and `metadata` only
    /// ([`Self::list_metadata`]).
    pub async fn applyset_member_metadata(
        &self,
        parent_name: &str,
        parent_namespace: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        self.members_and_kinds(parent_name, parent_namespace, true, &HashSet::new(), None)
            .await
    }

    /// [`Self::applyset_member_metadata`] without the group-kinds in `listed` (group, kind):
    /// those the caller lists whole anyway (every object of a cluster-scoped kind), and finds
    /// the members of by their `part-of` label itself, instead of reading them twice. Returns
    /// the members listed and every group-kind the parent names (members of the others are
    /// not members).
    pub async fn applyset_member_metadata_except(
        &self,
        parent_name: &str,
        parent_namespace: &str,
        listed: &HashSet<(String, String)>,
    ) -> Result<(Vec<Value>, HashSet<(String, String)>), ClusterError> {
        let mut group_kinds = HashSet::new();
        let members = self
            .members_and_kinds(
                parent_name,
                parent_namespace,
                true,
                listed,
                Some(&mut group_kinds),
            )
            .await?;
        Ok((members, group_kinds))
    }

    async fn members_and_kinds(
        &self,
        parent_name: &str,
        parent_namespace: &str,
        metadata_only: bool,
        listed: &HashSet<(String, String)>,
        named_kinds: Option<&mut HashSet<(String, String)>>,
    ) -> Result<Vec<Value>, ClusterError> {
        let configmap = core_resource("ConfigMap", "configmaps");
        let Some(parent) = self
            .get(&configmap, Some(parent_namespace), parent_name)
            .await?
        else {
            return Ok(Vec::new());
        };
        let id = applyset::applyset_id(parent_name, parent_namespace);
        let group_kinds = parent
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(applyset::CONTAINS_GROUP_KINDS_ANNOTATION))
            .and_then(Value::as_str)
            .map(applyset::parse_group_kinds)
            .unwrap_or_default();
        if let Some(named_kinds) = named_kinds {
            named_kinds.extend(group_kinds.iter().cloned());
        }
        let discovery = self
            .discovery_of(group_kinds.iter().map(|(group, _)| group.as_str()))
            .await?;
        let resources: Vec<ApiResource> = group_kinds
            .iter()
            .filter(|group_kind| !listed.contains(*group_kind))
            .filter_map(|(group, kind)| discovery.preferred_kind(group, kind))
            .map(|served| served.resource.clone())
            .collect();
        let selector = format!("{}={id}", applyset::PART_OF_LABEL);
        let lists: Vec<Vec<Value>> = futures::stream::iter(resources)
            .map(|resource| {
                let selector = selector.clone();
                async move {
                    self.list_as(&resource, None, Some(&selector), metadata_only)
                        .await
                }
            })
            // Small answers, listed beside a caller's own LISTs: a few at a time keep the
            // server busy without a new TLS connection each (HTTP/1.1: one per request in
            // flight).
            .buffer_unordered(self.concurrency.min(MEMBER_LISTS_IN_FLIGHT))
            .try_collect()
            .await?;
        Ok(lists.into_iter().flatten().collect())
    }

    /// Runs a request, retrying transient failures (5xx, 429, connection reset) with
    /// exponential backoff, at most [`MAX_ATTEMPTS`] times; a 429's `retryAfterSeconds` is
    /// honoured up to [`MAX_BACKOFF`].
    async fn with_retry<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        self.retrying(what, true, call).await
    }

    /// [`Self::with_retry`]; with `retry_unavailable` false a 503 (Service Unavailable) is
    /// final at once.
    async fn retrying<T, F, Fut>(
        &self,
        what: &str,
        retry_unavailable: bool,
        mut call: F,
    ) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut attempt = 1;
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let unavailable = matches!(&error, kube::Error::Api(status) if status.code == 503);
            let wait = if unavailable && !retry_unavailable {
                None
            } else {
                transient_wait(&error, attempt)
            };
            match wait {
                Some(wait) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!("{what}: {error}; retrying in {wait:?}");
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return Err(self.classify(what, error)),
            }
        }
    }

    fn classify(&self, what: &str, error: kube::Error) -> ClusterError {
        match error {
            kube::Error::Api(status) => ClusterError::Api {
                what: what.to_owned(),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            error if is_transport(&error) => ClusterError::Unreachable {
                server: self.server.clone(),
                source: Box::new(error),
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
            },
            error => ClusterError::Client {
                what: what.to_owned(),
                source: Box::new(error),
            },
        }
    }
}

/// `<verb> <apiVersion> <plural>/<name>[ in namespace <ns>]`, naming a request in errors.
fn describe(verb: &str, resource: &ApiResource, namespace: Option<&str>, name: &str) -> String {
    let namespace = namespace
        .map(|ns| format!(" in namespace {ns}"))
        .unwrap_or_default();
    format!(
        "{verb} {} {}/{name}{namespace}",
        resource.api_version, resource.plural
    )
}

/// A core/v1 resource, for the few kinds this tool reads by name (ConfigMap, Namespace).
pub fn core_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// What discovery read once per client: the index, then each group asked for.
#[derive(Default)]
struct DiscoveryState {
    /// Never ask for aggregated discovery ([`ClusterClient::with_discovery_by_group`]).
    by_group: bool,
    index: OnceCell<Arc<DiscoveryIndex>>,
    /// Per group name, its versions' answers (preferred version first).
    groups: tokio::sync::Mutex<BTreeMap<String, Vec<VersionDiscovery>>>,
}

/// `/api/v1` and `/apis`.
#[derive(Default)]
struct DiscoveryIndex {
    core: Vec<ServedKind>,
    /// Groups in the server's preference order.
    groups: Vec<ListedGroup>,
    /// Preferred version per group (`""`: core).
    preferred: BTreeMap<String, String>,
}

struct ListedGroup {
    name: String,
    /// Preferred first.
    versions: Vec<String>,
}

/// One group version's kinds, or why they could not be read.
struct VersionDiscovery {
    group_version: String,
    answer: Result<Vec<ServedKind>, String>,
}

/// The warning text of a group version that could not be discovered.
fn failed_message(error: &ClusterError) -> String {
    match error {
        // kube-rs names a body that is no Status "Failed to parse error data" (an aggregated
        // API's proxy answers plain text): the code says it.
        ClusterError::Api {
            code,
            reason,
            message,
            ..
        } if reason.is_empty() || reason.starts_with("Failed to parse") => {
            format!("{message} (HTTP {code})")
        }
        ClusterError::Api {
            code,
            reason,
            message,
            ..
        } => format!("{message} ({code} {reason})"),
        other => other.server_message(),
    }
}

/// Adds each discovered top-level resource (subresources like `deployments/scale` skipped).
fn push_kinds(
    kinds: &mut Vec<ServedKind>,
    group: &str,
    version: &str,
    resources: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource],
) {
    for resource in resources.iter().filter(|r| !r.name.contains('/')) {
        kinds.push(ServedKind {
            resource: ApiResource {
                group: group.to_owned(),
                version: version.to_owned(),
                api_version: if group.is_empty() {
                    version.to_owned()
                } else {
                    format!("{group}/{version}")
                },
                kind: resource.kind.clone(),
                plural: resource.name.clone(),
            },
            namespaced: resource.namespaced,
            singular: if resource.singular_name.is_empty() {
                resource.kind.to_ascii_lowercase()
            } else {
                resource.singular_name.clone()
            },
            short_names: resource.short_names.clone().unwrap_or_default(),
            verbs: resource.verbs.clone(),
        });
    }
}

/// The `Accept` of a LIST of metadata only, JSON as a fallback (as kubectl and kube-rs ask).
const METADATA_LIST: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/// Puts `apiVersion` and `kind` first in a list item, where the server left them out.
pub fn with_type_meta(item: Value, resource: &ApiResource) -> Value {
    let Value::Object(mut fields) = item else {
        return item;
    };
    if fields.contains_key("apiVersion") && fields.contains_key("kind") {
        return Value::Object(fields);
    }
    let mut object = serde_json::Map::new();
    object.insert(
        "apiVersion".into(),
        fields
            .remove("apiVersion")
            .unwrap_or_else(|| Value::String(resource.api_version.clone())),
    );
    object.insert(
        "kind".into(),
        fields
            .remove("kind")
            .unwrap_or_else(|| Value::String(resource.kind.clone())),
    );
    object.append(&mut fields);
    Value::Object(object)
}

/// How long to wait before retrying `error`, `None` when it is not transient.
fn transient_wait(error: &kube::Error, attempt: u32) -> Option<Duration> {
    let backoff =
        (Duration::from_millis(100) * 2u32.pow(attempt.saturating_sub(1))).min(MAX_BACKOFF);
    match error {
        kube::Error::Api(status) if status.code == 429 => {
            let retry_after = status
                .details
                .as_ref()
                .map(|d| u64::from(d.retry_after_seconds))
                .filter(|s| *s > 0)
                .map(Duration::from_secs);
            Some(retry_after.unwrap_or(backoff).min(MAX_BACKOFF))
        }
        kube::Error::Api(status) if status.code >= 500 => Some(backoff),
        error if is_transport(error) => {
            // A refused connection is a server that is not there: fail fast with a clear message.
            let io_kind = io_error(error).map(std::io::Error::kind);
            match io_kind {
                Some(
                    std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof,
                ) => Some(backoff),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_transport(error: &kube::Error) -> bool {
    matches!(error, kube::Error::HyperError(_) | kube::Error::Service(_))
}

fn io_error(error: &kube::Error) -> Option<&std::io::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = current.source();
    }
    None
}

/// A short reason for a transport failure: `connection refused`, or the innermost message.
fn transport_reason(error: &kube::Error) -> String {
    if let Some(io) = io_error(error) {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::TimedOut => "connection timed out".to_owned(),
            _ => io.to_string(),
        };
    }
    let mut innermost: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    innermost.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_get_type_meta_first() {
        let resource = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
        };
        let item = serde_json::json!({"metadata": {"name": "web"}, "spec": {}});
        let object = with_type_meta(item, &resource);
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"]);
        assert_eq!(object["apiVersion"], "apps/v1");
    }

    #[test]
    fn only_transient_errors_are_retried() {
        let status = |code: u16| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            }))
        };
        assert!(transient_wait(&status(503), 1).is_some());
        assert!(transient_wait(&status(429), 1).is_some());
        assert!(transient_wait(&status(403), 1).is_none());
        assert!(transient_wait(&status(422), 1).is_none());
        assert!(transient_wait(&status(500), 10).unwrap() <= MAX_BACKOFF);
    }

    /// Answers each connection with the next canned `(status line, body)`, closing it after.
    async fn canned_server(answers: Vec<(&'static str, String)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = vec![0u8; 16384];
                let _ = socket.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
                let _ = socket.shutdown().await;
            }
        });
        format!("http://{address}")
    }

    fn status_body(code: u16, reason: &str, details: &str) -> String {
        format!(
            r#"{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"canned {code}","reason":"{reason}","code":{code}{details}}}"#
        )
    }

    #[tokio::test]
    async fn transient_errors_are_retried_and_forbidden_is_not() {
        let list = r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a"}}]}"#;
        let server = canned_server(vec![
            (
                "503 Service Unavailable",
                status_body(503, "ServiceUnavailable", ""),
            ),
            (
                "429 Too Many Requests",
                status_body(
                    429,
                    "TooManyRequests",
                    r#","details":{"retryAfterSeconds":1}"#,
                ),
            ),
            ("200 OK", list.to_owned()),
            ("403 Forbidden", status_body(403, "Forbidden", "")),
        ])
        .await;
        let mut config = kube::Config::new(server.parse().unwrap());
        config.default_retry = false;
        let client =
            ClusterClient::from_client(kube::Client::try_from(config).unwrap(), "c", &server);
        let configmaps = core_resource("ConfigMap", "configmaps");
        let items = client.list(&configmaps, Some("ns"), None).await.unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["kind"], "ConfigMap");
        assert_eq!(client.stats().retries(), 2);
        let forbidden = client
            .apply_dry_run(&configmaps, Some("ns"), "a", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(forbidden.is_forbidden(), "{forbidden}");
        assert_eq!(forbidden.server_message(), "canned 403");
        assert_eq!(client.stats().retries(), 2, "403 is not retried");
        assert_eq!(client.stats().dry_runs(), 1);
    }

    #[tokio::test]
    async fn connect_reads_context_server_and_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: https://10.0.0.1:6443\n- name: c2\n  cluster:\n    server: https://10.0.0.2:6443\ncontexts:\n- name: one\n  context:\n    cluster: c1\n    user: u\n- name: two\n  context:\n    cluster: c2\n    user: u\n    namespace: team\nusers:\n- name: u\n  user:\n    token: t\ncurrent-context: one\n",
        )
        .unwrap();
        let current = ClusterClient::connect(Some(&path), None).await.unwrap();
        assert_eq!(current.context(), "one");
        assert_eq!(current.server(), "https://10.0.0.1:6443");
        assert_eq!(current.default_namespace(), "default");
        let two = ClusterClient::connect(Some(&path), Some("two"))
            .await
            .unwrap();
        assert_eq!(two.server(), "https://10.0.0.2:6443");
        assert_eq!(two.default_namespace(), "team");
        let missing = ClusterClient::connect(Some(&dir.path().join("nope")), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read kubeconfig"), "{missing}");
        assert!(missing.contains("nope"), "{missing}");
    }

    #[test]
    fn kubeconfig_explicit_path_wins() {
        let paths = kubeconfig_paths(Some(Path::new("/x/config")));
        assert_eq!(paths, vec![PathBuf::from("/x/config")]);
    }
}
