//! The real-world suite: public GitOps repositories from `../shared/corpus` (git bundles, cloned
//! into temp dirs), read by our renderer, history and blame and checked against the reference
//! tools run in the same test: `kubectl kustomize`, `helm template`, `git log`, `git blame`,
//! and kubectl's own reading of the files. The cluster part (sync, status, drift, prune of
//! kube-prometheus) runs on the sandbox and, with `KUBECTL_GITOPS_E2E_KUBECONFIG`, on a real
//! API server.
//!
//! The corpus is `$KUBECTL_GITOPS_CORPUS`, else `../shared/corpus` beside the project. Where it
//! is absent (a checkout outside the team's machines) each test says so and returns, except in
//! CI (`CI` set), where a missing corpus fails.

mod cli_env;
mod common;
mod reference_diff;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use cli_env::{EnvRepo, Gitops, Run, helm, history_commit_ids};
use common::TestCluster;
use kubectl_gitops::render::{RenderOptions, Rendered, render};

/// The corpus folder, or `None` (with a note) where it is absent outside CI.
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("KUBECTL_GITOPS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("kube-prometheus.bundle").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the corpus is missing at {} (set KUBECTL_GITOPS_CORPUS)",
        dir.display()
    );
    eprintln!(
        "note: no corpus at {}; the real-world tests are skipped",
        dir.display()
    );
    None
}

fn clone(name: &str) -> Option<EnvRepo> {
    let bundle = corpus()?.join(format!("{name}.bundle"));
    Some(EnvRepo::from_bundle(&bundle))
}

/// The HelmRepository flux2-kustomize-helm-example's podinfo HelmRelease names.
const PODINFO_REPOSITORY: &str = "https://stefanprodan.github.io/podinfo";

/// The tests' chart cache (`KUBECTL_GITOPS_CACHE_DIR`; never the user's), holding the corpus
/// podinfo chart as if pulled from [`PODINFO_REPOSITORY`], which is not reachable here:
/// renders are served from the cache, as any render without that repository is (SPEC §11).
/// The other charts of the corpus repos are not there: their releases are one error each.
fn cache_dir() -> PathBuf {
    static SEEDED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SEEDED
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus-cache");
            if let Some(corpus) = corpus() {
                let archive = std::fs::read(corpus.join("charts/podinfo-6.14.1.tgz")).unwrap();
                kubectl_gitops::render::charts::seed_chart(
                    &dir.join("charts"),
                    PODINFO_REPOSITORY,
                    "podinfo",
                    "6.14.1",
                    &archive,
                )
                .unwrap();
            }
            dir
        })
        .clone()
}

/// Whether `error` is a HelmRelease whose chart cannot be fetched here (no network, not in
/// [`cache_dir`]): the one error such a release is, naming the chart and how to fill the cache.
fn chart_unavailable(error: &kubectl_gitops::render::RenderError) -> bool {
    error.message.starts_with("HelmRelease ")
        && error.message.contains("cannot get chart")
        && error
            .message
            .contains("(render once with the repository reachable")
}

/// The binary with `--offline`, sealed, helm as [`helm`] finds it, charts from [`cache_dir`]
/// (or `env` overrides).
fn offline(repo: &EnvRepo, args: &[&str], env: &[(&str, &str)]) -> Run {
    let helm = helm().display().to_string();
    let cache = cache_dir().display().to_string();
    let mut all = vec![
        ("HELM_BINARY", helm.as_str()),
        ("KUBECTL_GITOPS_CACHE_DIR", cache.as_str()),
    ];
    all.extend_from_slice(env);
    cli_env::offline(repo, args, &all)
}

/// Our render of `path` at HEAD (the library, offline scopes).
fn render_head(repo: &EnvRepo, path: &str) -> Rendered {
    let env = kubectl_gitops::repo::EnvRepo::open(repo.dir()).unwrap();
    let head = env.resolve("HEAD").unwrap();
    let mut opts = RenderOptions::new(path, "default");
    opts.helm = Some(helm());
    opts.chart_cache = Some(cache_dir().join("charts"));
    render(&env, head, &opts).unwrap()
}

/// `kind/namespace/name` of each rendered resource (namespace `-` when none).
fn rendered_ids(rendered: &Rendered) -> BTreeSet<String> {
    rendered
        .manifests
        .iter()
        .map(|m| {
            format!(
                "{}/{}/{}",
                m.id.kind,
                m.id.namespace.as_deref().unwrap_or("-"),
                m.id.name
            )
        })
        .collect()
}

/// `kind/namespace/name` of each document of a reference tool's YAML output, the namespace as
/// our render gives it for the same kind (so only what the tool put in the documents counts).
fn output_ids(yaml: &str, rendered: &Rendered) -> BTreeSet<String> {
    let scope: std::collections::HashMap<(String, String), bool> = rendered
        .manifests
        .iter()
        .map(|m| {
            (
                (m.id.kind.clone(), m.id.name.clone()),
                m.id.namespace.is_some(),
            )
        })
        .collect();
    yaml.split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Option<Value>>(doc).ok().flatten())
        .filter(|doc| doc.is_object())
        .map(|doc| {
            let kind = doc["kind"].as_str().unwrap_or("").to_owned();
            let name = doc["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let written = doc["metadata"]["namespace"].as_str();
            let namespaced = scope.get(&(kind.clone(), name.clone())).copied();
            let ns = match (namespaced, written) {
                (Some(false), _) => "-".to_owned(),
                (_, Some(ns)) => ns.to_owned(),
                (Some(true), None) => "default".to_owned(),
                (None, None) => "-".to_owned(),
            };
            format!("{kind}/{ns}/{name}")
        })
        .collect()
}

fn run_tool(program: &Path, args: &[&str], dir: &Path) -> String {
    let mut tool = Command::new(program);
    tool.args(args).current_dir(dir);
    common::stdout_of(&mut tool, &format!("{} {args:?}", program.display()))
}

/// The commit ids of `history -o json`.
fn history_ids(run: &Run) -> Vec<String> {
    history_commit_ids(&run.json())
}

/// kube-prometheus `manifests/`: every list document (`RoleBindingList`, `RoleList`,
/// `ConfigMapList`) is expanded as kubectl expands it, each item with its own lines; nothing is
/// refused.
#[test]
fn kube_prometheus_manifests_render_with_list_documents_expanded() {
    let Some(repo) = clone("kube-prometheus") else {
        return;
    };
    let rendered = render_head(&repo, "manifests");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let ids = rendered_ids(&rendered);
    // The lists' items, by the names and namespaces their files give them.
    for id in [
        "RoleBinding/default/prometheus-k8s",
        "RoleBinding/kube-system/prometheus-k8s",
        "RoleBinding/monitoring/prometheus-k8s",
        "Role/kube-system/prometheus-k8s",
        "ConfigMap/monitoring/grafana-dashboard-alertmanager-overview",
    ] {
        assert!(ids.contains(id), "{id} not rendered: {ids:?}");
    }
    // Each item of a list keeps its own lines, inside its file and apart from the others.
    let items: Vec<_> = rendered
        .manifests
        .iter()
        .filter(|m| m.source.file == "manifests/prometheus-roleBindingSpecificNamespaces.yaml")
        .map(|m| (m.source.line, m.source.end_line))
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items.windows(2).all(|w| w[0].1 < w[1].0), "{items:?}");
    let file = std::fs::read_to_string(
        repo.dir()
            .join("manifests/prometheus-roleBindingSpecificNamespaces.yaml"),
    )
    .unwrap();
    let lines: Vec<&str> = file.lines().collect();
    for (first, _) in &items {
        assert!(lines[first - 1].starts_with("- "), "{}", lines[first - 1]);
    }
}

