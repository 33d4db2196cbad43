//! The on-disk caches of history: render errors per commit, and changes per commit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{ChangeKind, ResourceChange};
use gitops_git::{EnvRepo, ObjectId};
use gitops_render::{RenderOptions, render};
use k8s_model::{CommitInfo, ResourceId};

/// The render errors of the environment at `tip`, as messages: `rendered` when the walk
/// rendered it, else rendered here. A commit's render never changes, so they are kept per
/// commit under `<git-dir>/kubectl-gitops/render-errors-v1/<hex path>/<namespace>/<sha>` (a
/// JSON array): a run answered from the caches renders nothing. Not kept when the render read
/// outside git ([`super::depends_on_git_only`]).
pub(super) fn tip_render_errors(
    repo: &EnvRepo,
    tip: ObjectId,
    opts: &RenderOptions,
    git_dir: Option<&std::path::Path>,
    rendered: Option<Vec<String>>,
) -> Vec<String> {
    let file = git_dir.map(|dir| settings_dir(dir, "render-errors-v1", opts).join(tip.to_string()));
    let errors = match rendered {
        Some(errors) => errors,
        None => {
            if let Some(known) = file
                .as_ref()
                .and_then(|f| std::fs::read(f).ok())
                .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok())
            {
                return known;
            }
            match render(repo, tip, opts) {
                Ok(rendered) => rendered.errors.iter().map(ToString::to_string).collect(),
                Err(error) => whole_render_errors(&error),
            }
        }
    };
    if let Some(file) = file.filter(|_| super::depends_on_git_only(opts)) {
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&file, serde_json::to_vec(&errors).unwrap_or_default()));
        if let Err(error) = written {
            tracing::debug!(file = %file.display(), %error, "render errors not cached");
        }
    }
    errors
}

/// What a failed render of the whole environment at `--rev` says about it: an invalid config
/// file is an error; a path that no longer exists there is not (its history is still history,
/// as `git log -- <gone path>` has it).
pub(super) fn whole_render_errors(error: &gitops_render::RenderFailure) -> Vec<String> {
    match error {
        gitops_render::RenderFailure::Config(_) => vec![error.to_string()],
        gitops_render::RenderFailure::Repo(error) => {
            tracing::debug!(%error, "the environment does not render at --rev");
            Vec::new()
        }
    }
}

/// `<git-dir>/kubectl-gitops/<what>/<hex path or "root">/<hex namespace>/<tools>`: where a
/// cache keyed by the render settings lives. `<tools>` fingerprints the kubectl and helm that
/// render units ([`gitops_render::tools_fingerprint`]): another kustomize or helm, or one
/// installed or removed, may render the same inputs differently.
pub(crate) fn settings_dir(git_dir: &std::path::Path, what: &str, opts: &RenderOptions) -> PathBuf {
    let hex = |s: &str| -> String { s.bytes().map(|b| format!("{b:02x}")).collect() };
    let path = gitops_git::normalize_path(&opts.path);
    let mut dir = git_dir.join("kubectl-gitops").join(what);
    if let Some(shallow) = gitops_git::shallow_key(git_dir) {
        dir.push(shallow);
    }
    dir.join(if path.is_empty() {
        "root".to_owned()
    } else {
        hex(&path)
    })
    .join(hex(&opts.default_namespace))
    .join(gitops_render::tools_fingerprint(opts))
}

/// A commit whose changes are known: computed by this run or read from the changes cache.
pub(super) struct KnownCommit {
    /// What the output shows of the commit (kept so a cached run reads no commit object).
    pub(super) info: CommitInfo,
    pub(super) changes: Vec<ResourceChange>,
}

/// Each commit's metadata and resource changes (identity, apiVersion, change, file; no
/// objects) under one path and render settings, in
/// `<git-dir>/kubectl-gitops/changes-v2/<hex path>/<namespace>`: one line per commit,
/// `<sha> <json>`, appended by each run for the commits it computed. A commit's changes never
/// change (its tree and its parent's are fixed), so entries never go stale; a line that does
/// not parse is skipped, and so is a commit whose cached identities disagree with this run's
/// kind scopes (an offline run's built-in table against discovery, or discovery changed): it
/// is computed again and appended. (v1 lacked the commit metadata.)
pub(super) struct ChangesCache {
    pub(super) file: PathBuf,
}

/// One line of the changes cache, after the sha.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedCommit {
    /// The commit as the output shows it.
    c: CommitInfo,
    /// Its changes.
    r: Vec<CachedChange>,
}

/// [`CachedCommit`] borrowed, to write it.
#[derive(serde::Serialize)]
struct CachedCommitRef<'a> {
    c: &'a CommitInfo,
    r: Vec<CachedChangeRef<'a>>,
}

/// [`CachedChange`] borrowed.
type CachedChangeRef<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

impl ChangesCache {
    pub(super) fn new(git_dir: &std::path::Path, opts: &RenderOptions) -> ChangesCache {
        ChangesCache {
            file: settings_dir(git_dir, "changes-v2", opts),
        }
    }

