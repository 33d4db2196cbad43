//! Line blame of a blob's line range across history, with rename tracking.
//!
//! Our own walk over gix objects rather than `gix::Repository::blame_file`: gix-blame 0.20 sets
//! every blob version it diffs (and every rename candidate) into one `gix_diff::blob::Platform`
//! whose resource cache is never cleared during the walk, so a long history of a large file keeps
//! every version of it in memory (the 5× git's peak the issue measured). No option of
//! `gix_blame::file` bounds that cache. This walk holds at most a few blobs at a time.
//!
//! The algorithm is git's (`blame.c`): commits are visited newest first (committer date); each
//! carries the still-unblamed line ranges of the file at its path. For a commit, a parent whose
//! blob at the path is identical takes all its lines; otherwise each parent in order takes the
//! lines its version has unchanged (Myers diff with git's slider heuristics); the lines no parent
//! takes are the commit's. A path absent from a parent is looked up there as a rename source.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::ops::Range;
use std::rc::Rc;

use gix::bstr::{BStr, ByteSlice};
use gix::diff::blob::{Algorithm, Diff, InternedInput};

use super::history::{CommitLinks, WalkObjects};
use super::{EnvRepo, ObjectId, RepoError, normalize_path};

/// The origin of one line of the blamed range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlamedLine {
    /// 0-based line number in the blamed file.
    pub line: u32,
    /// The commit that introduced the line as it is now.
    pub commit: ObjectId,
    /// 0-based line number in that commit's version of the file.
    pub source_line: u32,
    /// Path of the file in that commit (differs from the blamed path across renames).
    pub source_path: String,
}

/// Lines `[final_start, final_start + len)` of the blamed file, which are lines
/// `[source_start, ...)` of the suspect commit's version.
#[derive(Debug, Clone, Copy)]
struct Hunk {
    final_start: u32,
    source_start: u32,
    len: u32,
}

/// A few recently read blobs: a commit's blob is read again when its parent is visited next.
struct BlobCache {
    entries: Vec<(ObjectId, Rc<Vec<u8>>)>,
}

const BLOB_CACHE_SIZE: usize = 4;

impl BlobCache {
    fn get(&mut self, objects: &WalkObjects, id: ObjectId) -> Result<Rc<Vec<u8>>, RepoError> {
        if let Some((_, data)) = self.entries.iter().find(|(k, _)| *k == id) {
            return Ok(data.clone());
        }
        let data = Rc::new(objects.blob_once(id)?);
        if self.entries.len() >= BLOB_CACHE_SIZE {
            self.entries.remove(0);
        }
        self.entries.push((id, data.clone()));
        Ok(data)
    }
}

/// Commits and path lookups of one blame walk, read as git reads them: commits from the
/// commit-graph when there is one, trees through a delta cache that keeps whole chains (gix's
/// own lookup re-inflates most of a tree's chain each time: 15 µs a tree on kube-prometheus,
/// three times git's). A path is looked up tree by tree, each answer kept by (tree id, rest of
/// the path): most commits change another directory, so the lookup stops at the first subtree
/// it has seen before. What the fast reader cannot read is read through gix, whose error says
/// what is wrong.
struct Memo {
    objects: WalkObjects,
    local: gix::Repository,
    /// A shallow clone's boundary commits: their parents are not there, and git blames them
    /// as root commits.
    shallow: HashSet<ObjectId>,
    commits: HashMap<ObjectId, Rc<CommitLinks>>,
    entries: HashMap<String, HashMap<ObjectId, Option<ObjectId>>>,
}

impl Memo {
    fn commit(&mut self, repo: &EnvRepo, id: ObjectId) -> Result<Rc<CommitLinks>, RepoError> {
        if let Some(meta) = self.commits.get(&id) {
            return Ok(meta.clone());
        }
        let mut meta = match self.objects.commit_links(id) {
            Ok(links) => links,
            Err(_) => {
                let error = |e: gix::Error| repo.object_error(format!("commit {id}"), e);
                let found = self.local.find_commit(id).map_err(error)?;
                CommitLinks {
                    tree: found.tree_id().map_err(error)?.detach(),
                    parents: found.parent_ids().map(|p| p.detach()).collect(),
                    time: found.time().map_err(error)?.seconds,
                }
            }
        };
        if self.shallow.contains(&id) {
            meta.parents.clear();
        }
        let meta = Rc::new(meta);
        self.commits.insert(id, meta.clone());
        Ok(meta)
    }

