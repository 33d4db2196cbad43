//! Watches of the kinds in play into reflector stores, for the UI's live view: a change by
//! anyone to a watched object is reported within moments (SPEC §9 "Live").
//!
//! Metadata-only watches (`PartialObjectMetadata`) into reflector stores: a changed object
//! shows as a new resourceVersion, and a store of metadata costs a fraction of full objects at
//! thousands of resources. Each watch restarts with a short capped backoff when the connection
//! drops; after a restart anything may have changed meanwhile, which is reported as a resync.
//! Losing the connection is reported as a resync too, so that the UI looks again and shows
//! the connection error instead of stale rows without a word.

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ClusterClient, ClusterError};
use k8s_model::{ResourceId, split_api_version};

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveChange {
    /// This object was created, changed or deleted.
    Object(ResourceId),
    /// A watch restarted: any object of its kind may have changed unseen.
    Resync,
}

/// A watched kind: `apiVersion`, kind, and the namespace (`None`: cluster-scoped or all).
pub type WatchedKind = (String, String, Option<String>);

/// Running watches; dropping it stops them.
pub struct LiveWatch {
    tasks: Vec<JoinHandle<()>>,
    stores: Vec<(WatchedKind, Store<PartialObjectMeta<DynamicObject>>)>,
    skipped: Vec<String>,
}

impl std::fmt::Debug for LiveWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWatch")
            .field("watches", &self.tasks.len())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl LiveWatch {
    /// How many watches run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Kinds that could not be watched (not served), with the reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Objects in the store of `kind` (metadata only), once the watch listed them.
    pub fn object_count(&self, kind: &WatchedKind) -> Option<usize> {
        self.stores
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, store)| store.len())
    }
}

impl Drop for LiveWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts one metadata watch per kind (and namespace) in `kinds`, sending every change after
/// the initial listing to `changes`. Kinds the cluster does not serve are skipped (see
/// [`LiveWatch::skipped`]); an unreachable cluster is an error.
pub async fn watch_kinds(
    cluster: &ClusterClient,
    kinds: &[WatchedKind],
    changes: mpsc::UnboundedSender<LiveChange>,
) -> Result<LiveWatch, ClusterError> {
    let discovery = cluster
        .discovery_of(
            kinds
                .iter()
                .map(|(api_version, _, _)| split_api_version(api_version).0),
        )
        .await?;
    let mut live = LiveWatch {
        tasks: Vec::new(),
        stores: Vec::new(),
        skipped: Vec::new(),
    };
    for kind in kinds {
        let (api_version, kind_name, namespace) = kind;
        let (group, version) = split_api_version(api_version);
        let served = match discovery.resolve(group, version, kind_name) {
            Ok(served) => served,
            Err(not_served) => {
                live.skipped
                    .push(not_served.message(api_version, kind_name));
                continue;
            }
        };
        let resource = served.resource.clone();
        // `Api<PartialObjectMeta<_>>` asks for metadata only.
        let api: Api<PartialObjectMeta<DynamicObject>> = match namespace {
            Some(ns) => Api::namespaced_with(cluster.kube_client().clone(), ns, &resource),
            None => Api::all_with(cluster.kube_client().clone(), &resource),
        };
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        // managedFields are most of an object's metadata and nothing here reads them.
        let stream = reflector::reflector(
            writer,
            watch_stream(api, watcher::Config::default())
                .backoff(ReconnectBackoff::default())
                .modify(|object| object.metadata.managed_fields = None),
        );
        let sender = changes.clone();
        let group = group.to_owned();
        let kind_name = kind_name.clone();
        let client = cluster.kube_client().clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut listed_once = false;
            let mut connection_lost = false;
            loop {
                // A watch resumed after a lost connection says nothing until something
                // changes: the server's return is found by asking it, and reported as a
                // resync, since anything may have changed meanwhile.
                let event = tokio::select! {
                    event = stream.next() => event,
                    () = server_back(&client), if connection_lost => {
                        connection_lost = false;
                        if sender.send(LiveChange::Resync).is_err() {
                            break;
                        }
                        continue;
                    }
                };
                let Some(event) = event else {
                    break;
                };
                let change = match event {
                    Ok(Event::Apply(object) | Event::Delete(object)) => {
                        connection_lost = false;
                        let Some(name) = object.metadata.name.clone() else {
                            continue;
                        };
                        LiveChange::Object(ResourceId {
                            group: group.clone(),
                            kind: kind_name.clone(),
                            namespace: object.metadata.namespace.clone(),
                            name,
                        })
                    }
                    Ok(Event::InitDone) if listed_once => {
                        connection_lost = false;
                        LiveChange::Resync
                    }
                    Ok(Event::InitDone) => {
                        listed_once = true;
                        continue;
                    }
                    Ok(Event::Init | Event::InitApply(_)) => continue,
                    // The backoff retries; the error itself would only repeat. A lost
                    // connection (not an API error, which retrying heals) is said once, as a
                    // resync: the UI looks again and shows the connection error.
                    Err(error) => {
                        tracing::debug!(%error, kind = %kind_name, "watch failed; retrying");
                        if connection_lost || !is_connection_error(&error) {
                            continue;
                        }
                        connection_lost = true;
                        LiveChange::Resync
                    }
                };
                if sender.send(change).is_err() {
                    break;
                }
            }
        });
        live.tasks.push(task);
        live.stores.push((kind.clone(), store));
    }
    Ok(live)
}

/// Returns once the API server answers again (`/version`), asking at [`ReconnectBackoff`]'s
/// pace.
async fn server_back(client: &kube::Client) {
    for delay in ReconnectBackoff::default() {
        tokio::time::sleep(delay).await;
        if client.apiserver_version().await.is_ok() {
            return;
        }
    }
}

/// Whether a watch failed for want of the server (refused, reset, timed out) rather than with
/// an answer from it.
fn is_connection_error(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => !matches!(e, kube::Error::Api(_)),
        watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => false,
    }
}

/// Delay before a watch reconnects: from 250 ms, doubling, at most 4 s, reset once the watch
/// works again. The UI promises live changes within seconds (SPEC §9), so a server back after
/// a restart must be found within seconds too: client-go's 30 s cap is for controllers.
#[derive(Debug, Clone)]
struct ReconnectBackoff {
    next: std::time::Duration,
}

impl ReconnectBackoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(250);
    const MAX: std::time::Duration = std::time::Duration::from_secs(4);
}

impl Default for ReconnectBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Iterator for ReconnectBackoff {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<Self::Item> {
        let delay = self.next;
        self.next = (delay * 2).min(Self::MAX);
        Some(delay)
    }
}

impl Backoff for ReconnectBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_backoff_doubles_to_its_cap_and_resets() {
        let mut backoff = ReconnectBackoff::default();
        let delays: Vec<u128> = backoff.by_ref().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 4000, 4000]);
        backoff.reset();
        assert_eq!(backoff.next(), Some(ReconnectBackoff::FIRST));
    }
}
