//! The first-parent walk limited to a path ([`PathWalk`]).

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;

use super::cache::WalkCache;
use super::objects::{Chain, WalkObjects, path_components};
use super::{HistoryError, PathTrees, WalkStats, WalkedCommit};
use crate::{EnvRepo, ObjectId, normalize_path};

/// The next commit to examine, with what is known of it.
struct Cursor {
    id: ObjectId,
    chain: Chain,
    parent: Option<ObjectId>,
    /// The commit object's bytes, when it was read (not when the commit-graph answered).
    data: Option<Vec<u8>>,
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
    pub(super) batch: usize,
    /// The largest batch: [`AHEAD_MAX`] (tests use smaller ones).
    pub(super) batch_max: usize,
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