/// The item-by-item parse of large list documents (kept by item text across versions) gives
/// exactly the whole parse, on the last 30 versions of kube-prometheus' 25,000-line dashboards
/// file and on its other list files.
#[test]
fn list_documents_parse_by_items_as_whole_on_kube_prometheus_history() {
    use kubectl_gitops::render::documents::{Format, ItemCache, parse, parse_with};
    let Some(repo) = clone("kube-prometheus") else {
        return;
    };
    let file = "manifests/grafana-dashboardDefinitions.yaml";
    let versions = repo.git(&["log", "--first-parent", "-30", "--format=%H", "--", file]);
    let cache = ItemCache::default();
    let mut checked = 0;
    for commit in versions.lines() {
        let text = repo.git(&["show", &format!("{commit}:{file}")]);
        let whole = parse(Format::Yaml, text.as_bytes()).unwrap();
        let by_items = parse_with(Format::Yaml, text.as_bytes(), Some(&cache)).unwrap();
        assert!(whole == by_items, "{file} at {commit}");
        checked += 1;
    }
    assert_eq!(checked, 30);
    for file in [
        "manifests/prometheus-roleBindingSpecificNamespaces.yaml",
        "manifests/prometheus-roleSpecificNamespaces.yaml",
    ] {
        let text = std::fs::read(repo.dir().join(file)).unwrap();
        assert!(
            parse(Format::Yaml, &text).unwrap()
                == parse_with(Format::Yaml, &text, Some(&cache)).unwrap()
        );
    }
}

/// The fast YAML path gives serde-saphyr's value for every document it takes, on every YAML
/// file of every corpus repository at HEAD, and of kube-prometheus at HEAD~20 and HEAD~60
/// too; and it takes nearly all of kube-prometheus' manifests (the benchmarks rely on it).
/// The same documents, written back by `drift::yaml_out` (one scalar cache for them all, as
/// a comparison shares one), are byte for byte what serde-saphyr writes.
#[test]
fn fast_yaml_equals_serde_saphyr_on_every_corpus_document() {
    use kubectl_gitops::drift::{to_yaml_plain, yaml_out};
    use kubectl_gitops::render::documents::{
        parse_yaml_fast, parse_yaml_plain, yaml_document_texts, yaml_document_texts_plain,
    };
    let mut scalars = yaml_out::Scalars::default();
    let Some(dir) = corpus() else {
        return;
    };
    let mut bundles: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".bundle").map(str::to_owned)
        })
        .collect();
    bundles.sort();
    assert!(bundles.len() >= 5, "bundles: {bundles:?}");
    for name in &bundles {
        let repo = clone(name).unwrap();
        let commits: &[&str] = if name == "kube-prometheus" {
            &["HEAD", "HEAD~20", "HEAD~60"]
        } else {
            &["HEAD"]
        };
        let (mut documents, mut taken, mut manifests, mut manifests_taken) = (0, 0, 0, 0);
        let (mut objects, mut written) = (0, 0);
        for commit in commits {
            let files = repo.git(&["ls-tree", "-r", "--name-only", commit]);
            for file in files
                .lines()
                .filter(|f| f.ends_with(".yaml") || f.ends_with(".yml"))
            {
                let text = if *commit == "HEAD" {
                    match std::fs::read_to_string(repo.dir().join(file)) {
                        Ok(text) => text,
                        Err(_) => continue, // not UTF-8, or a symlink to nothing
                    }
                } else {
                    repo.git(&["show", &format!("{commit}:{file}")])
                };
                let texts = yaml_document_texts(&text);
                assert_eq!(
                    texts,
                    yaml_document_texts_plain(&text),
                    "{name} {commit}:{file}"
                );
                for document in texts {
                    documents += 1;
                    let in_manifests = file.starts_with("manifests/");
                    manifests += usize::from(in_manifests);
                    if let Ok(Some(value)) = parse_yaml_plain(document)
                        && value.is_object()
                    {
                        objects += 1;
                        if let Some(fast) = yaml_out::to_yaml(&value, &mut scalars) {
                            written += 1;
                            assert!(
                                Some(&fast) == to_yaml_plain(&value).ok().as_ref(),
                                "{name} {commit}:{file}: yaml_out writes another text than \
                                 serde-saphyr for:\n{document}"
                            );
                        }
                    }
                    let Some(fast) = parse_yaml_fast(document) else {
                        continue;
                    };
                    taken += 1;
                    manifests_taken += usize::from(in_manifests);
                    let plain = parse_yaml_plain(document);
                    assert!(
                        matches!(&plain, Ok(Some(value)) if *value == fast),
                        "{name} {commit}:{file}: the fast path gives another value than \
                         serde-saphyr ({plain:?}) for:\n{document}"
                    );
                }
            }
        }
        eprintln!(
            "{name}: {taken} of {documents} documents taken by the fast path; \
             {written} of {objects} objects written by yaml_out"
        );
        assert!(taken > 0, "{name}: no document taken");
        assert!(
            written * 100 >= objects * 95,
            "{name}: {written} of {objects} written"
        );
        if name == "kube-prometheus" {
            assert!(
                manifests_taken * 100 >= manifests * 95,
                "{manifests_taken} of {manifests} manifests/ documents taken"
            );
        }
    }
}

/// History's proof of which resources a file change touched, by the nodes that differ
/// (`node_diff`), equals parsing both versions, on every YAML file kube-prometheus changed
/// in its last 40 commits: CRDs of 10,000 lines, a 25,000-line `ConfigMapList` (by item),
/// rules files with PromQL in block scalars.
#[test]
fn changed_documents_by_nodes_equal_parsing_on_kube_prometheus_history() {
    use kubectl_gitops::render::documents::{Document, Format, list_items, parse};
    use kubectl_gitops::render::node_diff::changed_documents;
    let Some(repo) = clone("kube-prometheus") else {
        return;
    };
    // Each resource's lines and value: a document, or each item of a list document.
    fn resources(docs: &[Document]) -> Vec<((usize, usize), Value)> {
        docs.iter()
            .flat_map(|d| match list_items(&d.value) {
                Some(Ok(items)) if d.item_lines.len() == items.len() => d
                    .item_lines
                    .iter()
                    .copied()
                    .zip(items.iter().cloned())
                    .collect::<Vec<_>>(),
                _ => vec![((d.line, d.end_line), d.value.clone())],
            })
            .collect()
    }
    let log = repo.git(&[
        "log",
        "--first-parent",
        "-40",
        "--format=%H",
        "--",
        "manifests",
    ]);
    let (mut pairs, mut proven, mut modified) = (0, 0, 0);
    for commit in log.lines() {
        let raw = repo.git(&["diff-tree", "-r", "--no-renames", commit, "--", "manifests"]);
        for line in raw.lines().skip(1) {
            // `:100644 100644 <old> <new> M\t<path>`
            let (meta, path) = line.split_once('\t').unwrap();
            let fields: Vec<&str> = meta.split(' ').collect();
            if fields[4] != "M" || !path.ends_with(".yaml") {
                continue;
            }
            let old = repo.git(&["cat-file", "blob", fields[2]]);
            let new = repo.git(&["cat-file", "blob", fields[3]]);
            let (Ok(a), Ok(b)) = (
                parse(Format::Yaml, old.as_bytes()),
                parse(Format::Yaml, new.as_bytes()),
            ) else {
                continue;
            };
            let (a, b) = (resources(&a), resources(&b));
            let lines: Vec<(usize, usize)> = b.iter().map(|(lines, _)| *lines).collect();
            pairs += 1;
            let Some(proof) = changed_documents(old.as_bytes(), new.as_bytes(), &lines) else {
                continue;
            };
            proven += 1;
            let at = format!("{path} at {commit}");
            // Each new resource: where it was in the old version (by identity) and whether
            // its value changed; `None` when it is new (an item added to a list).
            let identity = |v: &Value| {
                (
                    v["apiVersion"].clone(),
                    v["kind"].clone(),
                    v["metadata"]["name"].clone(),
                    v["metadata"]["namespace"].clone(),
                )
            };
            let expected: Vec<(Option<(usize, usize)>, bool)> = b
                .iter()
                .map(
                    |(_, y)| match a.iter().find(|(_, x)| identity(x) == identity(y)) {
                        Some((lines, x)) => (Some(*lines), x != y),
                        None => (None, false),
                    },
                )
                .collect();
            // Every old resource is still there: the proof never hides a removal.
            assert_eq!(
                expected.iter().filter(|(lines, _)| lines.is_some()).count(),
                a.len(),
                "{at}"
            );
            let got: Vec<(Option<(usize, usize)>, bool)> = proof
                .old_lines
                .iter()
                .copied()
                .zip(proof.modified.iter().copied())
                .map(|(lines, m)| (lines, lines.is_some() && m))
                .collect();
            assert_eq!(got, expected, "{at}");
            modified += expected.iter().filter(|(_, m)| *m).count();
        }
    }
    // The proof answers for most changes, not only for the easy ones.
    assert!(
        pairs > 100 && proven * 10 > pairs * 8,
        "{proven} of {pairs} proven"
    );
    assert!(modified > 100, "{modified}");
    eprintln!("{proven} of {pairs} file changes proven by nodes, {modified} resources modified");
}

