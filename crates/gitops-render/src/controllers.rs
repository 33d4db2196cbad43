//! Controller objects of a rendered environment expanded as their controllers would (SPEC §11):
//! after `--path` is rendered, a worklist goes over every manifest; a controller object it
//! follows adds what it applies to the same [`Collector`] (identity, duplicates), each with the
//! object as its [`Owner`], and those go back on the worklist (a Kustomization's output may
//! hold Kustomizations and HelmReleases). One object's failure is a [`RenderError`] on that
//! object's file and line; the rest still renders.

use std::collections::VecDeque;

use gitops_git::{EnvRepo, ObjectId, normalize_path};
use k8s_model::{Owner, ResourceId};

use crate::argo;
use crate::flux::{self, Expansion, Followed};
use crate::helm_release;
use crate::{Collector, RenderError, RenderOptions};

/// A manifest of the collector still to look at, and the controller objects that led to it.
struct Pending {
    index: usize,
    chain: Vec<ResourceId>,
    /// What a `substituteFrom` object the environment does not define means for it: wait
    /// first (a Kustomization expanded later may define it), then settle (read it live).
    undefined: flux::Undefined,
}

/// Where the manifests of [`expand`] came from besides `--path`.
#[derive(Debug, Default)]
pub(crate) struct Expanded {
    /// Repo paths the followed controller objects read (directories, kustomization references).
    pub inputs: Vec<String>,
    /// Problems the user should see that do not fail the render.
    pub warnings: Vec<RenderError>,
}

fn owner_name(id: &ResourceId) -> String {
    Owner { id: id.clone() }.to_string()
}

/// A followed controller object ready to build: a Flux Kustomization or an Argo CD
/// Application.
enum Prepared {
    Flux(flux::Prepared),
    Argo(argo::Prepared),
}

impl Prepared {
    fn build(&self, repo: &EnvRepo, commit: ObjectId, opts: &RenderOptions) -> crate::Built {
        match self {
            Self::Flux(prepared) => prepared.build(repo, commit, opts),
            Self::Argo(prepared) => prepared.build(repo, commit, opts),
        }
    }

    fn finish(
        self,
        repo: &EnvRepo,
        commit: ObjectId,
        opts: &RenderOptions,
        built: &crate::Built,
    ) -> Expansion {
        match self {
            Self::Flux(prepared) => prepared.finish(repo, commit, built),
            Self::Argo(prepared) => prepared.finish(repo, commit, opts, built),
        }
    }
}

/// A followed controller object of a batch, prepared for its build.
struct Job {
    pending: Pending,
    owner: k8s_model::Manifest,
    /// The repo directories it renders.
    dirs: Vec<String>,
    prepared: Result<Prepared, Expansion>,
    /// `--path`'s render of its file was replaced by another object's meanwhile.
    removed: bool,
}

