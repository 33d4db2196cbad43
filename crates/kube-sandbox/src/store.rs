//! Objects, resourceVersions, the watch event log, and persistence (`--state`).
//!
//! Objects are kept serialized (serialize once, answer GETs and LISTs by copying bytes); writers
//! parse the stored JSON back when they need a `Value`. Every mutation gets the next
//! resourceVersion, an entry in a bounded event history (for watch resume) and, with `--state`,
//! one line appended to the state log before the write is answered.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::defaults::ClusterIpAllocator;
use super::kinds::{KindInfo, builtin_kinds, kind_from_crd};
use super::schema::TypeSchema;
use super::selectors::labels_of;

/// How many watch events are kept for resuming watches; older resourceVersions get 410 Gone.
pub const HISTORY_CAPACITY: usize = 10_000;

/// State log lines appended before a compaction is considered.
const COMPACT_MIN_LINES: usize = 20_000;

/// The group and plural that identify a resource type in storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// API group, `""` for core.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
}

impl ResourceKey {
    /// Key of a served kind.
    pub fn of(kind: &KindInfo) -> ResourceKey {
        ResourceKey {
            group: kind.group.clone(),
            plural: kind.plural.clone(),
        }
    }

    /// Key of a type by its group and plural resource name.
    pub fn new(group: &str, plural: &str) -> ResourceKey {
        ResourceKey {
            group: group.into(),
            plural: plural.into(),
        }
    }
}

/// One stored object version, serialized once.
#[derive(Debug)]
pub struct StoredObject {
    /// The object as JSON, `metadata.resourceVersion` included.
    pub json: Bytes,
    /// `metadata.namespace` (`""` when cluster-scoped).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`, for label selectors without parsing.
    pub labels: Vec<(String, String)>,
    /// The resourceVersion of this version.
    pub rv: u64,
}

impl StoredObject {
    fn from_value(value: &Value, rv: u64) -> StoredObject {
        let text = |p: &str| {
            value
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        StoredObject {
            json: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            labels: labels_of(value),
            rv,
        }
    }

    /// The object parsed back into a `Value`.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted; the object is its last state, with the deletion's resourceVersion.
    Deleted,
}

impl EventType {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One mutation, as watches see it.
#[derive(Debug)]
pub struct WatchEvent {
    /// Type of change.
    pub kind: EventType,
    /// Resource type of the object.
    pub resource: ResourceKey,
    /// New state (or last state for deletions).
    pub object: Arc<StoredObject>,
    /// The state before, so that filtered watches can turn selector transitions into
    /// ADDED/DELETED as kube-apiserver does.
    pub previous: Option<Arc<StoredObject>>,
}

/// A watch asked to resume from a resourceVersion that left the event history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct Expired {
    /// The resourceVersion asked for.
    pub requested: u64,
    /// The oldest resourceVersion one can still resume from.
    pub oldest: u64,
}

/// Storage failures; answered 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing or syncing the state file failed.
    #[error("state file {path}: {message}")]
    State {
        /// State file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Service cluster IPs in use, so that allocations stay unique.
#[derive(Debug, Default)]
pub struct IpPool {
    used: HashSet<String>,
}

impl ClusterIpAllocator for IpPool {
    fn allocate(&mut self) -> String {
        // 10.96.0.0/12 without the network address, 10.96.0.1 (the `kubernetes` Service) and
        // 10.96.0.10 (cluster DNS), like a kubeadm cluster; random like the real allocator.
        for _ in 0..10_000 {
            let offset: u32 = rand::random_range(2..(1u32 << 20) - 1);
            let ip = std::net::Ipv4Addr::from((10u32 << 24 | 96 << 16) + offset).to_string();
            if ip != "10.96.0.10" && self.used.insert(ip.clone()) {
                return ip;
            }
        }
        // A million addresses taken: hand out a reused one rather than looping forever.
        "10.96.0.2".into()
    }
}

impl IpPool {
    fn ips_of(obj: &Value) -> Vec<String> {
        let mut ips: Vec<String> = obj
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ip) = obj.pointer("/spec/clusterIP").and_then(Value::as_str) {
            ips.push(ip.to_string());
        }
        ips.retain(|ip| ip != "None" && !ip.is_empty());
        ips
    }
}

/// The append-only state log with a background fsync.
struct StateLog {
    path: PathBuf,
    file: File,
    /// Lines appended since the last snapshot.
    appended: usize,
    dirty: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl StateLog {
    fn open(path: &Path) -> Result<StateLog, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| state_err(path, format!("cannot open for appending: {e}")))?;
        let dirty = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let syncer = file
            .try_clone()
            .map_err(|e| state_err(path, format!("cannot open for syncing: {e}")))?;
        let (d, s) = (dirty.clone(), stop.clone());
        // Appends reach the kernel before a write is answered, which survives kill -9; this
        // thread batches fsyncs so that a power loss costs at most a few milliseconds of writes
        // without capping throughput at the disk's fsync rate.
        std::thread::Builder::new()
            .name("sandbox-state-sync".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                    if d.swap(false, Ordering::AcqRel) {
                        let _ = syncer.sync_data();
                    }
                }
                let _ = syncer.sync_data();
            })
            .map_err(|e| state_err(path, format!("cannot start the sync thread: {e}")))?;
        Ok(StateLog {
            path: path.to_path_buf(),
            file,
            appended: 0,
            dirty,
            stop,
        })
    }

    fn append(&mut self, line: &[u8]) -> Result<(), StoreError> {
        // One write per line: a kill can only ever tear the last line, which load drops.
        self.file
            .write_all(line)
            .map_err(|e| state_err(&self.path, format!("cannot append: {e}")))?;
        self.appended += 1;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for StateLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.file.sync_data();
    }
}

