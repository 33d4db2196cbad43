//! `diff --from REV [--rev REV2]` (SPEC §5): the environment rendered at two commits, compared
//! resource by resource, with no cluster. Each commit is rendered as `status` renders it (the
//! same [`render`] path and options, so every unit kind `gitops-render` knows takes part), the
//! resources are paired by identity, and each pair goes through the drift engine's comparison
//! ([`prepare_objects`]: normalized, Secrets masked together with distinct masks; then the full
//! field comparison), `--from` on the `live` side of each change and `--rev` on the `desired`
//! side.
//!
//! A unit that fails to render at either commit is reported; its resources are left out of the
//! comparison on both sides (they would otherwise show as added or removed), the rest is
//! compared, and the exit code says error.
//!
//! Comparisons are kept under the git dir ([`kept`]): a commit's index (each resource's
//! identity and object digest) and each pair's changes and hunks, content-addressed. A
//! comparison whose two indexes and differing pairs are all kept is read back without
//! rendering; any miss renders the sides it needs, as without them
//! ([`RevisionDiffOptions::cache`] off is that plain way, and must give the same answer).

mod kept;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::Target;
use crate::diff::{Hunk, hunks};
use crate::drift::changes::{any_change, full_changes};
use crate::drift::merge_key::ListKeys;
use crate::drift::yaml_out::Scalars;
use crate::drift::{Change, DriftError, prepare_objects_cow, to_yaml_with};
use crate::ops::history::{ChangeKind, change_order};
use crate::ops::status::{ResourceFilter, StatusError, resolve_resource_arg};
use gitops_git::{EnvRepo, ObjectId, RepoError};
use gitops_render::{RenderCache, RenderError, RenderFailure, RenderOptions, Rendered, render};
use k8s_model::path::FieldPath;
use k8s_model::{CommitInfo, ResourceId, Source};

/// What to compare: the environment (`target.rev` is the newer side, `--rev`) and `--from`.
#[derive(Debug, Clone)]
pub struct RevisionDiffOptions {
    /// The environment; its `rev` is the side the changes lead to.
    pub target: Target,
    /// `--from`: the side the changes start from.
    pub from: String,
    /// RESOURCE arguments (`deploy/web`, `cm`); empty for all.
    pub resources: Vec<String>,
    /// Which texts each resource carries besides its field changes.
    pub texts: Texts,
    /// Keep renders and comparisons under the git dir and read them back ([`kept`]); off,
    /// nothing is read or written there (the plain way, for tests and for doubt).
    pub cache: bool,
}

/// The texts a [`ResourceRevisionDiff`] carries: the JSON, YAML and porcelain outputs need
/// none, and writing a large CRD as YAML costs more than comparing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texts {
    /// Field changes only.
    None,
    /// The unified hunks at this many lines of context (`hunks`) instead of the field changes
    /// (`changes` is left empty): plain text and Markdown. They are kept apart from the
    /// changes, so a warm run reads them back alone.
    Hunks(usize),
    /// Both objects as YAML (`from_yaml`, `rev_yaml`): the UI, coloured (syntax highlighted)
    /// and side-by-side text.
    Full,
}