/// kube-prometheus `manifests/` (plain files and list documents): `diff --from` between pairs
/// of commits gives the resource changes that reading both commits' files as kubectl reads them
/// gives; the Markdown comment of the largest pair keeps every row under 65,000 characters.
#[test]
fn diff_from_equals_the_reference_on_kube_prometheus() {
    use reference_diff::{Reference, our_changes, reference_changes, reference_objects};
    let Some(repo) = clone("kube-prometheus") else {
        return;
    };
    let mut total = 0;
    for (from, rev) in [
        ("HEAD~20", "HEAD"),
        ("HEAD~60", "HEAD~20"),
        ("HEAD~300", "HEAD"),
    ] {
        let [from, rev] = [from, rev].map(|r| repo.git(&["rev-parse", r]).trim().to_owned());
        let expected = reference_changes(
            &reference_objects(repo.dir(), &from, "manifests", Reference::Plain),
            &reference_objects(repo.dir(), &rev, "manifests", Reference::Plain),
        );
        let args = [
            "--path",
            "manifests",
            "diff",
            "--from",
            &from,
            "--rev",
            &rev,
        ];
        let run = offline(&repo, &[&args[..], &["-o", "json"]].concat(), &[]);
        let code = if expected.is_empty() { 0 } else { 1 };
        let run = run.code_is(code);
        assert_eq!(our_changes(&run.json()), expected, "{from}..{rev}");
        total += expected.len();
        let markdown =
            offline(&repo, &[&args[..], &["-o", "markdown"]].concat(), &[]).code_is(code);
        assert!(markdown.stdout.chars().count() < 65_000, "{from}..{rev}");
        for (id, change) in &expected {
            let name = id.rsplit('/').next().unwrap();
            assert!(
                markdown.stdout.contains(&format!("| {change} |"))
                    && markdown.stdout.contains(&format!(" | {name} |")),
                "{id} has no row in the comment of {from}..{rev}"
            );
        }
    }
    assert!(total > 20, "the pairs change little: {total}");
}

/// kube-prometheus `manifests/`: `diff --from` read back from what an earlier run kept (the
/// commits' indexes, each pair's hunks and changes) prints exactly what computing it prints
/// (`--no-cache`), in every format, and the second run renders no commit.
#[test]
fn diff_from_kept_comparisons_equal_computing_on_kube_prometheus() {
    let Some(repo) = clone("kube-prometheus") else {
        return;
    };
    for (from, rev) in [("HEAD~20", "HEAD"), ("HEAD~60", "HEAD~20")] {
        let [from, rev] = [from, rev].map(|r| repo.git(&["rev-parse", r]).trim().to_owned());
        let args = [
            "--path",
            "manifests",
            "diff",
            "--from",
            &from,
            "--rev",
            &rev,
            "-v",
        ];
        for format in ["text", "json", "markdown", "porcelain", "yaml"] {
            let with = |extra: &[&str]| {
                offline(&repo, &[&args[..], &["-o", format], extra].concat(), &[]).code_is(1)
            };
            let computed = with(&["--no-cache"]);
            let cold = with(&[]);
            let warm = with(&[]);
            assert_eq!(cold.stdout, computed.stdout, "{format} {from}..{rev} cold");
            assert_eq!(warm.stdout, computed.stdout, "{format} {from}..{rev} warm");
            assert!(
                warm.stderr.contains("renders=0"),
                "{format} {from}..{rev}: {}",
                warm.stderr
            );
            assert!(computed.stderr.contains("renders=2"), "{}", computed.stderr);
        }
    }
}

/// Kustomize units of three repositories: our resources are the ones `kubectl kustomize`
/// builds, unit by unit.
#[test]
fn kustomize_units_match_kubectl_kustomize() {
    let cases = [
        ("argocd-example-apps", "kustomize-guestbook"),
        ("flux2-kustomize-helm-example", "apps/staging"),
        ("flux2-kustomize-helm-example", "infrastructure/controllers"),
        ("xunholy-k8s-gitops", "kubernetes/apps/base/home-system"),
        ("xunholy-k8s-gitops", "kubernetes/apps/base/observability"),
    ];
    for (name, path) in cases {
        let Some(repo) = clone(name) else {
            return;
        };
        let mut rendered = render_head(&repo, path);
        assert!(
            rendered.errors.iter().all(chart_unavailable),
            "{name} {path}: {:?}",
            rendered.errors
        );
        // What kustomize builds: the objects the HelmReleases deploy are helm's.
        rendered.manifests.retain(|m| m.owner.is_none());
        let built = run_tool(Path::new("kubectl"), &["kustomize", path], repo.dir());
        let theirs = output_ids(&built, &rendered);
        assert!(!theirs.is_empty(), "{name} {path}: kubectl built nothing");
        assert_eq!(rendered_ids(&rendered), theirs, "{name} {path}");
    }
}