fn state_err(path: &Path, message: String) -> StoreError {
    StoreError::State {
        path: path.to_path_buf(),
        message,
    }
}

/// All objects of the sandbox.
pub struct Store {
    objects: HashMap<ResourceKey, BTreeMap<(String, String), Arc<StoredObject>>>,
    rv: u64,
    history: VecDeque<Arc<WatchEvent>>,
    history_capacity: usize,
    /// Highest resourceVersion no longer in `history` (watches must resume after it).
    compacted_rv: u64,
    log: Option<StateLog>,
    kinds: Arc<Vec<KindInfo>>,
    ips: IpPool,
    notify: tokio::sync::watch::Sender<u64>,
    schemas: Mutex<HashMap<SchemaKey, Arc<TypeSchema>>>,
    /// Parsed CRDs by name, with the resourceVersion they were parsed at.
    crds: Mutex<HashMap<String, (u64, Arc<Value>)>>,
    /// The Kubernetes minor version the sandbox reports, whose defaults it fills.
    kube_minor: u32,
}

/// Merge schemas are cached per kind and, for custom resources, per CRD version.
pub type SchemaKey = (String, String, u64);

fn crd_key() -> ResourceKey {
    ResourceKey::new("apiextensions.k8s.io", "customresourcedefinitions")
}

fn services_key() -> ResourceKey {
    ResourceKey::new("", "services")
}

impl Store {
    /// An empty store with the namespaces every cluster has.
    pub fn new() -> Store {
        let mut store = Store::empty();
        store.seed_namespaces();
        store
    }

    fn empty() -> Store {
        Store {
            objects: HashMap::new(),
            rv: 0,
            history: VecDeque::new(),
            history_capacity: HISTORY_CAPACITY,
            compacted_rv: 0,
            log: None,
            kinds: Arc::new(builtin_kinds()),
            ips: IpPool::default(),
            notify: tokio::sync::watch::channel(0).0,
            schemas: Mutex::default(),
            crds: Mutex::default(),
            kube_minor: super::defaults::LATEST_MINOR,
        }
    }

    /// Serves as Kubernetes `major.minor` (`--kube-version`): its defaults.
    pub fn set_kube_version(&mut self, version: &str) {
        if let Some(minor) = version
            .split_once('.')
            .and_then(|(_, minor)| minor.parse::<u32>().ok())
        {
            self.kube_minor = minor;
        }
    }

