//! Three-way tree merge, commit, index and work tree update for revert (SPEC §6), with gix
//! only. Everything that can refuse (detached HEAD, local changes, conflicts, untracked files
//! in the way) is decided while new objects are still held in memory, so a refusal leaves the
//! repository byte-identical.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use gix::bstr::{BString, ByteSlice};
use gix::merge::tree::TreatAsUnresolved;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::{EnvRepo, ObjectId, RepoError};
use k8s_model::CommitInfo;

/// What to revert and how.
#[derive(Debug, Clone, Default)]
pub struct RevertOptions {
    /// The commit to undo, anything `git rev-parse` takes.
    pub commit: String,
    /// For a merge commit: the parent (from 1) whose side is kept.
    pub mainline: Option<usize>,
    /// Commit message instead of git's `Revert "<subject>"` convention.
    pub message: Option<String>,
    /// Update index and work tree only; HEAD stays (git's `--no-commit`).
    pub no_commit: bool,
}

/// How a file of the work tree changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FileChange {
    /// The revert created the file.
    Added,
    /// The revert changed its content or mode.
    Modified,
    /// The revert deleted the file.
    Removed,
}

/// One file the revert touched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevertedFile {
    /// Repo-relative path.
    pub path: String,
    /// Added, modified or removed.
    pub change: FileChange,
}

/// What a successful revert did.
#[derive(Debug, Clone)]
pub struct RevertOutcome {
    /// The commit that was undone.
    pub reverted: CommitInfo,
    /// The new commit, `None` with `--no-commit`.
    pub commit: Option<CommitInfo>,
    /// The branch that moved (`main`), or would have.
    pub branch: String,
    /// The tree now in the index.
    pub tree: ObjectId,
    /// The commit message used (or proposed, with `--no-commit`).
    pub message: String,
    /// Files written or deleted, sorted by path.
    pub files: Vec<RevertedFile>,
}

/// Why a revert was refused or failed. Refusals change nothing in the repository.
#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    /// Resolving or reading failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A bare repository has no work tree to update.
    #[error(
        "{repo} is a bare repository: revert needs a work tree (run it in a clone of the environment repo)"
    )]
    Bare {
        /// The repository.
        repo: PathBuf,
    },
    /// HEAD names a commit, not a branch.
    #[error(
        "HEAD is detached in {repo}: revert commits on the current branch (run `git switch <branch>` first)"
    )]
    DetachedHead {
        /// The repository.
        repo: PathBuf,
    },
    /// The current branch has no commit yet.
    #[error("branch {branch} has no commits yet: there is nothing to revert on it")]
    UnbornBranch {
        /// The branch.
        branch: String,
    },
    /// The index or the work tree differ from HEAD.
    #[error(
        "uncommitted changes in {repo}: {} (commit or stash them first)",
        paths.join(", ")
    )]
    LocalChanges {
        /// The repository.
        repo: PathBuf,
        /// Changed paths.
        paths: Vec<String>,
    },
    /// A merge commit needs to be told which parent's side to keep.
    #[error(
        "commit {commit} is a merge of {parents} parents: say which parent's side to keep (use --mainline 1 for the branch it was merged into)"
    )]
    MergeNeedsMainline {
        /// The merge commit.
        commit: ObjectId,
        /// How many parents it has.
        parents: usize,
    },
    /// `--mainline` on a commit that is not a merge.
    #[error("--mainline was given but commit {commit} is not a merge (drop --mainline)")]
    NotAMerge {
        /// The commit.
        commit: ObjectId,
    },
    /// `--mainline N` beyond the merge's parents.
    #[error(
        "commit {commit} has {parents} parents: --mainline {mainline} does not name one (use 1..={parents})"
    )]
    MainlineOutOfRange {
        /// The merge commit.
        commit: ObjectId,
        /// The number given.
        mainline: usize,
        /// How many parents it has.
        parents: usize,
    },
    /// The three-way merge conflicts.
    #[error(
        "reverting {commit} conflicts with later changes in: {} (nothing was changed; revert by hand with `git revert`, or revert the later commits first)",
        paths.join(", ")
    )]
    Conflicts {
        /// The commit being reverted.
        commit: ObjectId,
        /// Conflicting paths, sorted.
        paths: Vec<String>,
    },
    /// Untracked files sit where the revert would write.
    #[error(
        "untracked files would be overwritten by reverting {commit}: {} (move or delete them first)",
        paths.join(", ")
    )]
    UntrackedInTheWay {
        /// The commit being reverted.
        commit: ObjectId,
        /// The untracked paths.
        paths: Vec<String>,
    },
    /// The revert would not change HEAD's tree.
    #[error(
        "reverting {commit} changes nothing: HEAD already undoes it (nothing to commit, nothing was changed)"
    )]
    NothingToRevert {
        /// The commit.
        commit: ObjectId,
    },
    /// No user.name / user.email.
    #[error(
        "no {role} identity in git config: set it with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`"
    )]
    NoIdentity {
        /// `author` or `committer`.
        role: &'static str,
    },
    /// A gix operation failed.
    #[error("cannot {what} in {repo}: {source}")]
    Git {
        /// What was being done.
        what: String,
        /// The repository.
        repo: PathBuf,
        /// What gix said.
        #[source]
        source: Box<gix::Error>,
    },
    /// Writing the work tree or git files failed.
    #[error("cannot write {path}: {source} ({after})")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
        /// What state the repository is left in.
        after: &'static str,
    },
}

