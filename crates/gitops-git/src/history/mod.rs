//! First-parent history walk limited to a path, and the persistent walk cache.
//!
//! gix has no path-limited log, so [`PathWalk`] compares the id of the path's tree (or blob)
//! between each first-parent commit and its parent: equal ids mean the commit left the path
//! alone, with no diff. Each commit and each tree on the path is read once; below the first
//! tree level the parent shares with its child, nothing is read at all.
//!
//! Objects are read through [`WalkObjects`]: packed ones with a delta cache that keeps whole
//! delta chains ([`PackReader`](crate::pack::PackReader)), so reading the versions of a tree or a file one after the
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

mod cache;
mod objects;
mod walk;

use std::path::PathBuf;
use std::sync::Arc;

pub use objects::{CommitLinks, WalkObjects};
pub use walk::PathWalk;

use super::{EnvRepo, ObjectId};

/// Why an object could not be read: gix's error, or what we found instead.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Errors of the walk. Cache problems are never errors (the cache is ignored instead).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// An object on the walk could not be read or decoded.
    #[error(
        "cannot read {what} in {repo} while walking the history: {source} (is the repository complete? try `git fsck`)"
    )]
    Object {
        /// What was read, e.g. `commit 1a2b…`.
        what: String,
        /// The repository.
        repo: PathBuf,
        /// What gix said (or what the object is instead, e.g. `is a tree`).
        #[source]
        source: Cause,
    },
    /// A thread of the walk (`walk`, `file reading`) panicked.
    #[error(
        "the history walk stopped unexpectedly: the {0} thread panicked (please report this as a bug)"
    )]
    Interrupted(&'static str),
    /// A thread of the walk could not be started.
    #[error(
        "the history walk stopped unexpectedly: cannot start a thread: {0} (please report this as a bug)"
    )]
    Spawn(#[source] std::io::Error),
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
    use std::path::Path;

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