    /// The blob at `path` in `commit` (`None`: no file there).
    fn blob_at(
        &mut self,
        repo: &EnvRepo,
        commit: ObjectId,
        path: &str,
    ) -> Result<Option<ObjectId>, RepoError> {
        let tree = self.commit(repo, commit)?.tree;
        self.entry_in(repo, tree, path)
    }

    fn entry_in(
        &mut self,
        repo: &EnvRepo,
        tree: ObjectId,
        path: &str,
    ) -> Result<Option<ObjectId>, RepoError> {
        if let Some(found) = self.entries.get(path).and_then(|m| m.get(&tree)) {
            return Ok(*found);
        }
        let (name, rest) = match path.split_once('/') {
            Some((name, rest)) => (name, Some(rest)),
            None => (path, None),
        };
        let entry = match self.objects.entry(tree, name) {
            Ok(entry) => entry,
            Err(_) => {
                let found = self
                    .local
                    .find_tree(tree)
                    .map_err(|e| repo.object_error(format!("{path:?} in tree {tree}"), e))?;
                found.find_entry(name).map(|e| (e.mode(), e.object_id()))
            }
        };
        let answer = match (entry, rest) {
            (Some((mode, id)), None) if mode.is_blob() => Some(id),
            (Some((mode, id)), Some(rest)) if mode.is_tree() => self.entry_in(repo, id, rest)?,
            _ => None,
        };
        self.entries
            .entry(path.to_owned())
            .or_default()
            .insert(tree, answer);
        Ok(answer)
    }
}

/// One line of a kept blame ([`EnvRepo::blame_lines`]): line, commit, source line, source path.
type KeptLine = (u32, String, u32, String);

/// Where the blame of `range` of `path` at `commit` is kept, or `None` when it is not kept: in
/// a shallow clone the history of a commit grows when it is deepened, and so its blame changes.
fn kept_blame_file(
    git_dir: &std::path::Path,
    commit: ObjectId,
    path: &str,
    range: &Range<u32>,
) -> Option<std::path::PathBuf> {
    if git_dir.join("shallow").exists() {
        return None;
    }
    let hex: String = path.bytes().map(|b| format!("{b:02x}")).collect();
    Some(
        git_dir
            .join("kubectl-gitops")
            .join("blame-v1")
            .join(commit.to_string())
            .join(format!("{hex}.{}-{}.json", range.start, range.end)),
    )
}

/// A kept blame; `None` when absent or unreadable (then it is computed again).
fn read_kept_blame(file: &std::path::Path) -> Option<Vec<BlamedLine>> {
    let kept: Vec<KeptLine> = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    kept.into_iter()
        .map(|(line, commit, source_line, source_path)| {
            Some(BlamedLine {
                line,
                commit: ObjectId::from_hex(commit.as_bytes()).ok()?,
                source_line,
                source_path,
            })
        })
        .collect()
}

/// Keeps a blame for [`read_kept_blame`] ([`super::keep_json`]).
fn keep_blame(file: &std::path::Path, lines: &[BlamedLine]) {
    let kept: Vec<KeptLine> = lines
        .iter()
        .map(|l| {
            (
                l.line,
                l.commit.to_string(),
                l.source_line,
                l.source_path.clone(),
            )
        })
        .collect();
    super::keep_json(file, &kept);
}

impl EnvRepo {
    /// Blames lines `range` (0-based, end exclusive; clamped to the file) of `path` as it is in
    /// `commit`: for each line, the commit that introduced it, following renames and all parents
    /// of merges like `git blame` does. Errors when `path` is not a file at `commit`.
    ///
    /// A commit's history never changes, so neither does its blame: each one is kept under
    /// `<git-dir>/kubectl-gitops/blame-v1/<commit>/<hex path>.<start>-<end>.json` and read
    /// from there next time (not in a shallow clone). [`EnvRepo::blame_lines_walked`] always
    /// walks.
    pub fn blame_lines(
        &self,
        commit: ObjectId,
        path: &str,
        range: Range<u32>,
    ) -> Result<Vec<BlamedLine>, RepoError> {
        let path = normalize_path(path);
        let file = kept_blame_file(&self.git_dir(), commit, &path, &range);
        if let Some(kept) = file.as_deref().and_then(read_kept_blame) {
            return Ok(kept);
        }
        let lines = self.blame_lines_walked(commit, &path, range)?;
        if let Some(file) = file {
            keep_blame(&file, &lines);
        }
        Ok(lines)
    }

