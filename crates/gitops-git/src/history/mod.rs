//! First-parent history walk limited to a path, and the persistent walk cache.
//!
//! gix has no path-limited log, so [`PathWalk`] compares the id of the path's tree (or blob)
//! between each first-parent commit and its parent: equal ids mean the commit left the path
//! alone, with no diff. Each commit and each tree on the path is read once; below the first
//! tree level the parent shares with its child, nothing is read at all.
//!
//! Objects are read through [`WalkObjects`]: packed ones with a delta cache that keeps whole
//! delta chains ([`PackReader`]), so reading the versions of a tree or a file one after the
//! other costs about one delta each.
//!
//! What a walk found is kept under the repo's git dir (`kubectl-gitops/history-v1/`), keyed by
//! (tip commit, path): the list of commits that changed the path, newest first, and where the
//! walk stopped. A later walk from the same tip, or from a newer one whose first-parent line
//! reaches it, reads that list instead of walking again. Entries are content-addressed (a
//! commit's ancestry never changes), written once via a temp file and a rename; one that cannot
//! be read is ignored and rewritten.
//!
//! ```no_run
//! use gitops_git::EnvRepo;
//! use gitops_git::history::PathWalk;
//!
//! let repo = EnvRepo::open(".")?;
//! let tip = repo.resolve("HEAD")?;
//! let mut walk = PathWalk::new(&repo, tip, "envs/prod", true)?;
//! for commit in walk.by_ref().take(10) {
//!     println!("{}", commit?);
//! }
//! let stats = walk.finish(); // writes the cache entry
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gix::objs::Find as _;

use super::pack::PackReader;
use super::{EnvRepo, ObjectId, normalize_path};

/// Errors of the walk. Cache problems are never errors (the cache is ignored instead).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// An object on the walk could not be read or decoded.
    #[error(
        "cannot read {what} in {repo} while walking the history: {message} (is the repository complete? try `git fsck`)"
    )]
    Object {
        /// What was read, e.g. `commit 1a2b…`.
        what: String,
        /// The repository.
        repo: PathBuf,
        /// What gix said.
        message: String,
    },
    /// The thread walking the history stopped without an answer.
    #[error("the history walk stopped unexpectedly: {0} (please report this as a bug)")]
    Interrupted(String),
}

/// What a walk cost, for `-v` logs, tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Commits read from the object database.
    pub commits_walked: usize,
    /// Cache entries used.
    pub cache_hits: usize,
    /// Changed commits taken from the cache rather than found by walking.
    pub cached_commits: usize,
    /// Cache entries found unreadable and ignored.
    pub cache_rejected: usize,
    /// Whether this walk wrote a cache entry.
    pub cache_written: bool,
    /// Commits whose tree and parent came from the commit-graph file (not read whole).
    pub commits_from_graph: usize,
}

/// Memory for decoded objects kept by a walk's delta cache: the objects of a delta chain
/// (50 and more trees or files of a few KB) and what was read just before. More did not
/// make the benchmark's 20,000-commit walk faster; each walking thread holds one.
const PACK_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// The path's id in a commit, the commit's first parent, the path's id in that parent.
pub type PathTrees = (Option<ObjectId>, Option<ObjectId>, Option<ObjectId>);

/// A commit a walk yielded, with what the walk knew of it.
#[derive(Debug, Clone)]
pub struct WalkedCommit {
    /// The commit.
    pub id: ObjectId,
    /// The path's id in it, its first parent, the path's id there: `None` when the commit
    /// came from the cache (not read).
    pub trees: Option<PathTrees>,
    /// The commit object's bytes, when the walk read it.
    pub data: Option<Vec<u8>>,
    /// The files that differ from the first parent, when read ahead ([`WalkedCommit::read_ahead`]).
    pub diffs: Option<Vec<FileDiff>>,
    /// Blobs read ahead: both sides of `diffs` that `wanted` chose.
    pub blobs: Vec<(ObjectId, Arc<[u8]>)>,
}

impl WalkedCommit {
    /// Diffs the commit's path tree against its parent's and reads both sides of the changed
    /// files `wanted` picks (by path), through `objects`: work a thread walking ahead can do
    /// for the one computing changes. Anything unreadable is left for the caller to read
    /// (and report).
    pub fn read_ahead(&mut self, objects: &WalkObjects, path: &str, wanted: impl Fn(&str) -> bool) {
        let Some((leaf, _, parent_leaf)) = self.trees else {
            return;
        };
        let Ok(diffs) = objects.diff_trees(path, parent_leaf, leaf) else {
            return;
        };
        for diff in diffs.iter().filter(|d| wanted(&d.path)) {
            for blob in [diff.before, diff.after].into_iter().flatten() {
                if let Ok(data) = objects.shared_blob(blob) {
                    self.blobs.push((blob, data));
                }
            }
        }
        self.diffs = Some(diffs);
    }

    /// A blob read ahead.
    pub fn blob(&self, id: ObjectId) -> Option<&Arc<[u8]>> {
        self.blobs
            .iter()
            .find(|(blob, _)| *blob == id)
            .map(|(_, data)| data)
    }
}

/// A commit's tree, first parent and, when it was read whole and kept, its bytes.
/// What blame reads of a commit: its tree, all its parents and its committer time (seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitLinks {
    /// The root tree.
    pub tree: ObjectId,
    /// Parents, first parent first.
    pub parents: Vec<ObjectId>,
    /// Committer time, seconds since the epoch.
    pub time: i64,
}

type CommitRead = (ObjectId, Option<ObjectId>, Option<Vec<u8>>);

/// Tree ids along the path in one commit: the root tree, then each component's entry id;
/// `None` from the first missing component on.
type Chain = Vec<Option<ObjectId>>;

/// The next commit to examine, with what is known of it.
struct Cursor {
    id: ObjectId,
    chain: Chain,
    parent: Option<ObjectId>,
    /// The commit object's bytes, when it was read (not when the commit-graph answered).
    data: Option<Vec<u8>>,
}

/// Reads a walk's objects: packed ones through a [`PackReader`] (a delta cache keeping whole
/// chains), the others through gix. One per thread.
pub struct WalkObjects {
    repo: gix::Repository,
    root: PathBuf,
    state: RefCell<ReadState>,
    /// The repository's commit-graph (`objects/info/commit-graph` or a split chain), as git
    /// uses it: a commit's tree and parents without reading the commit. Opened at the first
    /// commit read: the readers of trees and files never need it.
    graph: std::cell::OnceCell<Option<gix::commitgraph::Graph>>,
    /// Commits answered by `graph`.
    graph_hits: std::cell::Cell<usize>,
    /// [`WalkObjects::shallow`], read at the first commit read.
    shallow: std::cell::OnceCell<HashSet<ObjectId>>,
}