/// Every kustomize unit of the corpus repositories at HEAD builds the same (resources and
/// their files) from a workspace holding only what the unit's kustomizations name as from one
/// holding the whole tree: the paths a render writes for `kubectl kustomize` are enough.
#[test]
fn kustomize_units_build_from_what_they_read_as_from_the_whole_tree() {
    use kubectl_gitops::render::{RenderCache, kustomize, units};
    let repos = [
        "argocd-example-apps",
        "flux2-kustomize-helm-example",
        "flux2-multi-tenancy",
        "kube-prometheus",
        "xunholy-k8s-gitops",
    ];
    let mut built = 0;
    for name in repos {
        let Some(fixture) = clone(name) else {
            return;
        };
        let repo = kubectl_gitops::repo::EnvRepo::open(fixture.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        let opts = RenderOptions::new("", "default");
        let whole = kustomize::Workspace::whole(&repo, head).unwrap();
        let cache = RenderCache::new();
        let kubectl = kustomize::default_kubectl();
        // Units at every depth: the topmost ones of the repo and those below them.
        let mut all = units(&repo, head, &opts).unwrap();
        for dir in fixture
            .git(&["ls-tree", "-r", "--name-only", "HEAD"])
            .lines()
            .filter_map(|f| f.strip_suffix("/kustomization.yaml"))
        {
            let below = RenderOptions::new(dir, "default");
            all.extend(units(&repo, head, &below).unwrap());
        }
        all.sort_by(|a, b| a.dir.cmp(&b.dir));
        all.dedup();
        for unit in all
            .iter()
            .filter(|u| u.kind == kustomize::UnitKind::Kustomize)
        {
            let subset = kustomize::Workspace::new(head).unwrap();
            subset.prepare(&repo, unit).unwrap();
            let ours = kustomize::build(&repo, head, unit, &subset, &kubectl, &cache);
            let theirs = kustomize::build(&repo, head, unit, &whole, &kubectl, &cache);
            // kubectl's log prefix (time, pid) differs between two runs; what it says does not.
            let message = |r: &Result<_, kubectl_gitops::render::RenderError>| {
                r.as_ref().err().map(|e| {
                    let m = e.message.as_str();
                    m.split_once(" err=").map_or(m, |(_, said)| said).to_owned()
                })
            };
            assert_eq!(message(&ours), message(&theirs), "{name} {}", unit.dir);
            assert_eq!(ours.ok(), theirs.ok(), "{name} {}", unit.dir);
            built += 1;
        }
    }
    assert!(built > 50, "{built} units");
    eprintln!("{built} kustomize units built both ways");
}

/// argocd-example-apps: chart directories are Helm units rendered by `helm template` (the same
/// resources), never parsed as manifests; without helm each is one error naming the chart and
/// helm; a chart whose dependency is not vendored fails as helm fails; jsonnet is a warning.
#[test]
fn argocd_example_apps_charts_are_helm_units_and_jsonnet_is_named() {
    let Some(repo) = clone("argocd-example-apps") else {
        return;
    };
    // helm template as Argo CD's repo server runs it, against ours.
    for chart in ["helm-guestbook", "blue-green"] {
        let rendered = render_head(&repo, chart);
        assert!(rendered.errors.is_empty(), "{chart}: {:?}", rendered.errors);
        let reference = run_tool(
            &helm(),
            &[
                "template",
                chart,
                chart,
                "--namespace",
                "default",
                "--include-crds",
            ],
            repo.dir(),
        );
        let theirs = output_ids(&reference, &rendered);
        assert!(!theirs.is_empty(), "{chart}: helm rendered nothing");
        assert_eq!(rendered_ids(&rendered), theirs, "{chart}");
        // Sources are the chart's template files.
        for m in &rendered.manifests {
            assert!(
                m.source.file.starts_with(&format!("{chart}/templates/")),
                "{chart}: {}",
                m.source.file
            );
        }
    }

    // The whole repo through the CLI: blame of a chart-made resource names its template.
    let run = offline(
        &repo,
        &["--path", "helm-guestbook", "history", "-o", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(!history_ids(&run).is_empty(), "{run}");

    // No helm: one error per chart unit, naming it and helm; no template parsed.
    let run = offline(
        &repo,
        &["--path", "helm-guestbook", "history", "--limit", "1"],
        &[("HELM_BINARY", "/nonexistent/helm")],
    );
    assert_eq!(run.code, 2, "{run}");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("helm")).collect();
    assert_eq!(errors.len(), 1, "{run}");
    assert!(
        errors[0].contains("helm-guestbook") && errors[0].contains("HELM_BINARY"),
        "{run}"
    );
    assert!(!run.stderr.contains("templates/"), "{run}");

    // A dependency that is not vendored: helm's own message, on the unit.
    let run = offline(
        &repo,
        &["--path", "helm-dependency", "history", "--limit", "1"],
        &[],
    );
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("helm-dependency"), "{run}");
    assert!(run.stderr.contains("helm template failed"), "{run}");

    // jsonnet: named in a warning, never silently empty.
    let rendered = render_head(&repo, "jsonnet-guestbook");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert!(rendered.manifests.is_empty());
    assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
    assert_eq!(rendered.warnings[0].file, "jsonnet-guestbook");
    assert!(rendered.warnings[0].message.contains("jsonnet"));
}

/// argocd-example-apps `apps`: an app of apps (a Helm chart of Applications in `argocd`,
/// named `example.<app>`, each with its own destination namespace) whose Applications point
/// back into the repo: each is rendered as Argo CD renders it (directory, kustomize, helm),
/// its objects owned by it, in its destination namespace. jsonnet and plugin apps are one
/// error each, as is helm-dependency (its dependency is not vendored and is not fetched).
#[test]
fn argocd_example_apps_app_of_apps_renders_each_application() {
    let Some(repo) = clone("argocd-example-apps") else {
        return;
    };
    // The Applications' repoURL must match a remote of the clone.
    repo.git(&[
        "remote",
        "set-url",
        "origin",
        "https://github.com/argoproj/argocd-example-apps",
    ]);
    let started = std::time::Instant::now();
    let rendered = render_head(&repo, "apps");
    eprintln!("apps: rendered in {:?}", started.elapsed());
    let mut errors: Vec<String> = rendered
        .errors
        .iter()
        .map(|e| {
            assert_eq!(e.file, "apps/templates/applications.yaml", "{e}");
            let name = e.message.split(':').next().unwrap_or("").to_owned();
            let why = if e.message.contains("jsonnet is not rendered") {
                "jsonnet"
            } else if e.message.contains("config management plugins are not run") {
                "plugin"
            } else if e
                .message
                .contains("helm template of helm-dependency failed")
            {
                "dependency"
            } else {
                panic!("unexpected: {e}")
            };
            format!("{name}: {why}")
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            "Application argocd/example.helm-dependency: dependency",
            "Application argocd/example.jsonnet-guestbook-tla: jsonnet",
            "Application argocd/example.jsonnet-guestbook: jsonnet",
            "Application argocd/example.plugin-kasane: plugin",
            "Application argocd/example.plugin-kustomized-helm: plugin",
            "Application argocd/example.plugin-nix: plugin",
        ]
    );
    let app = manifest(&rendered, "Application/argocd/example.guestbook");
    assert_eq!(owner_of(app), "none");
    // directory
    let ui = manifest(&rendered, "Deployment/guestbook/guestbook-ui");
    assert_eq!(owner_of(ui), "Application argocd/example.guestbook");
    assert_eq!(ui.source.file, "guestbook/guestbook-ui-deployment.yaml");
    // helm: release name from the Application's releaseName
    let helm_ui = manifest(&rendered, "Deployment/helm-guestbook/helm-guestbook");
    assert_eq!(
        owner_of(helm_ui),
        "Application argocd/example.helm-guestbook"
    );
    assert_eq!(
        helm_ui.source.file,
        "helm-guestbook/templates/deployment.yaml"
    );
    // kustomize: the kustomization's prefix
    for id in [
        "Deployment/kustomize-guestbook/kustomize-guestbook-ui",
        "Service/kustomize-guestbook/kustomize-guestbook-ui",
    ] {
        assert_eq!(
            owner_of(manifest(&rendered, id)),
            "Application argocd/example.kustomize-guestbook"
        );
    }
    // Everything else renders: each remaining Application owns objects.
    for name in [
        "blue-green",
        "helm-hooks",
        "pre-post-sync",
        "sock-shop",
        "sync-waves",
    ] {
        let owner = format!("Application argocd/example.{name}");
        assert!(
            rendered.manifests.iter().any(|m| owner_of(m) == owner),
            "{name}: nothing rendered"
        );
    }
    // History follows the applications' paths.
    let env = kubectl_gitops::repo::EnvRepo::open(repo.dir()).unwrap();
    let head = env.resolve("HEAD").unwrap();
    let mut opts = RenderOptions::new("apps", "default");
    opts.helm = Some(helm());
    let inputs = kubectl_gitops::render::environment_inputs(&env, head, &opts).unwrap();
    for read in [
        "apps",
        "guestbook",
        "helm-guestbook",
        "kustomize-guestbook",
        "sock-shop",
    ] {
        assert!(inputs.iter().any(|i| i == read), "{read} not in {inputs:?}");
    }
}

/// `history` lists exactly git's first-parent commits of the environment's inputs, the ones
/// that changed no resource included (listed as such), on real layouts.
#[test]
fn history_lists_the_commits_git_log_lists() {
    // (repo, --path, the inputs git is asked about, --limit)
    let cases = [
        ("argocd-example-apps", "guestbook", &["guestbook"][..], None),
        (
            "flux2-multi-tenancy",
            "tenants/staging",
            // Its kustomization's base lies outside the path.
            &["tenants/staging", "tenants/base/dev-team"][..],
            None,
        ),
        (
            "flux2-kustomize-helm-example",
            "apps/staging",
            &["apps/staging", "apps/base/podinfo"][..],
            None,
        ),
        ("kube-prometheus", "manifests", &["manifests"][..], Some(40)),
        // A Flux folder built by one kustomization whose component lies three levels up.
        (
            "xunholy-k8s-gitops",
            "kubernetes/apps/base/home-system",
            &[
                "kubernetes/apps/base/home-system",
                "kubernetes/components/common",
            ][..],
            None,
        ),
    ];
    for (name, path, inputs, limit) in cases {
        let Some(repo) = clone(name) else {
            return;
        };
        let mut args = vec!["--path", path, "history", "-o", "json"];
        let limit_text = limit.map(|l: usize| l.to_string());
        if let Some(limit) = &limit_text {
            args.extend(["--limit", limit]);
        }
        let run = offline(&repo, &args, &[]);
        // Exit 2 only for HelmReleases whose charts are not reachable here (one error each).
        let chart_errors_only = run.code == 2
            && run
                .stderr
                .lines()
                .filter(|l| l.contains("error"))
                .all(|l| l.contains("cannot get chart"));
        assert!(run.code == 0 || chart_errors_only, "{name} {path}: {run}");
        let mut git_args = vec!["log", "--first-parent", "--format=%H"];
        let git_limit = limit.map(|l| format!("-{l}"));
        if let Some(limit) = &git_limit {
            git_args.push(limit);
        }
        git_args.push("--");
        git_args.extend(inputs);
        let git: Vec<String> = repo.git(&git_args).lines().map(str::to_owned).collect();
        assert!(git.len() > 3, "{name} {path}: {git:?}");
        assert_eq!(history_ids(&run), git, "{name} {path}");
    }
}

/// `blame -o json` of kube-prometheus' operator Deployment, offline.
fn blame_operator(repo: &EnvRepo) -> Run {
    offline(
        repo,
        &[
            "--path",
            "manifests",
            "-n",
            "monitoring",
            "blame",
            "deployment/prometheus-operator",
            "-o",
            "json",
        ],
        &[],
    )
}

/// `blame` of kube-prometheus' operator Deployment agrees with `git blame --porcelain` on every
/// line.
#[test]
fn blame_agrees_with_git_blame_on_kube_prometheus() {
    let Some(repo) = clone("kube-prometheus") else {
        return;
    };
    let run = blame_operator(&repo);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    assert!(doc["lines"].as_array().unwrap().len() > 50, "{run}");
    let (ours, theirs) = cli_env::blame_commits_and_git(&repo, "HEAD", &doc);
    assert_eq!(ours, theirs);
}

/// A shallow clone of kube-prometheus (`git clone --depth 30`, as CI systems check out): the
/// history is what `git log` lists there, its boundary commit adding every resource as a root
/// commit would, the same again from the caches, and blame agrees with `git blame` in the clone.
#[test]
fn a_shallow_clone_has_the_history_git_log_gives_it() {
    let Some(full) = clone("kube-prometheus") else {
        return;
    };
    let repo = full.shallow_clone(30);
    let args = ["--path", "manifests", "history", "-o", "json"];
    let run = offline(&repo, &args, &[]);
    assert_eq!(run.code, 0, "{run}");
    let git: Vec<String> = repo
        .git(&["log", "--first-parent", "--format=%H", "--", "manifests"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(git.len() > 3, "{git:?}");
    assert_eq!(history_ids(&run), git);
    let boundary = run.json()["commits"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    let added = boundary["changes"].as_array().unwrap();
    assert!(added.len() > 50, "{} changes", added.len());
    assert!(
        added.iter().all(|c| c["change"] == "added"),
        "{}",
        boundary["id"]
    );
    let again = offline(&repo, &args, &[]);
    assert_eq!(again.stdout, run.stdout);

    let blame = blame_operator(&repo);
    assert_eq!(blame.code, 0, "{blame}");
    let (ours, theirs) = cli_env::blame_commits_and_git(&repo, "HEAD", &blame.json());
    assert_eq!(ours, theirs);
}

/// Deletes what kube-prometheus' files create, as kubectl reads them, when the test ends (a
/// real cluster keeps cluster-scoped objects and the `monitoring` namespace).
struct KubectlCleanup<'a> {
    cluster: &'a TestCluster,
    dir: PathBuf,
}

impl Drop for KubectlCleanup<'_> {
    fn drop(&mut self) {
        if self.cluster.is_real() {
            let dir = self.dir.display().to_string();
            let _ = self.cluster.kubectl_raw(&[
                "delete",
                "-R",
                "-f",
                &dir,
                "--ignore-not-found",
                "--wait=false",
            ]);
        }
    }
}

/// kube-prometheus `manifests/` on a cluster: sync creates exactly what kubectl reads from the
/// files (list items included), `status` is then all Synced with exit 0 while the APIService's
/// backend never runs (its group's discovery answers 503), one injected drift is found alone,
/// and `sync --prune` removes the member dropped from git and nothing else.
#[test]
fn kube_prometheus_syncs_and_reports_drift_on_a_cluster() {
    let Some(mut repo) = clone("kube-prometheus") else {
        return;
    };
    let cluster = TestCluster::start();
    let _cleanup = KubectlCleanup {
        cluster: &cluster,
        dir: repo.dir().join("manifests"),
    };
    let env = cluster.unique_name("kp");
    repo.commit(
        "gitops config",
        &[(
            ".kubectl-gitops.yaml",
            &format!(
                "env: {env}\napplySet: {{namespace: {}}}\n",
                cluster.namespace()
            ),
        )],
    );
    let gitops = Gitops::new(&cluster, &repo);
    let sync = gitops.run(&["--path", "manifests", "sync", "--yes", "-o", "json"]);
    assert_eq!(sync.code, 0, "{sync}");
    let results = sync.json()["resources"].as_array().unwrap().clone();
    assert!(results.iter().all(|r| r["result"] == "created"), "{sync}");
    // kubectl's `-o name` does not say the namespace: compare kinds and names.
    let synced: BTreeSet<String> = results
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["kind"].as_str().unwrap().to_ascii_lowercase(),
                r["name"].as_str().unwrap()
            )
        })
        .collect();
    // kubectl's reading of the same files, through a server-side dry-run now that the CRDs exist.
    let manifests = repo.dir().join("manifests").display().to_string();
    let kubectl = cluster
        .kubectl_raw(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--force-conflicts",
            "--field-manager",
            "kubectl-gitops",
            "-R",
            "-f",
            &manifests,
            "-o",
            "name",
        ])
        .success();
    let theirs: BTreeSet<String> = kubectl
        .stdout
        .lines()
        .map(|l| {
            // `<kind>.<group>/<name>`, the kind in lower case.
            let (kind, name) = l.split_once('/').unwrap();
            format!("{}/{name}", kind.split('.').next().unwrap())
        })
        .collect();
    assert_eq!(synced, theirs);

    let status = gitops.run(&["--path", "manifests", "status", "-o", "json"]);
    assert_eq!(status.code, 0, "{status}");
    let doc = status.json();
    assert_eq!(doc["summary"]["Synced"], results.len(), "{status}");
    // The APIService's group answers 503, but no manifest is of its kinds: discovery never
    // asks it (SPEC §5), so no warning (the case of a used group is at the end).
    assert_eq!(doc["warnings"], serde_json::json!([]), "{status}");
    let text = gitops.run(&["--path", "manifests", "status"]);
    assert_eq!(text.code, 0, "{text}");
    assert!(!text.stderr.contains("metrics.k8s.io"), "{text}");

    // One drift, made as an operator would.
    cluster
        .kubectl_raw(&[
            "-n",
            "monitoring",
            "patch",
            "configmap",
            "grafana-dashboards",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"app.kubernetes.io/version":"hand-edited"}}}"#,
        ])
        .success();
    let status = gitops.run(&["--path", "manifests", "status", "-o", "json"]);
    assert_eq!(status.code, 1, "{status}");
    let drifted: Vec<String> = status.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "Synced")
        .map(|r| format!("{} {} {}", r["status"], r["kind"], r["name"]))
        .collect();
    assert_eq!(drifted, [r#""Drifted" "ConfigMap" "grafana-dashboards""#]);

    // An object kubectl made beside the environment, and a member dropped from git.
    cluster
        .kubectl_raw(&["-n", "monitoring", "create", "configmap", "not-ours"])
        .success();
    repo.git(&["rm", "-q", "manifests/nodeExporter-serviceMonitor.yaml"]);
    repo.git(&[
        "commit",
        "-q",
        "-m",
        "drop the node-exporter ServiceMonitor",
    ]);
    let prune = gitops.run(&[
        "--path",
        "manifests",
        "sync",
        "--prune",
        "--yes",
        "-o",
        "json",
    ]);
    assert_eq!(prune.code, 0, "{prune}");
    let pruned: Vec<String> = prune.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "pruned")
        .map(|r| {
            format!(
                "{}/{}",
                r["kind"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(pruned, ["ServiceMonitor/node-exporter"], "{prune}");
    cluster
        .kubectl_raw(&["-n", "monitoring", "get", "configmap", "not-ours"])
        .success();
    let gone = cluster.kubectl_raw(&["-n", "monitoring", "get", "servicemonitor", "node-exporter"]);
    assert_ne!(gone.code(), 0, "{gone}");

    // A manifest of the unavailable group's kinds: that group is asked, answers 503, and is one
    // warning, as kubectl gives one; only its resource is Unknown, the rest still compared.
    repo.commit(
        "a kind of the unavailable group",
        &[(
            "manifests/zz-node-metrics.yaml",
            "apiVersion: metrics.k8s.io/v1beta1\nkind: NodeMetrics\nmetadata:\n  name: node-a\n",
        )],
    );
    let status = gitops.run(&["--path", "manifests", "status", "-o", "json"]);
    assert_eq!(status.code, 2, "{status}");
    let doc = status.json();
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|w| w.contains("metrics.k8s.io/v1beta1"))
        .collect();
    assert_eq!(warnings.len(), 1, "{status}");
    assert!(warnings[0].contains("503"), "{status}");
    let not_synced: Vec<String> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "Synced")
        .map(|r| format!("{} {} {}", r["status"], r["kind"], r["error"]))
        .collect();
    assert_eq!(not_synced.len(), 1, "{status}");
    assert!(
        not_synced[0].starts_with(r#""Unknown" "NodeMetrics""#)
            && not_synced[0].contains("discovery of metrics.k8s.io/v1beta1 failed"),
        "{not_synced:?}"
    );
    let text = gitops.run(&["--path", "manifests", "status"]);
    assert_eq!(text.code, 2, "{text}");
    assert_eq!(
        text.stderr
            .matches("did not answer discovery of metrics.k8s.io/v1beta1")
            .count(),
        1,
        "{text}"
    );
}

/// The manifest of `kind/namespace/name` (namespace `-` for none), else a failure listing
/// what was rendered.
fn manifest<'a>(rendered: &'a Rendered, id: &str) -> &'a kubectl_gitops::model::Manifest {
    rendered
        .manifests
        .iter()
        .find(|m| {
            format!(
                "{}/{}/{}",
                m.id.kind,
                m.id.namespace.as_deref().unwrap_or("-"),
                m.id.name
            ) == id
        })
        .unwrap_or_else(|| panic!("{id} not rendered: {:?}", rendered_ids(rendered)))
}

fn owner_of(manifest: &kubectl_gitops::model::Manifest) -> String {
    manifest
        .owner
        .as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}

/// flux2-kustomize-helm-example: a cluster directory holds only Flux objects; what the cluster
/// runs comes from its Kustomizations, whose ExternalArtifacts an ArtifactGenerator copies out
/// of `apps/` and `infrastructure/`. Each cluster gets its own values patch (HelmRelease) and
/// ACME server patch (ClusterIssuer, from the Kustomization's `spec.patches`).
#[test]
fn flux_kustomizations_render_the_cluster_directories() {
    let Some(repo) = clone("flux2-kustomize-helm-example") else {
        return;
    };
    for (cluster, hostname, acme) in [
        (
            "clusters/staging",
            "podinfo.staging",
            "https://acme-staging-v02.api.letsencrypt.org/directory",
        ),
        (
            "clusters/production",
            "podinfo.production",
            "https://acme-v02.api.letsencrypt.org/directory",
        ),
    ] {
        let started = std::time::Instant::now();
        let rendered = render_head(&repo, cluster);
        eprintln!("{cluster}: rendered in {:?}", started.elapsed());
        // The infrastructure charts come from OCI registries this machine cannot reach and
        // the cache does not hold: one error each, on the HelmRelease, naming the chart.
        let mut unavailable: Vec<String> = rendered
            .errors
            .iter()
            .map(|e| {
                assert!(chart_unavailable(e), "{cluster}: {e}");
                format!("{}:{}", e.file, e.line.unwrap_or(0))
            })
            .collect();
        unavailable.sort();
        assert_eq!(
            unavailable,
            [
                "infrastructure/controllers/cert-manager.yaml:23",
                "infrastructure/controllers/envoy-gateway.yaml:23"
            ],
            "{cluster}: {:?}",
            rendered.errors
        );
        // podinfo's chart is in the cache: what the cluster runs is rendered, owned by the
        // HelmRelease, with the cluster's values (its HTTPRoute's hostnames).
        let deployment = manifest(&rendered, "Deployment/podinfo/podinfo");
        assert_eq!(owner_of(deployment), "HelmRelease podinfo/podinfo");
        assert_eq!(deployment.source.file, "apps/base/podinfo/release.yaml");
        let route = manifest(&rendered, "HTTPRoute/podinfo/podinfo");
        assert_eq!(
            route.object["spec"]["hostnames"],
            serde_json::json!([hostname]),
            "{cluster}"
        );
        let release = manifest(&rendered, "HelmRelease/podinfo/podinfo");
        assert_eq!(owner_of(release), "Kustomization flux-system/apps");
        assert_eq!(release.source.file, "apps/base/podinfo/release.yaml");
        assert_eq!(
            release.object["spec"]["values"]["httpRoute"]["hostnames"],
            serde_json::json!([hostname]),
            "{cluster}"
        );
        for id in ["HelmRepository/podinfo/podinfo", "Namespace/-/podinfo"] {
            assert_eq!(
                owner_of(manifest(&rendered, id)),
                "Kustomization flux-system/apps"
            );
        }
        let issuer = manifest(&rendered, "ClusterIssuer/-/letsencrypt");
        assert_eq!(owner_of(issuer), "Kustomization flux-system/infra-configs");
        assert_eq!(
            issuer.source.file,
            "infrastructure/configs/cluster-issuers.yaml"
        );
        assert_eq!(issuer.object["spec"]["acme"]["server"], acme, "{cluster}");
        // The cluster's own objects stay --path's, the Kustomizations among them.
        let apps = manifest(&rendered, "Kustomization/flux-system/apps");
        assert_eq!(owner_of(apps), "none");
        assert_eq!(apps.source.file, format!("{cluster}/apps.yaml"));
    }
    // History of a cluster directory lists the commits that changed what it renders.
    let env = kubectl_gitops::repo::EnvRepo::open(repo.dir()).unwrap();
    let head = env.resolve("HEAD").unwrap();
    let inputs = kubectl_gitops::render::environment_inputs(
        &env,
        head,
        &RenderOptions::new("clusters/staging", "default"),
    )
    .unwrap();
    for read in [
        "clusters/staging",
        "apps/staging",
        "apps/base/podinfo",
        "infrastructure/controllers",
        "infrastructure/configs",
    ] {
        assert!(inputs.iter().any(|i| i == read), "{read} not in {inputs:?}");
    }
}

/// xunholy/k8s-gitops `kubernetes/clusters/cluster-00`: Flux Kustomizations from an
/// OCIRepository pushed from `kubernetes/` and ExternalArtifacts an ArtifactGenerator copies
/// out of it; postBuild substitution from the cluster's ConfigMap (plain in the repo) and
/// Secret (SOPS-encrypted: its variables stay as written, with a warning).
#[test]
fn flux_kustomizations_of_a_large_home_lab_substitute_their_variables() {
    let Some(repo) = clone("xunholy-k8s-gitops") else {
        return;
    };
    let started = std::time::Instant::now();
    let rendered = render_head(&repo, "kubernetes/clusters/cluster-00");
    eprintln!("cluster-00: rendered in {:?}", started.elapsed());
    let flux_errors: Vec<String> = rendered
        .errors
        .iter()
        .map(ToString::to_string)
        .filter(|e| e.contains("Kustomization "))
        .collect();
    eprintln!(
        "{} errors, {} Kustomization errors",
        rendered.errors.len(),
        flux_errors.len()
    );
    for e in &rendered.errors {
        eprintln!("  {e}");
    }
    // The one error of the repo's own is that two apps define the same GrafanaDashboard; the
    // others are HelmReleases whose charts this machine cannot fetch (one error each).
    let (charts, own): (Vec<_>, Vec<_>) =
        rendered.errors.iter().partition(|e| chart_unavailable(e));
    assert!(
        own.iter().all(|e| e.message.contains(
            "duplicate resource grafana.integreatly.org/GrafanaDashboard/network-system/cloudflare-tunnels"
        )),
        "{own:?}"
    );
    assert!(charts.len() > 20, "{charts:?}");
    assert!(
        rendered.warnings.iter().any(|w| w
            .message
            .contains("Secret flux-system/cluster-secrets is SOPS-encrypted")),
        "{:?}",
        rendered.warnings
    );
    let config = manifest(&rendered, "ConfigMap/flux-system/cluster-config");
    let defined: Vec<String> = config.object["data"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let owned_by = |name: &str| {
        rendered
            .manifests
            .iter()
            .filter(|m| owner_of(m) == format!("Kustomization flux-system/{name}"))
            .collect::<Vec<_>>()
    };
    // flux-instance-extras (nested below cluster, from an ExternalArtifact) substitutes
    // `${CLUSTER_DOMAIN}` from cluster-config in its HTTPRoutes.
    let route = manifest(&rendered, "HTTPRoute/flux-system/flux");
    assert_eq!(
        owner_of(route),
        "Kustomization flux-system/flux-instance-extras"
    );
    assert_eq!(
        route.source.file,
        "kubernetes/apps/base/flux-system/flux-instance/extras/httproute.yaml"
    );
    assert_eq!(
        route.object["spec"]["hostnames"],
        serde_json::json!(["flux.owncloud.ai"])
    );
    // flux-instance: its Kustomization (inside --path) replaces --path's render of its files.
    let mut instance = owned_by("flux-instance");
    instance.extend(owned_by("flux-instance-extras"));
    assert!(!instance.is_empty(), "flux-instance rendered nothing");
    // cluster: the overlay of every app's Flux objects.
    let cluster = owned_by("cluster");
    assert!(
        cluster.len() > 100,
        "cluster rendered {} objects",
        cluster.len()
    );
    for m in instance.iter().chain(&cluster) {
        let text = m.object.to_string();
        for var in &defined {
            assert!(
                !text.contains(&format!("${{{var}}}")),
                "{} ({}) still holds ${{{var}}}",
                m.id,
                m.source.file
            );
        }
        assert!(!m.id.name.contains("${"), "{}", m.id);
    }
    // Nested: the apps' own Kustomizations render their ExternalArtifacts' directories.
    let nested = rendered
        .manifests
        .iter()
        .filter(|m| {
            m.owner
                .as_ref()
                .is_some_and(|o| o.id.namespace.as_deref() != Some("flux-system"))
        })
        .count();
    assert!(
        nested > 100,
        "{nested} objects from the apps' Kustomizations"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
}

/// The pull-request comment (`diff --from -o markdown`, SPEC §5) of ten commits of
/// flux2-kustomize-helm-example `clusters/staging`, as a reviewer reads it: podinfo's
/// HelmRelease expanded (its Ingress replaced by an HTTPRoute, the chart's redis Deployment
/// changed), the Flux Kustomizations' patches applied (the ClusterIssuer), the new
/// ArtifactGenerator and Gateway. The charts this machine cannot fetch are render errors at
/// the top; what helm says of the network is machine-dependent and filtered out.
#[test]
fn markdown_comment_of_a_flux_environment_snapshot() {
    let Some(repo) = clone("flux2-kustomize-helm-example") else {
        return;
    };
    let run = offline(
        &repo,
        &[
            "--path",
            "clusters/staging",
            "diff",
            "--from",
            "HEAD~10",
            "--rev",
            "HEAD",
            "-o",
            "markdown",
        ],
        &[],
    )
    .code_is(2);
    assert!(
        run.stdout
            .contains("| removed | Ingress | podinfo | podinfo |"),
        "{run}"
    );
    insta::with_settings!({filters => vec![
        (r"(?m)^(- at .*?\)): helm could not fetch.*$", "$1: [helm cannot reach the chart here]"),
    ]}, {
        insta::assert_snapshot!(run.stdout);
    });
}

/// History of a HelmRelease folder (issue #16): flux2-kustomize-helm-example `clusters/staging`
/// walks podinfo's HelmRelease through its commits; helm runs once per distinct (chart,
/// values) pair, not once per commit: at most once per commit that adds or modifies the
/// release (a commit that leaves it alone reuses the render), and not at all on a second walk.
/// The count is in the walk's `-v` line (`helm_runs=`).
#[test]
fn history_of_a_helm_release_runs_helm_once_per_distinct_values() {
    let Some(repo) = clone("flux2-kustomize-helm-example") else {
        return;
    };
    // A chart cache of this test's own, with no renders kept: every render is counted.
    let cache = tempfile::tempdir().unwrap();
    let archive = std::fs::read(corpus().unwrap().join("charts/podinfo-6.14.1.tgz")).unwrap();
    kubectl_gitops::render::charts::seed_chart(
        &cache.path().join("charts"),
        PODINFO_REPOSITORY,
        "podinfo",
        "6.14.1",
        &archive,
    )
    .unwrap();
    let cache_env = cache.path().display().to_string();
    let env = [("KUBECTL_GITOPS_CACHE_DIR", cache_env.as_str())];
    let walk = |args: &[&str]| {
        let run = offline(
            &repo,
            &[&["-v", "--path", "clusters/staging", "history"], args].concat(),
            &env,
        );
        assert!(run.code == 0 || run.code == 2, "{run}");
        let count = |key: &str| -> usize {
            let line = run
                .stderr
                .lines()
                .find(|l| l.contains("history walked"))
                .unwrap_or_else(|| panic!("no walk line: {run}"));
            let value = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line}"));
            value.parse().unwrap()
        };
        (count("helm_runs="), count("full_renders="), run)
    };
    let (helm_runs, full_renders, run) = walk(&["-o", "json", "--no-cache"]);
    let release_versions = run.json()["commits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|commit| {
            commit["changes"].as_array().unwrap().iter().any(|c| {
                c["kind"] == "HelmRelease" && c["name"] == "podinfo" && c["change"] != "removed"
            })
        })
        .count();
    // The podinfo chart renders (the others cannot be fetched here).
    assert!(helm_runs >= 1, "{run}");
    assert!(
        helm_runs <= release_versions,
        "helm ran {helm_runs} times for {release_versions} versions of the release"
    );
    assert!(
        helm_runs < full_renders,
        "{helm_runs} helm runs, {full_renders} renders"
    );
    eprintln!(
        "helm ran {helm_runs} times over {full_renders} rendered commits \
         ({release_versions} versions of the HelmRelease)"
    );
    // A second walk (no walk cache either) finds every render kept.
    let (again, _, _) = walk(&["--no-cache"]);
    assert_eq!(again, 0);
}

/// Blame of an object podinfo's chart made (issue #16, SPEC §11): flux2-kustomize-helm-example
/// `clusters/staging`, the redis Deployment's image line names the two lines of the
/// HelmRelease's values that make it (`redis.repository` and `redis.tag` in
/// `apps/base/podinfo/release.yaml`), each with the commit `git blame` gives that line.
#[test]
fn blame_of_a_chart_made_line_names_the_helm_release_values_lines() {
    let Some(repo) = clone("flux2-kustomize-helm-example") else {
        return;
    };
    let run = offline(
        &repo,
        &[
            "--path",
            "clusters/staging",
            "blame",
            "deploy/podinfo-redis",
            "-n",
            "podinfo",
            "-o",
            "json",
        ],
        &[],
    );
    // The infrastructure charts this machine cannot fetch are the only errors.
    assert!(run.code == 0 || run.code == 2, "{run}");
    let doc = run.json();
    assert_eq!(doc["rendered"], true, "{run}");
    let lines = doc["lines"].as_array().unwrap();
    let image = lines
        .iter()
        .find(|l| {
            l["text"].as_str().unwrap().trim() == "image: public.ecr.aws/docker/library/redis:8.6.2"
        })
        .unwrap_or_else(|| panic!("no redis image line: {run}"));
    let values = image["values"].as_array().unwrap();
    let file = "apps/base/podinfo/release.yaml";
    let content = repo.git(&["show", &format!("HEAD:{file}")]);
    let mut written: Vec<(String, String)> = Vec::new();
    for value in values {
        assert_eq!(value["file"], file, "{run}");
        let line = value["line"].as_u64().unwrap() as usize;
        let text = content.lines().nth(line - 1).unwrap().trim().to_owned();
        // Each named line's commit is the one git blame gives that line.
        let blamed = repo.git(&[
            "blame",
            "-l",
            "-L",
            &format!("{line},{line}"),
            "HEAD",
            "--",
            file,
        ]);
        let sha = blamed
            .split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches('^');
        assert_eq!(
            value["commit"]["id"].as_str().unwrap(),
            sha,
            "{file}:{line}"
        );
        written.push((value["path"].as_str().unwrap().to_owned(), text));
    }
    written.sort();
    assert_eq!(
        written,
        [
            (
                "spec.values.redis.repository".to_owned(),
                "repository: public.ecr.aws/docker/library/redis".to_owned()
            ),
            ("spec.values.redis.tag".to_owned(), "tag: 8.6.2".to_owned()),
        ],
        "{run}"
    );
    // Lines the values do not set name none (the kind, the chart's own defaults).
    let kind = lines
        .iter()
        .find(|l| l["text"] == "kind: Deployment")
        .unwrap();
    assert_eq!(kind["values"], serde_json::json!([]));

    // Flux's kinds are named offline as kubectl names them with the CRDs installed: the
    // HelmRelease itself, patched by the staging overlay, blamed on its rendered lines.
    let run = offline(
        &repo,
        &[
            "--path",
            "clusters/staging",
            "blame",
            "hr/podinfo",
            "-n",
            "podinfo",
            "-o",
            "json",
        ],
        &[],
    );
    assert!(run.code == 0 || run.code == 2, "{run}");
    let doc = run.json();
    assert_eq!(doc["resource"]["kind"], "HelmRelease", "{run}");
    assert_eq!(
        doc["source"]["file"], "apps/base/podinfo/release.yaml",
        "{run}"
    );
    assert_eq!(doc["rendered"], true, "{run}");
    assert!(
        doc["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"].as_str().unwrap().trim() == "- podinfo.staging"),
        "{run}"
    );
}

