//! HTTP serving: routing, discovery, CRUD, watch, subresources, Status errors, fault injection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::SandboxOptions;
use super::crud;
use super::discovery;
use super::kinds::KindInfo;
use super::openapi;
use super::openapi_v2;
use super::status::ApiError;
use super::store::Store;
use super::watch;

/// Response body: whole documents or a watch stream.
pub type Body = BoxBody<Bytes, Infallible>;

/// What every request handler shares.
pub struct Shared {
    /// The objects; one lock, held only for in-memory work and one log append.
    pub store: Mutex<Store>,
    /// The flags the sandbox runs with.
    pub opts: SandboxOptions,
    /// Address served, for discovery's serverAddressByClientCIDRs.
    pub addr: SocketAddr,
    /// Becomes true on shutdown; watches end.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// OpenAPI documents by path, valid for one set of served kinds.
    pub openapi: Mutex<OpenApiCache>,
    /// When each object with a pending rollout is due.
    pub pending_rollouts:
        Mutex<std::collections::HashMap<super::crud::RolloutKey, std::time::Instant>>,
}

/// OpenAPI documents are large and only change with the served kinds (CRDs): build them once.
#[derive(Default)]
pub struct OpenApiCache {
    kinds: Option<Arc<Vec<KindInfo>>>,
    docs: std::collections::HashMap<String, Option<Bytes>>,
}

impl Shared {
    /// The OpenAPI document at `path`, built by `build` once per set of served kinds.
    fn openapi_doc(
        &self,
        path: &str,
        build: impl FnOnce(&[KindInfo]) -> Option<Bytes>,
    ) -> Option<Bytes> {
        let kinds = self.lock().kinds();
        let mut cache = self.openapi.lock().unwrap_or_else(PoisonError::into_inner);
        if !cache.kinds.as_ref().is_some_and(|k| Arc::ptr_eq(k, &kinds)) {
            cache.kinds = Some(kinds.clone());
            cache.docs.clear();
        }
        if let Some(doc) = cache.docs.get(path) {
            return doc.clone();
        }
        let doc = build(&kinds);
        cache.docs.insert(path.to_string(), doc.clone());
        doc
    }
}

impl Shared {
    /// The store, even if a handler panicked while holding it (its writes are all-or-nothing).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One request, read whole (bodies are small manifests).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// `Accept` header.
    pub accept: String,
    /// `Content-Type` header without parameters.
    pub content_type: String,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Request body.
    pub body: Bytes,
}

impl ApiRequest {
    /// First value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`/`1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }
}

/// What a request addresses below `/api/v1` or `/apis/<g>/<v>`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The served kind.
    pub kind: KindInfo,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// `status` or `scale`.
    pub subresource: Option<String>,
    /// Whether the path used the legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

/// A finished, non-streaming answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub code: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Body.
    pub body: Bytes,
    /// `Warning` headers (already formatted `299 - "…"`).
    pub warnings: Vec<String>,
}

/// Content-Type of Table answers.
pub const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
/// Content-Type of aggregated discovery answers.
pub const AGGREGATED_V2_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// Content-Type of aggregated discovery answers for clients that only know v2beta1.
pub const AGGREGATED_V2BETA1_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
/// Content-Type of PartialObjectMetadata answers.
pub const METADATA_CONTENT_TYPE: &str =
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io";
/// Content-Type of PartialObjectMetadataList answers.
pub const METADATA_LIST_CONTENT_TYPE: &str =
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io";

impl Reply {
    /// 200 with a JSON document.
    pub fn json(value: &Value) -> Reply {
        Reply::bytes(
            200,
            Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        )
    }

    /// JSON bytes with a status code.
    pub fn bytes(code: u16, body: Bytes) -> Reply {
        Reply {
            code,
            content_type: "application/json",
            body,
            warnings: Vec::new(),
        }
    }

    /// The Status of an error.
    pub fn error(err: &ApiError) -> Reply {
        Reply::bytes(
            err.code,
            Bytes::from(serde_json::to_vec(&err.to_status()).unwrap_or_default()),
        )
    }