    /// [`EnvRepo::blame_lines`] computed by walking the history, without the kept blames.
    pub fn blame_lines_walked(
        &self,
        commit: ObjectId,
        path: &str,
        range: Range<u32>,
    ) -> Result<Vec<BlamedLine>, RepoError> {
        let path = normalize_path(path);
        let mut blobs = BlobCache {
            entries: Vec::new(),
        };
        let local = self.repo.to_thread_local();
        let shallow = match local.shallow_commits() {
            Ok(Some(commits)) => commits.iter().copied().collect(),
            _ => HashSet::new(),
        };
        let mut memo = Memo {
            objects: WalkObjects::new(self),
            local,
            shallow,
            commits: HashMap::new(),
            entries: HashMap::new(),
        };
        let start_blob =
            memo.blob_at(self, commit, &path)?
                .ok_or_else(|| RepoError::PathNotFound {
                    path: path.clone(),
                    commit,
                })?;
        let total = line_count(&blobs.get(&memo.objects, start_blob)?);
        let range = range.start.min(total)..range.end.min(total);
        let mut out: Vec<Option<BlamedLine>> = vec![None; range.len()];
        if range.is_empty() {
            return Ok(Vec::new());
        }

        // Unblamed hunks per (suspect commit, path in it); the queue orders suspects newest first.
        let mut pending: HashMap<ObjectId, Vec<(String, Vec<Hunk>)>> = HashMap::new();
        let mut queue: BinaryHeap<(i64, ObjectId)> = BinaryHeap::new();
        let mut queued: HashSet<ObjectId> = HashSet::new();
        pending.insert(
            commit,
            vec![(
                path.clone(),
                vec![Hunk {
                    final_start: range.start,
                    source_start: range.start,
                    len: range.len() as u32,
                }],
            )],
        );
        queue.push((memo.commit(self, commit)?.time, commit));
        queued.insert(commit);

        let mut visited = 0usize;
        while let Some((_, suspect)) = queue.pop() {
            visited += 1;
            queued.remove(&suspect);
            let Some(origins) = pending.remove(&suspect) else {
                continue;
            };
            let parents = memo.commit(self, suspect)?.parents.clone();
            for (suspect_path, hunks) in origins {
                let hunks = merge_adjacent(hunks);
                let Some(suspect_blob) = memo.blob_at(self, suspect, &suspect_path)? else {
                    return Err(RepoError::PathNotFound {
                        path: suspect_path,
                        commit: suspect,
                    });
                };
                let mut passed: Vec<(ObjectId, String, Vec<Hunk>)> = Vec::new();
                let remaining = self.pass_to_parents(
                    &mut memo,
                    &mut blobs,
                    suspect,
                    &suspect_path,
                    suspect_blob,
                    &parents,
                    hunks,
                    &mut passed,
                )?;
                for hunk in remaining {
                    for i in 0..hunk.len {
                        let line = hunk.final_start + i;
                        out[(line - range.start) as usize] = Some(BlamedLine {
                            line,
                            commit: suspect,
                            source_line: hunk.source_start + i,
                            source_path: suspect_path.clone(),
                        });
                    }
                }
                for (parent, parent_path, hunks) in passed {
                    if hunks.is_empty() {
                        continue;
                    }
                    let entry = pending.entry(parent).or_default();
                    match entry.iter_mut().find(|(p, _)| *p == parent_path) {
                        Some((_, existing)) => existing.extend(hunks),
                        None => entry.push((parent_path, hunks)),
                    }
                    if queued.insert(parent) {
                        queue.push((memo.commit(self, parent)?.time, parent));
                    }
                }
            }
        }
        // Every line ends with exactly one commit: the walk only stops once no hunk is pending.
        tracing::debug!(visited, path, "blamed");
        Ok(out.into_iter().flatten().collect())
    }

