//! The environment repo through gix: open, resolve revisions, list files and read blobs at a
//! commit. Blocking functions returning owned data; `gix::Repository` never leaves this module
//! (STYLE: gitoxide lessons), so callers on other threads share an [`EnvRepo`] by cloning it.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use k8s_model::CommitInfo;

pub mod blame;
/// Test fixtures: real repositories built with the git CLI (for this crate's tests and, with the
/// `fixture` feature, other crates' tests).
#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
pub mod history;
pub mod pack;
pub mod revert;

/// A git object id (commit, tree or blob), owned and `Copy`; `Display` prints the full hex.
pub use gix::ObjectId;

/// Errors of the repo layer. Each names the repo, revision, commit or path involved.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No repository at or above the directory.
    #[error("not a git repository: {dir} (run inside the environment repo or pass -C DIR)")]
    NotARepository {
        /// The directory searched from.
        dir: PathBuf,
        /// What gix said.
        #[source]
        source: Box<gix::Error>,
    },
    /// The revision does not name anything.
    #[error(
        "unknown revision {rev:?} in {repo}: {source} (give a branch, tag, commit id or HEAD~N, as `git rev-parse` takes)"
    )]
    UnknownRevision {
        /// The revision as given.
        rev: String,
        /// The repository.
        repo: PathBuf,
        /// What gix said.
        #[source]
        source: Box<gix::Error>,
    },
    /// The revision names an object that does not peel to a commit (a tree or blob).
    #[error("revision {rev:?} in {repo} is not a commit: {source}")]
    NotACommit {
        /// The revision as given.
        rev: String,
        /// The repository.
        repo: PathBuf,
        /// What gix said.
        #[source]
        source: Box<gix::Error>,
    },
    /// `--path` does not exist at the commit.
    #[error("path {path:?} does not exist at commit {commit} (check --path)")]
    PathNotFound {
        /// The repo-relative path.
        path: String,
        /// The commit.
        commit: ObjectId,
    },
    /// `--path` names a file, not a directory.
    #[error("path {path:?} at commit {commit} is not a directory (--path takes a directory)")]
    NotADirectory {
        /// The repo-relative path.
        path: String,
        /// The commit.
        commit: ObjectId,
    },
    /// An object could not be read (corrupt or missing object database entry).
    #[error("cannot read {what} in {repo}: {source}")]
    Object {
        /// What was being read, e.g. `commit 1a2b…` or `blob 3c4d…`.
        what: String,
        /// The repository.
        repo: PathBuf,
        /// What gix said.
        #[source]
        source: Box<gix::Error>,
    },
    /// Writing a materialized tree to disk failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Kind of a file in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A regular file with the executable bit.
    Executable,
    /// A symbolic link (its blob holds the target path).
    Symlink,
}

/// One file of a tree at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TreeFile {
    /// Path relative to the repo root, `/`-separated.
    pub path: String,
    /// Blob id of the content.
    pub blob: ObjectId,
    /// Regular, executable or symlink.
    pub kind: FileKind,
}

/// The environment repository: a work tree or a bare repo, shareable across threads.
#[derive(Debug, Clone)]
pub struct EnvRepo {
    repo: gix::ThreadSafeRepository,
}

