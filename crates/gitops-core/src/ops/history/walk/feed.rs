//! The threads that walk the commits and read the changed files ahead of the comparing one.

use std::collections::HashSet;
use std::sync::Arc;

use super::{LINE_INDEXES_KEPT, Stages};
use gitops_git::history::{HistoryError, PathWalk, WalkObjects, WalkStats, WalkedCommit};
use gitops_git::{EnvRepo, ObjectId};
use gitops_render::documents::Format;
use gitops_render::node_diff::LineIndex;
use gitops_render::scalar_diff::scalar_changes;

/// Changed commits a thread may hand on ahead of the next one: more than a walk batch finds
/// (so the stages overlap), few enough that the files read ahead stay a few MB.
const WALK_QUEUE: usize = 1024;

/// Changed commits whose files the reading thread may hold ahead of the one computing
/// changes: enough to keep both busy, few enough that it reads little a caller stopping
/// early (`--limit`, `lastCommit`) never uses, and holds little (a commit of large files
/// holds MBs).
const READ_QUEUE: usize = 16;

/// A commit from the feed, with what the reading thread prepared for the files it read ahead
/// (nothing from a two-stage feed).
type Fed = (WalkedCommit, Prepared);

/// What the reading thread prepared for the comparing one, from the versions of a commit's
/// changed files, while it is ahead: the work on file texts alone.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    /// Line indexes of versions whose change adds or removes lines.
    pub(super) indexes: Vec<(ObjectId, Arc<LineIndex>)>,
    /// [`scalar_changes`] of the versions of changed files.
    pub(super) scalar: Vec<(VersionPair, Option<Vec<usize>>)>,
}

/// A changed file's versions: before, after.
type VersionPair = (ObjectId, ObjectId);

/// The path walk ([`PathWalk`]) on its own thread, and with [`Stages::Three`] a second one
/// diffing each changed commit and reading its changed files: reading commits, trees and files
/// overlaps computing the changes, on as many cores as there are.
pub(super) struct WalkFeed {
    rx: Option<std::sync::mpsc::Receiver<Result<Fed, HistoryError>>>,
    /// Commits the reading thread has handed on and the comparing one not yet taken.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    walk: Option<std::thread::JoinHandle<WalkStats>>,
    reader: Option<std::thread::JoinHandle<()>>,
    stats: Option<WalkStats>,
}

impl WalkFeed {
    pub(super) fn start(
        repo: &EnvRepo,
        tip: ObjectId,
        inputs: Vec<String>,
        use_cache: bool,
        stages: Stages,
        known: Arc<HashSet<ObjectId>>,
    ) -> Result<WalkFeed, HistoryError> {
        let path = inputs.first().cloned().unwrap_or_default();
        let (walked_tx, walked_rx) = std::sync::mpsc::sync_channel(WALK_QUEUE);
        let (read_tx, read_rx) = std::sync::mpsc::sync_channel(READ_QUEUE);
        let walk_repo = repo.clone();
        let walk = std::thread::Builder::new()
            .name("history-walk".into())
            .spawn(move || walk_commits(&walk_repo, tip, &inputs, use_cache, walked_tx))
            .map_err(thread_error)?;
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        if stages == Stages::Two {
            return Ok(WalkFeed {
                rx: Some(walked_rx),
                queued,
                walk: Some(walk),
                reader: None,
                stats: None,
            });
        }
        let reader = Reader {
            repo: repo.clone(),
            path: gitops_git::normalize_path(&path),
            known,
            ahead: Arc::clone(&queued),
        };
        let reader = std::thread::Builder::new()
            .name("history-read".into())
            .spawn(move || reader.run(walked_rx, read_tx))
            .map_err(thread_error)?;
        Ok(WalkFeed {
            rx: Some(read_rx),
            queued,
            walk: Some(walk),
            reader: Some(reader),
            stats: None,
        })
    }

    /// The next changed commit; `None` when the walk is done.
    pub(super) fn next(&mut self) -> Option<Result<Fed, HistoryError>> {
        match self.rx.as_ref()?.recv() {
            Ok(walked) => {
                // Saturating: a two-stage feed counts nothing.
                let _ = self.queued.fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| n.checked_sub(1),
                );
                Some(walked)
            }
            Err(_) => {
                self.rx = None;
                // The walk ended: it finished, or a thread panicked.
                match self.join() {
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            }
        }
    }

    fn join(&mut self) -> Result<WalkStats, HistoryError> {
        if let Some(stats) = self.stats {
            return Ok(stats);
        }
        if let Some(reader) = self.reader.take() {
            reader
                .join()
                .map_err(|_| HistoryError::Interrupted("file reading"))?;
        }
        let Some(walk) = self.walk.take() else {
            return Ok(WalkStats::default());
        };
        let stats = walk.join().map_err(|_| HistoryError::Interrupted("walk"))?;
        self.stats = Some(stats);
        Ok(stats)
    }