    /// git's `pass_blame`: hands hunks to the parents that have their lines unchanged and
    /// returns those left to `suspect`.
    #[allow(clippy::too_many_arguments)]
    fn pass_to_parents(
        &self,
        memo: &mut Memo,
        blobs: &mut BlobCache,
        suspect: ObjectId,
        suspect_path: &str,
        suspect_blob: ObjectId,
        parents: &[ObjectId],
        hunks: Vec<Hunk>,
        passed: &mut Vec<(ObjectId, String, Vec<Hunk>)>,
    ) -> Result<Vec<Hunk>, RepoError> {
        let mut origins: Vec<Option<(String, ObjectId)>> = Vec::with_capacity(parents.len());
        for &parent in parents {
            let origin = match memo.blob_at(self, parent, suspect_path)? {
                Some(blob) => Some((suspect_path.to_owned(), blob)),
                None => self.rename_source(&memo.local, suspect, parent, suspect_path)?,
            };
            if let Some((origin_path, blob)) = &origin
                && *blob == suspect_blob
            {
                passed.push((parent, origin_path.clone(), hunks));
                return Ok(Vec::new());
            }
            // git skips a parent whose version is the same blob as an earlier parent's.
            let seen = origins
                .iter()
                .flatten()
                .any(|(_, b)| origin.as_ref().is_some_and(|(_, ob)| ob == b));
            origins.push(if seen { None } else { origin });
        }
        let mut remaining = hunks;
        if parents.is_empty() {
            return Ok(remaining);
        }
        let new_data = blobs.get(&memo.objects, suspect_blob)?;
        for (parent, origin) in parents.iter().zip(origins) {
            let Some((origin_path, origin_blob)) = origin else {
                continue;
            };
            if remaining.is_empty() {
                break;
            }
            let old_data = blobs.get(&memo.objects, origin_blob)?;
            let same = unchanged_blocks(&old_data, &new_data);
            let (to_parent, kept) = split_hunks(&remaining, &same);
            remaining = kept;
            passed.push((*parent, origin_path, to_parent));
        }
        Ok(remaining)
    }

    /// The path in `parent` that `commit` renamed to `path` (git's `find_rename`), with its blob.
    ///
    /// As git's `single_follow`: the files the commit deleted are the candidate sources and
    /// `path` the only destination, so a commit that moves hundreds of files costs one
    /// similarity check per deleted file, not one per pair (gix's tree diff with rewrites
    /// matches every added file).
    fn rename_source(
        &self,
        local: &gix::Repository,
        commit: ObjectId,
        parent: ObjectId,
        path: &str,
    ) -> Result<Option<(String, ObjectId)>, RepoError> {
        use gix::diff::tree::visit::Change;
        use gix::object::tree::diff::ChangeDetached;
        let new_tree = self.commit_tree(local, commit)?;
        let old_tree = self.commit_tree(local, parent)?;
        let error =
            |e: gix::Error| self.object_error(format!("renames between {parent} and {commit}"), e);
        let changes = local
            .diff_tree_to_tree(&old_tree, &new_tree, gix::diff::Options::default())
            .map_err(error)?;
        let mut tracker = gix::diff::rewrites::Tracker::new(gix::diff::Rewrites::default());
        let mut destination = false;
        for change in changes {
            let (location, change) = match change {
                ChangeDetached::Deletion {
                    location,
                    entry_mode,
                    id,
                    ..
                } if entry_mode.is_blob() => (
                    location,
                    Change::Deletion {
                        entry_mode,
                        oid: id,
                        relation: None,
                    },
                ),
                ChangeDetached::Addition {
                    location,
                    entry_mode,
                    id,
                    ..
                } if entry_mode.is_blob() && location.as_bstr() == BStr::new(path) => {
                    destination = true;
                    (
                        location,
                        Change::Addition {
                            entry_mode,
                            oid: id,
                            relation: None,
                        },
                    )
                }
                _ => continue,
            };
            // Blobs without a relation are always taken (`None` means "tracked").
            let _ = tracker.try_push_change(change, location.as_bstr());
        }
        if !destination {
            return Ok(None);
        }
        let mut resources = local.diff_resource_cache_for_tree_diff().map_err(error)?;
        let mut found = None;
        tracker
            .emit(
                |dest, source| {
                    if let Some(source) = source
                        && source.kind == gix::diff::rewrites::tracker::visit::SourceKind::Rename
                        && dest.location == BStr::new(path)
                    {
                        found = Some((source.location.to_str_lossy().into_owned(), source.id));
                    }
                    std::ops::ControlFlow::Continue(())
                },
                &mut resources,
                &local.objects,
                |_| Ok::<_, std::convert::Infallible>(()),
            )
            .map_err(error)?;
        Ok(found)
    }
}