/// One resource that differs between the two commits.
#[derive(Debug, Clone)]
pub struct ResourceRevisionDiff {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion` at `--rev` (at `--from` when removed).
    pub api_version: String,
    /// Added (only at `--rev`), modified, or removed (only at `--from`).
    pub change: ChangeKind,
    /// Field changes `--from` → `--rev`: `live` is the `--from` value, `desired` the `--rev`
    /// one; one whole-object change at the root path for added and removed resources. Empty
    /// with [`Texts::Hunks`].
    pub changes: Vec<Change>,
    /// Where the resource is at `--rev` (at `--from` when removed).
    pub source: Source,
    /// The object at `--from`, normalized and masked, as YAML; empty when added or unless
    /// [`RevisionDiffOptions::texts`] is [`Texts::Full`].
    pub from_yaml: String,
    /// The object at `--rev`, normalized and masked, as YAML; empty when removed or unless
    /// [`RevisionDiffOptions::texts`] is [`Texts::Full`].
    pub rev_yaml: String,
    /// With [`Texts::Hunks`]: the unified hunks from `from_yaml` to `rev_yaml` (which are then
    /// left empty).
    pub hunks: Option<Vec<Hunk>>,
}

/// The `Diff` report of two commits.
#[derive(Debug, Clone)]
pub struct RevisionDiff {
    /// `--from`, resolved.
    pub from: CommitInfo,
    /// `--rev`, resolved.
    pub revision: CommitInfo,
    /// `--path`, normalized.
    pub path: String,
    /// The resources that differ, by kind, namespace, name, group.
    pub resources: Vec<ResourceRevisionDiff>,
    /// Files or units that did not render at either commit (`<short sha>: file:line: message`);
    /// they make the exit code 2.
    pub render_errors: Vec<String>,
    /// Files skipped with a reason (symlinks), for stderr.
    pub warnings: Vec<String>,
    /// How many commits were rendered: 0 when both commits' indexes and every differing
    /// pair were read back from what an earlier run kept.
    pub renders: usize,
}

impl RevisionDiff {
    /// How many resources were added, modified and removed.
    pub fn counts(&self) -> BTreeMap<ChangeKind, usize> {
        let mut counts = BTreeMap::new();
        for kind in [ChangeKind::Added, ChangeKind::Modified, ChangeKind::Removed] {
            counts.insert(kind, 0);
        }
        for r in &self.resources {
            *counts.entry(r.change).or_insert(0) += 1;
        }
        counts
    }

    /// SPEC §5: 2 when a unit failed to render, 1 when anything differs, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.render_errors.is_empty() {
            2
        } else if !self.resources.is_empty() {
            1
        } else {
            0
        }
    }
}

/// Errors that stop the comparison as a whole.
#[derive(Debug, thiserror::Error)]
pub enum RevisionDiffError {
    /// The repository could not be opened.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// `--from` or `--rev` names no commit.
    #[error(
        "{flag} {rev:?}: {source}; give a commit, branch or tag the repo has (git log lists them)"
    )]
    Revision {
        /// `--from` or `--rev`.
        flag: &'static str,
        /// The revision as given.
        rev: String,
        /// Why it could not be resolved.
        #[source]
        source: RepoError,
    },
    /// The environment could not be rendered at all at a commit (bad `--path`, invalid config).
    #[error("cannot render the environment at {flag} {rev}: {source}")]
    Render {
        /// `--from` or `--rev`.
        flag: &'static str,
        /// The revision as given.
        rev: String,
        /// What failed.
        #[source]
        source: RenderFailure,
    },
    /// A RESOURCE argument that names no kind or is malformed.
    #[error(transparent)]
    Resource(#[from] StatusError),
    /// An object that could not be shown as YAML.
    #[error("{resource}: {source}")]
    Object {
        /// The resource.
        resource: String,
        /// What failed.
        #[source]
        source: DriftError,
    },
}

/// Compares the environment at `opts.from` with it at `opts.target.rev` (SPEC §5 `diff --from`).
pub async fn diff_revisions(opts: &RevisionDiffOptions) -> Result<RevisionDiff, RevisionDiffError> {
    let filters = opts
        .resources
        .iter()
        .map(|arg| resolve_resource_arg(arg, opts.target.namespace.as_deref(), None))
        .collect::<Result<Vec<_>, _>>()?;
    let mut render_opts = opts.target.render_options(None).await;
    let repo = EnvRepo::open(&opts.target.repo)?;
    render_opts.cache = if opts.cache {
        RenderCache::on_disk(&repo.git_dir())
    } else {
        RenderCache::uncached()
    };
    let kept = opts
        .cache
        .then(|| kept::Kept::new(&repo.git_dir(), &render_opts));
    let resolve =
        |flag: &'static str, rev: &str| -> Result<(ObjectId, CommitInfo), RevisionDiffError> {
            let revision_error = |source| RevisionDiffError::Revision {
                flag,
                rev: rev.to_owned(),
                source,
            };
            let id = repo.resolve(rev).map_err(revision_error)?;
            let info = repo.commit_info(id).map_err(revision_error)?;
            Ok((id, info))
        };
    let (from_id, from) = resolve("--from", &opts.from)?;
    let (rev_id, revision) = resolve("--rev", &opts.target.rev)?;
    let path = opts.target.env_path();
    let flags = [
        ("--from", opts.from.as_str()),
        ("--rev", opts.target.rev.as_str()),
    ];
    let commits = [from_id, rev_id];

    // Each side from its kept index when there is one (objects read only if a pair needs
    // them); the full texts are never kept.
    let mut sides: [Option<Side>; 2] = [None, None];
    let mut renders = 0;
    if let Some(kept) = kept.as_ref().filter(|_| opts.texts != Texts::Full) {
        for (side, commit) in sides.iter_mut().zip(commits) {
            *side = kept.index(commit).map(Side::indexed);
        }
    }
    loop {
        let mut given_away = false;
        if let [Some(from_side), Some(rev_side)] = &mut sides {
            // Rendered sides are compared once (they hold every object): their entries are
            // given to the comparison, which prepares the objects in place instead of
            // copying them.
            let give = from_side.rendered && rev_side.rendered;
            let failed: Vec<&RenderError> =
                from_side.errors.iter().chain(&rev_side.errors).collect();
            let before = selected(&mut from_side.entries, give, &filters, &failed);
            let after = selected(&mut rev_side.entries, give, &filters, &failed);
            given_away = give;
            if let Some(resources) = compare(before, after, opts.texts, kept.as_ref(), give)? {
                let mut render_errors = Vec::new();
                let mut warnings = Vec::new();
                for (side, info) in [(from_side, &from), (rev_side, &revision)] {
                    let short = k8s_model::short_sha(&info.id);
                    render_errors.extend(side.errors.iter().map(|e| format!("at {short}: {e}")));
                    warnings.extend(side.warnings.iter().map(|w| format!("at {short}: {w}")));
                }
                tracing::info!(
                    renders,
                    parses = render_opts.cache.parse_count(),
                    builds = render_opts.cache.build_count(),
                    "revisions compared"
                );
                return Ok(RevisionDiff {
                    from,
                    revision,
                    path,
                    resources,
                    render_errors,
                    warnings,
                    renders,
                });
            }
        }
        // Never so (a comparison of rendered sides completes); should it be, both sides are
        // rendered again rather than compared without the entries they gave.
        debug_assert!(
            !given_away,
            "a comparison of rendered sides did not complete"
        );
        if given_away {
            sides = [None, None];
        }
        // Render the sides whose objects are not at hand (both at once: two cores).
        let wanted = sides
            .each_ref()
            .map(|side| side.as_ref().is_none_or(|side| !side.rendered));
        // Rendered sides hold every object: a comparison of them always completes.
        debug_assert!(wanted.contains(&true));
        // Each side digested on its render's thread, as soon as it is rendered.
        let results = render_sides(&repo, commits, wanted, &render_opts, |result| {
            result.map(|rendered| {
                let (mut side, fixed) = Side::rendered(rendered);
                if kept.is_some() {
                    side.digest_all();
                }
                (side, fixed)
            })
        });
        renders += wanted.iter().filter(|&&w| w).count();
        // A side at hand (indexed or rendered) had the environment's directory.
        let missing_ok =
            results.iter().flatten().any(Result::is_ok) || sides.iter().any(Option::is_some);
        let mut rendered = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            if let Some(result) = result {
                let (side, fixed) = Side::of(flags[i], result, &path, missing_ok)?;
                rendered.push((i, side, fixed));
            }
        }
        for (i, side, fixed) in rendered {
            if fixed && let Some(kept) = &kept {
                kept.keep_index(commits[i], &side.index());
            }
            sides[i] = Some(side);
        }
    }
}

/// One resource of a side: from a render (with its object) or a kept index (without).
#[derive(Debug, Clone)]
struct Entry {
    id: ResourceId,
    api_version: String,
    source: Source,
    /// The object's digest ([`kept::digest`]); `None` when nothing is kept.
    digest: Option<String>,
    object: Option<Value>,
}

/// What one commit's render gave.
struct Side {
    entries: Vec<Entry>,
    errors: Vec<RenderError>,
    warnings: Vec<String>,
    /// Whether the objects are at hand (rendered, not read from an index).
    rendered: bool,
}

impl Side {
    /// A rendered side, and whether its index may be kept
    /// ([`gitops_render::Rendered::fixed`]).
    fn rendered(rendered: Rendered) -> (Side, bool) {
        let side = Side {
            entries: rendered
                .manifests
                .into_iter()
                .map(|m| Entry {
                    id: m.id,
                    api_version: m.api_version,
                    source: m.source,
                    digest: None,
                    object: Some(m.object),
                })
                .collect(),
            errors: rendered.errors,
            warnings: rendered.warnings.iter().map(ToString::to_string).collect(),
            rendered: true,
        };
        (side, rendered.fixed)
    }

    /// The side of `flag`'s revision `rev` from its render ([`Side::rendered`]). An
    /// environment directory that does not exist at that commit (a pull request that adds or
    /// deletes the environment) is an empty side with a warning, when the other side has it
    /// (`missing_ok`); any other failure is an error.
    fn of(
        (flag, rev): (&'static str, &str),
        result: Result<(Side, bool), RenderFailure>,
        path: &str,
        missing_ok: bool,
    ) -> Result<(Side, bool), RevisionDiffError> {
        match result {
            Ok(side) => Ok(side),
            Err(RenderFailure::Repo(RepoError::PathNotFound { .. })) if missing_ok => Ok((
                Side {
                    entries: Vec::new(),
                    errors: Vec::new(),
                    warnings: vec![format!(
                        "{flag} {rev}: the environment's directory {path:?} does not exist \
                         there; its resources count as none"
                    )],
                    rendered: true,
                },
                false,
            )),
            Err(source) => Err(RevisionDiffError::Render {
                flag,
                rev: rev.to_owned(),
                source,
            }),
        }
    }

    /// A side read from its kept index: no objects.
    fn indexed(index: kept::SideIndex) -> Side {
        Side {
            entries: index
                .resources
                .into_iter()
                .map(|r| Entry {
                    id: r.id,
                    api_version: r.api_version,
                    source: r.source,
                    digest: Some(r.digest),
                    object: None,
                })
                .collect(),
            errors: index.errors,
            warnings: index.warnings,
            rendered: false,
        }
    }

    fn digest_all(&mut self) {
        for entry in &mut self.entries {
            if let Some(object) = &entry.object {
                entry.digest = Some(kept::digest(object));
            }
        }
    }

    /// The index of this (rendered, digested) side.
    fn index(&self) -> kept::SideIndex {
        kept::SideIndex::new(
            self.entries
                .iter()
                .filter_map(|e| {
                    Some(kept::Indexed {
                        id: e.id.clone(),
                        api_version: e.api_version.clone(),
                        source: e.source.clone(),
                        digest: e.digest.clone()?,
                    })
                })
                .collect(),
            self.errors.clone(),
            self.warnings.clone(),
        )
    }
}

/// Renders the commits `wanted` says (both at once: two cores, about the time of one), each
/// result passed to `then` on its render's thread. A render that panics is a bug: its panic
/// goes on.
fn render_sides<T: Send>(
    repo: &EnvRepo,
    [from, rev]: [ObjectId; 2],
    [want_from, want_rev]: [bool; 2],
    opts: &RenderOptions,
    then: impl Fn(Result<Rendered, RenderFailure>) -> T + Sync,
) -> [Option<T>; 2] {
    let then = &then;
    let run = || {
        std::thread::scope(|scope| {
            let other = want_from.then(|| scope.spawn(move || then(render(repo, from, opts))));
            let mine = want_rev.then(|| then(render(repo, rev, opts)));
            let theirs = other.map(|other| {
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            [theirs, mine]
        })
    };
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}

/// The entries the RESOURCE arguments select, by identity, leaving out those of files and
/// units that failed to render at either commit: lent, or given (`give`: taken out of
/// `entries`, which is left empty).
fn selected<'a>(
    entries: &'a mut Vec<Entry>,
    give: bool,
    filters: &[ResourceFilter],
    failed: &[&RenderError],
) -> BTreeMap<ResourceId, Cow<'a, Entry>> {
    let in_failed = |file: &str| {
        failed.iter().any(|e| {
            file == e.file
                || file
                    .strip_prefix(e.file.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    let wanted = |e: &Entry| {
        (filters.is_empty() || filters.iter().any(|f| f.matches(&e.id)))
            && !in_failed(&e.source.file)
    };
    if give {
        std::mem::take(entries)
            .into_iter()
            .filter(|e| wanted(e))
            .map(|e| (e.id.clone(), Cow::Owned(e)))
            .collect()
    } else {
        entries
            .iter()
            .filter(|e| wanted(e))
            .map(|e| (e.id.clone(), Cow::Borrowed(e)))
            .collect()
    }
}

/// Pairs the two sides by identity and keeps what differs, by kind, namespace, name, group;
/// `None` when a pair must be computed and an object it needs is not at hand (a side read
/// from its index). Rendered sides (`rendered`) are compared on two threads (the machines this
/// runs on have two cores or more; comparing and writing YAML is a third of a cold run);
/// indexed ones on this thread, as reading kept comparisons back costs less than starting one
/// (a sixth of a warm run went to starting threads).
fn compare(
    mut before: BTreeMap<ResourceId, Cow<'_, Entry>>,
    mut after: BTreeMap<ResourceId, Cow<'_, Entry>>,
    texts: Texts,
    kept: Option<&kept::Kept>,
    rendered: bool,
) -> Result<Option<Vec<ResourceRevisionDiff>>, RevisionDiffError> {
    let ids: BTreeSet<ResourceId> = before.keys().chain(after.keys()).cloned().collect();
    // Each pair is taken (its entries moved out) by the one thread that compares it.
    let pairs: Vec<Mutex<Option<Pair<'_>>>> = ids
        .into_iter()
        .map(|id| {
            let sides = (before.remove(&id), after.remove(&id));
            Mutex::new(Some((id, sides.0, sides.1)))
        })
        .collect();
    // Each thread takes the next pair not yet taken: pairs differ in size by a thousand
    // times (a CRD beside a Service), so halves by count would leave one thread with most.
    let next = AtomicUsize::new(0);
    let needs_objects = AtomicBool::new(false);
    let compare_some = || -> Result<Vec<ResourceRevisionDiff>, RevisionDiffError> {
        let mut out = Vec::new();
        while !needs_objects.load(Ordering::Relaxed) {
            let Some(slot) = pairs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let taken = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            let Some((id, old, new)) = taken else {
                continue;
            };
            match compare_pair(&id, (old, new), texts, kept)? {
                Compared::Same => {}
                Compared::Differs(diff) => out.push(*diff),
                Compared::NeedsObjects => needs_objects.store(true, Ordering::Relaxed),
            }
        }
        Ok(out)
    };
    let out = if rendered {
        std::thread::scope(|scope| {
            let other = scope.spawn(compare_some);
            let mine = compare_some();
            let theirs = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let mut mine = mine?;
            mine.extend(theirs?);
            Ok::<_, RevisionDiffError>(mine)
        })?
    } else {
        compare_some()?
    };
    let out = (!needs_objects.into_inner()).then_some(out);
    Ok(out.map(|mut out| {
        out.sort_by(|a, b| change_order(&a.id, &b.id));
        out
    }))
}

/// A resource's identity and its entries at `--from` and at `--rev`.
type Pair<'a> = (ResourceId, Option<Cow<'a, Entry>>, Option<Cow<'a, Entry>>);

/// One pair's outcome.
enum Compared {
    /// Equal (or equal once normalized).
    Same,
    Differs(Box<ResourceRevisionDiff>),
    /// Not kept, and an object is not at hand.
    NeedsObjects,
}

/// Compares one pair: equal digests or objects are the same; else the kept comparison when
/// there is one with what `texts` asks; else computed from the objects (and kept). Objects of
/// given entries (`Cow::Owned`) are prepared in place.
fn compare_pair(
    id: &ResourceId,
    (old, new): (Option<Cow<'_, Entry>>, Option<Cow<'_, Entry>>),
    texts: Texts,
    kept: Option<&kept::Kept>,
) -> Result<Compared, RevisionDiffError> {
    let (change, shown) = match (old.as_deref(), new.as_deref()) {
        (Some(old), Some(new)) => {
            if old.digest.is_some() && old.digest == new.digest {
                return Ok(Compared::Same);
            }
            // Without digests (nothing kept), equal objects are the same; with them, objects
            // equal in another key order are compared below, so that the pair is kept.
            if old.digest.is_none() && old.object.is_some() && old.object == new.object {
                return Ok(Compared::Same);
            }
            (ChangeKind::Modified, new)
        }
        (None, Some(new)) => (ChangeKind::Added, new),
        (Some(old), None) => (ChangeKind::Removed, old),
        (None, None) => return Ok(Compared::Same),
    };
    // What the result names, and the digests, held apart from the entries: their objects
    // are moved out below.
    let (api_version, source) = (shown.api_version.clone(), shown.source.clone());
    let digests = (
        old.as_ref().and_then(|e| e.digest.clone()),
        new.as_ref().and_then(|e| e.digest.clone()),
    );
    let digests = (digests.0.as_deref(), digests.1.as_deref());
    let keyed = digests.0.is_some() == old.is_some() && digests.1.is_some() == new.is_some();
    let kept = kept.filter(|_| keyed);
    let context = match texts {
        Texts::Hunks(context) => Some(context),
        Texts::None | Texts::Full => None,
    };
    let differs = |changes: Vec<Change>, from_yaml, rev_yaml, hunks| {
        Compared::Differs(Box::new(ResourceRevisionDiff {
            id: id.clone(),
            api_version: api_version.clone(),
            change,
            changes,
            source: source.clone(),
            from_yaml,
            rev_yaml,
            hunks,
        }))
    };
    let diff = |changes: Vec<Change>, from_yaml, rev_yaml, hunks| {
        if changes.is_empty() {
            Compared::Same
        } else {
            differs(changes, from_yaml, rev_yaml, hunks)
        }
    };
    match (texts, kept) {
        (Texts::None, Some(kept)) => {
            if let Some(changes) = kept.changes(id, digests) {
                return Ok(diff(changes, String::new(), String::new(), None));
            }
        }
        (Texts::Hunks(context), Some(kept)) => match kept.hunks(id, digests, context) {
            Some(Some(hunks)) => {
                return Ok(differs(
                    Vec::new(),
                    String::new(),
                    String::new(),
                    Some(hunks),
                ));
            }
            Some(None) => return Ok(Compared::Same),
            None => {}
        },
        _ => {}
    }
    let objects = (old.map(object_of), new.map(object_of));
    let yaml = texts != Texts::None;
    // With hunks, the field changes are left out of the answer: only whether there are any
    // is found (the same walk, stopped at the first), and none are kept.
    let all_changes = context.is_none();
    let computed = match objects {
        (Some(Some(old)), Some(Some(new))) => modified(id, old, new, yaml, all_changes)?,
        (None, Some(Some(new))) => one_sided(id, new, change, yaml)?,
        (Some(Some(old)), None) => one_sided(id, old, change, yaml)?,
        _ => return Ok(Compared::NeedsObjects),
    };
    let found = context.map(|context| hunks(&computed.from_yaml, &computed.rev_yaml, context));
    // The full texts are not kept; nor is a comparison made for them (it would replace kept
    // hunks with none).
    if let Some(kept) = kept.filter(|_| texts != Texts::Full) {
        let hunks = context.zip(found.as_deref());
        kept.keep_pair(
            id,
            digests,
            computed.differs,
            computed.changes.as_deref(),
            hunks,
        );
    }
    if !computed.differs {
        return Ok(Compared::Same);
    }
    let changes = computed.changes.unwrap_or_default();
    Ok(match texts {
        Texts::Full => differs(changes, computed.from_yaml, computed.rev_yaml, None),
        Texts::None => differs(changes, String::new(), String::new(), None),
        // The hunks say what changed; the changes are left out, as when read back.
        Texts::Hunks(_) => differs(Vec::new(), String::new(), String::new(), found),
    })
}

/// A pair compared from its objects.
struct Computed {
    /// Whether the objects differ once normalized.
    differs: bool,
    /// The field changes; `None` when not asked for.
    changes: Option<Vec<Change>>,
    /// The objects as YAML when asked for and they differ, else empty.
    from_yaml: String,
    rev_yaml: String,
}

/// An entry's object: lent with a lent entry, moved out of a given one.
fn object_of(entry: Cow<'_, Entry>) -> Option<Cow<'_, Value>> {
    match entry {
        Cow::Borrowed(entry) => entry.object.as_ref().map(Cow::Borrowed),
        Cow::Owned(entry) => entry.object.map(Cow::Owned),
    }
}

/// `object` as YAML when texts are kept, else empty; `scalars` is shared by a pair's sides
/// ([`to_yaml_with`]).
fn text_of(
    id: &ResourceId,
    object: &Value,
    texts: bool,
    scalars: &mut Scalars,
) -> Result<String, RevisionDiffError> {
    if texts {
        to_yaml_with(object, scalars).map_err(object_error(id))
    } else {
        Ok(String::new())
    }
}

fn object_error(id: &ResourceId) -> impl FnOnce(DriftError) -> RevisionDiffError + '_ {
    move |source| RevisionDiffError::Object {
        resource: id.to_string(),
        source,
    }
}

/// Whether a resource differs at both commits (not when equal once normalized), its changes
/// when `all_changes`, and both objects as YAML when `texts`. Both objects are prepared
/// together, so a Secret value keeps one mask on both sides.
fn modified(
    id: &ResourceId,
    old: Cow<'_, Value>,
    new: Cow<'_, Value>,
    texts: bool,
    all_changes: bool,
) -> Result<Computed, RevisionDiffError> {
    let [before, after] =
        prepare_objects_cow(id, None, [old, new], &[]).map_err(object_error(id))?;
    let lists = ListKeys::of(&id.group, &id.kind);
    let (differs, changes) = if all_changes {
        let changes = full_changes(&lists, &before, &after);
        (!changes.is_empty(), Some(changes))
    } else {
        (any_change(&lists, &before, &after), None)
    };
    if !differs {
        return Ok(Computed {
            differs,
            changes,
            from_yaml: String::new(),
            rev_yaml: String::new(),
        });
    }
    let mut scalars = Scalars::default();
    Ok(Computed {
        differs,
        changes,
        from_yaml: text_of(id, &before, texts, &mut scalars)?,
        rev_yaml: text_of(id, &after, texts, &mut scalars)?,
    })
}

/// A resource at one commit only: one whole-object change, and its YAML on its side.
fn one_sided(
    id: &ResourceId,
    object: Cow<'_, Value>,
    change: ChangeKind,
    texts: bool,
) -> Result<Computed, RevisionDiffError> {
    let [object] = prepare_objects_cow(id, None, [object], &[]).map_err(object_error(id))?;
    let yaml = text_of(id, &object, texts, &mut Scalars::default())?;
    let (changes, from_yaml, rev_yaml) = if change == ChangeKind::Added {
        (Change::add(FieldPath::root(), object), String::new(), yaml)
    } else {
        (
            Change::remove(FieldPath::root(), object),
            yaml,
            String::new(),
        )
    };
    Ok(Computed {
        differs: true,
        changes: Some(vec![changes]),
        from_yaml,
        rev_yaml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_git::fixture::FixtureRepo;

    fn cm(name: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {value:?}\n"
        )
    }

    fn secret(value_b64: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  password: {value_b64}\n  same: c2FtZQ==\n"
        )
    }

    fn run(fx: &FixtureRepo, from: &str, resources: &[&str]) -> RevisionDiff {
        let opts = RevisionDiffOptions {
            target: Target {
                repo: fx.dir().to_path_buf(),
                namespace: Some("prod".into()),
                ..Target::default()
            },
            from: from.into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
            texts: Texts::Full,
            cache: true,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(diff_revisions(&opts)).unwrap()
    }

    #[test]
    fn added_modified_removed_with_secrets_masked_and_filters() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.write("b.yaml", &cm("b", "1"));
        fx.write("s.yaml", &secret("b2xkLXB3"));
        fx.commit("first");
        fx.write("a.yaml", &cm("a", "2"));
        fx.git(&["rm", "-q", "b.yaml"]);
        fx.write("c.yaml", &cm("c", "1"));
        fx.write("s.yaml", &secret("bmV3LXB3"));
        fx.commit("second");

        let diff = run(&fx, "HEAD~1", &[]);
        let seen: Vec<(&str, ChangeKind)> = diff
            .resources
            .iter()
            .map(|r| (r.id.name.as_str(), r.change))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", ChangeKind::Modified),
                ("b", ChangeKind::Removed),
                ("c", ChangeKind::Added),
                ("creds", ChangeKind::Modified),
            ]
        );
        assert_eq!(diff.exit_code(), 1);
        assert_eq!(diff.resources[0].id.namespace.as_deref(), Some("prod"));
        let a = &diff.resources[0].changes;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].path.to_string(), "data.v");
        assert_eq!(a[0].live, Some(Value::from("1")));
        assert_eq!(a[0].desired, Some(Value::from("2")));
        let creds = &diff.resources[3];
        let shown = format!("{:?}{}{}", creds.changes, creds.from_yaml, creds.rev_yaml);
        for value in ["b2xkLXB3", "bmV3LXB3", "c2FtZQ==", "old-pw", "new-pw"] {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
        // Distinct masks: the changed value differs, the unchanged one is no change.
        assert_eq!(creds.changes.len(), 1, "{:?}", creds.changes);
        assert_ne!(creds.changes[0].live, creds.changes[0].desired);

        let only_a = run(&fx, "HEAD~1", &["cm/a"]);
        assert_eq!(only_a.resources.len(), 1);
        assert_eq!(only_a.resources[0].id.name, "a");
        assert_eq!(run(&fx, "HEAD", &[]).exit_code(), 0);
    }

    #[test]
    fn a_unit_that_fails_at_one_side_is_reported_and_left_out() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.write("b.yaml", &cm("b", "1"));
        fx.commit("first");
        fx.write("a.yaml", "not: [valid\n");
        fx.write("b.yaml", &cm("b", "2"));
        fx.commit("break a, change b");
        let diff = run(&fx, "HEAD~1", &[]);
        assert_eq!(diff.exit_code(), 2);
        assert_eq!(diff.render_errors.len(), 1, "{:?}", diff.render_errors);
        assert!(diff.render_errors[0].contains("a.yaml"));
        let names: Vec<&str> = diff.resources.iter().map(|r| r.id.name.as_str()).collect();
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn an_environment_new_at_rev_is_all_added() {
        let fx = FixtureRepo::new();
        fx.write("README.md", "nothing yet\n");
        fx.commit("first");
        fx.write("env/a.yaml", &cm("a", "1"));
        fx.commit("add the environment");
        let opts = RevisionDiffOptions {
            target: Target {
                repo: fx.dir().to_path_buf(),
                path: "env".into(),
                namespace: Some("prod".into()),
                ..Target::default()
            },
            from: "HEAD~1".into(),
            resources: Vec::new(),
            texts: Texts::Full,
            cache: true,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let diff = runtime.block_on(diff_revisions(&opts)).unwrap();
        assert_eq!(diff.resources.len(), 1);
        assert_eq!(diff.resources[0].change, ChangeKind::Added);
        assert_eq!(diff.exit_code(), 1);
        assert!(
            diff.warnings[0].contains("does not exist"),
            "{:?}",
            diff.warnings
        );
        let both_missing = RevisionDiffOptions {
            from: "HEAD~1".into(),
            target: opts.target.at("HEAD~1"),
            ..opts
        };
        assert!(matches!(
            runtime.block_on(diff_revisions(&both_missing)),
            Err(RevisionDiffError::Render { .. })
        ));
    }

    /// Every run's answer, in full: resources (identity, change, changes, texts, hunks),
    /// errors and warnings.
    fn answer(diff: &RevisionDiff) -> String {
        format!(
            "{:#?}\n{:?}\n{:?}",
            diff.resources, diff.render_errors, diff.warnings
        )
    }

    fn run_with(
        fx: &FixtureRepo,
        from: &str,
        rev: &str,
        texts: Texts,
        cache: bool,
    ) -> RevisionDiff {
        let opts = RevisionDiffOptions {
            target: Target {
                repo: fx.dir().to_path_buf(),
                namespace: Some("prod".into()),
                ..Target::default()
            }
            .at(rev),
            from: from.into(),
            resources: Vec::new(),
            texts,
            cache,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(diff_revisions(&opts)).unwrap()
    }

    /// Files under the kept comparisons and indexes.
    fn kept_files(fx: &FixtureRepo) -> Vec<std::path::PathBuf> {
        let root = fx.dir().join(".git").join("kubectl-gitops");
        let mut out = Vec::new();
        let mut pending: Vec<std::path::PathBuf> = ["diff-index-v1", "rev-diff-v1"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out
    }

    #[test]
    fn a_text_run_keeps_hunks_without_changes_and_a_json_run_computes_them() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.write("same.yaml", &cm("same", "1"));
        fx.commit("first");
        fx.write("a.yaml", &cm("a", "2"));
        fx.commit("second");
        let text = run_with(&fx, "HEAD~1", "HEAD", Texts::Hunks(3), true);
        assert_eq!(text.renders, 2);
        let names: Vec<&str> = text.resources.iter().map(|r| r.id.name.as_str()).collect();
        assert_eq!(names, ["a"]);
        // The text run found that `a` differs without making its changes: none kept.
        let pair_files: Vec<_> = kept_files(&fx)
            .into_iter()
            .filter(|f| f.to_string_lossy().contains("rev-diff-v1"))
            .collect();
        assert_eq!(pair_files.len(), 1, "{pair_files:?}");
        let kept = std::fs::read_to_string(&pair_files[0]).unwrap();
        assert_eq!(kept.lines().nth(1), Some("null"), "{kept}");
        // So a JSON run computes them (rendering both commits), as without anything kept,
        // and keeps them for the next.
        let plain = run_with(&fx, "HEAD~1", "HEAD", Texts::None, false);
        let json = run_with(&fx, "HEAD~1", "HEAD", Texts::None, true);
        assert_eq!(json.renders, 2);
        assert_eq!(answer(&json), answer(&plain));
        assert_eq!(json.resources[0].changes.len(), 1);
        let again = run_with(&fx, "HEAD~1", "HEAD", Texts::None, true);
        assert_eq!(again.renders, 0);
        assert_eq!(answer(&again), answer(&plain));
    }

    #[test]
    fn kept_comparisons_give_what_computing_gives_and_hold_no_secret() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.write("b.yaml", &cm("b", "1"));
        fx.write("order.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: order\ndata:\n  x: \"1\"\n  y: \"2\"\n");
        fx.write("s.yaml", &secret("b2xkLXB3"));
        fx.write("broken.yaml", &cm("broken", "1"));
        fx.commit("first");
        fx.write("a.yaml", &cm("a", "2"));
        fx.git(&["rm", "-q", "b.yaml"]);
        fx.write("c.yaml", &cm("c", "1"));
        // The same object with its keys in another order: no change.
        fx.write("order.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: order\ndata:\n  y: \"2\"\n  x: \"1\"\n");
        fx.write("s.yaml", &secret("bmV3LXB3"));
        fx.write("broken.yaml", "not: [valid\n");
        fx.commit("second");
        fx.write("a.yaml", &cm("a", "3"));
        fx.commit("third");

        for texts in [Texts::Hunks(3), Texts::Hunks(1), Texts::None, Texts::Full] {
            let _ = std::fs::remove_dir_all(fx.dir().join(".git").join("kubectl-gitops"));
            let plain = run_with(&fx, "HEAD~2", "HEAD~1", texts, false);
            assert_eq!(plain.renders, 2);
            assert!(
                kept_files(&fx).is_empty(),
                "{texts:?}: nothing kept without the cache"
            );
            let names: Vec<&str> = plain.resources.iter().map(|r| r.id.name.as_str()).collect();
            assert_eq!(names, ["a", "b", "c", "creds"], "{texts:?}");
            assert_eq!(plain.exit_code(), 2, "{texts:?}: broken.yaml");
            let cold = run_with(&fx, "HEAD~2", "HEAD~1", texts, true);
            let warm = run_with(&fx, "HEAD~2", "HEAD~1", texts, true);
            assert_eq!(answer(&cold), answer(&plain), "{texts:?} cold");
            assert_eq!(answer(&warm), answer(&plain), "{texts:?} warm");
            // The full texts are never kept: they are rendered each time.
            let expected_renders = if texts == Texts::Full { 2 } else { 0 };
            assert_eq!(
                warm.renders,
                expected_renders,
                "{texts:?} {:?}",
                kept_files(&fx)
            );
            match texts {
                Texts::Hunks(_) => {
                    assert!(plain.resources.iter().all(|r| r.changes.is_empty()));
                    assert!(
                        plain
                            .resources
                            .iter()
                            .all(|r| r.hunks.as_ref().is_some_and(|h| !h.is_empty()))
                    );
                }
                Texts::None => assert!(
                    plain
                        .resources
                        .iter()
                        .all(|r| !r.changes.is_empty() && r.hunks.is_none())
                ),
                Texts::Full => {
                    assert!(plain.resources.iter().all(|r| !r.changes.is_empty()
                        && (!r.from_yaml.is_empty() || !r.rev_yaml.is_empty())))
                }
            }
        }

        // One side indexed, the other new: the plain answer; then all of it is kept.
        let plain = run_with(&fx, "HEAD~2", "HEAD", Texts::Hunks(3), false);
        let mixed = run_with(&fx, "HEAD~2", "HEAD", Texts::Hunks(3), true);
        assert_eq!(answer(&mixed), answer(&plain));
        assert_eq!(
            run_with(&fx, "HEAD~2", "HEAD", Texts::Hunks(3), true).renders,
            0
        );

        // A kept file that does not parse is a miss, computed again.
        for file in kept_files(&fx) {
            std::fs::write(&file, "{ not json").unwrap();
        }
        let again = run_with(&fx, "HEAD~2", "HEAD~1", Texts::Hunks(3), true);
        assert_eq!(
            answer(&again),
            answer(&run_with(&fx, "HEAD~2", "HEAD~1", Texts::Hunks(3), false))
        );
        assert_eq!(again.renders, 2);

        // SPEC §4: what is kept holds masks only.
        let files = kept_files(&fx);
        assert!(files.len() > 2, "{files:?}");
        for file in files {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            // (`same` is also a key's name: its value's encoding is looked for.)
            for value in ["b2xkLXB3", "bmV3LXB3", "c2FtZQ==", "old-pw", "new-pw"] {
                assert!(!text.contains(value), "{value} in {}", file.display());
            }
        }
    }

    #[test]
    fn a_render_with_controller_objects_keeps_no_index() {
        let fx = FixtureRepo::new();
        let flux = |path: &str| {
            format!(
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
            )
        };
        fx.write("clusters/prod/apps.yaml", &flux("./apps"));
        fx.write("apps/a.yaml", &cm("a", "1"));
        fx.commit("first");
        fx.write("apps/a.yaml", &cm("a", "2"));
        fx.commit("second");
        let opts = RevisionDiffOptions {
            target: Target {
                repo: fx.dir().to_path_buf(),
                path: "clusters/prod".into(),
                namespace: Some("prod".into()),
                ..Target::default()
            },
            from: "HEAD~1".into(),
            resources: Vec::new(),
            texts: Texts::Hunks(3),
            cache: true,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for _ in 0..2 {
            let diff = runtime.block_on(diff_revisions(&opts)).unwrap();
            let names: Vec<&str> = diff.resources.iter().map(|r| r.id.name.as_str()).collect();
            assert_eq!(names, ["a"], "the Kustomization's object is followed");
            // Owned objects' renders may move (charts, live values): rendered each time.
            assert_eq!(diff.renders, 2);
        }
        assert!(
            !kept_files(&fx)
                .iter()
                .any(|f| f.starts_with(fx.dir().join(".git/kubectl-gitops/diff-index-v1"))),
            "{:?}",
            kept_files(&fx)
        );
    }
}