struct ReadState {
    packs: PackReader,
    buf: Vec<u8>,
    /// The last trees and files read whole ([`WalkObjects::read_owned`]), by id: diffing
    /// commit after commit reads each version of the path's trees and files twice, as the
    /// newer side of one diff and the older side of the next one that changed it.
    recent: HashMap<ObjectId, (gix::object::Kind, Arc<[u8]>)>,
    /// Their ids, oldest first.
    recent_order: VecDeque<ObjectId>,
    /// Their bytes in all.
    recent_bytes: usize,
}

/// Objects [`ReadState::recent`] keeps: a file of a directory of a few hundred files comes
/// back within that many reads (about 1 MB of manifests).
const RECENT_OBJECTS: usize = 512;

/// Bytes [`ReadState::recent`] keeps at most: enough for the latest version of each file of
/// a large directory (kube-prometheus' manifests are 4 MB, one file 1.5 MB), few enough that
/// a walk over the versions of large files does not hold hundreds of them.
const RECENT_BYTES: usize = 16 * 1024 * 1024;

impl WalkObjects {
    /// A reader of `env`'s objects.
    pub fn new(env: &EnvRepo) -> WalkObjects {
        let mut repo = env.repo.to_thread_local();
        // What gix reads (objects outside the packs) is read once: nothing to cache.
        repo.objects.unset_object_cache();
        let packs = PackReader::open(
            repo.objects.store_ref().path(),
            repo.object_hash(),
            PACK_CACHE_BYTES,
        );
        WalkObjects {
            root: env.root().to_path_buf(),
            graph: std::cell::OnceCell::new(),
            graph_hits: std::cell::Cell::new(0),
            shallow: std::cell::OnceCell::new(),
            repo,
            state: RefCell::new(ReadState {
                packs,
                buf: Vec::new(),
                recent: HashMap::with_capacity(RECENT_OBJECTS),
                recent_order: VecDeque::with_capacity(RECENT_OBJECTS),
                recent_bytes: 0,
            }),
        }
    }

    /// The repository's git dir.
    pub fn git_dir(&self) -> PathBuf {
        self.repo.git_dir().to_path_buf()
    }

    fn error(&self, what: String, message: impl ToString) -> HistoryError {
        HistoryError::Object {
            what,
            repo: self.root.clone(),
            message: message.to_string(),
        }
    }

    /// Calls `f` with the kind and bytes of object `id` (`what` names it in errors).
    fn with<T>(
        &self,
        id: ObjectId,
        what: &str,
        f: impl FnOnce(gix::object::Kind, &[u8]) -> T,
    ) -> Result<T, HistoryError> {
        let mut state = self.state.borrow_mut();
        let ReadState { packs, buf, .. } = &mut *state;
        if let Some(kind) = packs.find(&id, buf) {
            return Ok(f(kind, buf));
        }
        match self.repo.objects.try_find(&id, buf) {
            Ok(Some(data)) => Ok(f(data.kind, data.data)),
            Ok(None) => Err(self.error(format!("{what} {id}"), "not found")),
            Err(e) => Err(self.error(format!("{what} {id}"), e)),
        }
    }

    /// The bytes of object `id`, shared with [`ReadState::recent`].
    fn read_owned(
        &self,
        id: ObjectId,
        what: &str,
    ) -> Result<(gix::object::Kind, Arc<[u8]>), HistoryError> {
        if let Some((kind, data)) = self.state.borrow().recent.get(&id) {
            return Ok((*kind, Arc::clone(data)));
        }
        let (kind, data) = self.with(id, what, |kind, data| (kind, Arc::<[u8]>::from(data)))?;
        let mut state = self.state.borrow_mut();
        while state.recent_order.len() == RECENT_OBJECTS
            || (state.recent_bytes + data.len() > RECENT_BYTES && !state.recent_order.is_empty())
        {
            let Some(oldest) = state.recent_order.pop_front() else {
                break;
            };
            if let Some((_, gone)) = state.recent.remove(&oldest) {
                state.recent_bytes -= gone.len();
            }
        }
        state.recent_order.push_back(id);
        state.recent_bytes += data.len();
        state.recent.insert(id, (kind, Arc::clone(&data)));
        Ok((kind, data))
    }

    /// Tree id and first parent of a commit, and its bytes when `keep` and the commit was
    /// read (not when the commit-graph answered).
    fn commit(&self, id: ObjectId, keep: bool) -> Result<CommitRead, HistoryError> {
        if let Some((tree, parent)) = self.graph_commit(id) {
            self.graph_hits.set(self.graph_hits.get() + 1);
            return Ok((tree, parent, None));
        }
        let parsed = self.with(id, "commit", |kind, data| {
            if kind != gix::object::Kind::Commit {
                return Err(format!("is a {kind}"));
            }
            let mut iter = gix::objs::CommitRefIter::from_bytes(data, id.kind());
            let tree = iter.tree_id().map_err(|e| e.to_string())?;
            let parent = iter.parent_ids().next();
            Ok((tree, parent, keep.then(|| data.to_vec())))
        })?;
        let (tree, parent, data) =
            parsed.map_err(|message| self.error(format!("commit {id}"), message))?;
        // A shallow clone's boundary commit: its parent is not there, and git's log ends at it
        // as at a root commit.
        let parent = parent.filter(|_| !self.shallow().contains(&id));
        Ok((tree, parent, data))
    }

    /// A shallow clone's boundary commits (`.git/shallow`); empty in a complete repository.
    fn shallow(&self) -> &HashSet<ObjectId> {
        self.shallow
            .get_or_init(|| match self.repo.shallow_commits() {
                Ok(Some(commits)) => commits.iter().copied().collect(),
                _ => HashSet::new(),
            })
    }

    /// Tree id and first parent of `id` from the commit-graph, when it holds `id`.
    fn graph_commit(&self, id: ObjectId) -> Option<(ObjectId, Option<ObjectId>)> {
        let graph = self
            .graph
            .get_or_init(|| commit_graph(&self.repo))
            .as_ref()?;
        let commit = graph.commit_by_id(id)?;
        let parent = match commit.parent1() {
            Ok(parent) => parent.map(|pos| graph.id_at(pos).to_owned()),
            // A damaged graph: read the commit instead.
            Err(_) => return None,
        };
        Some((commit.root_tree_id().to_owned(), parent))
    }