/// Number of lines as git counts them (a last line without newline counts).
pub fn line_count(data: &[u8]) -> u32 {
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    let trailing = usize::from(!data.is_empty() && !data.ends_with(b"\n"));
    (newlines + trailing) as u32
}

/// Stretches of lines two versions share, as git blame sees them: `(new_start, old_start, len)`,
/// sorted. Also for blaming text that is not a blob (kustomize output across commits).
pub fn unchanged_blocks(old: &[u8], new: &[u8]) -> Vec<(u32, u32, u32)> {
    let input = InternedInput::new(old, new);
    let mut diff = Diff::compute(Algorithm::Myers, &input);
    // git blame runs xdiff's change compaction with the indent heuristic; this is imara's port.
    diff.postprocess_lines(&input);
    let mut blocks = Vec::new();
    let (mut old_pos, mut new_pos) = (0u32, 0u32);
    for hunk in diff.hunks() {
        if hunk.after.start > new_pos {
            blocks.push((new_pos, old_pos, hunk.after.start - new_pos));
        }
        old_pos = hunk.before.end;
        new_pos = hunk.after.end;
    }
    let new_len = input.after.len() as u32;
    if new_len > new_pos {
        blocks.push((new_pos, old_pos, new_len - new_pos));
    }
    blocks
}

/// Splits hunks (in the new version's coordinates) into the parts inside unchanged blocks,
/// re-addressed to the old version, and the parts outside them.
fn split_hunks(hunks: &[Hunk], blocks: &[(u32, u32, u32)]) -> (Vec<Hunk>, Vec<Hunk>) {
    let (mut passed, mut kept) = (Vec::new(), Vec::new());
    for hunk in hunks {
        let (mut pos, end) = (hunk.source_start, hunk.source_start + hunk.len);
        // First block that ends after `pos`.
        let mut i = blocks.partition_point(|&(start, _, len)| start + len <= pos);
        while pos < end {
            let piece = |from: u32, to: u32, source: u32| Hunk {
                final_start: hunk.final_start + (from - hunk.source_start),
                source_start: source,
                len: to - from,
            };
            match blocks.get(i) {
                Some(&(start, old_start, len)) if start < end => {
                    if pos < start {
                        kept.push(piece(pos, start, pos));
                        pos = start;
                    }
                    let to = (start + len).min(end);
                    passed.push(piece(pos, to, old_start + (pos - start)));
                    pos = to;
                    i += 1;
                }
                _ => {
                    kept.push(piece(pos, end, pos));
                    pos = end;
                }
            }
        }
    }
    (passed, kept)
}