/// How many builds run at once: they are `kubectl kustomize` processes.
fn build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Expands the controller objects among `out`'s manifests, and those they produce in turn.
/// Each round takes everything pending, builds the followed objects' units in parallel, then
/// adds their outputs in order (so the result does not depend on which build ends first).
pub(crate) fn expand(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    out: &mut Collector<'_>,
) -> Expanded {
    let mut expanded = Expanded::default();
    let env_path = normalize_path(&opts.path);
    let mut tools: Option<String> = None;
    let mut queue: VecDeque<Pending> = (0..out.manifests.len())
        .map(|index| Pending {
            index,
            chain: Vec::new(),
            undefined: flux::Undefined::Wait,
        })
        .collect();
    // Kustomizations whose substituteFrom object is not rendered yet.
    let mut waiting: Vec<Pending> = Vec::new();
    let mut added_since_waiting = false;
    loop {
        while !queue.is_empty() {
            let mut jobs: Vec<Job> = Vec::new();
            for item in queue.drain(..) {
                let manifest = &out.manifests[item.index];
                // Flux HelmReleases are rendered once every Kustomization is expanded
                // ([`expand_helm_releases`]): their sources and valuesFrom objects may come
                // from any of them.
                if !matches!(
                    (manifest.id.group.as_str(), manifest.id.kind.as_str()),
                    (flux::KUSTOMIZE_GROUP, "Kustomization") | (argo::ARGO_GROUP, "Application")
                ) {
                    continue;
                }
                let ks = manifest.clone();
                let (dirs, prepared) = match (ks.id.group.as_str(), ks.id.kind.as_str()) {
                    (flux::KUSTOMIZE_GROUP, "Kustomization") => {
                        let tools = tools.get_or_insert_with(|| crate::tools_fingerprint(opts));
                        let dir =
                            match flux::followed_path(repo, commit, &ks, &out.manifests, &env_path)
                            {
                                Ok(Followed::Path(dir)) => dir,
                                Ok(Followed::NotThisRepo(why)) => {
                                    tracing::debug!("{} not rendered: {why}", owner_name(&ks.id));
                                    continue;
                                }
                                Err(message) => {
                                    out.errors.push(failure(&ks, message));
                                    continue;
                                }
                            };
                        let prepared = flux::prepare(
                            repo,
                            commit,
                            tools,
                            &ks,
                            &dir,
                            &out.manifests,
                            opts,
                            item.undefined,
                        );
                        (vec![dir], prepared.map(Prepared::Flux))
                    }
                    (argo::ARGO_GROUP, "Application") => {
                        let tools = tools.get_or_insert_with(|| crate::tools_fingerprint(opts));
                        match argo::prepare(repo, commit, tools, &ks) {
                            Ok(Some(prepared)) => (prepared.dirs(), Ok(Prepared::Argo(prepared))),
                            Ok(None) => {
                                tracing::debug!(
                                    "{} not rendered: no source is this repo",
                                    owner_name(&ks.id)
                                );
                                continue;
                            }
                            Err(message) => {
                                out.errors.push(failure(&ks, message));
                                continue;
                            }
                        }
                    }
                    _ => continue,
                };
                if dirs.contains(&env_path) {
                    // `--path` itself (the cluster's own sync Kustomization, an app of apps
                    // managing itself): its render is the environment's; building it again
                    // would define everything twice.
                    tracing::debug!("{} not rendered again: it is --path", owner_name(&ks.id));
                    continue;
                }
                jobs.push(Job {
                    pending: item,
                    owner: ks,
                    dirs,
                    prepared,
                    removed: false,
                });
            }
            let built = build_all(repo, commit, opts, &jobs);
            let mut jobs: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
            for (i, built) in built.into_iter().enumerate() {
                let Some(job) = jobs[i].take() else {
                    continue;
                };
                if job.removed {
                    continue;
                }
                let expansion = match (job.prepared, built) {
                    (Err(stop), _) => stop,
                    (Ok(prepared), Some(built)) => prepared.finish(repo, commit, opts, &built),
                    (Ok(_), None) => continue,
                };
                let ks = job.owner;
                let dirs = job.dirs;
                let item = job.pending;
                match expansion {
                    Expansion::Waiting(_) => waiting.push(item),
                    Expansion::Failed(message) => out.errors.push(failure(&ks, message)),
                    Expansion::Objects(objects, notes, inputs) => {
                        for note in notes {
                            let warning = failure(&ks, note);
                            if !expanded.warnings.contains(&warning) {
                                expanded.warnings.push(warning);
                            }
                        }
                        for input in inputs {
                            if !expanded.inputs.contains(&input) {
                                expanded.inputs.push(input);
                            }
                        }
                        // Files of --path below a directory were rendered as --path's own;
                        // the controller's build (its namespace, patches, substitution)
                        // replaces them.
                        for dir in dirs.iter().filter(|dir| {
                            env_path.is_empty() || dir.starts_with(&format!("{env_path}/"))
                        }) {
                            let kept = out.remove_unowned_below(dir);
                            for pending in queue.iter_mut() {
                                pending.index = kept[pending.index].unwrap_or(usize::MAX);
                            }
                            queue.retain(|p| p.index != usize::MAX);
                            waiting.retain_mut(|pending| match kept[pending.index] {
                                Some(index) => {
                                    pending.index = index;
                                    true
                                }
                                None => false,
                            });
                            for job in jobs.iter_mut().flatten() {
                                match kept[job.pending.index] {
                                    Some(index) => job.pending.index = index,
                                    None => job.removed = true,
                                }
                            }
                        }
                        let mut chain = item.chain.clone();
                        chain.push(ks.id.clone());
                        for (value, source) in objects {
                            if let Some(id) = out.identity(&value)
                                && chain.contains(&id)
                            {
                                let names: Vec<String> = chain
                                    .iter()
                                    .chain(std::iter::once(&id))
                                    .map(owner_name)
                                    .collect();
                                out.errors.push(failure(
                                    &ks,
                                    format!(
                                        "cycle: {} (each {} must apply itself or its parents at most once)",
                                        names.join(" -> "),
                                        ks.id.kind
                                    ),
                                ));
                                continue;
                            }
                            let index = out.manifests.len();
                            out.add_owned(value, source, Owner { id: ks.id.clone() });
                            if out.manifests.len() > index {
                                added_since_waiting = true;
                                queue.push_back(Pending {
                                    index,
                                    chain: chain.clone(),
                                    undefined: flux::Undefined::Wait,
                                });
                            }
                        }
                    }
                }
            }
        }
        if waiting.is_empty() {
            break;
        }
        if added_since_waiting {
            // What they wait for may have been rendered since.
            added_since_waiting = false;
            queue.extend(waiting.drain(..));
            continue;
        }
        // Nothing more will be rendered that they could wait for: what the environment does
        // not define is read live (offline: skipped when optional, else an error each).
        queue.extend(waiting.drain(..).map(|mut item| {
            item.undefined = flux::Undefined::Settle;
            item
        }));
    }
    expand_helm_releases(repo, commit, opts, out);
    for release in out
        .manifests
        .iter()
        .filter(|m| helm_release::is_helm_release(m))
    {
        for input in helm_release::repo_inputs(release) {
            if !expanded.inputs.contains(&input) {
                expanded.inputs.push(input);
            }
        }
    }
    expanded
}