/// argocd-example-apps `apps` (an app of apps): `history` lists the first-parent commits git
/// lists for the Applications' paths, and `blame` of the guestbook's Deployment (a directory
/// source, in the Application's destination namespace) gives git blame's commits, line by line.
#[test]
fn argocd_example_apps_history_and_blame_follow_the_applications() {
    let Some(repo) = clone("argocd-example-apps") else {
        return;
    };
    repo.git(&[
        "remote",
        "set-url",
        "origin",
        "https://github.com/argoproj/argocd-example-apps",
    ]);
    let env = kubectl_gitops::repo::EnvRepo::open(repo.dir()).unwrap();
    let head = env.resolve("HEAD").unwrap();
    let mut opts = RenderOptions::new("apps", "default");
    opts.helm = Some(helm());
    let inputs = kubectl_gitops::render::environment_inputs(&env, head, &opts).unwrap();
    assert!(inputs.len() > 5, "{inputs:?}");
    // Render errors: the jsonnet, plugin and helm-dependency Applications (exit 2).
    let run = offline(&repo, &["--path", "apps", "history", "-o", "json"], &[]).code_is(2);
    let mut git_args = vec!["log", "--first-parent", "--format=%H", "--"];
    git_args.extend(inputs.iter().map(String::as_str));
    let git: Vec<String> = repo.git(&git_args).lines().map(str::to_owned).collect();
    assert!(git.len() > 10, "{git:?}");
    assert_eq!(history_ids(&run), git);

    let run = offline(
        &repo,
        &[
            "--path",
            "apps",
            "blame",
            "deploy/guestbook-ui",
            "-n",
            "guestbook",
            "-o",
            "json",
        ],
        &[],
    )
    .code_is(2);
    let doc = run.json();
    assert_eq!(
        doc["source"]["file"],
        "guestbook/guestbook-ui-deployment.yaml"
    );
    assert_eq!(doc["rendered"], false, "written as rendered: git's lines");
    let (ours, git) = cli_env::blame_commits_and_git(&repo, "HEAD", &doc);
    assert_eq!(ours, git);
}

