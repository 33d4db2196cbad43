//! The persistent walk cache: what a walk found, kept under the git dir by (tip, path).

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::ObjectId;

/// One stored walk: the changed commits from a tip down to `resume` (exclusive; `None`: the
/// whole history).
pub(super) struct CacheEntry {
    pub(super) commits: Vec<ObjectId>,
    pub(super) resume: Option<ObjectId>,
}

/// The cache directory of one path.
pub(super) struct WalkCache {
    dir: PathBuf,
    path: String,
}

const CACHE_HEADER: &str = "kubectl-gitops history-v1";
/// Entries kept per path; the oldest beyond it are removed after a write.
const CACHE_ENTRIES_PER_PATH: usize = 32;

impl WalkCache {
    pub(super) fn new(git_dir: &Path, path: &str) -> WalkCache {
        // Hex of the path: unique, and safe as a file name whatever the path holds.
        let key: String = if path.is_empty() {
            "root".to_owned()
        } else {
            path.bytes().map(|b| format!("{b:02x}")).collect()
        };
        let mut dir = git_dir.join("kubectl-gitops").join("history-v1");
        if let Some(shallow) = crate::shallow_key(git_dir) {
            dir.push(shallow);
        }
        WalkCache {
            dir: dir.join(key),
            path: path.to_owned(),
        }
    }

    pub(super) fn tips(&self) -> HashSet<ObjectId> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return HashSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| ObjectId::from_hex(e.file_name().to_str()?.as_bytes()).ok())
            .collect()
    }

    pub(super) fn read(&self, tip: ObjectId) -> Option<CacheEntry> {
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
    pub(super) fn write(
        &self,
        tip: ObjectId,
        resume: Option<ObjectId>,
        commits: &[ObjectId],
    ) -> bool {
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