/// Renders every Flux HelmRelease of the environment ([`helm_release::render_helm_release`],
/// [`build_threads`] at a time, each with the whole environment as its sources and values) and
/// adds the objects each deploys, owned by it, in the releases' order. A release's failure is
/// its one error; the rest still renders. Objects a chart makes are not expanded again (a chart
/// that ships Flux or Argo CD objects is rare; they stay plain objects).
fn expand_helm_releases(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    out: &mut Collector<'_>,
) {
    let releases: Vec<usize> = out
        .manifests
        .iter()
        .enumerate()
        .filter(|(_, m)| helm_release::is_helm_release(m))
        .map(|(i, _)| i)
        .collect();
    if releases.is_empty() {
        return;
    }
    let env = &out.manifests;
    let results: Vec<std::sync::Mutex<Option<HelmOutput>>> = releases
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&release) = releases.get(i) else {
                break;
            };
            let rendered =
                helm_release::render_helm_release(&env[release], env, repo, commit, opts);
            *crate::lock(&results[i]) = Some(rendered);
        }
    };
    let threads = build_threads().min(releases.len());
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    for (release, slot) in releases.into_iter().zip(results) {
        let owner = Owner {
            id: out.manifests[release].id.clone(),
        };
        match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(objects)) => {
                for (value, source) in objects {
                    out.add_owned(value, source, owner.clone());
                }
            }
            Some(Err(error)) => out.errors.push(error),
            None => {}
        }
    }
}

type HelmOutput = Result<Vec<(serde_json::Value, k8s_model::Source)>, RenderError>;

/// A controller object's problem, on its file and line.
fn failure(owner: &k8s_model::Manifest, message: String) -> RenderError {
    RenderError {
        file: owner.source.file.clone(),
        line: Some(owner.source.line),
        message: format!("{}: {message}", owner_name(&owner.id)),
    }
}

/// The builds of the prepared jobs, [`build_threads`] at a time; `None` for a job that has
/// nothing to build.
fn build_all(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    jobs: &[Job],
) -> Vec<Option<crate::Built>> {
    let results: Vec<std::sync::Mutex<Option<crate::Built>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(job) = jobs.get(i) else {
                break;
            };
            if let Ok(prepared) = &job.prepared {
                let built = prepared.build(repo, commit, opts);
                *crate::lock(&results[i]) = Some(built);
            }
        }
    };
    let buildable = jobs.iter().filter(|j| j.prepared.is_ok()).count();
    let threads = build_threads().min(buildable);
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    results
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect()
}