impl EnvRepo {
    /// Opens the repository containing `dir` (any directory inside a work tree, or a bare repo).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, RepoError> {
        let dir = dir.as_ref();
        let repo =
            gix::ThreadSafeRepository::discover(dir).map_err(|e| RepoError::NotARepository {
                dir: dir.to_path_buf(),
                source: Box::new(e),
            })?;
        Ok(Self { repo })
    }

    /// The repository's git dir (where our caches live).
    pub fn git_dir(&self) -> PathBuf {
        self.repo.git_dir().to_path_buf()
    }

    /// The work tree directory, or the git directory of a bare repo.
    pub fn root(&self) -> &Path {
        self.repo.work_dir().unwrap_or_else(|| self.repo.git_dir())
    }

    /// Whether the repository has no work tree.
    pub fn is_bare(&self) -> bool {
        self.repo.work_dir().is_none()
    }

    /// Name of the repository directory (`env-repo` for `/x/env-repo` or `/x/env-repo.git`),
    /// the default environment name when `--path` is the root (SPEC §8).
    pub fn name(&self) -> String {
        let root = self.root();
        // A non-bare repo discovered through its `.git` dir still names the work tree.
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.strip_suffix(".git")
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .unwrap_or(name)
    }

    /// Resolves a revision (`HEAD`, `HEAD~3`, branch, tag — annotated tags peeled —, short sha)
    /// to the full id of the commit it names.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId, RepoError> {
        let repo = self.repo.to_thread_local();
        let id = repo
            .rev_parse_single(rev)
            .map_err(|e| RepoError::UnknownRevision {
                rev: rev.to_owned(),
                repo: self.root().to_path_buf(),
                source: Box::new(e),
            })?;
        let object = id
            .object()
            .map_err(|e| self.object_error(format!("{rev:?}"), e))?;
        let commit = object.peel_to_commit().map_err(|e| RepoError::NotACommit {
            rev: rev.to_owned(),
            repo: self.root().to_path_buf(),
            source: Box::new(e),
        })?;
        Ok(commit.id)
    }

    /// Files below `path` (repo-relative directory, `""` for the root) at `commit`, recursively,
    /// skipping hidden directories (name starting with `.`) and submodules; sorted by path.
    pub fn tree_entries(&self, commit: ObjectId, path: &str) -> Result<Vec<TreeFile>, RepoError> {
        let repo = self.repo.to_thread_local();
        let path = normalize_path(path);
        let tree_id =
            self.subtree_in(&repo, commit, &path)?
                .ok_or_else(|| RepoError::PathNotFound {
                    path: path.clone(),
                    commit,
                })?;
        let tree = repo
            .find_object(tree_id)
            .map_err(|e| self.object_error(format!("tree {tree_id}"), e))?
            .try_into_tree()
            .map_err(|_| RepoError::NotADirectory {
                path: path.clone(),
                commit,
            })?;
        let records = tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(|e| self.object_error(format!("tree {tree_id}"), e))?;
        let mut files: Vec<TreeFile> = records
            .into_iter()
            .filter_map(|entry| {
                let kind = if entry.mode.is_link() {
                    FileKind::Symlink
                } else if entry.mode.is_blob() {
                    if entry.mode.is_executable() {
                        FileKind::Executable
                    } else {
                        FileKind::Regular
                    }
                } else {
                    return None;
                };
                let relative = entry.filepath.to_str_lossy();
                let (dirs, _file) = relative.rsplit_once('/').unwrap_or(("", &relative));
                if dirs.split('/').any(|d| d.starts_with('.')) {
                    return None;
                }
                Some(TreeFile {
                    path: join_path(&path, &relative),
                    blob: entry.oid,
                    kind,
                })
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Content of a blob.
    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError> {
        let repo = self.repo.to_thread_local();
        let mut blob = repo
            .find_blob(id)
            .map_err(|e| self.object_error(format!("blob {id}"), e))?;
        Ok(blob.take_data())
    }

    /// Metadata of `commit` as every output shows it: full sha, summary, author, email, and
    /// author time in RFC 3339 with the author's offset.
    pub fn commit_info(&self, commit: ObjectId) -> Result<CommitInfo, RepoError> {
        let repo = self.repo.to_thread_local();
        commit_info_in(&repo, self.root(), commit)
    }

    /// A handle for many reads in a row on one thread: one thread-local repository with an
    /// object cache, instead of a fresh one (no cache: each packed object re-inflates its
    /// delta chain) per call.
    pub fn local(&self) -> LocalRepo {
        let mut local = self.reader();
        local.repo.object_cache_size_if_unset(LOCAL_OBJECT_CACHE);
        local
    }

    /// A handle for many blob reads in a row on one thread, each read once: one thread-local
    /// repository, so that its pack cache keeps the delta bases one read resolved for the
    /// next, and without an object cache (it would copy each blob into it, never to be read
    /// again).
    pub fn reader(&self) -> LocalRepo {
        LocalRepo {
            repo: self.repo.to_thread_local(),
            root: self.root().to_path_buf(),
        }
    }

    /// First parent of `commit`, `None` for a root commit and for a shallow clone's boundary
    /// commit (its parent is not there: git's log ends at it).
    pub fn first_parent(&self, commit: ObjectId) -> Result<Option<ObjectId>, RepoError> {
        let repo = self.repo.to_thread_local();
        let found = repo
            .find_commit(commit)
            .map_err(|e| self.object_error(format!("commit {commit}"), e))?;
        let Some(parent) = found.parent_ids().next().map(|p| p.detach()) else {
            return Ok(None);
        };
        let boundary =
            matches!(repo.shallow_commits(), Ok(Some(shallow)) if shallow.contains(&commit));
        Ok((!boundary).then_some(parent))
    }

    /// Id of the tree at `path` in `commit` (the root tree for `""`), `None` when the path does
    /// not exist. Comparing it between a commit and its parent says whether the commit touched
    /// the environment, without a diff.
    pub fn subtree_id(&self, commit: ObjectId, path: &str) -> Result<Option<ObjectId>, RepoError> {
        let repo = self.repo.to_thread_local();
        self.subtree_in(&repo, commit, &normalize_path(path))
    }

    /// Blob id of the file at repo-relative `path` in `commit`, `None` when there is no such
    /// file (or it is a directory).
    pub fn file_blob(&self, commit: ObjectId, path: &str) -> Result<Option<ObjectId>, RepoError> {
        let repo = self.repo.to_thread_local();
        let path = normalize_path(path);
        let tree = self.commit_tree(&repo, commit)?;
        let entry = tree
            .lookup_entry_by_path(&path)
            .map_err(|e| self.object_error(format!("{path:?} at commit {commit}"), e))?;
        Ok(entry.filter(|e| e.mode().is_blob()).map(|e| e.object_id()))
    }

    /// Writes every file of `commit`'s tree (hidden ones included, symlinks skipped so nothing
    /// can point outside) below `dest`, for tools that need a checkout, e.g. `kubectl kustomize`.
    pub fn materialize(&self, commit: ObjectId, dest: &Path) -> Result<(), RepoError> {
        self.materialize_paths(commit, &[String::new()], dest)
    }

    /// [`EnvRepo::materialize`] of `paths` only (repo-relative; a directory with everything
    /// below it, a file alone; `""` is the whole tree; paths absent at `commit` are skipped):
    /// what a tool reads, not the thousand other files of a large repo.
    pub fn materialize_paths(
        &self,
        commit: ObjectId,
        paths: &[String],
        dest: &Path,
    ) -> Result<(), RepoError> {
        let repo = self.repo.to_thread_local();
        let root = self.commit_tree(&repo, commit)?;
        for path in paths {
            let path = normalize_path(path);
            // git refuses such names on checkout; a crafted tree could use them to write
            // outside `dest`.
            let unsafe_name = |name: &str| {
                name.split('/')
                    .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\\'))
            };
            if !path.is_empty() && unsafe_name(&path) {
                continue;
            }
            let entry = if path.is_empty() {
                None
            } else {
                root.lookup_entry_by_path(&path)
                    .map_err(|e| self.object_error(format!("{path:?} at commit {commit}"), e))?
                    .map(|e| (e.mode(), e.object_id()))
            };
            let tree = match entry {
                None if path.is_empty() => root.clone(),
                None => continue,
                Some((mode, id)) if mode.is_blob() => {
                    self.write_blob(&repo, id, &dest.join(&path))?;
                    continue;
                }
                Some((mode, id)) if mode.is_tree() => repo
                    .find_tree(id)
                    .map_err(|e| self.object_error(format!("tree {id}"), e))?,
                Some(_) => continue,
            };
            let tree_id = tree.id;
            let records = tree
                .traverse()
                .breadthfirst
                .files()
                .map_err(|e| self.object_error(format!("tree {tree_id}"), e))?;
            for entry in records {
                if !entry.mode.is_blob() {
                    continue;
                }
                let relative = entry.filepath.to_str_lossy();
                if unsafe_name(&relative) {
                    continue;
                }
                self.write_blob(&repo, entry.oid, &dest.join(join_path(&path, &relative)))?;
            }
        }
        Ok(())
    }

    /// Writes blob `id` at `target`, creating its directory.
    fn write_blob(
        &self,
        repo: &gix::Repository,
        id: ObjectId,
        target: &Path,
    ) -> Result<(), RepoError> {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| RepoError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mut blob = repo
            .find_blob(id)
            .map_err(|e| self.object_error(format!("blob {id}"), e))?;
        std::fs::write(target, blob.take_data()).map_err(|source| RepoError::Write {
            path: target.to_path_buf(),
            source,
        })
    }

    fn commit_tree<'r>(
        &self,
        repo: &'r gix::Repository,
        commit: ObjectId,
    ) -> Result<gix::Tree<'r>, RepoError> {
        repo.find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| self.object_error(format!("commit {commit}"), e))
    }

    fn subtree_in(
        &self,
        repo: &gix::Repository,
        commit: ObjectId,
        path: &str,
    ) -> Result<Option<ObjectId>, RepoError> {
        let tree = self.commit_tree(repo, commit)?;
        if path.is_empty() {
            return Ok(Some(tree.id));
        }
        let entry = tree
            .lookup_entry_by_path(path)
            .map_err(|e| self.object_error(format!("{path:?} at commit {commit}"), e))?;
        match entry {
            None => Ok(None),
            Some(entry) if entry.mode().is_tree() => Ok(Some(entry.object_id())),
            Some(_) => Err(RepoError::NotADirectory {
                path: path.to_owned(),
                commit,
            }),
        }
    }

    fn object_error(&self, what: String, source: gix::Error) -> RepoError {
        RepoError::Object {
            what,
            repo: self.root().to_path_buf(),
            source: Box::new(source),
        }
    }
}

