//! Watches: a chunked stream of `{"type":…,"object":…}` lines, resumable by resourceVersion.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use serde_json::{Value, json};

use super::crud::{Selectors, table_of};
use super::kinds::KindInfo;
use super::server::{ApiRequest, Body, Reply, Shape, Shared, TABLE_CONTENT_TYPE, Target};
use super::status::ApiError;
use super::store::{EventType, Expired, ResourceKey, StoredObject, WatchEvent};

/// How often an idle watch checks whether its client left (and sends a bookmark if asked).
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Bookmarks, when asked for, at most this often.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

struct WatchParams {
    selectors: Selectors,
    start: Start,
    bookmarks: bool,
    send_initial_events: bool,
    timeout: Option<Duration>,
    shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Synthetic ADDED events for what exists, then live.
    Current,
    /// Events after this resourceVersion.
    After(u64),
}

fn params(req: &ApiRequest, t: &Target) -> Result<WatchParams, ApiError> {
    let mut selectors = Selectors::from_request(req, &t.kind)?;
    if let Some(name) = &t.name {
        // `/watch/…/name` and `…/name?watch=true` are a watch with a name field selector.
        let fs = match req.param("fieldSelector").filter(|s| !s.is_empty()) {
            Some(s) => format!("{s},metadata.name={name}"),
            None => format!("metadata.name={name}"),
        };
        selectors.fields = super::selectors::FieldSelector::parse(&fs, &t.kind.kind)
            .map_err(|e| ApiError::bad_request(e.0))?;
    }
    let send_initial_events = req.flag("sendInitialEvents");
    let start = match req.param("resourceVersion") {
        None | Some("") | Some("0") => Start::Current,
        Some(_) if send_initial_events => Start::Current,
        Some(rv) => Start::After(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let timeout = match req.param("timeoutSeconds") {
        None | Some("") => None,
        Some(s) => Some(Duration::from_secs(s.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds: {s}"))
        })?)),
    };
    Ok(WatchParams {
        selectors,
        start,
        bookmarks: req.flag("allowWatchBookmarks"),
        send_initial_events,
        timeout,
        shape: Shape::from_accept(&req.accept),
    })
}

/// Encodes events for one watch; tables carry column definitions in the first event only.
struct Encoder {
    kind: KindInfo,
    crd: Option<Arc<Value>>,
    shape: Shape,
    tables_sent: usize,
}

impl Encoder {
    fn line(event_type: &str, object: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(object.len() + 32);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(event_type.as_bytes());
        out.extend_from_slice(b"\",\"object\":");
        out.extend_from_slice(object);
        out.extend_from_slice(b"}\n");
        Bytes::from(out)
    }

    fn object(&mut self, event_type: &str, obj: &StoredObject) -> Bytes {
        match self.shape {
            Shape::Full => Encoder::line(event_type, &obj.json),
            Shape::Table => {
                let value = obj.value();
                match table_of(&self.kind, self.crd.as_deref(), &[&value], obj.rv) {
                    Some(mut table) => {
                        if self.tables_sent > 0 {
                            // kube-apiserver sends headers with the first event only
                            table["columnDefinitions"] = json!([]);
                        }
                        self.tables_sent += 1;
                        Encoder::line(event_type, &serde_json::to_vec(&table).unwrap_or_default())
                    }
                    None => Encoder::line(event_type, &obj.json),
                }
            }
            Shape::Metadata => {
                let value = obj.value();
                let meta = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": value.get("metadata").cloned().unwrap_or_else(|| json!({}))});
                Encoder::line(event_type, &serde_json::to_vec(&meta).unwrap_or_default())
            }
        }
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.kind.kind, "apiVersion": self.kind.api_version(), "metadata": meta});
        Encoder::line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
    }

    fn error(err: &ApiError) -> Bytes {
        Encoder::line(
            "ERROR",
            &serde_json::to_vec(&err.to_status()).unwrap_or_default(),
        )
    }
}