/// Said when the work tree is partly written: HEAD and index are untouched then.
const PARTIAL_WORKTREE: &str =
    "HEAD and the index are unchanged; `git checkout -- .` restores the work tree";

impl EnvRepo {
    /// Reverts a commit as `git revert` does: the tree is the three-way merge of HEAD with the
    /// commit's parent over the commit; a new commit on the current branch (unless
    /// `no_commit`), index and work tree updated. Refusals change nothing.
    pub fn revert(&self, opts: &RevertOptions) -> Result<RevertOutcome, RevertError> {
        let mut run = RevertRun::open(self)?;
        let (branch, head_id) = run.current_branch()?;
        let target = run.read_target(opts)?;
        // A root commit is reverted against the empty tree, as git does.
        let their_tree = match target.parent {
            Some(p) => self
                .subtree_id(p, "")?
                .unwrap_or_else(|| run.repo.empty_tree().id),
            None => run.repo.empty_tree().id,
        };
        let head_tree = self
            .subtree_id(head_id, "")?
            .unwrap_or_else(|| run.repo.empty_tree().id);
        run.refuse_local_changes()?;
        let tree = run.merge(&target, head_tree, their_tree)?;
        if tree == head_tree {
            return Err(RevertError::NothingToRevert { commit: target.id });
        }
        let changes =
            worktree_changes(&run.repo, head_tree, tree).map_err(run.git("diff the trees"))?;
        run.refuse_untracked_in_the_way(target.id, head_tree, &changes)?;

        let message = match &opts.message {
            Some(m) => format!("{}\n", m.trim_end()),
            None => revert_message(
                &target.raw_message,
                target.id,
                target.parent.filter(|_| target.parents > 1),
            ),
        };
        let new_commit = if opts.no_commit {
            None
        } else {
            Some(run.create_commit(&message, tree, head_id)?)
        };

        // Nothing refuses from here on: write the new objects for real.
        run.write_objects()?;
        run.update_worktree_and_index(tree, &changes)?;
        let commit = match new_commit {
            Some(new_id) => {
                run.move_branch(&branch, &message, head_id, new_id)?;
                Some(self.commit_info(new_id)?)
            }
            None => {
                run.record_pending_revert(&message, target.id)?;
                None
            }
        };
        let files = changes
            .iter()
            .map(|c| RevertedFile {
                path: c.path.clone(),
                change: c.change,
            })
            .collect();
        Ok(RevertOutcome {
            reverted: target.info,
            commit,
            branch,
            tree,
            message,
            files,
        })
    }
}

/// The commit being reverted, as the revert reads it.
struct RevertTarget {
    id: ObjectId,
    info: CommitInfo,
    /// How many parents it has.
    parents: usize,
    /// The parent whose side is kept: the only one, or `--mainline`'s; `None` for a root.
    parent: Option<ObjectId>,
    raw_message: BString,
    tree: ObjectId,
}

/// What the steps of [`EnvRepo::revert`] share.
struct RevertRun<'e> {
    env: &'e EnvRepo,
    /// Merged blobs, trees and the commit stay in memory until nothing can refuse any more.
    repo: gix::Repository,
    /// The repository's root, named in errors.
    root: PathBuf,
    workdir: PathBuf,
}