    /// Tree, parents and committer time of commit `id`, as git's blame reads them: from the
    /// commit-graph when it holds the commit, else from the commit itself.
    pub fn commit_links(&self, id: ObjectId) -> Result<CommitLinks, HistoryError> {
        let graph = self.graph.get_or_init(|| commit_graph(&self.repo)).as_ref();
        if let Some(commit) = graph.and_then(|g| g.commit_by_id(id))
            && let Some(graph) = graph
        {
            let parents: Result<Vec<ObjectId>, _> = commit
                .iter_parents()
                .map(|p| p.map(|pos| graph.id_at(pos).to_owned()))
                .collect();
            // A damaged graph: the commit is read instead.
            if let Ok(parents) = parents {
                self.graph_hits.set(self.graph_hits.get() + 1);
                return Ok(CommitLinks {
                    tree: commit.root_tree_id().to_owned(),
                    parents,
                    time: i64::try_from(commit.committer_timestamp()).unwrap_or(i64::MAX),
                });
            }
        }
        let parsed = self.with(id, "commit", |kind, data| {
            if kind != gix::object::Kind::Commit {
                return Err(format!("is a {kind}"));
            }
            let commit =
                gix::objs::CommitRef::from_bytes(data, id.kind()).map_err(|e| e.to_string())?;
            let time = commit
                .committer()
                .and_then(|c| c.time())
                .map_err(|e| e.to_string())?;
            Ok(CommitLinks {
                tree: commit.tree(),
                parents: commit.parents().collect(),
                time: time.seconds,
            })
        })?;
        parsed.map_err(|message| self.error(format!("commit {id}"), message))
    }

    /// The bytes of commit `id`.
    pub fn commit_bytes(&self, id: ObjectId) -> Result<Vec<u8>, HistoryError> {
        let data = self.with(id, "commit", |kind, data| {
            (kind == gix::object::Kind::Commit)
                .then(|| data.to_vec())
                .ok_or_else(|| format!("is a {kind}"))
        })?;
        data.map_err(|message| self.error(format!("commit {id}"), message))
    }

    /// Commits whose tree and parent the commit-graph gave.
    pub fn commits_from_graph(&self) -> usize {
        self.graph_hits.get()
    }

    /// The id of `name` in tree `tree`, `None` when absent.
    fn entry_in(&self, tree: ObjectId, name: &str) -> Result<Option<ObjectId>, HistoryError> {
        Ok(self.entry(tree, name)?.map(|(_, id)| id))
    }

    /// The mode and id of `name` in tree `tree`, `None` when absent (or `tree` is not a tree:
    /// a file where a directory of a path was expected).
    pub fn entry(
        &self,
        tree: ObjectId,
        name: &str,
    ) -> Result<Option<(gix::objs::tree::EntryMode, ObjectId)>, HistoryError> {
        let found = self.with(tree, "tree", |kind, data| {
            if kind != gix::object::Kind::Tree {
                return Ok(None);
            }
            for entry in gix::objs::TreeRefIter::from_bytes(data, tree.kind()) {
                match entry {
                    Ok(entry) if entry.filename == name.as_bytes() => {
                        return Ok(Some((entry.mode, entry.oid.to_owned())));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(None)
        })?;
        found.map_err(|message| self.error(format!("tree {tree}"), message))
    }

    /// The chain of `root` along `components`, reusing `known` (a child commit's chain) from
    /// the first level where both agree: below an equal tree everything is equal.
    fn chain(
        &self,
        components: &[String],
        root: ObjectId,
        known: Option<&Chain>,
    ) -> Result<Chain, HistoryError> {
        let mut chain: Chain = Vec::with_capacity(components.len() + 1);
        chain.push(Some(root));
        for (depth, name) in components.iter().enumerate() {
            let current = chain[depth];
            if let Some(known) = known
                && known[depth] == current
            {
                chain.extend_from_slice(&known[depth + 1..]);
                return Ok(chain);
            }
            let next = match current {
                Some(tree) => self.entry_in(tree, name)?,
                None => None,
            };
            chain.push(next);
        }
        Ok(chain)
    }

    /// The id of `path` (repo-relative, normalized) in `commit` and the commit's first parent.
    pub fn path_tree(
        &self,
        path: &str,
        commit: ObjectId,
    ) -> Result<(Option<ObjectId>, Option<ObjectId>), HistoryError> {
        let components = path_components(path);
        let (tree, parent, _) = self.commit(commit, false)?;
        Ok((
            self.chain(&components, tree, None)?
                .last()
                .copied()
                .flatten(),
            parent,
        ))
    }

    /// The path's id in `commit`, its first parent and the path's id in that parent.
    pub fn path_trees(&self, path: &str, commit: ObjectId) -> Result<PathTrees, HistoryError> {
        let (leaf, parent) = self.path_tree(path, commit)?;
        let parent_leaf = match parent {
            Some(parent) => self.path_tree(path, parent)?.0,
            None => None,
        };
        Ok((leaf, parent, parent_leaf))
    }

    /// The files that differ between two trees at `prefix` (`None`: absent there), by path
    /// below `prefix` joined to it; subtrees with equal ids are not read, hidden directories
    /// (`.git*`, `.github`) are skipped, symlinks and submodules are not files.
    pub fn diff_trees(
        &self,
        prefix: &str,
        before: Option<ObjectId>,
        after: Option<ObjectId>,
    ) -> Result<Vec<FileDiff>, HistoryError> {
        let mut out = Vec::new();
        self.diff_into(prefix, before, after, &mut out)?;
        Ok(out)
    }

    fn diff_into(
        &self,
        prefix: &str,
        before: Option<ObjectId>,
        after: Option<ObjectId>,
        out: &mut Vec<FileDiff>,
    ) -> Result<(), HistoryError> {
        if before == after {
            return Ok(());
        }
        let read = |tree: Option<ObjectId>| -> Result<Option<Arc<[u8]>>, HistoryError> {
            match tree {
                Some(tree) => match self.read_owned(tree, "tree")? {
                    (gix::object::Kind::Tree, data) => Ok(Some(data)),
                    _ => Ok(None),
                },
                None => Ok(None),
            }
        };
        let (old_data, new_data) = (read(before)?, read(after)?);
        let old = self.tree_entries(before, old_data.as_deref())?;
        let new = self.tree_entries(after, new_data.as_deref())?;
        // Both sides in git's tree order: a merge pairs equal names of equal kind.
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) => tree_order(a, b),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (a, b) = match order {
                std::cmp::Ordering::Less => {
                    i += 1;
                    (Some(&old[i - 1]), None)
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    (None, Some(&new[j - 1]))
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    (Some(&old[i - 1]), Some(&new[j - 1]))
                }
            };
            let (id_a, id_b) = (a.map(|e| e.2), b.map(|e| e.2));
            if id_a == id_b {
                continue;
            }
            let Some(&(name, kind, _)) = a.or(b) else {
                continue;
            };
            let name = String::from_utf8_lossy(name);
            let path = super::join_path(prefix, &name);
            match kind {
                EntryKind::Tree if !name.starts_with('.') => {
                    self.diff_into(&path, id_a, id_b, out)?;
                }
                EntryKind::Tree => {}
                EntryKind::Blob => out.push(FileDiff {
                    path,
                    before: id_a,
                    after: id_b,
                }),
            }
        }
        Ok(())
    }

    /// The trees and files of a tree's bytes (symlinks and submodules left out), in git's
    /// tree order.
    fn tree_entries<'d>(
        &self,
        tree: Option<ObjectId>,
        data: Option<&'d [u8]>,
    ) -> Result<Vec<TreeEntry<'d>>, HistoryError> {
        let (Some(tree), Some(data)) = (tree, data) else {
            return Ok(Vec::new());
        };
        let mut entries = Vec::new();
        for entry in gix::objs::TreeRefIter::from_bytes(data, tree.kind()) {
            match entry {
                Ok(entry) => {
                    let kind = if entry.mode.is_tree() {
                        EntryKind::Tree
                    } else if entry.mode.is_blob() {
                        EntryKind::Blob
                    } else {
                        continue;
                    };
                    let name: &[u8] = entry.filename.as_ref();
                    entries.push((name, kind, entry.oid.to_owned()));
                }
                Err(e) => return Err(self.error(format!("tree {tree}"), e)),
            }
        }
        // Already in order in a well-formed tree (then this is one pass); a malformed one is
        // put in order rather than mis-paired.
        entries.sort_by(tree_order);
        Ok(entries)
    }

    /// Content of a blob.
    pub fn blob(&self, id: ObjectId) -> Result<Vec<u8>, super::RepoError> {
        self.shared_blob(id).map(|data| data.to_vec())
    }

    /// Content of a blob, read without keeping it in the cache of recent objects (a walk over
    /// many versions of one large file keeps only the few it holds itself).
    pub fn blob_once(&self, id: ObjectId) -> Result<Vec<u8>, super::RepoError> {
        if let Ok(Some(data)) = self.with(id, "blob", |kind, data| {
            (kind == gix::object::Kind::Blob).then(|| data.to_vec())
        }) {
            return Ok(data);
        }
        // Not a readable blob: gix says what is wrong.
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(|e| super::local_object_error(&self.root, format!("blob {id}"), e))?;
        Ok(blob.take_data())
    }

    /// The bytes of blob `id`, shared with the cache of recent objects (no copy when read
    /// again).
    pub fn shared_blob(&self, id: ObjectId) -> Result<Arc<[u8]>, super::RepoError> {
        if let Ok((gix::object::Kind::Blob, data)) = self.read_owned(id, "blob") {
            return Ok(data);
        }
        // Not a readable blob: gix says what is wrong.
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(|e| super::local_object_error(&self.root, format!("blob {id}"), e))?;
        Ok(Arc::from(blob.take_data()))
    }
}