/// Sorts hunks by source line; several children may pass hunks to one parent.
fn merge_adjacent(mut hunks: Vec<Hunk>) -> Vec<Hunk> {
    hunks.sort_by_key(|h| h.source_start);
    hunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::FixtureRepo;

    /// Per-line commit ids from `git blame --porcelain -L` (1-based inclusive range).
    fn git_blame(
        fx: &FixtureRepo,
        rev: &str,
        path: &str,
        lines: Option<(u32, u32)>,
    ) -> Vec<String> {
        let mut args = vec!["blame".to_owned(), "--porcelain".to_owned()];
        if let Some((a, b)) = lines {
            args.push(format!("-L{a},{b}"));
        }
        args.extend([rev.to_owned(), "--".to_owned(), path.to_owned()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = fx.git(&refs);
        let mut per_line = Vec::new();
        let mut lines = out.lines();
        while let Some(header) = lines.next() {
            let sha = header.split(' ').next().unwrap_or_default().to_owned();
            for content in lines.by_ref() {
                if content.starts_with('\t') {
                    break;
                }
            }
            per_line.push(sha);
        }
        per_line
    }

    /// How many commits own the lines of `range` of `path` at HEAD.
    fn owners(fx: &FixtureRepo, path: &str, range: Range<u32>) -> usize {
        let commits: HashSet<String> = ours(fx, "HEAD", path, range).into_iter().collect();
        commits.len()
    }

    /// The file each line of `range` of `path` at HEAD is blamed in (where a moved file's
    /// lines came from).
    fn source_paths(fx: &FixtureRepo, path: &str, range: Range<u32>) -> Vec<String> {
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        repo.blame_lines(head, path, range)
            .unwrap()
            .into_iter()
            .map(|l| l.source_path)
            .collect()
    }

    fn ours(fx: &FixtureRepo, rev: &str, path: &str, range: Range<u32>) -> Vec<String> {
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let commit = repo.resolve(rev).unwrap();
        repo.blame_lines_walked(commit, path, range)
            .unwrap()
            .into_iter()
            .map(|l| l.commit.to_string())
            .collect()
    }

    fn assert_matches_git(fx: &FixtureRepo, rev: &str, path: &str) {
        let total = fx.git(&["show", &format!("{rev}:{path}")]).lines().count() as u32;
        let whole = git_blame(fx, rev, path, None);
        assert_eq!(whole.len() as u32, total);
        assert_eq!(ours(fx, rev, path, 0..total), whole, "whole file {path}");
        if total >= 3 {
            let part = git_blame(fx, rev, path, Some((2, total - 1)));
            assert_eq!(
                ours(fx, rev, path, 1..total - 1),
                part,
                "lines 2..{} of {path}",
                total - 1
            );
        }
    }

    #[test]
    fn edits_match_git_blame() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", "a: 1\nb: 2\nc: 3\nd: 4\n");
        fx.commit("one");
        fx.write("a.yaml", "a: 1\nb: 20\nc: 3\nd: 4\ne: 5\n");
        fx.commit("two");
        fx.write("a.yaml", "z: 0\na: 1\nb: 20\nd: 4\ne: 50\n");
        fx.commit("three");
        fx.write("other.yaml", "x: 1\n");
        fx.commit("unrelated");
        assert_matches_git(&fx, "HEAD", "a.yaml");
        assert_matches_git(&fx, "HEAD~2", "a.yaml");
        assert_eq!(owners(&fx, "a.yaml", 0..5), 3, "three commits own lines");
    }

    #[test]
    fn renames_match_git_blame() {
        let fx = FixtureRepo::new();
        let body: String = (0..30).map(|i| format!("key{i}: value{i}\n")).collect();
        fx.write("old/web.yaml", &body);
        fx.commit("add");
        std::fs::create_dir_all(fx.dir().join("apps")).unwrap();
        fx.git(&["mv", "old/web.yaml", "apps/web.yaml"]);
        fx.commit("move");
        fx.write("apps/web.yaml", &body.replace("value7\n", "seven\n"));
        fx.git(&["mv", "apps/web.yaml", "apps/site.yaml"]);
        fx.commit("move and edit");
        assert_matches_git(&fx, "HEAD", "apps/site.yaml");
        assert_eq!(source_paths(&fx, "apps/site.yaml", 0..2)[0], "old/web.yaml");
    }

    /// A commit that moves a whole directory of near-identical files and edits them: each
    /// destination's source is the deleted file git picks for it alone (`single_follow`).
    #[test]
    fn directory_moves_of_similar_files_match_git_blame() {
        let fx = FixtureRepo::new();
        let body: String = (0..20).map(|i| format!("key{i}: value{i}\n")).collect();
        for name in ["a", "b", "c"] {
            fx.write(
                &format!("old/{name}.yaml"),
                &format!("{body}name: {name}\n"),
            );
        }
        fx.commit("add three");
        std::fs::remove_dir_all(fx.dir().join("old")).unwrap();
        fx.write("new/x.yaml", &format!("{body}name: b\nextra: 1\n"));
        fx.write("new/y.yaml", &format!("{body}name: a\nextra: 2\n"));
        fx.write("new/z.yaml", &body.replace("value3\n", "three\n"));
        fx.commit("move and edit");
        for path in ["new/x.yaml", "new/y.yaml", "new/z.yaml"] {
            assert_matches_git(&fx, "HEAD", path);
        }
        assert_eq!(source_paths(&fx, "new/x.yaml", 0..1)[0], "old/b.yaml");
    }

    /// `path` with `lines` lines `kN: vN` in a base commit, line 2 edited on a side branch,
    /// line 9 on the main one, then the side merged in.
    fn merged_history(fx: &FixtureRepo, path: &str, lines: usize) {
        let body: String = (0..lines).map(|i| format!("k{i}: v{i}\n")).collect();
        fx.write(path, &body);
        fx.commit("base");
        fx.git(&["checkout", "-q", "-b", "side"]);
        fx.write(path, &body.replace("v2\n", "side2\n"));
        fx.commit("side edit");
        fx.git(&["checkout", "-q", "-"]);
        fx.write(path, &body.replace("v9\n", "main9\n"));
        fx.commit("main edit");
        fx.git(&["merge", "-q", "--no-edit", "side"]);
    }

    #[test]
    fn merges_match_git_blame() {
        let fx = FixtureRepo::new();
        merged_history(&fx, "m.yaml", 12);
        let merged = std::fs::read_to_string(fx.dir().join("m.yaml")).unwrap();
        fx.write("m.yaml", &merged.replace("v5\n", "after5\n"));
        fx.commit("after merge");
        assert_matches_git(&fx, "HEAD", "m.yaml");
        assert_eq!(
            owners(&fx, "m.yaml", 0..12),
            4,
            "base, both sides and the last commit"
        );
    }

    #[test]
    fn multi_document_range_matches_git_blame() {
        let fx = FixtureRepo::new();
        fx.write(
            "all.yaml",
            "kind: A\nx: 1\n---\nkind: B\ny: 1\n---\nkind: C\nz: 1\n",
        );
        fx.commit("docs");
        fx.write(
            "all.yaml",
            "kind: A\nx: 2\n---\nkind: B\ny: 1\ny2: 2\n---\nkind: C\nz: 3\n",
        );
        fx.commit("edit docs");
        assert_matches_git(&fx, "HEAD", "all.yaml");
        let part = git_blame(&fx, "HEAD", "all.yaml", Some((4, 6)));
        assert_eq!(ours(&fx, "HEAD", "all.yaml", 3..6), part);
    }

    /// A history with merges and a rename, as a clone or `git gc` leaves it (packed), then
    /// with a commit-graph: blame reads commits and trees through the walk's own reader and
    /// the graph, and still equals git's; each commit's tree, parents and time, from the
    /// graph or the pack, equal gix's reading of the commit.
    #[test]
    fn packed_history_and_a_commit_graph_match_git_blame() {
        let fx = FixtureRepo::new();
        merged_history(&fx, "a/m.yaml", 16);
        std::fs::create_dir_all(fx.dir().join("b")).unwrap();
        fx.git(&["mv", "a/m.yaml", "b/n.yaml"]);
        fx.commit("move");
        let moved = std::fs::read_to_string(fx.dir().join("b/n.yaml")).unwrap();
        fx.write("b/n.yaml", &moved.replace("v12\n", "last12\n"));
        fx.commit("after the move");
        fx.git(&["gc", "-q"]);
        // gc writes a commit-graph: first without one.
        let info = fx.dir().join(".git/objects/info");
        let _ = std::fs::remove_file(info.join("commit-graph"));
        let _ = std::fs::remove_dir_all(info.join("commit-graphs"));
        let commits: Vec<ObjectId> = fx
            .git(&["rev-list", "--all"])
            .lines()
            .map(|l| ObjectId::from_hex(l.as_bytes()).unwrap())
            .collect();
        for graph in [false, true] {
            if graph {
                fx.git(&["commit-graph", "write", "--reachable"]);
            }
            assert_matches_git(&fx, "HEAD", "b/n.yaml");
            let repo = EnvRepo::open(fx.dir()).unwrap();
            let objects = WalkObjects::new(&repo);
            let local = repo.repo.to_thread_local();
            for &id in &commits {
                let commit = local.find_commit(id).unwrap();
                let expected = CommitLinks {
                    tree: commit.tree_id().unwrap().detach(),
                    parents: commit.parent_ids().map(|p| p.detach()).collect(),
                    time: commit.time().unwrap().seconds,
                };
                assert_eq!(objects.commit_links(id).unwrap(), expected, "{id}");
            }
            assert_eq!(
                objects.commits_from_graph(),
                if graph { commits.len() } else { 0 }
            );
        }
    }

    /// A blame is kept per commit, path and range: the next call reads it and gives what the
    /// walk gives; a damaged kept file is walked again (and replaced); a shallow clone keeps
    /// nothing (deepening it changes the blame).
    #[test]
    fn kept_blames_equal_walked_ones() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", "a: 1\nb: 2\nc: 3\n");
        fx.commit("one");
        fx.write("a.yaml", "a: 1\nb: 20\nc: 3\nd: 4\n");
        fx.commit("two");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let walked = repo.blame_lines_walked(head, "a.yaml", 1..4).unwrap();
        let kept_dir = fx
            .dir()
            .join(".git/kubectl-gitops/blame-v1")
            .join(head.to_string());
        assert!(!kept_dir.exists());
        assert_eq!(repo.blame_lines(head, "a.yaml", 1..4).unwrap(), walked);
        let kept: Vec<_> = std::fs::read_dir(&kept_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(repo.blame_lines(head, "./a.yaml", 1..4).unwrap(), walked);
        // Another range is another entry, walked.
        assert_eq!(
            repo.blame_lines(head, "a.yaml", 0..2).unwrap(),
            repo.blame_lines_walked(head, "a.yaml", 0..2).unwrap()
        );
        // What is read is the kept file: a changed one is believed, a damaged one is not.
        let mut other = walked.clone();
        other[0].source_line = 7;
        keep_blame(&kept[0], &other);
        assert_eq!(repo.blame_lines(head, "a.yaml", 1..4).unwrap(), other);
        std::fs::write(&kept[0], b"[[1, \"not a commit\", 0, \"a.yaml\"]]").unwrap();
        assert_eq!(repo.blame_lines(head, "a.yaml", 1..4).unwrap(), walked);
        assert_eq!(read_kept_blame(&kept[0]), Some(walked.clone()));

        let shallow = tempfile::tempdir().unwrap();
        let url = format!("file://{}", fx.dir().display());
        let clone = shallow.path().join("c");
        let status = std::process::Command::new("git")
            .args(["clone", "-q", "--depth", "1", &url])
            .arg(&clone)
            .status()
            .unwrap();
        assert!(status.success());
        // git blames the boundary commit for every line (its parent is not there).
        let repo = EnvRepo::open(&clone).unwrap();
        let lines = repo.blame_lines(head, "a.yaml", 0..4).unwrap();
        assert_eq!(lines.len(), 4);
        assert!(lines.iter().all(|l| l.commit == head), "{lines:?}");
        let git = std::process::Command::new("git")
            .args(["blame", "--porcelain", "HEAD", "--", "a.yaml"])
            .current_dir(&clone)
            .output()
            .unwrap();
        let head_hex = head.to_string();
        let git_lines = String::from_utf8_lossy(&git.stdout)
            .lines()
            .filter(|l| l.starts_with(&head_hex))
            .count();
        assert_eq!(git_lines, 4);
        assert!(!clone.join(".git/kubectl-gitops/blame-v1").exists());
    }

    #[test]
    fn missing_file_names_path_and_commit() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", "a: 1\n");
        fx.commit("one");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let err = repo.blame_lines(head, "nope.yaml", 0..1).unwrap_err();
        assert!(err.to_string().contains("nope.yaml"), "{err}");
    }

    #[test]
    fn split_hunks_re_addresses_unchanged_lines() {
        let hunks = [Hunk {
            final_start: 10,
            source_start: 0,
            len: 6,
        }];
        // new lines 0..2 = old 0..2, new 4..6 = old 3..5
        let (passed, kept) = split_hunks(&hunks, &[(0, 0, 2), (4, 3, 2)]);
        let p: Vec<_> = passed
            .iter()
            .map(|h| (h.final_start, h.source_start, h.len))
            .collect();
        let k: Vec<_> = kept
            .iter()
            .map(|h| (h.final_start, h.source_start, h.len))
            .collect();
        assert_eq!(p, vec![(10, 0, 2), (14, 3, 2)]);
        assert_eq!(k, vec![(12, 2, 2)]);
    }
}