    fn into_response(self, retry_after: Option<u64>) -> Response<Body> {
        let mut builder = Response::builder()
            .status(StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("Content-Type", self.content_type)
            .header("Cache-Control", "no-cache, private");
        for w in &self.warnings {
            builder = builder.header("Warning", w);
        }
        if let Some(s) = retry_after {
            builder = builder.header("Retry-After", s.to_string());
        }
        builder
            .body(Full::new(self.body).boxed())
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
    }
}

fn error_response(err: &ApiError) -> Response<Body> {
    Reply::error(err).into_response(err.retry_after)
}

/// Serves one HTTP request.
pub async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = header("content-type");
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(error_response(&ApiError::bad_request(format!(
                "cannot read the request body: {e}"
            ))));
        }
    };
    let req = ApiRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query,
        accept: header("accept"),
        content_type,
        user_agent: header("user-agent"),
        body,
    };
    let exempt = matches!(
        req.path.as_str(),
        "/version" | "/healthz" | "/readyz" | "/livez"
    );
    if !exempt {
        if let Some(err) = injected_fault(&shared.opts) {
            delay(&shared.opts).await;
            return Ok(error_response(&err));
        }
        delay(&shared.opts).await;
    }
    tracing::debug!(method = %req.method, path = %req.path, "sandbox request");
    Ok(route(shared, req).await)
}

fn injected_fault(opts: &SandboxOptions) -> Option<ApiError> {
    if opts.fail_rate > 0.0 && rand::random::<f64>() < opts.fail_rate {
        return Some(ApiError::internal("injected fault (--fail-rate)"));
    }
    if opts.throttle_rate > 0.0 && rand::random::<f64>() < opts.throttle_rate {
        return Some(ApiError::too_many_requests());
    }
    None
}

async fn delay(opts: &SandboxOptions) {
    if opts.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(opts.latency_ms)).await;
    }
}

/// Runs `f`; a panic (a bug, or a part of the sandbox not built yet) becomes `None` and an
/// error log instead of a dropped connection.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!("sandbox: {what} panicked: {msg}");
            None
        }
    }
}

/// Answers one request: version, health, discovery and OpenAPI first, then the served kinds.
async fn route(shared: Arc<Shared>, req: ApiRequest) -> Response<Body> {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let get = req.method == Method::GET;
    if get {
        match discovery_reply(&shared, &req, &segs)
            .or_else(|| openapi_reply(&shared, &req, &segs).map(Ok))
        {
            Some(Ok(reply)) => return reply.into_response(None),
            Some(Err(err)) => return error_response(&err),
            None => {}
        }
    }
    let target = {
        let kinds = shared.lock().kinds();
        resolve(&kinds, &segs)
    };
    let Some(target) = target else {
        return error_response(&ApiError::no_route());
    };
    let watching = target.legacy_watch || (get && req.flag("watch"));
    if watching {
        if target.subresource.is_some() {
            return error_response(&ApiError::method_not_allowed());
        }
        return watch::serve_watch(shared, req, target);
    }
    let outcome = guarded("request handler", || crud::handle(&shared, &req, &target));
    match outcome {
        Some(Ok((reply, deferred))) => {
            for work in deferred {
                crud::schedule(shared.clone(), work);
            }
            reply.into_response(None)
        }
        Some(Err(err)) => error_response(&err),
        None => error_response(&ApiError::internal(
            "the sandbox failed handling this request; see its log",
        )),
    }
}

/// A GET of version, health or discovery; `Err` is answered with its own Retry-After.
fn discovery_reply(
    shared: &Shared,
    req: &ApiRequest,
    segs: &[&str],
) -> Option<Result<Reply, ApiError>> {
    let reply = match segs {
        ["version"] => Reply::json(&discovery::version(&shared.opts.kube_version)),
        ["healthz" | "readyz" | "livez"] => Reply {
            content_type: "text/plain; charset=utf-8",
            ..Reply::bytes(200, Bytes::from_static(b"ok"))
        },
        ["api" | "apis"] if discovery::aggregated_version(&req.accept).is_some() => {
            let version = discovery::aggregated_version(&req.accept).unwrap_or("v2");
            let (kinds, remote) = {
                let store = shared.lock();
                (store.kinds(), discovery::remote_api_services(&store))
            };
            let doc = discovery::aggregated_with(&kinds, segs[0] == "api", version, &remote);
            Reply {
                content_type: if version == "v2" {
                    AGGREGATED_V2_CONTENT_TYPE
                } else {
                    AGGREGATED_V2BETA1_CONTENT_TYPE
                },
                ..Reply::json(&doc)
            }
        }
        ["api"] => Reply::json(&discovery::core_versions(&shared.addr.to_string())),
        ["apis"] => {
            let (kinds, remote) = {
                let store = shared.lock();
                (store.kinds(), discovery::remote_api_services(&store))
            };
            Reply::json(&discovery::group_list_with(&kinds, &remote))
        }
        ["apis", group] => {
            let kinds = shared.lock().kinds();
            match discovery::group(&kinds, group) {
                Some(doc) => Reply::json(&doc),
                None => Reply::error(&ApiError::no_route()),
            }
        }
        ["api", "v1"] => {
            let kinds = shared.lock().kinds();
            return discovery::resource_list(&kinds, "", "v1").map(|d| Ok(Reply::json(&d)));
        }
        ["apis", group, version] => {
            let (kinds, remote) = {
                let store = shared.lock();
                (store.kinds(), discovery::remote_api_services(&store))
            };
            if remote.iter().any(|(g, v)| g == group && v == version) {
                return Some(Err(ApiError::service_unavailable()));
            }
            match discovery::resource_list(&kinds, group, version) {
                Some(doc) => Reply::json(&doc),
                None => Reply::error(&ApiError::no_route()),
            }
        }
        _ => return None,
    };
    Some(Ok(reply))
}