impl WalkObjects {
    /// What `git log` shows of a commit.
    pub fn commit_info(&self, id: ObjectId) -> Result<k8s_model::CommitInfo, super::RepoError> {
        match self.read_owned(id, "commit") {
            Ok((gix::object::Kind::Commit, data)) => {
                super::commit_info_from_data(&self.root, id, &data)
            }
            // Not a readable commit: gix says what is wrong.
            _ => super::commit_info_in(&self.repo, &self.root, id),
        }
    }
}

/// The commit-graph of `repo`, when git would use one: present, readable, `core.commitGraph`
/// not false, and the repository not shallow (git ignores the graph then: parents it lists
/// may be cut off).
fn commit_graph(repo: &gix::Repository) -> Option<gix::commitgraph::Graph> {
    if repo.config_snapshot().boolean("core.commitGraph") == Some(false)
        || repo.git_dir().join("shallow").exists()
    {
        return None;
    }
    let info = repo.objects.store_ref().path().join("info");
    match gix::commitgraph::Graph::from_info_dir(&info, repo.object_hash()) {
        Ok(graph) => Some(graph),
        Err(error) => {
            if info.join("commit-graph").exists() || info.join("commit-graphs").exists() {
                tracing::debug!(%error, "commit-graph not read; commits are read whole");
            }
            None
        }
    }
}

/// The components of a normalized path (none for the whole tree).
fn path_components(path: &str) -> Vec<String> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').map(str::to_owned).collect()
    }
}

/// An iterator over the first-parent commits from a tip that changed a path (its tree id
/// differs from the first parent's; a root commit counts when the path exists in it), newest
/// first. Call [`PathWalk::finish`] when done to store what was found.
pub struct PathWalk {
    objects: WalkObjects,
    path: String,
    components: Vec<String>,
    tip: ObjectId,
    next: Option<Cursor>,
    /// Where to continue after a cache entry, before its commit is read.
    resume: Option<ObjectId>,
    queue: VecDeque<ObjectId>,
    /// Every changed commit yielded or queued, newest first (what a cache entry stores).
    found: Vec<ObjectId>,
    cache: Option<WalkCache>,
    cached_tips: HashSet<ObjectId>,
    stats: WalkStats,
    /// The last commit yielded by walking, with what the walk knew of it.
    last: Option<WalkedCommit>,
    /// The next first-parent commits, read and resolved ahead in a batch (oldest resolved
    /// first, see [`AHEAD`]), nearest first.
    ahead: VecDeque<Cursor>,
    /// Commits in the next batch: from [`AHEAD`], doubling up to `batch_max` (a walk stopped
    /// early reads little ahead).
    batch: usize,
    /// The largest batch: [`AHEAD_MAX`] (tests use smaller ones).
    batch_max: usize,
    /// For a walk over several inputs ([`PathWalk::over_inputs`]): the components of each;
    /// a commit of the walked path that changed none of them is passed over.
    inputs: Option<Vec<Vec<String>>>,
}

/// Commits read ahead in the first batch. Packs store a version of a tree as a delta on
/// another version (often its parent's), and a batch resolved oldest first reads each tree
/// as one delta on the one read just before.
const AHEAD: usize = 64;
/// The largest batch: small enough that a caller computing changes on another thread
/// (the history use case's change walk) gets commits steadily, not after long pauses.
const AHEAD_MAX: usize = 1024;