impl<'e> RevertRun<'e> {
    /// The repository with its objects kept in memory; refuses a bare one.
    fn open(env: &'e EnvRepo) -> Result<RevertRun<'e>, RevertError> {
        let root = env.root().to_path_buf();
        let repo = env.repo.to_thread_local().with_object_memory();
        let workdir = repo
            .workdir()
            .map(Path::to_path_buf)
            .ok_or_else(|| RevertError::Bare { repo: root.clone() })?;
        Ok(RevertRun {
            env,
            repo,
            root,
            workdir,
        })
    }

    /// Turns a gix error into [`RevertError::Git`] saying what was being done.
    fn git(&self, what: &str) -> impl FnOnce(gix::Error) -> RevertError + use<> {
        let what = what.to_owned();
        let repo = self.root.clone();
        move |source: gix::Error| RevertError::Git {
            what,
            repo,
            source: Box::new(source),
        }
    }

    /// The branch HEAD names and its commit; refuses a detached HEAD or an unborn branch.
    fn current_branch(&self) -> Result<(String, ObjectId), RevertError> {
        let head = self.repo.head().map_err(self.git("read HEAD"))?;
        let (branch_ref, head_id) = match head.kind {
            gix::head::Kind::Symbolic(reference) => {
                let id = reference
                    .target
                    .try_id()
                    .map(|id| id.to_owned())
                    .ok_or_else(|| RevertError::DetachedHead {
                        repo: self.root.clone(),
                    })?;
                (reference.name, id)
            }
            gix::head::Kind::Unborn(name) => {
                return Err(RevertError::UnbornBranch {
                    branch: name.shorten().to_string(),
                });
            }
            gix::head::Kind::Detached { .. } => {
                return Err(RevertError::DetachedHead {
                    repo: self.root.clone(),
                });
            }
        };
        Ok((branch_ref.shorten().to_string(), head_id))
    }

    /// The commit `opts` names, with the parent whose side the revert keeps.
    fn read_target(&self, opts: &RevertOptions) -> Result<RevertTarget, RevertError> {
        let commit_id = self.env.resolve(&opts.commit)?;
        let info = self.env.commit_info(commit_id)?;
        let commit = self
            .repo
            .find_commit(commit_id)
            .map_err(self.git(&format!("read commit {commit_id}")))?;
        let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        let parent = mainline_parent(commit_id, &parents, opts.mainline)?;
        let raw_message = commit
            .message_raw()
            .map_err(self.git(&format!("read commit {commit_id}")))?
            .to_owned();
        let tree = commit
            .tree_id()
            .map_err(self.git(&format!("read commit {commit_id}")))?
            .detach();
        Ok(RevertTarget {
            id: commit_id,
            info,
            parents: parents.len(),
            parent,
            raw_message,
            tree,
        })
    }

    /// Refuses when the index or the work tree differ from HEAD.
    fn refuse_local_changes(&self) -> Result<(), RevertError> {
        let local =
            local_changes(&self.repo).map_err(self.git("read the status of the work tree"))?;
        if !local.is_empty() {
            return Err(RevertError::LocalChanges {
                repo: self.root.clone(),
                paths: local,
            });
        }
        Ok(())
    }

    /// The reverted tree, written to memory: HEAD's tree merged with the parent's over the
    /// commit's; refuses on conflicts.
    fn merge(
        &self,
        target: &RevertTarget,
        head_tree: ObjectId,
        their_tree: ObjectId,
    ) -> Result<ObjectId, RevertError> {
        let repo = &self.repo;
        let commit_id = target.id;
        let short = short_id(commit_id);
        let subject = first_line(&target.raw_message);
        let base_label = format!("{short}... {subject}");
        let their_label = format!("parent of {short}... {subject}");
        let labels = gix::merge::blob::builtin_driver::text::Labels {
            ancestor: Some(base_label.as_bytes().as_bstr()),
            current: Some("HEAD".into()),
            other: Some(their_label.as_bytes().as_bstr()),
        };
        let merge_options = repo
            .tree_merge_options()
            .map_err(self.git("read the merge configuration"))?;
        let mut merged = repo
            .merge_trees(target.tree, head_tree, their_tree, labels, merge_options)
            .map_err(self.git(&format!("merge the trees to revert {commit_id}")))?;
        let how = TreatAsUnresolved::git();
        let tree = merged
            .tree
            .write()
            .map_err(self.git("write the merged tree"))?
            .detach();
        let tree = three_way_modes(repo, tree, &merged.conflicts)
            .map_err(self.git("write the merged tree"))?;
        if merged.has_unresolved_conflicts(how) {
            let paths = conflicting_paths(repo, tree, &merged, how)
                .map_err(self.git("list the conflicting paths"))?;
            return Err(RevertError::Conflicts {
                commit: commit_id,
                paths,
            });
        }
        Ok(tree)
    }

    /// Refuses when untracked files sit where the revert would write.
    fn refuse_untracked_in_the_way(
        &self,
        commit: ObjectId,
        head_tree: ObjectId,
        changes: &[WorktreeChange],
    ) -> Result<(), RevertError> {
        let in_the_way = untracked_in_the_way(&self.repo, &self.workdir, head_tree, changes)
            .map_err(self.git("read HEAD's tree"))?;
        if !in_the_way.is_empty() {
            return Err(RevertError::UntrackedInTheWay {
                commit,
                paths: in_the_way,
            });
        }
        Ok(())
    }

    /// The revert commit (in memory), on HEAD, by the configured author and committer.
    fn create_commit(
        &self,
        message: &str,
        tree: ObjectId,
        head_id: ObjectId,
    ) -> Result<ObjectId, RevertError> {
        let repo = &self.repo;
        let author = repo
            .author()
            .ok_or(RevertError::NoIdentity { role: "author" })?
            .map_err(self.git("read the author identity"))?;
        let committer = repo
            .committer()
            .ok_or(RevertError::NoIdentity { role: "committer" })?
            .map_err(self.git("read the committer identity"))?;
        let id = repo
            .new_commit_as(committer, author, message, tree, [head_id])
            .map_err(self.git("create the revert commit"))?
            .id;
        Ok(id)
    }

    /// Writes the objects kept in memory to the object database.
    fn write_objects(&mut self) -> Result<(), RevertError> {
        if let Some(memory) = self.repo.objects.take_object_memory() {
            for (_, (kind, data)) in memory.iter() {
                gix::prelude::Write::write_buf(&self.repo, *kind, data)
                    .map_err(self.git("write objects to the object database"))?;
            }
        }
        Ok(())
    }

    /// Writes `changes` to the work tree, then the index of `tree` (keeping the stat data of
    /// the files left alone).
    fn update_worktree_and_index(
        &self,
        tree: ObjectId,
        changes: &[WorktreeChange],
    ) -> Result<(), RevertError> {
        let repo = &self.repo;
        let old_index = repo.index_or_empty().map_err(self.git("read the index"))?;
        let written = apply_to_worktree(repo, &self.workdir, changes)?;
        let mut index = repo
            .index_from_tree(&tree)
            .map_err(self.git("build the index from the new tree"))?;
        carry_stat(&mut index, &old_index, &self.workdir, &written);
        index
            .write(gix::index::write::Options::default())
            .map_err(|e| RevertError::Write {
                path: repo.index_path(),
                source: std::io::Error::other(e),
                after: "the work tree is updated but the index is not; `git reset` fixes the index",
            })?;
        Ok(())
    }

    /// Moves the current branch (through HEAD) from `head_id` to the revert commit.
    fn move_branch(
        &self,
        branch: &str,
        message: &str,
        head_id: ObjectId,
        new_id: ObjectId,
    ) -> Result<(), RevertError> {
        let log = format!("revert: {}", first_line(message.as_bytes()));
        self.repo
            .edit_reference(RefEdit {
                change: Change::Update {
                    log: LogChange {
                        mode: RefLog::AndReference,
                        force_create_reflog: false,
                        message: log.into(),
                    },
                    expected: PreviousValue::MustExistAndMatch(gix::refs::Target::Object(head_id)),
                    new: gix::refs::Target::Object(new_id),
                },
                name: "HEAD"
                    .try_into()
                    .map_err(|e: gix::validate::reference::name::Error| {
                        self.git("name HEAD")(gix::Error::from_error(e))
                    })?,
                deref: true,
            })
            .map_err(self.git(&format!("move branch {branch} to the revert commit")))?;
        Ok(())
    }

    /// With `--no-commit`, as git does: `git commit` then proposes the message and records
    /// the revert.
    fn record_pending_revert(&self, message: &str, commit_id: ObjectId) -> Result<(), RevertError> {
        let git_dir = self.repo.git_dir().to_path_buf();
        for (name, content) in [
            ("MERGE_MSG", message.to_owned()),
            ("REVERT_HEAD", format!("{commit_id}\n")),
        ] {
            let path = git_dir.join(name);
            std::fs::write(&path, content).map_err(|source| RevertError::Write {
                path,
                source,
                after: "index and work tree are reverted",
            })?;
        }
        Ok(())
    }
}

/// The parent whose side a revert keeps: a commit's only parent, none for a root commit, the
/// `mainline`-th (from 1) of a merge; refuses `mainline` on a non-merge, its absence on a
/// merge, and a number beyond the parents.
fn mainline_parent(
    commit_id: ObjectId,
    parents: &[ObjectId],
    mainline: Option<usize>,
) -> Result<Option<ObjectId>, RevertError> {
    Ok(match (parents.len(), mainline) {
        (0 | 1, Some(_)) => return Err(RevertError::NotAMerge { commit: commit_id }),
        (0, None) => None,
        (1, None) => Some(parents[0]),
        (n, None) => {
            return Err(RevertError::MergeNeedsMainline {
                commit: commit_id,
                parents: n,
            });
        }
        (n, Some(m)) => match m.checked_sub(1).and_then(|i| parents.get(i)) {
            Some(p) => Some(*p),
            None => {
                return Err(RevertError::MainlineOutOfRange {
                    commit: commit_id,
                    mainline: m,
                    parents: n,
                });
            }
        },
    })
}

/// git's message: `Revert "<subject>"` (or `Reapply "<x>"` for a revert of a revert), blank
/// line, `This reverts commit <sha>.`, naming the mainline parent for a merge.
pub fn revert_message(raw: &[u8], commit: ObjectId, mainline_parent: Option<ObjectId>) -> String {
    let subject = first_line(raw);
    let title = match subject.strip_prefix("Revert \"") {
        // git leaves nested reverts alone rather than counting them.
        Some(orig) if !orig.starts_with("Revert \"") => format!("Reapply \"{orig}"),
        _ => format!("Revert \"{subject}\""),
    };
    let mut message = format!("{title}\n\nThis reverts commit {commit}");
    if let Some(parent) = mainline_parent {
        message.push_str(&format!(", reversing\nchanges made to {parent}"));
    }
    message.push_str(".\n");
    message
}

/// The first line of a commit message, as git's `find_commit_subject` takes it.
fn first_line(raw: &[u8]) -> String {
    let text = raw.to_str_lossy();
    text.trim_start_matches('\n')
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// git's default abbreviation.
pub fn short_id(id: ObjectId) -> String {
    id.to_string().chars().take(7).collect()
}

/// Paths where the index differs from HEAD or the work tree from the index; untracked files do
/// not count, as git allows them.
fn local_changes(repo: &gix::Repository) -> Result<Vec<String>, gix::Error> {
    let iter = repo
        .status(gix::progress::Discard)?
        .untracked_files(gix::status::UntrackedFiles::None)
        .index_worktree_rewrites(None)
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
        .into_iter(Vec::<BString>::new())?;
    let mut paths = Vec::new();
    for item in iter {
        let item = item.map_err(gix::Error::from_error)?;
        paths.push(item.location().to_str_lossy().into_owned());
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// The paths git would leave unmerged: stages 1..3 after applying the conflicts to an index
/// of the merged tree.
fn conflicting_paths(
    repo: &gix::Repository,
    tree: ObjectId,
    merged: &gix::merge::tree::Outcome<'_>,
    how: TreatAsUnresolved,
) -> Result<Vec<String>, gix::Error> {
    let mut index = repo.index_from_tree(&tree)?;
    merged.index_changed_after_applying_conflicts(
        &mut index,
        how,
        gix::merge::tree::apply_index_entries::RemovalMode::Prune,
    );
    let mut paths: Vec<String> = index
        .entries()
        .iter()
        .filter(|e| e.stage_raw() != 0)
        .map(|e| e.path(&index).to_str_lossy().into_owned())
        .collect();
    if paths.is_empty() {
        paths = merged
            .conflicts
            .iter()
            .filter(|c| c.is_unresolved(how))
            .map(|c| c.ours.location().to_str_lossy().into_owned())
            .collect();
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Where gix resolved a rename against a modification, it keeps the executable bit if either
/// side has it; git merges the mode three-way (the side that changed it wins). Redo that.
fn three_way_modes(
    repo: &gix::Repository,
    tree: ObjectId,
    conflicts: &[gix::merge::tree::Conflict],
) -> Result<ObjectId, gix::Error> {
    use gix::merge::tree::Resolution;
    use gix::object::tree::EntryKind;
    let is_file = |kind: EntryKind| matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable);
    let mut fixes = Vec::new();
    for conflict in conflicts {
        let Ok(resolution) = &conflict.resolution else {
            continue;
        };
        let (ours, theirs) = conflict.changes_in_resolution();
        let path = match resolution {
            Resolution::OursModifiedTheirsRenamedAndChangedThenRename {
                final_location, ..
            } => final_location
                .clone()
                .unwrap_or_else(|| theirs.location().to_owned()),
            Resolution::OursModifiedTheirsModifiedThenBlobContentMerge { .. }
                if ours.location() == theirs.location() =>
            {
                ours.location().to_owned()
            }
            _ => continue,
        };
        let [Some(base), Some(our), Some(their)] = conflict.entries() else {
            continue;
        };
        if ![base, our, their].iter().all(|e| is_file(e.mode.kind())) {
            continue;
        }
        let want = if our.mode == base.mode {
            their.mode
        } else {
            our.mode
        };
        fixes.push((path.to_str_lossy().into_owned(), want));
    }
    if fixes.is_empty() {
        return Ok(tree);
    }
    let current = repo.find_tree(tree)?;
    let mut editor = repo.edit_tree(tree)?;
    let mut changed = false;
    for (path, want) in fixes {
        let Some(entry) = current.lookup_entry_by_path(&path)? else {
            continue;
        };
        if entry.mode() != want && is_file(entry.mode().kind()) {
            editor.upsert(path.as_str(), want.kind(), entry.object_id())?;
            changed = true;
        }
    }
    if !changed {
        return Ok(tree);
    }
    Ok(editor.write()?.detach())
}

/// A file to delete or write in the work tree.
#[derive(Debug, Clone)]
struct WorktreeChange {
    path: String,
    change: FileChange,
    /// The new blob and mode, `None` to delete.
    new: Option<(ObjectId, gix::object::tree::EntryMode)>,
    /// Whether the old side was a file (blob or symlink) to remove first.
    had_file: bool,
}

/// Files (not trees, not submodules) that differ between HEAD's tree and the new tree.
fn worktree_changes(
    repo: &gix::Repository,
    old: ObjectId,
    new: ObjectId,
) -> Result<Vec<WorktreeChange>, gix::Error> {
    use gix::object::tree::diff::ChangeDetached;
    let old_tree = repo.find_tree(old)?;
    let new_tree = repo.find_tree(new)?;
    let mut options = gix::diff::Options::default().with_rewrites(None);
    options.track_path();
    let is_file = |mode: gix::object::tree::EntryMode| mode.is_blob_or_symlink();
    let mut out = Vec::new();
    for change in repo.diff_tree_to_tree(Some(&old_tree), Some(&new_tree), options)? {
        let (path, old_mode, new_side) = match change {
            ChangeDetached::Addition {
                location,
                entry_mode,
                id,
                ..
            } => (location, None, Some((id, entry_mode))),
            ChangeDetached::Deletion {
                location,
                entry_mode,
                ..
            } => (location, Some(entry_mode), None),
            ChangeDetached::Modification {
                location,
                previous_entry_mode,
                entry_mode,
                id,
                ..
            } => (location, Some(previous_entry_mode), Some((id, entry_mode))),
            ChangeDetached::Rewrite { .. } => continue,
        };
        let had_file = old_mode.is_some_and(is_file);
        let new = new_side.filter(|(_, mode)| is_file(*mode));
        let change = match (had_file, new.is_some()) {
            (false, false) => continue,
            (false, true) => FileChange::Added,
            (true, false) => FileChange::Removed,
            (true, true) => FileChange::Modified,
        };
        out.push(WorktreeChange {
            path: path.to_str_lossy().into_owned(),
            change,
            new,
            had_file,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Untracked paths the revert would overwrite: a new file where something untracked exists, or
/// below an untracked file.
fn untracked_in_the_way(
    repo: &gix::Repository,
    workdir: &Path,
    head_tree: ObjectId,
    changes: &[WorktreeChange],
) -> Result<Vec<String>, gix::Error> {
    let tracked: HashSet<String> = repo
        .find_tree(head_tree)?
        .traverse()
        .breadthfirst
        .files()?
        .into_iter()
        .map(|e| e.filepath.to_str_lossy().into_owned())
        .collect();
    let mut paths = Vec::new();
    for change in changes.iter().filter(|c| c.change == FileChange::Added) {
        let mut prefix = String::new();
        for component in change.path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(component);
            let on_disk = std::fs::symlink_metadata(workdir.join(&prefix));
            let is_target = prefix == change.path;
            match on_disk {
                Ok(meta) if is_target || !meta.is_dir() => {
                    if !tracked.contains(&prefix) {
                        paths.push(prefix.clone());
                    }
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Deletes, then writes, the changed files; returns the paths written.
fn apply_to_worktree(
    repo: &gix::Repository,
    workdir: &Path,
    changes: &[WorktreeChange],
) -> Result<HashSet<String>, RevertError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| RevertError::Write {
            path,
            source,
            after: PARTIAL_WORKTREE,
        }
    };
    // Deletions first: a file may give way to a directory of the same name.
    for change in changes.iter().filter(|c| c.had_file) {
        let path = workdir.join(&change.path);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        if change.new.is_none() {
            remove_empty_parents(workdir, &path);
        }
    }
    let mut written = HashSet::new();
    for change in changes {
        let Some((blob, mode)) = change.new else {
            continue;
        };
        let path = workdir.join(&change.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let data = repo
            .find_blob(blob)
            .map_err(|e| RevertError::Git {
                what: format!("read blob {blob} for {}", change.path),
                repo: workdir.to_path_buf(),
                source: Box::new(e),
            })?
            .take_data();
        write_entry(&path, &data, mode).map_err(io(&path))?;
        written.insert(change.path.clone());
    }
    Ok(written)
}

/// Writes a blob as a file with git's permissions, or as a symlink.
fn write_entry(
    path: &Path,
    data: &[u8],
    mode: gix::object::tree::EntryMode,
) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if mode.is_link() {
            use std::os::unix::ffi::OsStrExt;
            return std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(data), path);
        }
        // The umask applies as it does to git's checkout.
        let perm = if mode.is_executable() { 0o777 } else { 0o666 };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(perm)
            .open(path)?;
        file.write_all(data)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        std::fs::write(path, data)
    }
}

/// Removes directories left empty by a deletion, up to the work tree root, as git does.
fn remove_empty_parents(workdir: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == workdir || !d.starts_with(workdir) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Gives the new index the stat data `git status` needs to see files unchanged without
/// reading them: kept from the old index for untouched entries, taken from disk for written
/// ones.
fn carry_stat(
    index: &mut gix::index::File,
    old: &gix::index::File,
    workdir: &Path,
    written: &HashSet<String>,
) {
    let old_entries: HashMap<&[u8], &gix::index::Entry> = old
        .entries()
        .iter()
        .filter(|e| e.stage_raw() == 0)
        .map(|e| (e.path(old).as_bytes(), e))
        .collect();
    let mut from_disk: BTreeMap<usize, gix::index::entry::Stat> = BTreeMap::new();
    for (i, entry) in index.entries().iter().enumerate() {
        let path = entry.path(index);
        let kept = old_entries
            .get(path.as_bytes())
            .filter(|o| o.id == entry.id && o.mode == entry.mode);
        let stat = match kept {
            Some(o) if !written.contains(path.to_str_lossy().as_ref()) => Some(o.stat),
            _ => gix::index::fs::Metadata::from_path_no_follow(
                &workdir.join(path.to_str_lossy().as_ref()),
            )
            .ok()
            .and_then(|m| gix::index::entry::Stat::from_fs(&m).ok()),
        };
        if let Some(stat) = stat {
            from_disk.insert(i, stat);
        }
    }
    for (i, entry) in index.entries_mut().iter_mut().enumerate() {
        if let Some(stat) = from_disk.get(&i) {
            entry.stat = *stat;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::FixtureRepo;

    fn id(hex: &str) -> ObjectId {
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    fn options(commit: &str) -> RevertOptions {
        RevertOptions {
            commit: commit.to_owned(),
            ..RevertOptions::default()
        }
    }

    #[test]
    fn message_follows_git_conventions() {
        let c = id("0123456789abcdef0123456789abcdef01234567");
        let p = id("89abcdef0123456789abcdef0123456789abcdef");
        assert_eq!(
            revert_message(b"web: 3 replicas\n\nbody\n", c, None),
            format!("Revert \"web: 3 replicas\"\n\nThis reverts commit {c}.\n")
        );
        assert_eq!(
            revert_message(b"Merge branch 'x'\n", c, Some(p)),
            format!(
                "Revert \"Merge branch 'x'\"\n\nThis reverts commit {c}, reversing\nchanges made to {p}.\n"
            )
        );
        assert_eq!(
            revert_message(b"Revert \"web\"\n", c, None),
            format!("Reapply \"web\"\n\nThis reverts commit {c}.\n")
        );
        assert_eq!(
            revert_message(b"Revert \"Revert \"web\"\"\n", c, None),
            format!("Revert \"Revert \"Revert \"web\"\"\"\n\nThis reverts commit {c}.\n")
        );
    }

    #[test]
    fn revert_of_a_revert_reapplies_like_git() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", "a: 1\n");
        fx.commit("first");
        fx.write("a.yaml", "a: 2\n");
        fx.commit("a is 2");
        fx.git(&["revert", "--no-edit", "HEAD"]);
        let git_message = {
            fx.git(&["revert", "--no-edit", "HEAD"]);
            let m = fx.git(&["log", "-1", "--format=%B"]);
            fx.git(&["reset", "-q", "--hard", "HEAD~1"]);
            m
        };
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let outcome = repo.revert(&options("HEAD")).unwrap();
        // git log adds one newline after the message.
        assert_eq!(format!("{}\n", outcome.message), git_message);
        assert!(outcome.message.starts_with("Reapply \"a is 2\""));
        assert_eq!(fx.git(&["status", "--porcelain"]), "");
        assert_eq!(fx.git(&["show", "HEAD:a.yaml"]), "a: 2\n");
    }

    #[test]
    fn outcome_lists_files_and_the_new_commit() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", "a: 1\n");
        fx.write("b.yaml", "b: 1\n");
        fx.commit("first");
        fx.write("a.yaml", "a: 2\n");
        fx.write("c/d.yaml", "d: 1\n");
        std::fs::remove_file(fx.dir().join("b.yaml")).unwrap();
        let target = fx.commit("second");
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let outcome = repo.revert(&options("HEAD")).unwrap();
        assert_eq!(outcome.reverted.id, target);
        assert_eq!(outcome.branch, "main");
        let new = outcome.commit.unwrap();
        assert_eq!(new.id, fx.rev_parse("HEAD"));
        assert_eq!(new.summary, "Revert \"second\"");
        assert_eq!(outcome.tree.to_string(), fx.rev_parse("HEAD^{tree}"));
        assert_eq!(outcome.tree.to_string(), fx.rev_parse("HEAD~2^{tree}"));
        let files: Vec<(&str, FileChange)> = outcome
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.change))
            .collect();
        assert_eq!(
            files,
            [
                ("a.yaml", FileChange::Modified),
                ("b.yaml", FileChange::Added),
                ("c/d.yaml", FileChange::Removed),
            ]
        );
        assert!(!fx.dir().join("c").exists());
        assert_eq!(fx.git(&["status", "--porcelain"]), "");
    }

    #[test]
    fn mode_merges_three_way_across_a_rename() {
        // The reverted commit renamed an executable file; HEAD later dropped the bit. git keeps
        // HEAD's change of mode at the restored name.
        use std::os::unix::fs::PermissionsExt;
        let fx = FixtureRepo::new();
        let lines: String = (0..20).map(|i| format!("k{i}: v\n")).collect();
        fx.write("old/run.yaml", &lines);
        let path = fx.dir().join("old/run.yaml");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        fx.commit("add");
        std::fs::create_dir(fx.dir().join("new")).unwrap();
        fx.git(&["mv", "old/run.yaml", "new/run.yaml"]);
        fx.write("new/run.yaml", &format!("{lines}extra: 1\n"));
        fx.commit("rename");
        let moved = fx.dir().join("new/run.yaml");
        std::fs::set_permissions(&moved, std::fs::Permissions::from_mode(0o644)).unwrap();
        fx.commit("not executable");
        let oracle = tempfile::tempdir().unwrap();
        let oracle_dir = oracle.path().join("w");
        fx.git(&["clone", "-q", ".", oracle_dir.to_str().unwrap()]);
        let git = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=A",
                "-c",
                "user.email=a@x",
                "revert",
                "--no-edit",
            ])
            .arg("HEAD~1")
            .current_dir(&oracle_dir)
            .output()
            .unwrap();
        assert!(git.status.success(), "{git:?}");
        let git_tree = std::process::Command::new("git")
            .args(["rev-parse", "HEAD^{tree}"])
            .current_dir(&oracle_dir)
            .output()
            .unwrap();
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let outcome = repo.revert(&options("HEAD~1")).unwrap();
        assert_eq!(
            outcome.tree.to_string(),
            String::from_utf8_lossy(&git_tree.stdout).trim()
        );
        let mode = std::fs::metadata(fx.dir().join("old/run.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0, "{mode:o}");
        assert_eq!(fx.git(&["status", "--porcelain"]), "");
    }

    /// Loose objects and packs under `.git/objects`.
    fn object_files(dir: &Path) -> usize {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| {
                    let p = e.unwrap().path();
                    if p.is_dir() { count(&p) } else { 1 }
                })
                .sum()
        }
        count(&dir.join(".git/objects"))
    }

    #[test]
    fn conflicts_write_no_objects_and_name_the_paths() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", "a: 1\n");
        fx.write("b.yaml", "b: 1\n");
        fx.commit("first");
        fx.write("a.yaml", "a: 2\n");
        fx.write("b.yaml", "b: 2\n");
        fx.commit("second");
        fx.write("a.yaml", "a: 3\n");
        fx.commit("third");
        let before = object_files(fx.dir());
        let repo = EnvRepo::open(fx.dir()).unwrap();
        let err = repo.revert(&options("HEAD~1")).unwrap_err();
        match &err {
            RevertError::Conflicts { paths, .. } => assert_eq!(paths, &["a.yaml"]),
            other => panic!("{other}"),
        }
        assert_eq!(object_files(fx.dir()), before);
        assert_eq!(fx.rev_parse("HEAD"), fx.rev_parse("main"));
        assert_eq!(fx.git(&["status", "--porcelain"]), "");
    }

    #[test]
    fn bare_and_unborn_are_refused() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", "a: 1\n");
        fx.commit("first");
        let bare = fx.bare_clone("env.git");
        let err = EnvRepo::open(&bare)
            .unwrap()
            .revert(&options("HEAD"))
            .unwrap_err();
        assert!(matches!(err, RevertError::Bare { .. }), "{err}");
        assert!(err.to_string().contains("needs a work tree"), "{err}");
        fx.git(&["checkout", "-q", "--orphan", "fresh"]);
        let err = EnvRepo::open(fx.dir())
            .unwrap()
            .revert(&options("main"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "branch fresh has no commits yet: there is nothing to revert on it"
        );
    }

    #[test]
    fn short_ids_and_subjects() {
        let c = id("0123456789abcdef0123456789abcdef01234567");
        assert_eq!(short_id(c), "0123456");
        assert_eq!(first_line(b"\nsubject\nmore\n"), "subject");
        assert_eq!(first_line(b""), "");
    }
}
