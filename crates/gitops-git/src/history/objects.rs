//! Reading a walk's objects: commits (through the commit-graph when there is one), trees
//! along the path, diffs of two trees and blobs.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use gix::objs::Find as _;

use super::{Cause, FileDiff, HistoryError, PathTrees};
use crate::pack::PackReader;
use crate::{EnvRepo, ObjectId};

/// Memory for decoded objects kept by a walk's delta cache: the objects of a delta chain
/// (50 and more trees or files of a few KB) and what was read just before. More did not
/// make the benchmark's 20,000-commit walk faster; each walking thread holds one.
const PACK_CACHE_BYTES: usize = 8 * 1024 * 1024;

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

pub(super) type CommitRead = (ObjectId, Option<ObjectId>, Option<Vec<u8>>);

/// Tree ids along the path in one commit: the root tree, then each component's entry id;
/// `None` from the first missing component on.
pub(super) type Chain = Vec<Option<ObjectId>>;

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

    fn error(&self, what: String, source: impl Into<Cause>) -> HistoryError {
        HistoryError::Object {
            what,
            repo: self.root.clone(),
            source: source.into(),
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
    pub(super) fn commit(&self, id: ObjectId, keep: bool) -> Result<CommitRead, HistoryError> {
        if let Some((tree, parent)) = self.graph_commit(id) {
            self.graph_hits.set(self.graph_hits.get() + 1);
            return Ok((tree, parent, None));
        }
        let parsed = self.with(id, "commit", |kind, data| -> Result<_, Cause> {
            if kind != gix::object::Kind::Commit {
                return Err(format!("is a {kind}").into());
            }
            let mut iter = gix::objs::CommitRefIter::from_bytes(data, id.kind());
            let tree = iter.tree_id()?;
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
        let parsed = self.with(id, "commit", |kind, data| -> Result<_, Cause> {
            if kind != gix::object::Kind::Commit {
                return Err(format!("is a {kind}").into());
            }
            let commit = gix::objs::CommitRef::from_bytes(data, id.kind())?;
            let time = commit.committer().and_then(|c| c.time())?;
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
        let found = self.with(tree, "tree", |kind, data| -> Result<_, Cause> {
            if kind != gix::object::Kind::Tree {
                return Ok(None);
            }
            for entry in gix::objs::TreeRefIter::from_bytes(data, tree.kind()) {
                let entry = entry?;
                if entry.filename == name.as_bytes() {
                    return Ok(Some((entry.mode, entry.oid.to_owned())));
                }
            }
            Ok(None)
        })?;
        found.map_err(|message| self.error(format!("tree {tree}"), message))
    }

    /// The chain of `root` along `components`, reusing `known` (a child commit's chain) from
    /// the first level where both agree: below an equal tree everything is equal.
    pub(super) fn chain(
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
            let path = crate::join_path(prefix, &name);
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
    pub fn blob(&self, id: ObjectId) -> Result<Vec<u8>, crate::RepoError> {
        self.shared_blob(id).map(|data| data.to_vec())
    }

    /// Content of a blob, read without keeping it in the cache of recent objects (a walk over
    /// many versions of one large file keeps only the few it holds itself).
    pub fn blob_once(&self, id: ObjectId) -> Result<Vec<u8>, crate::RepoError> {
        if let Ok(Some(data)) = self.with(id, "blob", |kind, data| {
            (kind == gix::object::Kind::Blob).then(|| data.to_vec())
        }) {
            return Ok(data);
        }
        // Not a readable blob: gix says what is wrong.
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(|e| crate::local_object_error(&self.root, format!("blob {id}"), e))?;
        Ok(blob.take_data())
    }

    /// The bytes of blob `id`, shared with the cache of recent objects (no copy when read
    /// again).
    pub fn shared_blob(&self, id: ObjectId) -> Result<Arc<[u8]>, crate::RepoError> {
        if let Ok((gix::object::Kind::Blob, data)) = self.read_owned(id, "blob") {
            return Ok(data);
        }
        // Not a readable blob: gix says what is wrong.
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(|e| crate::local_object_error(&self.root, format!("blob {id}"), e))?;
        Ok(Arc::from(blob.take_data()))
    }
}

impl WalkObjects {
    /// What `git log` shows of a commit.
    pub fn commit_info(&self, id: ObjectId) -> Result<k8s_model::CommitInfo, crate::RepoError> {
        match self.read_owned(id, "commit") {
            Ok((gix::object::Kind::Commit, data)) => {
                crate::commit_info_from_data(&self.root, id, &data)
            }
            // Not a readable commit: gix says what is wrong.
            _ => crate::commit_info_in(&self.repo, &self.root, id),
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
pub(super) fn path_components(path: &str) -> Vec<String> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').map(str::to_owned).collect()
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