impl PathWalk {
    /// A walk from `tip` over `path` (repo-relative, `""` for the whole tree). With
    /// `use_cache`, cache entries under the git dir are read and written.
    pub fn new(
        env: &EnvRepo,
        tip: ObjectId,
        path: &str,
        use_cache: bool,
    ) -> Result<PathWalk, HistoryError> {
        let objects = WalkObjects::new(env);
        let path = normalize_path(path);
        let components = path_components(&path);
        let cache = use_cache.then(|| WalkCache::new(&objects.git_dir(), &path));
        let cached_tips = cache.as_ref().map(WalkCache::tips).unwrap_or_default();
        let mut walk = PathWalk {
            objects,
            path,
            components,
            tip,
            next: None,
            resume: Some(tip),
            queue: VecDeque::new(),
            found: Vec::new(),
            cache,
            cached_tips,
            stats: WalkStats::default(),
            last: None,
            ahead: VecDeque::new(),
            batch: AHEAD,
            batch_max: AHEAD_MAX,
            inputs: None,
        };
        walk.take_cached(tip);
        Ok(walk)
    }

    /// A walk from `tip` yielding the first-parent commits that changed any of `inputs`
    /// (repo-relative paths), as `git log --first-parent -- <inputs>` lists them. One input is
    /// [`PathWalk::new`]; several walk the directory holding them all and pass over the
    /// commits that changed none (their commits carry no path trees: the walked directory's
    /// would not be any input's).
    pub fn over_inputs(
        env: &EnvRepo,
        tip: ObjectId,
        inputs: &[String],
        use_cache: bool,
    ) -> Result<PathWalk, HistoryError> {
        let inputs: Vec<Vec<String>> = inputs
            .iter()
            .map(|i| path_components(&normalize_path(i)))
            .collect();
        let [_, _, ..] = inputs.as_slice() else {
            let only = inputs.first().map(|c| c.join("/")).unwrap_or_default();
            return PathWalk::new(env, tip, &only, use_cache);
        };
        let mut common: Vec<String> = inputs[0].clone();
        for components in &inputs[1..] {
            let shared = common
                .iter()
                .zip(components)
                .take_while(|(a, b)| a == b)
                .count();
            common.truncate(shared);
        }
        let mut walk = PathWalk::new(env, tip, &common.join("/"), use_cache)?;
        walk.inputs = Some(inputs);
        Ok(walk)
    }