    /// The Kubernetes minor version served.
    pub fn kube_minor(&self) -> u32 {
        self.kube_minor
    }

    /// Loads `path` (a missing file is an empty store), compacts it to one line per object, and
    /// appends every later write to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut store = Store::empty();
        let mut compact = match std::fs::read(path) {
            Ok(bytes) => store.load(path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(state_err(path, format!("cannot read: {e}"))),
        };
        if store.rv == 0 {
            store.seed_namespaces();
            compact = true;
        }
        store.compacted_rv = store.rv;
        store.notify.send_replace(store.rv);
        store.rebuild_kinds();
        if compact {
            store.write_snapshot(path)?;
        }
        store.log = Some(StateLog::open(path)?);
        Ok(store)
    }

    /// Replays the log; returns whether it should be compacted (many superseded lines, or a
    /// torn last line to cut off).
    fn load(&mut self, path: &Path, bytes: &[u8]) -> Result<bool, StoreError> {
        // BufRead::split finds newlines with std's optimized memchr.
        let lines: Vec<Vec<u8>> = std::io::BufRead::split(bytes, b'\n')
            .collect::<Result<_, _>>()
            .map_err(|e| state_err(path, format!("cannot read: {e}")))?;
        let last_content = lines.iter().rposition(|l| !l.is_empty());
        let mut entries = 0usize;
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            let entry = match LogEntry::parse(line) {
                Ok(e) => e,
                // A torn last line is a write the kill interrupted before it was answered.
                Err(_) if Some(i) == last_content => return Ok(true),
                Err(e) => {
                    return Err(state_err(
                        path,
                        format!(
                            "line {} is corrupt ({e}); restore a backup or delete the file to start empty",
                            i + 1
                        ),
                    ));
                }
            };
            entries += 1;
            self.rv = self.rv.max(entry.rv);
            let key = ResourceKey::new(&entry.group, &entry.resource);
            match (entry.op.as_str(), entry.object) {
                ("put", Some((json, id))) => {
                    if key == services_key()
                        && let Ok(obj) = serde_json::from_slice::<Value>(&json)
                    {
                        self.ips.used.extend(IpPool::ips_of(&obj));
                    }
                    let stored = Arc::new(StoredObject {
                        json,
                        namespace: id.metadata.namespace,
                        name: id.metadata.name,
                        labels: id
                            .metadata
                            .labels
                            .into_iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
                            .collect(),
                        rv: entry.rv,
                    });
                    self.objects
                        .entry(key)
                        .or_default()
                        .insert((stored.namespace.clone(), stored.name.clone()), stored);
                }
                ("delete", _) => {
                    if let Some(m) = self.objects.get_mut(&key) {
                        m.remove(&(entry.namespace, entry.name));
                    }
                }
                _ => {}
            }
        }
        let objects: usize = self.objects.values().map(BTreeMap::len).sum();
        Ok(entries > objects * 2 + 16)
    }

    fn write_snapshot(&self, path: &Path) -> Result<(), StoreError> {
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let mut out = std::io::BufWriter::new(
            File::create(&tmp).map_err(|e| state_err(&tmp, format!("cannot create: {e}")))?,
        );
        let io = |e: std::io::Error| state_err(&tmp, format!("cannot write: {e}"));
        out.write_all(format!("{{\"op\":\"rv\",\"rv\":{}}}\n", self.rv).as_bytes())
            .map_err(io)?;
        let mut keys: Vec<&ResourceKey> = self.objects.keys().collect();
        keys.sort();
        for key in keys {
            for obj in self.objects[key].values() {
                out.write_all(&put_line(key, obj)).map_err(io)?;
            }
        }
        let file = out
            .into_inner()
            .map_err(|e| state_err(&tmp, format!("cannot write: {e}")))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path)
            .map_err(|e| state_err(path, format!("cannot replace with {}: {e}", tmp.display())))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Rewrites the state file as one line per object (clean shutdown, compaction).
    pub fn snapshot(&mut self) -> Result<(), StoreError> {
        let Some(path) = self.log.as_ref().map(|l| l.path.clone()) else {
            return Ok(());
        };
        self.write_snapshot(&path)?;
        // The old handle points at the replaced file.
        self.log = Some(StateLog::open(&path)?);
        Ok(())
    }

    fn seed_namespaces(&mut self) {
        for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
            let mut obj = json!({
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now_rfc3339(),
                    "labels": {"kubernetes.io/metadata.name": ns},
                    "managedFields": [{
                        "manager": "kube-apiserver",
                        "operation": "Update",
                        "apiVersion": "v1",
                        "time": now_rfc3339(),
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}
                    }]
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            });
            // Seeding cannot fail for lack of a log: it runs before the log is opened.
            let _ = self.put(&ResourceKey::new("", "namespaces"), &mut obj);
        }
    }

    /// The current resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The kinds served now: built-in ones plus those of stored CRDs.
    pub fn kinds(&self) -> Arc<Vec<KindInfo>> {
        self.kinds.clone()
    }

    /// Service cluster IPs, for defaulting.
    pub fn ips(&mut self) -> &mut IpPool {
        &mut self.ips
    }

    /// Merge schemas built so far (building one from a CRD schema is not free).
    pub fn schema_cache(&self) -> MutexGuard<'_, HashMap<SchemaKey, Arc<TypeSchema>>> {
        self.schemas.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored CustomResourceDefinition serving `kind` (None for built-in kinds), parsed
    /// once per CRD version: custom resource writes, tables and OpenAPI all read it.
    pub fn crd_for(&self, kind: &KindInfo) -> Option<Arc<Value>> {
        let name = format!("{}.{}", kind.plural, kind.group);
        let stored = self.get(&crd_key(), "", &name)?;
        let mut cache = self.crds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((rv, crd)) = cache.get(&name)
            && *rv == stored.rv
        {
            return Some(crd.clone());
        }
        let crd = Arc::new(stored.value());
        cache.insert(name, (stored.rv, crd.clone()));
        Some(crd)
    }

    /// A receiver that sees the resourceVersion of every write.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// One object.
    pub fn get(&self, res: &ResourceKey, namespace: &str, name: &str) -> Option<Arc<StoredObject>> {
        self.objects
            .get(res)?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a type, in one namespace or all, ordered by namespace then name (as etcd keys).
    pub fn list<'a>(
        &'a self,
        res: &ResourceKey,
        namespace: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Arc<StoredObject>> + 'a> {
        let Some(map) = self.objects.get(res) else {
            return Box::new(std::iter::empty());
        };
        match namespace {
            None => Box::new(map.values()),
            Some(ns) => Box::new(
                map.range((ns.to_string(), String::new())..)
                    .take_while(move |((n, _), _)| n == ns)
                    .map(|(_, v)| v),
            ),
        }
    }

    /// Types and names of every object in `namespace`, for cascading a namespace deletion.
    pub fn objects_in_namespace(&self, namespace: &str) -> Vec<(ResourceKey, String)> {
        let mut found = Vec::new();
        for key in self.objects.keys() {
            for obj in self.list(key, Some(namespace)) {
                found.push((key.clone(), obj.name.clone()));
            }
        }
        found
    }

    /// Stores `obj` (create or replace) with the next resourceVersion, which is written into
    /// `obj`'s metadata.
    pub fn put(
        &mut self,
        res: &ResourceKey,
        obj: &mut Value,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let rv = self.rv + 1;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let stored = Arc::new(StoredObject::from_value(obj, rv));
        if let Some(log) = self.log.as_mut() {
            log.append(&put_line(res, &stored))?;
        }
        self.rv = rv;
        if *res == services_key() {
            self.ips.used.extend(IpPool::ips_of(obj));
        }
        let previous = self.objects.entry(res.clone()).or_default().insert(
            (stored.namespace.clone(), stored.name.clone()),
            stored.clone(),
        );
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(kind, res, stored.clone(), previous);
        if *res == crd_key() {
            self.rebuild_kinds();
        }
        Ok(stored)
    }

    /// Deletes one object; returns its last state with the deletion's resourceVersion.
    pub fn delete(
        &mut self,
        res: &ResourceKey,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<StoredObject>>, StoreError> {
        let key = (namespace.to_string(), name.to_string());
        let Some(current) = self.objects.get(res).and_then(|m| m.get(&key)).cloned() else {
            return Ok(None);
        };
        let rv = self.rv + 1;
        if let Some(log) = self.log.as_mut() {
            let line = json!({"op": "delete", "group": res.group, "resource": res.plural,
                "namespace": namespace, "name": name, "rv": rv});
            let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
            bytes.push(b'\n');
            log.append(&bytes)?;
        }
        self.rv = rv;
        if let Some(m) = self.objects.get_mut(res) {
            m.remove(&key);
        }
        let mut last = current.value();
        if let Some(meta) = last.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        if *res == services_key() {
            for ip in IpPool::ips_of(&last) {
                self.ips.used.remove(&ip);
            }
        }
        let gone = Arc::new(StoredObject::from_value(&last, rv));
        self.record(EventType::Deleted, res, gone.clone(), Some(current));
        if *res == crd_key() {
            self.rebuild_kinds();
        }
        Ok(Some(gone))
    }

    /// Rewrites the log as a snapshot once it holds many more lines than there are objects, so
    /// that a long run of writes does not grow the file without bound.
    fn maybe_compact(&mut self) {
        let objects: usize = self.objects.values().map(BTreeMap::len).sum();
        let due = self
            .log
            .as_ref()
            .is_some_and(|l| l.appended > COMPACT_MIN_LINES.max(objects * 4));
        if due && let Err(e) = self.snapshot() {
            // The log is still whole (the snapshot replaces it only once written): keep going.
            tracing::error!("sandbox: cannot compact the state file: {e}");
        }
    }

    fn record(
        &mut self,
        kind: EventType,
        res: &ResourceKey,
        object: Arc<StoredObject>,
        previous: Option<Arc<StoredObject>>,
    ) {
        self.history.push_back(Arc::new(WatchEvent {
            kind,
            resource: res.clone(),
            object,
            previous,
        }));
        while self.history.len() > self.history_capacity {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.object.rv;
            }
        }
        self.notify.send_replace(self.rv);
        self.maybe_compact();
    }

    /// Events after resourceVersion `rv` that `filter` keeps, oldest first; `Expired` when some
    /// events after `rv` are no longer kept.
    pub fn events_after(
        &self,
        rv: u64,
        filter: impl Fn(&WatchEvent) -> bool,
    ) -> Result<Vec<Arc<WatchEvent>>, Expired> {
        if rv < self.compacted_rv {
            return Err(Expired {
                requested: rv,
                oldest: self.compacted_rv,
            });
        }
        let start = self.history.partition_point(|e| e.object.rv <= rv);
        Ok(self
            .history
            .range(start..)
            .filter(|e| filter(e))
            .cloned()
            .collect())
    }

    fn rebuild_kinds(&mut self) {
        let mut kinds = builtin_kinds();
        if let Some(crds) = self.objects.get(&crd_key()) {
            for crd in crds.values() {
                if let Some(k) = kind_from_crd(&crd.value())
                    && !kinds
                        .iter()
                        .any(|b| b.group == k.group && (b.plural == k.plural || b.kind == k.kind))
                {
                    kinds.push(k);
                }
            }
        }
        self.kinds = Arc::new(kinds);
    }

    #[cfg(test)]
    fn set_history_capacity(&mut self, cap: usize) {
        self.history_capacity = cap;
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

/// What load needs of an object, parsed without building a `Value` of it.
#[derive(serde::Deserialize, Default)]
struct Identity {
    #[serde(default)]
    metadata: IdentityMeta,
}

#[derive(serde::Deserialize, Default)]
struct IdentityMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, Value>,
}