/// The event a filtered watch sees for a change, if any: objects entering the selection are
/// ADDED and objects leaving it DELETED, as kube-apiserver's filtered watch does.
fn filtered(selectors: &Selectors, event: &WatchEvent) -> Option<&'static str> {
    let now = selectors.matches(&event.object);
    let before = event.previous.as_ref().map(|p| selectors.matches(p));
    match event.kind {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => before.unwrap_or(now).then_some("DELETED"),
        EventType::Modified => match (before.unwrap_or(false), now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}

/// Starts a watch; the response streams until timeout, shutdown, a fault, or the client leaves.
pub fn serve_watch(shared: Arc<Shared>, req: ApiRequest, t: Target) -> Response<Body> {
    let p = match params(&req, &t) {
        Ok(p) => p,
        Err(e) => return error_reply(&e),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let content_type = if p.shape == Shape::Table {
        TABLE_CONTENT_TYPE
    } else {
        "application/json"
    };
    tokio::spawn(run(shared, t, p, tx));
    let stream = futures::StreamExt::map(rx, |b| Ok::<_, std::convert::Infallible>(Frame::data(b)));
    Response::builder()
        .status(200)
        .header("Content-Type", content_type)
        .header("Cache-Control", "no-cache, private")
        .body(StreamBody::new(stream).boxed())
        .unwrap_or_else(|_| error_reply(&ApiError::internal("cannot start the watch")))
}

fn error_reply(err: &ApiError) -> Response<Body> {
    let r = Reply::error(err);
    Response::builder()
        .status(r.code)
        .header("Content-Type", r.content_type)
        .body(http_body_util::Full::new(r.body).boxed())
        .unwrap_or_else(|_| Response::new(http_body_util::Full::new(Bytes::new()).boxed()))
}

struct Sender {
    tx: mpsc::Sender<Bytes>,
    sent: u64,
    limit: Option<u64>,
}

impl Sender {
    /// Sends one event; false when the watch must end (client gone or the fault limit hit).
    async fn send(&mut self, line: Bytes) -> bool {
        if self.limit.is_some_and(|l| self.sent >= l) {
            return false;
        }
        if self.tx.send(line).await.is_err() {
            return false;
        }
        self.sent += 1;
        self.limit.is_none_or(|l| self.sent < l)
    }
}

async fn run(shared: Arc<Shared>, t: Target, p: WatchParams, tx: mpsc::Sender<Bytes>) {
    let res = ResourceKey::of(&t.kind);
    let namespace = t.namespace.clone();
    let crd = shared.lock().crd_for(&t.kind);
    let mut enc = Encoder {
        kind: t.kind.clone(),
        crd,
        shape: p.shape,
        tables_sent: 0,
    };
    let mut out = Sender {
        tx,
        sent: 0,
        limit: shared.opts.drop_watches_after,
    };
    let deadline = p.timeout.map(|d| tokio::time::Instant::now() + d);
    let mut changes = shared.lock().subscribe();
    let mut shutdown = shared.shutdown.clone();
    let in_scope = |e: &WatchEvent| {
        e.resource == res
            && namespace
                .as_deref()
                .is_none_or(|ns| e.object.namespace == ns)
    };

    let (initial, mut last_rv) = {
        let store = shared.lock();
        let rv = store.resource_version();
        match p.start {
            Start::Current => {
                let objs: Vec<Arc<StoredObject>> = store
                    .list(&res, namespace.as_deref())
                    .filter(|o| p.selectors.matches(o))
                    .cloned()
                    .collect();
                (objs, rv)
            }
            Start::After(from) => (Vec::new(), from),
        }
    };
    for obj in &initial {
        let line = enc.object("ADDED", obj);
        if !out.send(line).await {
            return;
        }
    }
    if p.send_initial_events && p.bookmarks {
        let line = enc.bookmark(last_rv, true);
        if !out.send(line).await {
            return;
        }
    }
    let mut last_bookmark = tokio::time::Instant::now();
    loop {
        let batch = {
            let store = shared.lock();
            let current = store.resource_version();
            let events = store.events_after(last_rv, in_scope);
            (events, current)
        };
        match batch {
            (Err(Expired { requested, oldest }), _) => {
                let err =
                    ApiError::expired(format!("too old resource version: {requested} ({oldest})"));
                let _ = out.send(Encoder::error(&err)).await;
                return;
            }
            (Ok(events), current) => {
                for e in events {
                    if let Some(kind) = filtered(&p.selectors, &e) {
                        let line = enc.object(kind, &e.object);
                        if !out.send(line).await {
                            return;
                        }
                    }
                }
                last_rv = last_rv.max(current);
            }
        }
        if p.bookmarks && last_bookmark.elapsed() >= BOOKMARK_EVERY {
            last_bookmark = tokio::time::Instant::now();
            let line = enc.bookmark(last_rv, false);
            if !out.send(line).await {
                return;
            }
        }
        if *shutdown.borrow() || out.tx.is_closed() {
            return;
        }
        let tick = tokio::time::sleep(IDLE_TICK);
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tick => {}
            _ = until_deadline => return,
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ApiRequest;
    use hyper::Method;

    fn req(query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest {
            method: Method::GET,
            path: "/api/v1/configmaps".into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            accept: String::new(),
            content_type: String::new(),
            user_agent: String::new(),
            body: Bytes::new(),
        }
    }

    fn obj(name: &str, app: &str, rv: u64) -> Arc<StoredObject> {
        Arc::new(StoredObject {
            json: Bytes::from("{}"),
            namespace: "default".into(),
            name: name.into(),
            labels: vec![("app".into(), app.into())],
            rv,
        })
    }

    fn configmaps() -> KindInfo {
        crate::kinds::builtin_named("ConfigMap")
    }

    #[test]
    fn selector_transitions_become_added_and_deleted() {
        let cm = configmaps();
        let sel = Selectors::from_request(&req(&[("labelSelector", "app=web")]), &cm).unwrap();
        let ev = |kind, now, before: Option<Arc<StoredObject>>| WatchEvent {
            kind,
            resource: ResourceKey::of(&cm),
            object: now,
            previous: before,
        };
        let web = obj("x", "web", 2);
        let api = obj("x", "api", 3);
        assert_eq!(
            filtered(&sel, &ev(EventType::Added, web.clone(), None)),
            Some("ADDED")
        );
        assert_eq!(
            filtered(&sel, &ev(EventType::Added, api.clone(), None)),
            None
        );
        assert_eq!(
            filtered(
                &sel,
                &ev(EventType::Modified, api.clone(), Some(web.clone()))
            ),
            Some("DELETED")
        );
        assert_eq!(
            filtered(
                &sel,
                &ev(EventType::Modified, web.clone(), Some(api.clone()))
            ),
            Some("ADDED")
        );
        assert_eq!(
            filtered(
                &sel,
                &ev(EventType::Modified, web.clone(), Some(web.clone()))
            ),
            Some("MODIFIED")
        );
        assert_eq!(
            filtered(&sel, &ev(EventType::Deleted, web, None)),
            Some("DELETED")
        );
    }

    #[test]
    fn watch_params_pick_the_start() {
        let cm = configmaps();
        let t = Target {
            kind: cm,
            namespace: None,
            name: None,
            subresource: None,
            legacy_watch: false,
        };
        assert_eq!(params(&req(&[]), &t).ok().unwrap().start, Start::Current);
        assert_eq!(
            params(&req(&[("resourceVersion", "0")]), &t)
                .ok()
                .unwrap()
                .start,
            Start::Current
        );
        assert_eq!(
            params(&req(&[("resourceVersion", "12")]), &t)
                .ok()
                .unwrap()
                .start,
            Start::After(12)
        );
        assert_eq!(
            params(
                &req(&[("resourceVersion", "12"), ("sendInitialEvents", "true")]),
                &t
            )
            .ok()
            .unwrap()
            .start,
            Start::Current
        );
        assert!(params(&req(&[("resourceVersion", "x")]), &t).is_err());
    }

    #[test]
    fn event_lines_are_json() {
        let line = Encoder::line("ADDED", b"{\"a\":1}");
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["type"], "ADDED");
        assert_eq!(v["object"]["a"], 1);
        assert!(line.ends_with(b"\n"));
    }
}