    /// Stops the walk (when it is still going) and returns its cost once its thread has
    /// written the cache entry.
    pub(super) fn finish(mut self) -> Result<WalkStats, HistoryError> {
        // Dropping the receiver stops the threads at their next send.
        self.rx = None;
        self.join()
    }
}

/// A thread of the feed that could not be started.
fn thread_error(e: std::io::Error) -> HistoryError {
    HistoryError::Spawn(e)
}

/// What one thread of the feed hands the next.
type FeedSender = std::sync::mpsc::SyncSender<Result<Fed, HistoryError>>;

/// The walk thread: hands on each commit the path walk finds until the walk ends or fails,
/// or the receiver hangs up; returns the walk's cost.
fn walk_commits(
    repo: &EnvRepo,
    tip: ObjectId,
    inputs: &[String],
    use_cache: bool,
    walked_tx: FeedSender,
) -> WalkStats {
    let mut walk = match PathWalk::over_inputs(repo, tip, inputs, use_cache) {
        Ok(walk) => walk,
        Err(e) => {
            let _ = walked_tx.send(Err(e));
            return WalkStats::default();
        }
    };
    while let Some(walked) = walk.next_walked() {
        let failed = walked.is_err();
        // A closed channel: the caller took what it needed.
        if walked_tx
            .send(walked.map(|w| (w, Prepared::default())))
            .is_err()
            || failed
        {
            break;
        }
    }
    walk.finish()
}

/// The reading thread of a three-stage feed.
struct Reader {
    repo: EnvRepo,
    /// `--path`, normalized.
    path: String,
    /// Commits whose changes the caller has: their files are not read ahead.
    known: Arc<HashSet<ObjectId>>,
    /// Commits handed on and not yet taken by the comparing thread.
    ahead: Arc<std::sync::atomic::AtomicUsize>,
}

impl Reader {
    /// Reads each commit's changed files and prepares their comparison, handing the commits
    /// on in order, until either side hangs up.
    fn run(
        self,
        walked_rx: std::sync::mpsc::Receiver<Result<Fed, HistoryError>>,
        read_tx: FeedSender,
    ) {
        let objects = WalkObjects::new(&self.repo);
        let manifest = |file: &str| {
            Format::of(file).is_some() && !file.rsplit('/').next().unwrap_or(file).starts_with('.')
        };
        // The line indexes of the last blobs indexed: a version is the newer side of one
        // commit's change after being the older side of the next one's.
        let mut indexed: std::collections::VecDeque<(ObjectId, Arc<LineIndex>)> =
            std::collections::VecDeque::new();
        for mut fed in walked_rx {
            if let Ok((walked, prepared)) = &mut fed
                && !self.known.contains(&walked.id)
            {
                walked.read_ahead(&objects, &self.path, manifest);
                self.prepare(walked, prepared, &mut indexed);
            }
            self.ahead
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if read_tx.send(fed).is_err() {
                break;
            }
        }
    }

    /// Each changed file's scalar changes, and for those that have none (lines added or
    /// removed: the comparison proves them by nodes, `changed_documents_indexed`) both
    /// versions' line indexes: done here, off the comparing thread. Only while this thread is
    /// ahead: when the comparing thread waits for files, reading them is the walk's critical
    /// path, and that thread does this work itself.
    fn prepare(
        &self,
        walked: &WalkedCommit,
        prepared: &mut Prepared,
        indexed: &mut std::collections::VecDeque<(ObjectId, Arc<LineIndex>)>,
    ) {
        let ahead = self.ahead.load(std::sync::atomic::Ordering::Relaxed);
        for diff in walked.diffs.iter().flatten() {
            if ahead < READ_QUEUE / 4 {
                break;
            }
            let (Some(before), Some(after)) = (diff.before, diff.after) else {
                continue;
            };
            let (Some(old), Some(new)) = (walked.blob(before), walked.blob(after)) else {
                continue;
            };
            let scalar = scalar_changes(old, new);
            let proven = scalar.is_some();
            prepared.scalar.push(((before, after), scalar));
            if proven {
                continue;
            }
            // The newer version first: the older one's index is derived from it.
            let mut newer: Option<Arc<LineIndex>> = None;
            for (blob, bytes) in [(after, new), (before, old)] {
                if let Some((_, index)) = indexed.iter().find(|(b, _)| *b == blob) {
                    newer = Some(Arc::clone(index));
                    continue;
                }
                let index = match &newer {
                    Some(from) => LineIndex::derived_with_parents((new, from), bytes),
                    None => LineIndex::with_parents(bytes),
                };
                let Some(index) = index.map(Arc::new) else {
                    break;
                };
                if indexed.len() == LINE_INDEXES_KEPT {
                    indexed.pop_front();
                }
                indexed.push_back((blob, Arc::clone(&index)));
                prepared.indexes.push((blob, Arc::clone(&index)));
                newer = Some(index);
            }
        }
    }
}