/// kube-prometheus' Grafana dashboards (JSON in block scalars), a CRD (descriptions in
/// block scalars) and a PrometheusRule (`- expr: |` entries): the spans a diff prints for a few lines, highlighted from their restart
/// line, are those of the whole text (`--color` highlights only the hunks' lines).
#[test]
fn highlighted_windows_equal_the_whole_text_on_kube_prometheus() {
    use kubectl_gitops::highlight::{
        FALLBACK_THEME, highlight_yaml, highlight_yaml_lines, highlight_yaml_plain,
    };
    let Some(repo) = clone("kube-prometheus") else {
        return;
    };
    let mut checked = 0;
    for file in [
        "manifests/grafana-dashboardDefinitions.yaml",
        "manifests/setup/0prometheusCustomResourceDefinition.yaml",
        "manifests/kubernetesControlPlane-prometheusRule.yaml",
    ] {
        let text = repo.git(&["show", &format!("HEAD:{file}")]);
        // The first 3,000 lines: the whole text is highlighted to compare, at syntect's pace.
        let text: String = text.split_inclusive('\n').take(3_000).collect();
        let whole = highlight_yaml_plain(&text, FALLBACK_THEME);
        assert_eq!(*highlight_yaml(&text, FALLBACK_THEME), whole, "{file}");
        for start in (0..whole.len()).step_by(7) {
            let end = (start + 3).min(whole.len());
            let window = start..end;
            let some = highlight_yaml_lines(&text, FALLBACK_THEME, std::slice::from_ref(&window));
            for line in start..end {
                assert_eq!(some[line], whole[line], "{file} line {}", line + 1);
                checked += 1;
            }
        }
    }
    assert!(checked > 2_500, "{checked}");
}