    /// The cached lines by commit, parsed when taken ([`CachedCommits::remove`]).
    pub(super) fn read(&self, opts: &RenderOptions) -> CachedCommits {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let mut lines: HashMap<ObjectId, Vec<std::ops::Range<usize>>> = HashMap::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let range = start..start + line.len();
            start = range.end;
            if let Some(commit) = line
                .split_once(' ')
                .and_then(|(sha, _)| ObjectId::from_hex(sha.as_bytes()).ok())
            {
                lines.entry(commit).or_default().push(range);
            }
        }
        CachedCommits {
            text,
            lines,
            scope: Arc::clone(&opts.scope),
            scopes: HashMap::new(),
            file: self.file.clone(),
        }
    }

    /// Appends the computed commits in one write; failures are logged, never errors.
    #[cfg(test)]
    pub(super) fn append(&self, computed: &[(ObjectId, KnownCommit)]) {
        let mut text = Vec::new();
        for (commit, known) in computed {
            ChangesCache::line(*commit, &known.info, &known.changes, &mut text);
        }
        self.write(&text);
    }

    /// Adds the cache line of `commit` to `out` ([`CachedCommit`], borrowed: nothing cloned).
    pub(super) fn line(
        commit: ObjectId,
        info: &CommitInfo,
        changes: &[ResourceChange],
        out: &mut Vec<u8>,
    ) {
        use std::io::Write as _;
        let line = CachedCommitRef {
            c: info,
            r: changes
                .iter()
                .map(|c| {
                    (
                        c.id.group.as_str(),
                        c.id.kind.as_str(),
                        c.id.namespace.as_deref(),
                        c.id.name.as_str(),
                        c.api_version.as_str(),
                        c.change.name(),
                        c.file.as_str(),
                    )
                })
                .collect(),
        };
        let start = out.len();
        let written = write!(out, "{commit} ")
            .map_err(serde_json::Error::io)
            .and_then(|()| serde_json::to_writer(&mut *out, &line))
            .map(|()| out.push(b'\n'));
        if written.is_err() {
            out.truncate(start);
        }
    }

    /// Appends `text` (cache lines) in one write; failures are logged, never errors.
    pub(super) fn write(&self, text: &[u8]) {
        use std::io::Write as _;
        if text.is_empty() {
            return;
        }
        let written = self
            .file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.file)
            })
            .and_then(|mut file| file.write_all(text));
        if let Err(error) = written {
            tracing::debug!(file = %self.file.display(), %error, "changes cache not written");
        }
    }
}

/// The changes cache's lines by commit, each parsed only when its commit is taken: a walk
/// that stops early (`lastCommit`, `--limit`) parses the lines of the commits it reaches. A
/// line that does not parse is skipped, and so is one whose identities disagree with this
/// run's kind scopes; of a commit's lines the last that holds wins.
pub(super) struct CachedCommits {
    text: String,
    lines: HashMap<ObjectId, Vec<std::ops::Range<usize>>>,
    scope: gitops_render::ScopeLookup,
    /// Scopes asked once per kind: the same few kinds recur on every line.
    scopes: HashMap<(String, String), Option<bool>>,
    file: PathBuf,
}

impl CachedCommits {
    /// The commits with lines (some may not hold).
    pub(super) fn keys(&self) -> impl Iterator<Item = &ObjectId> {
        self.lines.keys()
    }

    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// The cached changes of `commit`, taken out.
    pub(super) fn remove(&mut self, commit: &ObjectId) -> Option<KnownCommit> {
        let ranges = self.lines.remove(commit)?;
        ranges
            .into_iter()
            .rev()
            .find_map(|range| self.parse_line(*commit, range))
    }

    /// Every commit that holds, parsed.
    #[cfg(test)]
    pub(super) fn parsed(mut self) -> HashMap<ObjectId, KnownCommit> {
        let commits: Vec<ObjectId> = self.lines.keys().copied().collect();
        commits
            .into_iter()
            .filter_map(|c| Some((c, self.remove(&c)?)))
            .collect()
    }

    fn parse_line(
        &mut self,
        commit: ObjectId,
        range: std::ops::Range<usize>,
    ) -> Option<KnownCommit> {
        let line = self.text[range].trim_end_matches('\n');
        let (sha, json) = line.split_once(' ')?;
        let cached = serde_json::from_str::<CachedCommit>(json).ok()?;
        if cached.c.id != sha {
            return None;
        }
        let mut changes = Vec::with_capacity(cached.r.len());
        for row in cached.r {
            let scope = *self
                .scopes
                .entry((row.0.clone(), row.1.clone()))
                .or_insert_with(|| (self.scope)(&row.0, &row.1));
            let scope_agrees = match scope {
                Some(true) => row.2.is_some(),
                Some(false) => row.2.is_none(),
                None => true,
            };
            // Written where a kind had another scope (offline, the built-in table; online,
            // discovery): computed again and appended.
            if !scope_agrees {
                tracing::debug!(file = %self.file.display(), %commit, "cached changes from other kind scopes; ignored");
                return None;
            }
            let change = match row.5.as_str() {
                "added" => ChangeKind::Added,
                "modified" => ChangeKind::Modified,
                "removed" => ChangeKind::Removed,
                _ => continue,
            };
            changes.push(ResourceChange {
                id: ResourceId {
                    group: row.0,
                    kind: row.1,
                    namespace: row.2,
                    name: row.3,
                },
                api_version: row.4,
                change,
                before: None,
                after: None,
                file: row.6,
            });
        }
        Some(KnownCommit {
            info: cached.c,
            changes,
        })
    }
}

/// A cached change: group, kind, namespace, name, apiVersion, change, file.
type CachedChange = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
);