/// Object cache of a [`LocalRepo`]: packed delta chains share bases across commits.
const LOCAL_OBJECT_CACHE: usize = 16 * 1024 * 1024;

fn local_object_error(root: &Path, what: String, source: gix::Error) -> RepoError {
    RepoError::Object {
        what,
        repo: root.to_path_buf(),
        source: Box::new(source),
    }
}

/// [`EnvRepo::commit_info`] in a given thread-local repository.
pub(crate) fn commit_info_in(
    repo: &gix::Repository,
    root: &Path,
    commit: ObjectId,
) -> Result<CommitInfo, RepoError> {
    let found = repo
        .find_commit(commit)
        .map_err(|e| local_object_error(root, format!("commit {commit}"), e))?;
    commit_info_from_data(root, commit, &found.data)
}

/// [`CommitInfo`] of the commit `commit` whose object holds `data` (e.g. as a history walk
/// read it).
pub fn commit_info_from_data(
    root: &Path,
    commit: ObjectId,
    data: &[u8],
) -> Result<CommitInfo, RepoError> {
    let what = || format!("commit {commit}");
    let error = |e: gix::Error| local_object_error(root, what(), e);
    let parsed = gix::objs::CommitRef::from_bytes(data, commit.kind()).map_err(&error)?;
    let author = parsed.author().map_err(&error)?;
    let time = author.time().map_err(&error)?;
    let summary = parsed.message().summary().to_string();
    let offset = chrono::FixedOffset::east_opt(time.offset)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset is valid"));
    let when = chrono::DateTime::from_timestamp(time.seconds, 0)
        .map(|utc| {
            utc.with_timezone(&offset)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_default();
    Ok(CommitInfo {
        id: commit.to_string(),
        summary,
        author: author.name.to_string().trim().to_owned(),
        email: author.email.to_string().trim().to_owned(),
        time: when,
    })
}

/// Writes `value` as JSON at `path` (a file of our caches under the git dir) with
/// [`keep_bytes`].
pub fn keep_json(path: &Path, value: &impl serde::Serialize) -> bool {
    serde_json::to_vec(value).is_ok_and(|bytes| keep_bytes(path, &bytes))
}

/// Writes `bytes` at `path` (a file of our caches under the git dir): written aside, then
/// renamed into place, so a reader never sees half a file. Failures (a read-only repository,
/// a full disk) only lose the speed-up: logged at debug level, `false`.
pub fn keep_bytes(path: &Path, bytes: &[u8]) -> bool {
    let aside = path.with_extension(format!("tmp{}", std::process::id()));
    let written = path
        .parent()
        .is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
        && std::fs::write(&aside, bytes).is_ok();
    if !written || std::fs::rename(&aside, path).is_err() {
        let _ = std::fs::remove_file(&aside);
        tracing::debug!(file = %path.display(), "not kept");
        return false;
    }
    true
}

/// Reads blob contents: an [`EnvRepo`] (a fresh thread-local repository per call) or a
/// [`LocalRepo`] (one, with an object cache from [`EnvRepo::local`], without from
/// [`EnvRepo::reader`]).
pub trait ReadBlob {
    /// Content of a blob.
    fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError>;

    /// Calls `f` with the content of a blob: [`ReadBlob::read_blob`]'s bytes, lent. A
    /// [`LocalRepo`] lends a buffer it takes back for its next read, instead of handing out a
    /// fresh one per blob (whose pages the kernel must fault in and zero, and the pack decoder
    /// zeroes again).
    fn with_blob(&self, id: ObjectId, f: &mut dyn FnMut(&[u8])) -> Result<(), RepoError> {
        f(&self.read_blob(id)?);
        Ok(())
    }
}

impl ReadBlob for EnvRepo {
    fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError> {
        EnvRepo::read_blob(self, id)
    }
}

/// One thread-local repository, with an object cache ([`EnvRepo::local`]) or without
/// ([`EnvRepo::reader`]): not `Send`, for a walk that reads many objects on one thread.
pub struct LocalRepo {
    repo: gix::Repository,
    root: PathBuf,
}

impl LocalRepo {
    /// Content of a blob.
    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError> {
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(|e| local_object_error(&self.root, format!("blob {id}"), e))?;
        Ok(blob.take_data())
    }

    /// As [`EnvRepo::commit_info`].
    pub fn commit_info(&self, commit: ObjectId) -> Result<CommitInfo, RepoError> {
        commit_info_in(&self.repo, &self.root, commit)
    }
}

impl ReadBlob for LocalRepo {
    fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, RepoError> {
        LocalRepo::read_blob(self, id)
    }

    fn with_blob(&self, id: ObjectId, f: &mut dyn FnMut(&[u8])) -> Result<(), RepoError> {
        // The blob's buffer comes from the repository's free list and goes back to it when
        // the blob is dropped: the next read decodes into memory already mapped.
        let blob = self
            .repo
            .find_blob(id)
            .map_err(|e| local_object_error(&self.root, format!("blob {id}"), e))?;
        f(&blob.data);
        Ok(())
    }
}

/// What a cache that depends on where history ends must be keyed by in a shallow clone:
/// `shallow-<hash of .git/shallow>`, so that a clone deepened later (`git fetch --deepen`)
/// does not reuse what was computed with the boundary commits as roots. `None` in a complete
/// repository.
pub fn shallow_key(git_dir: &Path) -> Option<String> {
    use sha2::Digest as _;
    let boundary = std::fs::read(git_dir.join("shallow")).ok()?;
    let digest = sha2::Sha256::digest(&boundary);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("shallow-{hex}"))
}

/// `--path` as a tree path: no leading `./` or `/`, no trailing `/`, `.` for the root → `""`.
pub fn normalize_path(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Joins a repo-relative directory and a path below it.
pub fn join_path(dir: &str, relative: &str) -> String {
    if dir.is_empty() {
        relative.to_owned()
    } else {
        format!("{dir}/{relative}")
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::FixtureRepo;
    use super::*;

    fn sample() -> FixtureRepo {
        let fx = FixtureRepo::new();
        fx.write("apps/web.yaml", "a: 1\n");
        fx.write("README.md", "hi\n");
        fx.commit("first");
        fx.write("apps/web.yaml", "a: 2\n");
        fx.write("apps/.hidden/x.yaml", "x: 1\n");
        fx.write("apps/sub/db.yml", "b: 1\n");
        fx.write(".github/ci.yaml", "c: 1\n");
        fx.commit("second");
        fx.git(&["tag", "v1"]);
        fx.git(&["tag", "-a", "v1-annotated", "-m", "annotated", "HEAD~1"]);
        fx.git(&["branch", "old", "HEAD~1"]);
        fx
    }

    #[test]
    fn resolve_matches_git_rev_parse() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = fx.rev_parse("HEAD");
        let first = fx.rev_parse("HEAD~1");
        assert_ne!(head, first);
        for (rev, want) in [
            ("HEAD", &head),
            ("HEAD~1", &first),
            ("old", &first),
            ("v1", &head),
            ("v1-annotated", &first),
            (&head[..7], &head),
        ] {
            assert_eq!(&repo.resolve(rev).unwrap().to_string(), want, "{rev}");
        }
    }

    #[test]
    fn commit_info_and_first_parent_match_git_log() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        for rev in ["HEAD", "HEAD~1"] {
            let id = repo.resolve(rev).unwrap();
            let info = repo.commit_info(id).unwrap();
            let git = fx.git(&["log", "-1", "--format=%H%n%s%n%an%n%ae%n%aI", rev]);
            let want: Vec<&str> = git.lines().collect();
            assert_eq!(
                [
                    info.id.as_str(),
                    &info.summary,
                    &info.author,
                    &info.email,
                    &info.time
                ],
                want[..],
                "{rev}"
            );
        }
        let head = repo.resolve("HEAD").unwrap();
        let parent = repo.first_parent(head).unwrap().map(|p| p.to_string());
        assert_eq!(parent, Some(fx.rev_parse("HEAD~1")));
        let root = repo
            .resolve(fx.git(&["rev-list", "--max-parents=0", "HEAD"]).trim())
            .unwrap();
        assert_eq!(repo.first_parent(root).unwrap(), None);
    }

    #[test]
    fn bad_revision_names_it() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let error = repo.resolve("no-such-branch").unwrap_err();
        let err = error.to_string();
        assert!(err.contains("unknown revision \"no-such-branch\""), "{err}");
        assert!(err.contains("git rev-parse"), "{err}");
        // gix's error is kept as the source, not flattened into the message only
        let source = std::error::Error::source(&error).expect("gix's error as source");
        assert!(err.contains(&source.to_string()), "{err}");
        let tree_rev = format!("{}^{{tree}}", fx.rev_parse("HEAD"));
        let error = repo.resolve(&tree_rev).unwrap_err();
        assert!(error.to_string().contains("is not a commit"), "{error}");
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn open_outside_a_repo_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = EnvRepo::open(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "not a git repository: {} (run inside the environment repo or pass -C DIR)",
                dir.path().display()
            )
        );
    }

    #[test]
    fn open_from_subdirectory_and_bare() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir().join("apps/sub")).unwrap();
        assert_eq!(repo.root(), fx.dir().canonicalize().unwrap());
        assert!(!repo.is_bare());
        let bare = fx.bare_clone("env.git");
        let repo = EnvRepo::open(&bare).unwrap();
        assert!(repo.is_bare());
        assert_eq!(repo.name(), "env");
        assert_eq!(
            repo.resolve("HEAD").unwrap().to_string(),
            fx.rev_parse("HEAD")
        );
    }

    #[test]
    fn tree_entries_skip_hidden_dirs_and_match_git() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let files = repo.tree_entries(head, "").unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["README.md", "apps/sub/db.yml", "apps/web.yaml"]);
        for f in &files {
            assert_eq!(
                f.blob.to_string(),
                fx.rev_parse(&format!("HEAD:{}", f.path))
            );
            assert_eq!(f.kind, FileKind::Regular);
        }
        let apps = repo.tree_entries(head, "./apps/").unwrap();
        assert_eq!(apps.len(), 2);
        let web = apps.iter().find(|f| f.path == "apps/web.yaml").unwrap();
        assert_eq!(repo.read_blob(web.blob).unwrap(), b"a: 2\n");
        let old = repo.resolve("HEAD~1").unwrap();
        let old_apps = repo.tree_entries(old, "apps").unwrap();
        assert_eq!(old_apps.len(), 1);
        assert_eq!(repo.read_blob(old_apps[0].blob).unwrap(), b"a: 1\n");
    }

    #[test]
    fn with_blob_lends_what_read_blob_returns() {
        // Packed with deltas (each version of the large file a delta of another), read in an
        // order where the reused buffer grows, shrinks and grows again.
        let fx = FixtureRepo::new();
        let line = |i: usize, v: usize| format!("  key{i}: value {i} of version {v}\n");
        for version in 0..6 {
            let large: String = (0..4000).map(|i| line(i, version * (i % 7))).collect();
            fx.write("large.yaml", &large);
            fx.write("small.yaml", &format!("a: {version}\n"));
            fx.commit(&format!("version {version}"));
        }
        fx.git(&["gc", "-q", "--aggressive"]);
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let reader = repo.reader();
        let mut blobs = Vec::new();
        for back in 0..6 {
            let commit = repo.resolve(&format!("HEAD~{back}")).unwrap();
            for path in ["large.yaml", "small.yaml"] {
                blobs.push(repo.file_blob(commit, path).unwrap().unwrap());
            }
        }
        assert_eq!(blobs.len(), 12);
        for blob in blobs {
            let plain = repo.read_blob(blob).unwrap();
            let mut lent = Vec::new();
            reader
                .with_blob(blob, &mut |bytes| lent = bytes.to_vec())
                .unwrap();
            assert_eq!(lent, plain, "blob {blob}");
            let mut default_way = Vec::new();
            ReadBlob::with_blob(&repo, blob, &mut |bytes| default_way = bytes.to_vec()).unwrap();
            assert_eq!(default_way, plain, "blob {blob}");
        }
        let missing = ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
        assert!(reader.with_blob(missing, &mut |_| {}).is_err());
    }

    #[test]
    fn tree_entries_missing_path_and_file_path() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let err = repo.tree_entries(head, "nope").unwrap_err();
        assert!(matches!(err, RepoError::PathNotFound { .. }), "{err}");
        assert!(err.to_string().contains("check --path"));
        let err = repo.tree_entries(head, "README.md").unwrap_err();
        assert!(matches!(err, RepoError::NotADirectory { .. }), "{err}");
    }

    #[test]
    fn subtree_id_tracks_changes() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let old = repo.resolve("HEAD~1").unwrap();
        let apps_head = repo.subtree_id(head, "apps").unwrap().unwrap();
        assert_eq!(apps_head.to_string(), fx.rev_parse("HEAD:apps"));
        assert_ne!(Some(apps_head), repo.subtree_id(old, "apps").unwrap());
        assert_eq!(
            repo.subtree_id(head, "").unwrap().unwrap().to_string(),
            fx.rev_parse("HEAD^{tree}")
        );
        assert_eq!(repo.subtree_id(old, "apps/sub").unwrap(), None);
    }

    #[test]
    fn materialize_writes_the_tree() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let old = repo.resolve("HEAD~1").unwrap();
        let out = tempfile::tempdir().unwrap();
        repo.materialize(old, out.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("apps/web.yaml")).unwrap(),
            "a: 1\n"
        );
        assert!(!out.path().join("apps/sub").exists());
    }

    #[test]
    fn materialize_never_writes_outside_dest() {
        let fx = FixtureRepo::new();
        let blob = fx.git_stdin(&["hash-object", "-w", "--stdin"], "evil\n");
        let inner = fx.git_stdin(&["mktree"], &format!("100644 blob {blob}\tescaped.yaml\n"));
        let tree = fx.git_stdin(
            &["mktree"],
            &format!("040000 tree {inner}\t..\n100644 blob {blob}\tok.yaml\n"),
        );
        let commit = fx.git(&["commit-tree", &tree, "-m", "crafted"]);
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let commit = repo.resolve(commit.trim()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("dest");
        repo.materialize(commit, &dest).unwrap();
        assert!(dest.join("ok.yaml").is_file());
        assert!(!out.path().join("escaped.yaml").exists());
        let listed = repo.tree_entries(commit, "").unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
    }

    #[test]
    fn file_blob_finds_files_only() {
        let fx = sample();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let blob = repo.file_blob(head, "apps/web.yaml").unwrap().unwrap();
        assert_eq!(blob.to_string(), fx.rev_parse("HEAD:apps/web.yaml"));
        assert_eq!(repo.file_blob(head, "apps").unwrap(), None);
        assert_eq!(repo.file_blob(head, "apps/none.yaml").unwrap(), None);
    }

    #[test]
    fn path_normalization() {
        assert_eq!(normalize_path("./envs/prod/"), "envs/prod");
        assert_eq!(normalize_path("."), "");
        assert_eq!(normalize_path("/a//b"), "a/b");
        assert_eq!(join_path("", "x.yaml"), "x.yaml");
        assert_eq!(join_path("a", "x.yaml"), "a/x.yaml");
    }
}