    /// Whether `commit` changed any of the inputs against its first parent (the root commit:
    /// whether any exists in it).
    fn changes_an_input(
        &self,
        commit: ObjectId,
        inputs: &[Vec<String>],
    ) -> Result<bool, HistoryError> {
        let (tree, parent, _) = self.objects.commit(commit, false)?;
        let parent_tree = match parent {
            Some(parent) => Some(self.objects.commit(parent, false)?.0),
            None => None,
        };
        for components in inputs {
            let leaf = |root: ObjectId| -> Result<Option<ObjectId>, HistoryError> {
                Ok(self
                    .objects
                    .chain(components, root, None)?
                    .last()
                    .copied()
                    .flatten())
            };
            let now = leaf(tree)?;
            let before = match parent_tree {
                Some(root) => leaf(root)?,
                None => None,
            };
            if now != before {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The repository's git dir.
    pub fn git_dir(&self) -> PathBuf {
        self.objects.git_dir()
    }

    /// The walk's object reader (its delta cache holds the trees just walked).
    pub fn objects(&self) -> &WalkObjects {
        &self.objects
    }

    /// Stores what was found (when anything was walked) and returns the walk's cost.
    pub fn finish(mut self) -> WalkStats {
        if self.stats.commits_walked > 0
            && let Some(cache) = &self.cache
        {
            let resume = self.next.as_ref().map(|c| c.id).or(self.resume);
            let mut commits = self.found.clone();
            commits.extend(self.queue.iter().copied());
            commits.dedup();
            self.stats.cache_written = cache.write(self.tip, resume, &commits);
        }
        self.stats.commits_from_graph = self.objects.commits_from_graph();
        self.stats
    }

    /// The next changed commit with what the walk knew of it: its path trees and bytes when
    /// it was found by walking, neither when it came from the cache.
    pub fn next_walked(&mut self) -> Option<Result<WalkedCommit, HistoryError>> {
        loop {
            let id = match self.next()? {
                Ok(id) => id,
                Err(e) => return Some(Err(e)),
            };
            let walked = match self.last.take() {
                Some(walked) if walked.id == id => walked,
                _ => WalkedCommit {
                    id,
                    trees: None,
                    data: None,
                    diffs: None,
                    blobs: Vec::new(),
                },
            };
            let Some(inputs) = self.inputs.take() else {
                return Some(Ok(walked));
            };
            let changed = self.changes_an_input(id, &inputs);
            self.inputs = Some(inputs);
            match changed {
                Ok(true) => {
                    return Some(Ok(WalkedCommit {
                        trees: None,
                        ..walked
                    }));
                }
                Ok(false) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// When `commit` is a cached tip, queues its changed commits and continues below them.
    /// Returns whether it did.
    fn take_cached(&mut self, commit: ObjectId) -> bool {
        if !self.cached_tips.remove(&commit) {
            return false;
        }
        let Some(cache) = &self.cache else {
            return false;
        };
        match cache.read(commit) {
            Some(entry) => {
                self.stats.cache_hits += 1;
                self.stats.cached_commits += entry.commits.len();
                tracing::debug!(tip = %commit, commits = entry.commits.len(), path = %self.path, "history cache hit");
                self.queue.extend(entry.commits);
                self.next = None;
                self.resume = entry.resume;
                true
            }
            None => {
                self.stats.cache_rejected += 1;
                tracing::debug!(tip = %commit, path = %self.path, "history cache entry unreadable; ignored");
                false
            }
        }
    }

    fn cursor(&mut self, id: ObjectId, known: Option<&Chain>) -> Result<Cursor, HistoryError> {
        self.stats.commits_walked += 1;
        let (tree, parent, data) = self.objects.commit(id, true)?;
        let chain = self.objects.chain(&self.components, tree, known)?;
        Ok(Cursor {
            id,
            chain,
            parent,
            data,
        })
    }

    /// Remembers a changed commit as the last one yielded.
    fn found_by_walking(&mut self, current: Cursor, trees: PathTrees) -> Option<ObjectId> {
        let id = current.id;
        // When the commit-graph gave its tree and parent, its message and author are read
        // now (unreadable: the caller reads it again and reports).
        let data = current.data.or_else(|| self.objects.commit_bytes(id).ok());
        self.last = Some(WalkedCommit {
            id,
            trees: Some(trees),
            data,
            diffs: None,
            blobs: Vec::new(),
        });
        Some(id)
    }

    /// Examines commits until one changed the path; `None` past the root commit.
    fn step(&mut self) -> Result<Option<ObjectId>, HistoryError> {
        loop {
            let current = match self.next.take() {
                Some(cursor) => cursor,
                None => match self.resume.take() {
                    Some(id) => {
                        if id != self.tip && self.take_cached(id) {
                            return Ok(None);
                        }
                        self.cursor(id, None)?
                    }
                    None => return Ok(None),
                },
            };
            let leaf = current.chain.last().copied().flatten();
            let Some(parent) = current.parent else {
                // The root commit changed the path when the path exists in it.
                if leaf.is_none() {
                    return Ok(None);
                }
                return Ok(self.found_by_walking(current, (leaf, None, None)));
            };
            if self.take_cached(parent) {
                self.ahead.clear();
                let parent_leaf = self.parent_leaf(parent)?;
                if leaf == parent_leaf {
                    return Ok(None);
                }
                return Ok(self.found_by_walking(current, (leaf, Some(parent), parent_leaf)));
            }
            let parent_cursor = match self.ahead.pop_front() {
                Some(cursor) if cursor.id == parent => cursor,
                _ => {
                    self.fill_ahead(parent)?;
                    match self.ahead.pop_front() {
                        Some(cursor) => cursor,
                        None => self.cursor(parent, Some(&current.chain))?,
                    }
                }
            };
            let parent_leaf = parent_cursor.chain.last().copied().flatten();
            self.next = Some(parent_cursor);
            if parent_leaf != leaf {
                return Ok(self.found_by_walking(current, (leaf, Some(parent), parent_leaf)));
            }
        }
    }

    /// Reads up to a batch of first-parent commits from `from` (stopping before a cached tip,
    /// which the walk takes instead) and resolves their chains oldest first.
    fn fill_ahead(&mut self, from: ObjectId) -> Result<(), HistoryError> {
        self.ahead.clear();
        let mut commits = Vec::with_capacity(self.batch);
        let mut next = Some(from);
        while let Some(id) = next {
            if commits.len() >= self.batch.max(1)
                || (!commits.is_empty() && self.cached_tips.contains(&id))
            {
                break;
            }
            self.stats.commits_walked += 1;
            let (tree, parent, data) = self.objects.commit(id, true)?;
            commits.push((id, tree, parent, data));
            next = parent;
        }
        let mut known: Option<Chain> = None;
        let mut cursors = Vec::with_capacity(commits.len());
        for (id, tree, parent, data) in commits.into_iter().rev() {
            let chain = self.objects.chain(&self.components, tree, known.as_ref())?;
            known = Some(chain.clone());
            cursors.push(Cursor {
                id,
                chain,
                parent,
                data,
            });
        }
        cursors.reverse();
        self.ahead = cursors.into();
        self.batch = (self.batch * 2).min(self.batch_max);
        Ok(())
    }

    /// The path's id in `commit`, for the boundary with a cache entry (read without keeping a
    /// cursor: the walk continues from the entry's resume point).
    fn parent_leaf(&mut self, commit: ObjectId) -> Result<Option<ObjectId>, HistoryError> {
        self.stats.commits_walked += 1;
        let (tree, _, _) = self.objects.commit(commit, false)?;
        Ok(self
            .objects
            .chain(&self.components, tree, None)?
            .last()
            .copied()
            .flatten())
    }
}

impl Iterator for PathWalk {
    type Item = Result<ObjectId, HistoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(id) = self.queue.pop_front() {
                self.found.push(id);
                return Some(Ok(id));
            }
            let queued_before = self.queue.len();
            match self.step() {
                Ok(Some(id)) => {
                    // A cache entry taken at the boundary queues commits older than `id`.
                    self.found.push(id);
                    return Some(Ok(id));
                }
                Ok(None) if self.queue.len() > queued_before => continue,
                Ok(None) if self.resume.is_some() || self.next.is_some() => continue,
                Ok(None) => return None,
                Err(e) => {
                    self.next = None;
                    self.resume = None;
                    self.queue.clear();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A tree entry as [`WalkObjects::diff_trees`] sees it: name, kind, id.
type TreeEntry<'d> = (&'d [u8], EntryKind, ObjectId);

/// git's tree order: by name, a tree's name compared as if it ended with `/`. A name that is
/// a tree on one side and a file on the other sorts as two different entries.
fn tree_order(a: &TreeEntry<'_>, b: &TreeEntry<'_>) -> std::cmp::Ordering {
    fn key<'e>(e: &'e TreeEntry<'_>) -> impl Iterator<Item = u8> + 'e {
        let slash: &'static [u8] = if e.1 == EntryKind::Tree { b"/" } else { b"" };
        e.0.iter().copied().chain(slash.iter().copied())
    }
    key(a).cmp(key(b))
}

/// The kind of a tree entry as [`WalkObjects::diff_trees`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Tree,
    /// A regular or executable file.
    Blob,
}

/// A file that differs between two trees: its blob on each side (`None`: absent there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// Repo-relative path.
    pub path: String,
    /// Blob before.
    pub before: Option<ObjectId>,
    /// Blob after.
    pub after: Option<ObjectId>,
}

/// One stored walk: the changed commits from a tip down to `resume` (exclusive; `None`: the
/// whole history).
struct CacheEntry {
    commits: Vec<ObjectId>,
    resume: Option<ObjectId>,
}

/// The cache directory of one path.
struct WalkCache {
    dir: PathBuf,
    path: String,
}

const CACHE_HEADER: &str = "kubectl-gitops history-v1";
/// Entries kept per path; the oldest beyond it are removed after a write.
const CACHE_ENTRIES_PER_PATH: usize = 32;

impl WalkCache {
    fn new(git_dir: &Path, path: &str) -> WalkCache {
        // Hex of the path: unique, and safe as a file name whatever the path holds.
        let key: String = if path.is_empty() {
            "root".to_owned()
        } else {
            path.bytes().map(|b| format!("{b:02x}")).collect()
        };
        let mut dir = git_dir.join("kubectl-gitops").join("history-v1");
        if let Some(shallow) = super::shallow_key(git_dir) {
            dir.push(shallow);
        }
        WalkCache {
            dir: dir.join(key),
            path: path.to_owned(),
        }
    }

    fn tips(&self) -> HashSet<ObjectId> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return HashSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| ObjectId::from_hex(e.file_name().to_str()?.as_bytes()).ok())
            .collect()
    }

    fn read(&self, tip: ObjectId) -> Option<CacheEntry> {
        let text = std::fs::read_to_string(self.dir.join(tip.to_string())).ok()?;
        let mut lines = text.lines();
        if lines.next()? != CACHE_HEADER
            || lines.next()? != format!("tip {tip}")
            || lines.next()? != format!("path {}", self.path)
        {
            return None;
        }
        let resume = match lines.next()?.strip_prefix("resume ")? {
            "root" => None,
            hex => Some(ObjectId::from_hex(hex.as_bytes()).ok()?),
        };
        let mut commits = Vec::new();
        for line in lines {
            if line == "end" {
                return Some(CacheEntry { commits, resume });
            }
            commits.push(ObjectId::from_hex(line.as_bytes()).ok()?);
        }
        // No end marker: a truncated file.
        None
    }

    /// Writes an entry atomically; `false` (logged) when it could not.
    fn write(&self, tip: ObjectId, resume: Option<ObjectId>, commits: &[ObjectId]) -> bool {
        let mut text = format!(
            "{CACHE_HEADER}\ntip {tip}\npath {}\nresume {}\n",
            self.path,
            resume.map_or_else(|| "root".to_owned(), |r| r.to_string())
        );
        for commit in commits {
            text.push_str(&commit.to_string());
            text.push('\n');
        }
        text.push_str("end\n");
        let target = self.dir.join(tip.to_string());
        let temp = self.dir.join(format!(
            ".{tip}.tmp-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let written = std::fs::create_dir_all(&self.dir)
            // Not synced to disk: an entry a crash leaves empty or cut short fails the header
            // or end-marker check, is ignored and rewritten; waiting for the disk cost the
            // command more than the rest of a warm run.
            .and_then(|()| std::fs::File::create(&temp)?.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&temp, &target));
        match written {
            Ok(()) => {
                self.prune();
                true
            }
            Err(error) => {
                let _ = std::fs::remove_file(&temp);
                tracing::debug!(dir = %self.dir.display(), %error, "history cache not written");
                false
            }
        }
    }

    /// Removes the oldest entries beyond [`CACHE_ENTRIES_PER_PATH`].
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if files.len() <= CACHE_ENTRIES_PER_PATH {
            return;
        }
        files.sort();
        for (_, path) in &files[..files.len() - CACHE_ENTRIES_PER_PATH] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The first-parent commits from `tip` that changed `path`, newest first, at most `limit`;
/// with the cache under the git dir (read and written).
pub fn changed_commits(
    env: &EnvRepo,
    tip: ObjectId,
    path: &str,
    limit: Option<usize>,
) -> Result<(Vec<ObjectId>, WalkStats), HistoryError> {
    let mut walk = PathWalk::new(env, tip, path, true)?;
    let mut commits = Vec::new();
    for commit in walk.by_ref() {
        commits.push(commit?);
        if limit.is_some_and(|l| commits.len() >= l) {
            break;
        }
    }
    Ok((commits, walk.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::FixtureRepo;

    /// `git log --first-parent --format=%H -- <path>` as the oracle.
    fn git_log(fx: &FixtureRepo, rev: &str, path: &str) -> Vec<String> {
        let mut args = vec!["log", "--first-parent", "--format=%H", rev];
        if !path.is_empty() {
            args.extend(["--", path]);
        }
        fx.git(&args).lines().map(str::to_owned).collect()
    }

    fn walk(repo: &EnvRepo, rev: &str, path: &str, cache: bool) -> (Vec<String>, WalkStats) {
        let tip = repo.resolve(rev).unwrap();
        let mut walk = PathWalk::new(repo, tip, path, cache).unwrap();
        let ids: Vec<String> = walk.by_ref().map(|c| c.unwrap().to_string()).collect();
        (ids, walk.finish())
    }

    fn walk_in_batches(
        repo: &EnvRepo,
        rev: &str,
        path: &str,
        cache: bool,
        batch: usize,
    ) -> (Vec<String>, WalkStats) {
        let tip = repo.resolve(rev).unwrap();
        let mut walk = PathWalk::new(repo, tip, path, cache).unwrap();
        walk.batch = batch;
        walk.batch_max = batch;
        let ids: Vec<String> = walk.by_ref().map(|c| c.unwrap().to_string()).collect();
        (ids, walk.finish())
    }

    /// A history with a side branch merged twice, a path deleted and re-created, files moved.
    fn generated() -> FixtureRepo {
        let fx = FixtureRepo::new();
        fx.write("envs/prod/web.yaml", "a: 0\n");
        fx.write("envs/dev/web.yaml", "a: 0\n");
        fx.commit("start");
        for i in 1..=12 {
            let which = ["envs/prod/web.yaml", "envs/dev/web.yaml", "README.md"][i % 3];
            fx.write(which, &format!("a: {i}\n"));
            fx.commit(&format!("change {i}"));
            if i == 4 {
                fx.git(&["checkout", "-q", "-b", "side"]);
                fx.write("envs/prod/side.yaml", "s: 1\n");
                fx.commit("side change");
                fx.write("envs/dev/side.yaml", "s: 1\n");
                fx.commit("side change dev");
                fx.git(&["checkout", "-q", "main"]);
                fx.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
            }
            if i == 7 {
                fx.git(&["rm", "-q", "-r", "envs/prod"]);
                fx.commit("drop prod");
                fx.write("envs/prod/web.yaml", "a: back\n");
                fx.commit("prod back");
            }
            if i == 9 {
                fx.git(&["mv", "envs/prod/web.yaml", "envs/prod/moved.yaml"]);
                fx.commit("move in prod");
            }
        }
        fx
    }

    /// With a commit-graph (written by git, merges included, two commits made after it), the
    /// walk takes trees and parents from it and still finds git's commits; the commits it
    /// yields carry their bytes (read for their message and author).
    #[test]
    fn a_commit_graph_gives_trees_and_parents_and_the_same_commits() {
        let fx = generated();
        fx.git(&["commit-graph", "write", "--reachable"]);
        fx.write("envs/prod/after.yaml", "a: 1\n");
        fx.commit("after the graph");
        fx.write("envs/dev/after.yaml", "a: 1\n");
        fx.commit("after the graph, dev");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        for path in ["", "envs/prod", "envs/dev/web.yaml", "nope"] {
            for rev in ["HEAD", "side"] {
                let (ids, stats) = walk(&repo, rev, path, false);
                assert_eq!(ids, git_log(&fx, rev, path), "{path} at {rev}");
                assert!(stats.commits_from_graph > 0, "{path} at {rev}: {stats:?}");
                if rev == "HEAD" {
                    // The two newest commits are not in the graph.
                    assert!(
                        stats.commits_from_graph + 2 <= stats.commits_walked,
                        "{stats:?}"
                    );
                }
            }
        }
        let tip = repo.resolve("HEAD").unwrap();
        let mut path_walk = PathWalk::new(&repo, tip, "envs/prod", false).unwrap();
        let mut yielded = 0;
        while let Some(walked) = path_walk.next_walked() {
            let walked = walked.unwrap();
            let data = walked.data.expect("the commit's bytes");
            let info = crate::commit_info_from_data(fx.dir(), walked.id, &data).unwrap();
            assert_eq!(info.id, walked.id.to_string());
            yielded += 1;
        }
        assert!(yielded > 3);
        // Turned off as git turns it off.
        fx.git(&["config", "core.commitGraph", "false"]);
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let (ids, stats) = walk(&repo, "HEAD", "envs/prod", false);
        assert_eq!(ids, git_log(&fx, "HEAD", "envs/prod"));
        assert_eq!(stats.commits_from_graph, 0);
    }

    #[test]
    fn walk_matches_git_log_first_parent() {
        let fx = generated();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        for path in [
            "",
            "envs",
            "envs/prod",
            "envs/dev",
            "envs/prod/web.yaml",
            "nope",
        ] {
            for rev in ["HEAD", "HEAD~3", "side"] {
                let (ids, stats) = walk(&repo, rev, path, false);
                assert_eq!(ids, git_log(&fx, rev, path), "{path} at {rev}");
                assert!(stats.commits_walked > 0);
                assert!(!stats.cache_written);
                // Batches ending anywhere in the history find the same commits.
                for batch in [1, 2, 3] {
                    let (small, _) = walk_in_batches(&repo, rev, path, false, batch);
                    assert_eq!(small, ids, "{path} at {rev} in batches of {batch}");
                }
            }
        }
    }

    /// A shallow clone (as CI systems check out): the walk ends at the boundary commits as
    /// git's log does, cached or not, and a cache made there is not reused once the clone is
    /// deepened (the boundary commits have parents then).
    #[test]
    fn shallow_clones_walk_to_their_boundary_as_git_log() {
        let fx = generated();
        let tmp = tempfile::tempdir().unwrap();
        let clone = tmp.path().join("c");
        let url = format!("file://{}", fx.dir().display());
        let git = |args: &[&str], dir: &Path| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        git(&["clone", "-q", "--depth", "4", &url, "c"], tmp.path());
        let log = |path: &str| -> Vec<String> {
            let mut args = vec!["log", "--first-parent", "--format=%H", "HEAD"];
            if !path.is_empty() {
                args.extend(["--", path]);
            }
            git(&args, &clone).lines().map(str::to_owned).collect()
        };
        let full = git_log(&fx, "HEAD", "");
        for path in ["", "envs", "envs/prod", "envs/dev"] {
            let repo = EnvRepo::open(&clone).unwrap();
            for cache in [false, true, true] {
                let (ids, _) = walk(&repo, "HEAD", path, cache);
                assert_eq!(ids, log(path), "{path}, cache {cache}");
            }
        }
        assert!(log("").len() < full.len());
        let repo = EnvRepo::open(&clone).unwrap();
        let (shallow, _) = walk(&repo, "HEAD", "", true);
        let boundary = repo.resolve(shallow.last().unwrap()).unwrap();
        assert_eq!(repo.first_parent(boundary).unwrap(), None);

        git(&["fetch", "-q", "--deepen", "6"], &clone);
        let repo = EnvRepo::open(&clone).unwrap();
        for path in ["", "envs/prod"] {
            let (ids, stats) = walk(&repo, "HEAD", path, true);
            assert_eq!(ids, log(path), "{path} deepened");
            assert_eq!(stats.cache_hits, 0, "{path}: {stats:?}");
        }
        assert!(log("").len() > shallow.len());
        assert!(repo.first_parent(boundary).unwrap().is_some());
    }

    #[test]
    fn second_walk_reads_the_cache_and_a_newer_tip_walks_only_new_commits() {
        let fx = generated();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let (old, first) = walk(&repo, "HEAD~2", "envs/prod", true);
        assert!(first.cache_written && first.cache_hits == 0);
        let (again, second) = walk(&repo, "HEAD~2", "envs/prod", true);
        assert_eq!(again, old);
        assert_eq!(second.cache_hits, 1);
        assert_eq!(second.commits_walked, 0);
        let (newer, third) = walk(&repo, "HEAD", "envs/prod", true);
        assert_eq!(newer, git_log(&fx, "HEAD", "envs/prod"));
        assert_eq!(third.cache_hits, 1);
        // The two new commits and the cached tip at the boundary.
        assert!(third.commits_walked <= 3, "{third:?}");
    }

    #[test]
    fn limited_walk_is_resumed_from_the_cache() {
        let fx = generated();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let (two, _) = changed_commits(&repo, head, "envs/prod", Some(2)).unwrap();
        let all = git_log(&fx, "HEAD", "envs/prod");
        assert_eq!(
            two.iter().map(ToString::to_string).collect::<Vec<_>>(),
            all[..2]
        );
        let (ids, stats) = walk(&repo, "HEAD", "envs/prod", true);
        assert_eq!(ids, all);
        assert_eq!(stats.cache_hits, 1);
        assert_eq!(stats.cached_commits, 2);
    }

    #[test]
    fn corrupted_cache_is_ignored_and_rewritten() {
        let fx = generated();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let (ids, _) = walk(&repo, "HEAD", "envs/dev", true);
        let dir = fx.dir().join(".git/kubectl-gitops/history-v1");
        let files: Vec<PathBuf> = walkdir(&dir);
        assert_eq!(files.len(), 1, "{files:?}");
        for garbage in [
            "",
            "kubectl-gitops history-v1\ntip zz\n",
            "\u{0}\u{1}binary",
        ] {
            std::fs::write(&files[0], garbage).unwrap();
            let (again, stats) = walk(&repo, "HEAD", "envs/dev", true);
            assert_eq!(again, ids);
            assert_eq!((stats.cache_hits, stats.cache_rejected), (0, 1));
            assert!(stats.cache_written);
        }
        // A truncated entry (no end marker) is rejected too.
        let text = std::fs::read_to_string(&files[0]).unwrap();
        std::fs::write(&files[0], text.trim_end_matches("end\n")).unwrap();
        let (_, stats) = walk(&repo, "HEAD", "envs/dev", true);
        assert_eq!(stats.cache_rejected, 1);
        let (_, stats) = walk(&repo, "HEAD", "envs/dev", true);
        assert_eq!((stats.cache_hits, stats.commits_walked), (1, 0));
    }

    fn walkdir(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walkdir(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