/// A GET of an OpenAPI v2 (protobuf only) or v3 document.
fn openapi_reply(shared: &Shared, req: &ApiRequest, segs: &[&str]) -> Option<Reply> {
    match segs {
        ["openapi", "v2"] => Some(if req.accept.contains("protobuf") {
            let doc = shared
                .openapi_doc(&req.path, |k| Some(Bytes::from(openapi_v2::document(k))))
                .unwrap_or_default();
            Reply {
                content_type: openapi_v2::PROTOBUF_CONTENT_TYPE,
                ..Reply::bytes(200, doc)
            }
        } else {
            Reply::error(&ApiError {
                code: 406,
                reason: "NotAcceptable",
                ..ApiError::bad_request(format!(
                    "only the following media types are accepted: {}",
                    openapi_v2::PROTOBUF_CONTENT_TYPE
                ))
            })
        }),
        ["openapi", "v3", rest @ ..] => {
            let doc = shared.openapi_doc(&req.path, |kinds| {
                let doc = match rest {
                    [] => guarded("openapi::v3_root", || openapi::v3_root(kinds)),
                    ["api", "v1"] => guarded("openapi::v3_group_version", || {
                        openapi::v3_group_version(kinds, "", "v1")
                    })
                    .flatten(),
                    ["apis", g, v] => {
                        // Custom resources are described by their CRD's schema.
                        let store = shared.lock();
                        let crd_schema = |k: &KindInfo| {
                            store
                                .crd_for(k)
                                .and_then(|c| crud::crd_version_schema(&c, k).cloned())
                        };
                        guarded("openapi::v3_group_version", || {
                            openapi::v3_group_version_with_schemas(kinds, g, v, &crd_schema)
                        })
                        .flatten()
                    }
                    _ => None,
                };
                doc.map(|d| Bytes::from(serde_json::to_vec(&d).unwrap_or_default()))
            });
            Some(match doc {
                Some(bytes) => Reply::bytes(200, bytes),
                None => Reply::error(&ApiError::no_route()),
            })
        }
        _ => None,
    }
}

/// Maps path segments after the version (`/api/v1/...`, `/apis/g/v/...`) to a served kind.
pub fn resolve(kinds: &[KindInfo], segs: &[&str]) -> Option<Target> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let find = |plural: &str| {
        kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
            .cloned()
    };
    let target = |kind: KindInfo, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Some(Target {
            kind,
            namespace: ns.map(String::from),
            name: name.map(String::from),
            subresource: sub.map(String::from),
            legacy_watch,
        })
    };
    match rest {
        // `/api/v1/namespaces/x/status` and `/finalize` are the Namespace's own subresources.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            target(find("namespaces")?, None, Some(name), Some(sub))
        }
        ["namespaces", ns, plural, tail @ ..] => {
            let kind = find(plural)?;
            if !kind.namespaced {
                return None;
            }
            match tail {
                [] => target(kind, Some(ns), None, None),
                [name] => target(kind, Some(ns), Some(name), None),
                [name, sub] => {
                    let served = (*sub == "status" && kind.status_subresource)
                        || (*sub == "scale" && kind.scale_subresource);
                    if !served {
                        return None;
                    }
                    target(kind, Some(ns), Some(name), Some(sub))
                }
                _ => None,
            }
        }
        [plural, tail @ ..] => {
            let kind = find(plural)?;
            match tail {
                [] => target(kind, None, None, None),
                [name] if !kind.namespaced => target(kind, None, Some(name), None),
                [name, sub] if !kind.namespaced => {
                    let served = (*sub == "status" && kind.status_subresource)
                        || (*sub == "scale" && kind.scale_subresource);
                    if !served {
                        return None;
                    }
                    target(kind, None, Some(name), Some(sub))
                }
                _ => None,
            }
        }
        [] => None,
    }
}