/// One state log line: `{"op":…,"group":…,"resource":…,"rv":…[,"namespace","name"][,"object":…]}`.
#[derive(serde::Deserialize)]
struct LogHeader {
    #[serde(default)]
    op: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    rv: u64,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

struct LogEntry {
    op: String,
    group: String,
    resource: String,
    rv: u64,
    namespace: String,
    name: String,
    object: Option<(Bytes, Identity)>,
}

impl LogEntry {
    /// Splits the line at `,"object":` (which cannot occur inside a JSON string, where quotes
    /// are escaped) so that the object's bytes are kept as written, not parsed and re-encoded.
    fn parse(line: &[u8]) -> Result<LogEntry, serde_json::Error> {
        const KEY: &[u8] = b",\"object\":";
        // The header comes first and is short: only its bytes are searched.
        let head = &line[..line.len().min(1024)];
        let split = head.windows(KEY.len()).position(|w| w == KEY);
        let (header, object) = match split {
            Some(at) => {
                let mut header = line[..at].to_vec();
                header.push(b'}');
                let body = line[at + KEY.len()..]
                    .strip_suffix(b"}")
                    .unwrap_or(&line[at + KEY.len()..]);
                (header, Some(body))
            }
            None => (line.to_vec(), None),
        };
        let h: LogHeader = serde_json::from_slice(&header)?;
        let object = match object {
            Some(body) => {
                let id: Identity = serde_json::from_slice(body)?;
                Some((Bytes::copy_from_slice(body), id))
            }
            None => None,
        };
        Ok(LogEntry {
            op: h.op,
            group: h.group,
            resource: h.resource,
            rv: h.rv,
            namespace: h.namespace,
            name: h.name,
            object,
        })
    }
}

fn put_line(res: &ResourceKey, obj: &StoredObject) -> Vec<u8> {
    // Splice the stored bytes in rather than serializing the object a second time.
    let head = json!({"op": "put", "group": res.group, "resource": res.plural, "rv": obj.rv});
    let mut line = serde_json::to_vec(&head).unwrap_or_default();
    line.pop(); // the closing brace
    line.extend_from_slice(b",\"object\":");
    line.extend_from_slice(&obj.json);
    line.extend_from_slice(b"}\n");
    line
}

/// Now as kube prints timestamps: RFC 3339, seconds, `Z`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(ns: &str, name: &str, data: &str) -> Value {
        json!({"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "data": {"k": data}})
    }

    fn cms() -> ResourceKey {
        ResourceKey::new("", "configmaps")
    }

    #[test]
    fn starts_with_the_four_namespaces() {
        let store = Store::new();
        let names: Vec<String> = store
            .list(&ResourceKey::new("", "namespaces"), None)
            .map(|o| o.name.clone())
            .collect();
        assert_eq!(
            names,
            ["default", "kube-node-lease", "kube-public", "kube-system"]
        );
        let default = store
            .get(&ResourceKey::new("", "namespaces"), "", "default")
            .unwrap()
            .value();
        assert_eq!(default["status"]["phase"], "Active");
        assert_eq!(
            default["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "default"
        );
    }

    #[test]
    fn put_bumps_resource_version_and_lists_by_namespace() {
        let mut store = Store::new();
        let before = store.resource_version();
        let a = store.put(&cms(), &mut cm("b", "x", "1")).unwrap();
        let b = store.put(&cms(), &mut cm("a", "y", "1")).unwrap();
        store.put(&cms(), &mut cm("a", "x", "1")).unwrap();
        assert_eq!(a.rv, before + 1);
        assert_eq!(b.rv, before + 2);
        assert_eq!(
            a.value()["metadata"]["resourceVersion"],
            (before + 1).to_string()
        );
        let in_a: Vec<&str> = store
            .list(&cms(), Some("a"))
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(in_a, ["x", "y"]);
        let all: Vec<(&str, &str)> = store
            .list(&cms(), None)
            .map(|o| (o.namespace.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(all, [("a", "x"), ("a", "y"), ("b", "x")]);
    }

    #[test]
    fn events_resume_and_expire() {
        let mut store = Store::new();
        store.set_history_capacity(3);
        let start = store.resource_version();
        for i in 0..2 {
            store
                .put(&cms(), &mut cm("a", "x", &i.to_string()))
                .unwrap();
        }
        store.delete(&cms(), "a", "x").unwrap();
        let events = store.events_after(start, |_| true).unwrap();
        let types: Vec<EventType> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            types,
            [EventType::Added, EventType::Modified, EventType::Deleted]
        );
        assert_eq!(events[2].object.rv, start + 3);
        assert_eq!(
            store.events_after(start + 2, |_| true).unwrap().len(),
            1,
            "resume after the second event"
        );
        store.put(&cms(), &mut cm("a", "z", "1")).unwrap();
        let err = store.events_after(start, |_| true).unwrap_err();
        assert_eq!(err.requested, start);
        assert_eq!(err.oldest, start + 1);
        assert!(store.events_after(start + 1, |_| true).is_ok());
    }

    #[test]
    fn crd_makes_kind_served_and_deleting_it_removes_it() {
        let mut store = Store::new();
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true}]}});
        store.put(&crd_key(), &mut crd).unwrap();
        assert!(store.kinds().iter().any(|k| k.kind == "Widget"));
        store.delete(&crd_key(), "", "widgets.example.com").unwrap();
        assert!(!store.kinds().iter().any(|k| k.kind == "Widget"));
    }

    #[test]
    fn state_survives_reopen_and_rv_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        let rv;
        {
            let mut store = Store::open(&path).unwrap();
            store.put(&cms(), &mut cm("default", "a", "1")).unwrap();
            store.put(&cms(), &mut cm("default", "b", "1")).unwrap();
            store.delete(&cms(), "default", "b").unwrap();
            rv = store.resource_version();
            // no snapshot: as if killed
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.resource_version(), rv);
        assert!(store.get(&cms(), "default", "a").is_some());
        assert!(store.get(&cms(), "default", "b").is_none());
        let next = store.put(&cms(), &mut cm("default", "c", "1")).unwrap();
        assert_eq!(next.rv, rv + 1);
        // resuming a watch from before the restart is too old
        assert!(store.events_after(rv - 1, |_| true).is_err());
        assert!(store.events_after(rv, |_| true).is_ok());
    }

    #[test]
    fn truncated_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        {
            let mut store = Store::open(&path).unwrap();
            store.put(&cms(), &mut cm("default", "a", "1")).unwrap();
        }
        let good_rv = Store::open(&path).unwrap().resource_version();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(
            br#"{"op":"put","group":"","resource":"configmaps","rv":99,"object":{"kind":"Conf"#,
        );
        std::fs::write(&path, &bytes).unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(store.resource_version(), good_rv);
        assert!(store.get(&cms(), "default", "a").is_some());
        // compaction rewrote the file without the torn line
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
        );
    }

    #[test]
    fn the_log_is_compacted_after_many_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        let mut store = Store::open(&path).unwrap();
        for i in 0..(COMPACT_MIN_LINES + 10) {
            store
                .put(&cms(), &mut cm("default", "a", &i.to_string()))
                .unwrap();
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines < 100, "{lines} lines after compaction");
        let rv = store.resource_version();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.resource_version(), rv);
        assert_eq!(
            store.get(&cms(), "default", "a").unwrap().value()["data"]["k"],
            (COMPACT_MIN_LINES + 9).to_string()
        );
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        std::fs::write(
            &path,
            "{\"op\":\"rv\",\"rv\":3}\nnot json\n{\"op\":\"rv\",\"rv\":4}\n",
        )
        .unwrap();
        let err = Store::open(&path).err().unwrap();
        assert!(err.to_string().contains("line 2 is corrupt"), "{err}");
    }

    #[test]
    fn ip_pool_gives_unique_service_range_addresses() {
        let mut pool = IpPool::default();
        let a = pool.allocate();
        let b = pool.allocate();
        assert_ne!(a, b);
        let ip: std::net::Ipv4Addr = a.parse().unwrap();
        assert_eq!(ip.octets()[0], 10);
        assert!((96..112).contains(&ip.octets()[1]));
    }
}