/// Parses the `Accept` header into what shape the answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The objects themselves.
    Full,
    /// `meta.k8s.io/v1` Table (kubectl get).
    Table,
    /// `meta.k8s.io/v1` PartialObjectMetadata(List).
    Metadata,
}

impl Shape {
    /// The first shape the client accepts, in its order of preference.
    pub fn from_accept(accept: &str) -> Shape {
        for option in accept.split(',') {
            let params: Vec<&str> = option.split(';').map(str::trim).collect();
            let has = |p: &str| params.contains(&p);
            if has("as=Table") && (has("v=v1") || !params.iter().any(|p| p.starts_with("v="))) {
                return Shape::Table;
            }
            if (has("as=PartialObjectMetadata") || has("as=PartialObjectMetadataList"))
                && has("v=v1")
            {
                return Shape::Metadata;
            }
            if params.first().is_some_and(|m| {
                matches!(*m, "application/json" | "*/*" | "application/*")
                    && !params.iter().any(|p| p.starts_with("as="))
            }) {
                return Shape::Full;
            }
        }
        Shape::Full
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_kinds;

    fn segs(p: &str) -> Vec<&str> {
        p.split('/').filter(|s| !s.is_empty()).collect()
    }

    #[test]
    fn resolves_namespaced_and_cluster_paths() {
        let kinds = builtin_kinds();
        let t = resolve(
            &kinds,
            &segs("/apis/apps/v1/namespaces/shop/deployments/web/scale"),
        )
        .unwrap();
        assert_eq!(t.kind.kind, "Deployment");
        assert_eq!(t.namespace.as_deref(), Some("shop"));
        assert_eq!(t.name.as_deref(), Some("web"));
        assert_eq!(t.subresource.as_deref(), Some("scale"));
        let t = resolve(&kinds, &segs("/api/v1/namespaces/shop")).unwrap();
        assert_eq!(t.kind.kind, "Namespace");
        assert_eq!(t.name.as_deref(), Some("shop"));
        assert!(t.namespace.is_none());
        let t = resolve(&kinds, &segs("/api/v1/namespaces/shop/status")).unwrap();
        assert_eq!(t.subresource.as_deref(), Some("status"));
        let t = resolve(&kinds, &segs("/api/v1/configmaps")).unwrap();
        assert!(t.namespace.is_none() && t.name.is_none());
        let t = resolve(&kinds, &segs("/api/v1/watch/namespaces/a/configmaps")).unwrap();
        assert!(t.legacy_watch);
        assert_eq!(t.namespace.as_deref(), Some("a"));
    }

    #[test]
    fn refuses_unknown_and_misplaced_paths() {
        let kinds = builtin_kinds();
        assert!(resolve(&kinds, &segs("/apis/apps/v1/namespaces/a/widgets")).is_none());
        assert!(resolve(&kinds, &segs("/apis/apps/v2/namespaces/a/deployments")).is_none());
        // cluster-scoped kind under a namespace
        assert!(
            resolve(
                &kinds,
                &segs("/apis/rbac.authorization.k8s.io/v1/namespaces/a/clusterroles")
            )
            .is_none()
        );
        // namespaced kind by name without a namespace
        assert!(resolve(&kinds, &segs("/api/v1/configmaps/x")).is_none());
        // no scale for daemonsets
        assert!(
            resolve(
                &kinds,
                &segs("/apis/apps/v1/namespaces/a/daemonsets/x/scale")
            )
            .is_none()
        );
    }

    #[test]
    fn accept_header_shapes() {
        assert_eq!(
            Shape::from_accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Shape::Table
        );
        assert_eq!(Shape::from_accept("application/json"), Shape::Full);
        assert_eq!(Shape::from_accept(""), Shape::Full);
        assert_eq!(
            Shape::from_accept(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
            ),
            Shape::Metadata
        );
        assert_eq!(
            Shape::from_accept(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Shape::Full
        );
    }
}
