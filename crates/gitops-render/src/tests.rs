//! Rendering real repositories built with the git CLI.

use serde_json::json;

use super::*;
use gitops_git::fixture::FixtureRepo;

/// The version the tests' render indexes are written by.
const TEST_VERSION: &str = "1.2.3 (git test)";

fn index_file(path: &std::path::Path) -> RenderIndexFile<'_> {
    RenderIndexFile {
        path,
        version: TEST_VERSION,
    }
}

const WEB: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
";

const TWO_DOCS: &str = "\
# config and service
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team
data:
  a: \"1\"
---

apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{port: 80}]
# trailing comment
---
";

fn render_at(fx: &FixtureRepo, rev: &str, opts: &RenderOptions) -> Rendered {
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let commit = repo.resolve(rev).unwrap();
    render(&repo, commit, opts).unwrap()
}

fn ids(rendered: &Rendered) -> Vec<String> {
    rendered
        .manifests
        .iter()
        .map(|m| m.id.to_string())
        .collect()
}

fn sources(rendered: &Rendered) -> Vec<(String, usize, usize, usize)> {
    rendered
        .manifests
        .iter()
        .map(|m| {
            (
                m.source.file.clone(),
                m.source.document,
                m.source.line,
                m.source.end_line,
            )
        })
        .collect()
}

fn errors(rendered: &Rendered) -> Vec<String> {
    rendered.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn renders_head_and_an_older_revision() {
    let fx = FixtureRepo::new();
    fx.write("apps/web.yaml", WEB);
    fx.commit("web");
    fx.write("apps/more.yaml", TWO_DOCS);
    fx.write("README.md", "not a manifest\n");
    fx.commit("more");
    let opts = RenderOptions::new("", "prod");
    let head = render_at(&fx, "HEAD", &opts);
    assert_eq!(
        ids(&head),
        [
            "core/ConfigMap/team/settings",
            "core/Service/prod/web",
            "apps/Deployment/prod/web",
        ]
    );
    assert!(head.errors.is_empty(), "{:?}", head.errors);
    assert_eq!(head.commit.to_string(), fx.rev_parse("HEAD"));
    let old = render_at(&fx, "HEAD~1", &opts);
    assert_eq!(ids(&old), ["apps/Deployment/prod/web"]);
    let web = &old.manifests[0];
    assert_eq!(web.api_version, "apps/v1");
    // The default namespace is written into the object, right after the name.
    assert_eq!(
        web.object["metadata"],
        json!({"name": "web", "namespace": "prod"})
    );
    let keys: Vec<_> = web.object["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["name", "namespace"]);
    assert_eq!(
        old.config.env,
        fx.dir().file_name().unwrap().to_string_lossy()
    );
}

#[test]
fn multi_document_sources_are_exact() {
    let fx = FixtureRepo::new();
    fx.write("more.yaml", TWO_DOCS);
    fx.commit("more");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("", "default"));
    assert_eq!(
        sources(&rendered),
        [
            ("more.yaml".to_owned(), 0, 2, 8),
            ("more.yaml".to_owned(), 1, 11, 16),
        ]
    );
    // The line range holds exactly the document's content.
    let lines: Vec<&str> = TWO_DOCS.lines().collect();
    assert_eq!(lines[1], "apiVersion: v1");
    assert_eq!(lines[7], "  a: \"1\"");
    assert_eq!(lines[15], "  ports: [{port: 80}]");
}

#[test]
fn path_restricts_and_hidden_entries_are_skipped() {
    let fx = FixtureRepo::new();
    fx.write("envs/prod/web.yaml", WEB);
    fx.write("envs/prod/.hidden/cm.yaml", TWO_DOCS);
    fx.write("envs/prod/.gitlab-ci.yml", "stages: [build]\n");
    fx.write("envs/dev/web.yaml", WEB);
    fx.write(".github/workflows/ci.yaml", "on: push\n");
    fx.commit("envs");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("envs/prod/", "default"));
    assert_eq!(
        sources(&rendered),
        [("envs/prod/web.yaml".to_owned(), 0, 1, 6)]
    );
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(rendered.config.env, "prod");
    // From the root, `.github` is skipped (it would not render), and the same identity in two
    // environments rendered together is a duplicate.
    let all = render_at(&fx, "HEAD", &RenderOptions::new("", "default"));
    assert_eq!(sources(&all), [("envs/dev/web.yaml".to_owned(), 0, 1, 6)]);
    assert_eq!(all.errors.len(), 1, "{:?}", all.errors);
    assert!(
        all.errors[0]
            .to_string()
            .starts_with("envs/prod/web.yaml:1: document 0: duplicate resource apps/Deployment/default/web: also defined at envs/dev/web.yaml:1"),
        "{:?}",
        all.errors
    );
}

#[test]
fn duplicate_identity_names_both_files() {
    let fx = FixtureRepo::new();
    fx.write("a/web.yaml", WEB);
    fx.write("b/web-copy.yaml", &format!("# copy\n{WEB}"));
    fx.commit("dup");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("", "default"));
    assert_eq!(sources(&rendered), [("a/web.yaml".to_owned(), 0, 1, 6)]);
    assert_eq!(
        errors(&rendered),
        [
            "b/web-copy.yaml:2: document 0: duplicate resource apps/Deployment/default/web: also \
          defined at a/web.yaml:1 (each resource must be defined once; the first is used)"
        ]
    );
}

#[test]
fn list_is_expanded_and_json_is_read() {
    let fx = FixtureRepo::new();
    fx.write(
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: team, namespace: oops}\n",
    );
    fx.write(
        "sa.json",
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ServiceAccount\",\n  \"metadata\": {\"name\": \"bot\"}\n}\n",
    );
    fx.commit("list");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("", "apps"));
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(
        ids(&rendered),
        [
            "core/ConfigMap/apps/one",
            "core/Namespace/_/team",
            "core/ServiceAccount/apps/bot",
        ]
    );
    // Cluster-scoped: the namespace is cleared from the object too.
    assert_eq!(
        rendered.manifests[1].object["metadata"],
        json!({"name": "team"})
    );
    assert_eq!(
        sources(&rendered),
        [
            ("list.yaml".to_owned(), 0, 4, 6),
            ("list.yaml".to_owned(), 0, 7, 9),
            ("sa.json".to_owned(), 0, 1, 5),
        ]
    );
}

/// kubectl expands any `*List` with `items` (kube-prometheus ships `RoleBindingList`,
/// `RoleList`, `ConfigMapList`); each item keeps its own lines, found by its dash even when
/// the sequence is indented, a comment sits between items, or a block scalar holds `- `.
#[test]
fn typed_lists_are_expanded_with_each_items_lines() {
    let fx = FixtureRepo::new();
    fx.write(
        "rb.yaml",
        "\
apiVersion: rbac.authorization.k8s.io/v1
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata:
    name: one
    namespace: monitoring
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}

# the second binding
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata:
    name: two
kind: RoleBindingList
",
    );
    fx.write(
        "cm.yaml",
        "\
kind: ConfigMapList
apiVersion: v1
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: dash}
    data:
      text: |
        - not an item
        -
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: other}
---
apiVersion: v1
kind: ConfigMapList
items: [{apiVersion: v1, kind: ConfigMap, metadata: {name: flow}}]
---
apiVersion: example.com/v1
kind: WidgetList
metadata: {name: not-a-list}
spec: {}
",
    );
    fx.commit("lists");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("", "apps"));
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(
        ids(&rendered),
        [
            "core/ConfigMap/apps/dash",
            "core/ConfigMap/apps/other",
            "core/ConfigMap/apps/flow",
            "example.com/WidgetList/_/not-a-list",
            "rbac.authorization.k8s.io/RoleBinding/monitoring/one",
            "rbac.authorization.k8s.io/RoleBinding/apps/two",
        ]
    );
    assert_eq!(
        sources(&rendered),
        [
            ("cm.yaml".to_owned(), 0, 4, 10),
            ("cm.yaml".to_owned(), 0, 11, 13),
            // Flow style: the item takes the document's lines.
            ("cm.yaml".to_owned(), 1, 15, 17),
            ("cm.yaml".to_owned(), 2, 19, 22),
            ("rb.yaml".to_owned(), 0, 3, 8),
            ("rb.yaml".to_owned(), 0, 11, 14),
        ]
    );
    assert_eq!(
        rendered.manifests[0].object["data"]["text"],
        "- not an item\n-\n"
    );
}

#[test]
fn unknown_scope_keeps_what_is_written() {
    let fx = FixtureRepo::new();
    fx.write(
        "crs.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: b, namespace: x}\n",
    );
    fx.commit("crs");
    let mut opts = RenderOptions::new("", "default");
    let rendered = render_at(&fx, "HEAD", &opts);
    assert_eq!(
        ids(&rendered),
        ["example.com/Widget/_/a", "example.com/Widget/x/b"]
    );
    // Discovery says namespaced: the default fills in.
    opts.scope =
        Arc::new(|group, kind| (group == "example.com" && kind == "Widget").then_some(true));
    let rendered = render_at(&fx, "HEAD", &opts);
    assert_eq!(
        ids(&rendered),
        ["example.com/Widget/default/a", "example.com/Widget/x/b"]
    );
}

#[test]
fn malformed_file_is_reported_and_the_rest_renders() {
    let fx = FixtureRepo::new();
    fx.write(
        "a-bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
    );
    fx.write(
        "b-dupkey.yaml",
        "apiVersion: v1\nkind: ConfigMap\nkind: Secret\n",
    );
    fx.write("c-web.yaml", WEB);
    fx.write("d-bad.json", "{\"a\": }\n");
    fx.commit("bad");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("", "default"));
    assert_eq!(ids(&rendered), ["apps/Deployment/default/web"]);
    let errs = &rendered.errors;
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert_eq!(errs[0].file, "a-bad.yaml");
    assert!(
        errs[0].line.is_some_and(|l| (4..=5).contains(&l)),
        "{errs:?}"
    );
    assert_eq!(
        errs[1].to_string(),
        "b-dupkey.yaml:3: does not parse: duplicate mapping key: kind"
    );
    assert_eq!(errs[2].file, "d-bad.json");
    assert_eq!(errs[2].line, Some(1));
}

#[test]
fn missing_identity_fields_name_file_and_line() {
    let fx = FixtureRepo::new();
    fx.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n---\n- just\n- a list\n",
    );
    fx.commit("missing");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("", "default"));
    assert_eq!(ids(&rendered), ["core/ConfigMap/default/ok"]);
    assert_eq!(
        errors(&rendered),
        [
            "cm.yaml:6: document 1: missing metadata.name (every resource needs apiVersion, kind and metadata.name)",
            "cm.yaml:11: document 2: not a Kubernetes object (expected a mapping)",
        ]
    );
}

#[test]
fn exclude_globs_and_config_lookup() {
    let fx = FixtureRepo::new();
    fx.write(".kubectl-gitops.yaml", "env: from-root\n");
    fx.write("envs/prod/web.yaml", WEB);
    fx.write("envs/prod/db.secret.yaml", "not: [valid\n");
    fx.write("envs/prod/docs/example.yaml", "also: [not valid\n");
    fx.commit("root config");
    let opts = RenderOptions::new("envs/prod", "default");
    let rendered = render_at(&fx, "HEAD", &opts);
    assert_eq!(rendered.config.env, "from-root");
    assert_eq!(
        rendered.config.file.as_deref(),
        Some(".kubectl-gitops.yaml")
    );
    assert_eq!(rendered.errors.len(), 2, "{:?}", rendered.errors);
    fx.write(
        "envs/prod/.kubectl-gitops.yaml",
        "exclude: [\"**/*.secret.yaml\", \"docs/**\"]\nsync: {concurrency: 2}\n",
    );
    fx.commit("env config");
    let rendered = render_at(&fx, "HEAD", &opts);
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(ids(&rendered), ["apps/Deployment/default/web"]);
    assert_eq!(rendered.config.env, "prod");
    assert_eq!(rendered.config.sync_concurrency, 2);
    // The config is read at the commit rendered.
    let old = render_at(&fx, "HEAD~1", &opts);
    assert_eq!(old.config.env, "from-root");
}

#[test]
fn config_unknown_key_stops_rendering_with_its_line() {
    let fx = FixtureRepo::new();
    fx.write(".kubectl-gitops.yaml", "env: prod\napplySet:\n  name: x\n");
    fx.write("web.yaml", WEB);
    fx.commit("config");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let err = render(&repo, head, &RenderOptions::new("", "default")).unwrap_err();
    let RenderFailure::Config(config) = &err else {
        panic!("{err}");
    };
    assert_eq!(config.line, Some(3), "{err}");
    assert!(config.message.contains("`name`"), "{err}");
    assert!(
        err.to_string()
            .starts_with(".kubectl-gitops.yaml:3: invalid config")
    );
}

#[test]
fn missing_path_is_a_failure() {
    let fx = FixtureRepo::new();
    fx.write("web.yaml", WEB);
    fx.commit("web");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let err = render(&repo, head, &RenderOptions::new("envs/nope", "default")).unwrap_err();
    assert!(
        matches!(err, RenderFailure::Repo(RepoError::PathNotFound { .. })),
        "{err}"
    );
}

#[test]
fn bare_repo_renders() {
    let fx = FixtureRepo::new();
    fx.write("apps/web.yaml", WEB);
    fx.commit("web");
    let bare = fx.bare_clone("env.git");
    let repo = EnvRepo::open(&bare).unwrap();
    let head = repo.resolve("main").unwrap();
    let rendered = render(&repo, head, &RenderOptions::new("apps", "default")).unwrap();
    assert_eq!(sources(&rendered), [("apps/web.yaml".to_owned(), 0, 1, 6)]);
    assert_eq!(rendered.config.env, "apps");
}

#[test]
fn cache_parses_each_blob_once_across_commits() {
    let fx = FixtureRepo::new();
    fx.write("web.yaml", WEB);
    fx.write("more.yaml", TWO_DOCS);
    fx.commit("one");
    fx.write("web.yaml", &WEB.replace("replicas: 2", "replicas: 3"));
    fx.commit("two");
    let opts = RenderOptions::new("", "default");
    let first = render_at(&fx, "HEAD~1", &opts);
    assert_eq!(opts.cache.parse_count(), 2);
    // HEAD shares more.yaml's blob with HEAD~1: only the changed web.yaml is parsed.
    let second = render_at(&fx, "HEAD", &opts);
    assert_eq!(opts.cache.parse_count(), 3);
    let again = render_at(&fx, "HEAD", &opts.clone());
    assert_eq!(opts.cache.parse_count(), 3);
    assert_eq!(first.manifests.len(), 3);
    assert_eq!(second.manifests[2].object["spec"]["replicas"], json!(3));
    assert_eq!(again.manifests, second.manifests);
    // The cache is shared across threads.
    fn assert_shareable<T: Send + Sync + Clone>() {}
    assert_shareable::<RenderCache>();
    assert_shareable::<RenderOptions>();
    assert_shareable::<EnvRepo>();
}

#[test]
fn uncached_renders_parse_every_time_and_render_the_same() {
    let fx = FixtureRepo::new();
    fx.write("web.yaml", WEB);
    fx.write("more.yaml", TWO_DOCS);
    fx.commit("one");
    let cached = RenderOptions::new("", "default");
    let mut uncached = cached.clone();
    uncached.cache = RenderCache::uncached();
    let expected = render_at(&fx, "HEAD", &cached);
    let first = render_at(&fx, "HEAD", &uncached);
    assert_eq!(uncached.cache.parse_count(), 2);
    // Nothing was kept: the same blobs are parsed again.
    let second = render_at(&fx, "HEAD", &uncached);
    assert_eq!(uncached.cache.parse_count(), 4);
    assert_eq!(first.manifests, expected.manifests);
    assert_eq!(second.manifests, expected.manifests);
}

#[test]
fn renders_share_one_cache_across_threads() {
    let fx = FixtureRepo::new();
    fx.write("web.yaml", WEB);
    fx.write("more.yaml", TWO_DOCS);
    fx.commit("one");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let opts = RenderOptions::new("", "default");
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (repo, opts) = (repo.clone(), opts.clone());
                scope.spawn(move || render(&repo, head, &opts).unwrap().manifests.len())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts, [3, 3, 3, 3]);
    // Racing threads may each parse a blob once, never more; afterwards it is a hit.
    let parsed = opts.cache.parse_count();
    assert!((2..=8).contains(&parsed), "{parsed}");
    render(&repo, head, &opts).unwrap();
    assert_eq!(opts.cache.parse_count(), parsed);
}

#[test]
fn list_items_that_are_not_a_list_are_an_error() {
    let fx = FixtureRepo::new();
    fx.write("list.yaml", "apiVersion: v1\nkind: List\nitems: {a: 1}\n");
    fx.commit("bad list");
    let rendered = render_at(&fx, "HEAD", &RenderOptions::new("", "default"));
    assert_eq!(
        errors(&rendered),
        ["list.yaml:1: document 0: kind: List has items that are not a list"]
    );
}

#[test]
fn kustomize_unit_maps_resources_to_their_files() {
    let fx = FixtureRepo::new();
    fx.write(
        "base/kustomization.yaml",
        "# base\nresources: [deploy.yaml, cm.yaml]\nconfigMapGenerator:\n- name: gen\n  literals: [a=b]\n",
    );
    fx.write("base/deploy.yaml", WEB);
    fx.write(
        "base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n  annotations: {keep: me}\n",
    );
    fx.write(
        "envs/prod/kustomization.yaml",
        "resources: [../../base, svc.yaml]\nnamePrefix: prod-\nnamespace: prod\n",
    );
    fx.write(
        "envs/prod/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n",
    );
    fx.write(
        "envs/prod/extra/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n",
    );
    fx.commit("kustomize");
    let mut opts = RenderOptions::new("envs/prod", "default");
    opts.kubectl = Some(PathBuf::from("kubectl"));
    let rendered = render_at(&fx, "HEAD", &opts);
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let mut got: Vec<(String, (String, usize, usize, usize))> = rendered
        .manifests
        .iter()
        .map(|m| {
            (
                m.id.to_string(),
                (
                    m.source.file.clone(),
                    m.source.document,
                    m.source.line,
                    m.source.end_line,
                ),
            )
        })
        .collect();
    got.sort();
    // A generated object maps to the kustomization that configured it (its name carries a
    // content hash, so it is matched by prefix).
    let generated = got
        .iter()
        .position(|(id, _)| id.starts_with("core/ConfigMap/prod/prod-gen-"))
        .expect("generated ConfigMap rendered");
    assert_eq!(
        got.remove(generated).1,
        ("base/kustomization.yaml".to_owned(), 0, 2, 5)
    );
    assert_eq!(
        got,
        [
            (
                "apps/Deployment/prod/prod-web".to_owned(),
                ("base/deploy.yaml".to_owned(), 0, 1, 6)
            ),
            (
                "core/ConfigMap/prod/prod-one".to_owned(),
                ("base/cm.yaml".to_owned(), 0, 1, 4)
            ),
            (
                "core/ConfigMap/prod/prod-two".to_owned(),
                ("base/cm.yaml".to_owned(), 1, 6, 10)
            ),
            (
                "core/Service/prod/prod-web".to_owned(),
                ("envs/prod/svc.yaml".to_owned(), 0, 1, 6)
            ),
        ]
    );
    // The origin annotation is stripped; other annotations stay.
    for m in &rendered.manifests {
        let annotations = m.object.pointer("/metadata/annotations");
        if m.id.name == "prod-two" {
            assert_eq!(annotations, Some(&json!({"keep": "me"})));
        } else {
            assert_eq!(annotations, None, "{}", m.id);
        }
    }
    // A second render of the same tree reuses the build.
    assert_eq!(opts.cache.build_count(), 1);
    render_at(&fx, "HEAD", &opts);
    assert_eq!(opts.cache.build_count(), 1);

    // Builds are addressed by what they read: a commit that changes files the unit does not
    // read (beside it, or in its directory but not listed) builds nothing again (a directory
    // it names counts whole, by its tree)...
    fx.write(
        "envs/prod/extra/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod2\n",
    );
    fx.write("README.md", "unrelated\n");
    fx.commit("files the unit does not read");
    let unchanged = render_at(&fx, "HEAD", &opts);
    assert_eq!(opts.cache.build_count(), 1);
    assert_eq!(unchanged.manifests.len(), rendered.manifests.len());
    // ... while a change to a file it reads, here or in its base, builds again, and the build
    // is the one a fresh cache makes.
    for (file, text) in [
        (
            "envs/prod/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 81}]\n",
        ),
        (
            "base/deploy.yaml",
            &WEB.replace("replicas: 2", "replicas: 5"),
        ),
    ] {
        let builds = opts.cache.build_count();
        fx.write(file, text);
        fx.commit(&format!("change {file}"));
        let cached = render_at(&fx, "HEAD", &opts);
        assert_eq!(opts.cache.build_count(), builds + 1, "{file}");
        let mut fresh_opts = opts.clone();
        fresh_opts.cache = RenderCache::new();
        let fresh = render_at(&fx, "HEAD", &fresh_opts);
        assert_eq!(cached.manifests, fresh.manifests, "{file}");
    }
}

#[test]
fn failing_kustomize_build_is_an_error_for_its_directory() {
    let fx = FixtureRepo::new();
    fx.write("app/kustomization.yaml", "resources: [missing.yaml]\n");
    fx.write("plain/web.yaml", WEB);
    fx.commit("broken kustomization");
    let mut opts = RenderOptions::new("", "default");
    opts.kubectl = Some(PathBuf::from("kubectl"));
    let rendered = render_at(&fx, "HEAD", &opts);
    assert_eq!(ids(&rendered), ["apps/Deployment/default/web"]);
    assert_eq!(rendered.errors.len(), 1, "{:?}", rendered.errors);
    let err = &rendered.errors[0];
    assert_eq!(err.file, "app");
    assert!(
        err.message.starts_with("kubectl kustomize failed: "),
        "{err}"
    );
    assert!(err.message.contains("missing.yaml"), "{err}");
    assert!(
        !err.message.contains("kubectl-gitops-kustomize-"),
        "temp path leaked: {err}"
    );
    // A kubectl that cannot be run says what to do.
    opts.kubectl = Some(PathBuf::from("/nonexistent/kubectl"));
    opts.cache = RenderCache::new();
    let rendered = render_at(&fx, "HEAD", &opts);
    assert!(
        rendered.errors[0].message.contains("set KUBECTL_PATH"),
        "{:?}",
        rendered.errors
    );
}

/// Parsed documents kept on disk serve the next run's render (another cache, same git dir)
/// unchanged and without parsing them; a damaged entry is parsed again. Only files that
/// serde-saphyr read (outside the YAML fast path's subset, or not YAML) are kept: the fast
/// path reads the others about as fast as their JSON would be read back.
#[test]
fn documents_kept_on_disk_serve_the_next_render() {
    let fx = FixtureRepo::new();
    fx.write("apps/web.yaml", WEB);
    fx.write("apps/more.yaml", TWO_DOCS);
    fx.write("apps/broken.yaml", "a: [\n");
    fx.commit("web");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let git_dir = repo.git_dir();
    let render_with = |cache: RenderCache| {
        let mut opts = RenderOptions::new("", "prod");
        opts.cache = cache.clone();
        (render(&repo, head, &opts).unwrap(), cache.parse_count())
    };
    let (plain, _) = render_with(RenderCache::uncached());
    let (first, parsed) = render_with(RenderCache::on_disk(&git_dir));
    assert_eq!(parsed, 3);
    let dir = git_dir.join("kubectl-gitops/documents-v1");
    let kept = |dir: &std::path::Path| std::fs::read_dir(dir).unwrap().count();
    // TWO_DOCS has a flow mapping, outside the fast path's subset.
    assert_eq!(kept(&dir), 2, "the broken file and TWO_DOCS");
    let (second, reparsed) = render_with(RenderCache::on_disk(&git_dir));
    assert_eq!(
        reparsed, 1,
        "web.yaml (the fast path's) parsed again, the rest read"
    );
    assert_eq!(kept(&dir), 2);
    for rendered in [&first, &second] {
        assert_eq!(ids(rendered), ids(&plain));
        assert_eq!(
            rendered
                .manifests
                .iter()
                .map(|m| &m.object)
                .collect::<Vec<_>>(),
            plain
                .manifests
                .iter()
                .map(|m| &m.object)
                .collect::<Vec<_>>()
        );
        assert_eq!(rendered.errors, plain.errors);
    }
    assert_eq!(plain.errors.len(), 1, "{:?}", plain.errors);
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), "{not json").unwrap();
    }
    let (damaged, parsed) = render_with(RenderCache::cached_on_disk(&git_dir));
    assert_eq!(parsed, 3);
    assert_eq!(ids(&damaged), ids(&plain));
}

/// A render on the built-in table settled with discovery's scopes equals a render with them:
/// custom kinds (namespaced without a namespace written, cluster-scoped with one written),
/// built-in kinds untouched; and a settle that would make two manifests one identity asks for
/// a render again.
#[test]
fn settled_scopes_equal_a_render_with_them() {
    let fx = FixtureRepo::new();
    fx.write("app.yaml", WEB);
    fx.write(
        "custom.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  labels: {a: b}\nspec: {}\n---\napiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: ignored\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: other\n  namespace: team\n",
    );
    fx.commit("mixed");
    let discovered: ScopeLookup = Arc::new(|group: &str, kind: &str| match (group, kind) {
        ("example.com", "Widget") => Some(true),
        ("example.com", "Gadget") => Some(false),
        _ => builtin_scope(group, kind),
    });
    let mut full_opts = RenderOptions::new("", "prod");
    full_opts.scope = discovered.clone();
    let full = render_at(&fx, "HEAD", &full_opts);
    let builtin_opts = RenderOptions::new("", "prod");
    let mut settled = render_at(&fx, "HEAD", &builtin_opts);
    assert_ne!(
        settled.manifests, full.manifests,
        "the test needs kinds to settle"
    );
    assert!(settled.settle_scopes(&builtin_opts.scope, &discovered, "prod"));
    assert_eq!(settled.manifests, full.manifests);
    assert_eq!(settled.errors, full.errors);
    let ids: Vec<String> = settled.manifests.iter().map(|m| m.id.to_string()).collect();
    assert!(
        ids.iter()
            .any(|id| id.contains("Widget") && id.contains("prod")),
        "{ids:?}"
    );

    // Two Gadgets written in two namespaces are one cluster-scoped object: render again.
    fx.write(
        "custom.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: a\n---\napiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: b\n",
    );
    fx.commit("duplicate once settled");
    let mut unsettled = render_at(&fx, "HEAD", &builtin_opts);
    assert!(!unsettled.settle_scopes(&builtin_opts.scope, &discovered, "prod"));
    let again = render_at(&fx, "HEAD", &full_opts);
    assert_eq!(again.errors.len(), 1, "{:?}", again.errors);
}

/// `render_matching` gives what a whole render filtered gives (manifests, errors, warnings),
/// from a first call that keeps the index and from later ones that read it and render only
/// the file or kustomize unit holding the wanted resources; an index that names the wrong
/// file, or that another version of the program wrote, is not believed.
#[test]
fn render_matching_equals_a_filtered_render() {
    let fx = FixtureRepo::new();
    fx.write("apps/web.yaml", WEB);
    fx.write("apps/more.yaml", TWO_DOCS);
    fx.write("apps/broken.yaml", "a: [\n");
    fx.write(
        "unit/kustomization.yaml",
        "resources: [cm.yaml]\nnamePrefix: u-\n",
    );
    fx.write(
        "unit/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n",
    );
    fx.commit("web");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let index_dir = tempfile::tempdir().unwrap();
    let whole = render(&repo, head, &RenderOptions::new("", "prod")).unwrap();
    assert_eq!(whole.errors.len(), 1, "{:?}", whole.errors);
    type Wanted = fn(&ResourceId) -> bool;
    let wanted_sets: [(&str, Wanted); 4] = [
        ("web", |id| id.name == "web" && id.kind == "Deployment"),
        ("every web", |id| id.name == "web"),
        ("unit", |id| id.name == "u-one"),
        ("nothing", |_| false),
    ];
    for (what, wanted) in wanted_sets {
        let index = index_dir.path().join(what);
        let expected: Vec<&Manifest> = whole.manifests.iter().filter(|m| wanted(&m.id)).collect();
        for run in ["first", "indexed"] {
            let opts = RenderOptions::new("", "prod");
            let got =
                render_matching(&repo, head, &opts, Some(index_file(&index)), wanted).unwrap();
            assert_eq!(
                got.manifests.iter().collect::<Vec<_>>(),
                expected,
                "{what}, {run}"
            );
            assert_eq!(got.errors, whole.errors, "{what}, {run}");
            assert_eq!(got.warnings, whole.warnings, "{what}, {run}");
            assert!(index.exists(), "{what}");
            if run == "indexed" {
                // Only the files holding the wanted resources were read.
                let files: std::collections::BTreeSet<&str> =
                    expected.iter().map(|m| m.source.file.as_str()).collect();
                let plain = files.iter().filter(|f| f.starts_with("apps/")).count();
                let unit = usize::from(files.iter().any(|f| f.starts_with("unit/")));
                // A unit's build reads its kustomization.yaml through the cache.
                assert_eq!(opts.cache.parse_count(), plain + unit, "{what}");
                assert_eq!(opts.cache.build_count(), unit, "{what}");
            }
        }
    }
    // An index naming another file for the resource: the whole environment is rendered.
    let index = index_dir.path().join("web");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replace("apps/web.yaml", "apps/more.yaml")).unwrap();
    let opts = RenderOptions::new("", "prod");
    let wanted = |id: &ResourceId| id.name == "web" && id.kind == "Deployment";
    let got = render_matching(&repo, head, &opts, Some(index_file(&index)), wanted).unwrap();
    assert_eq!(ids(&got), ["apps/Deployment/prod/web"]);
    assert_eq!(opts.cache.parse_count(), 3 + 1, "every file parsed");
    // An index another version wrote is not read (and is replaced).
    let text = std::fs::read_to_string(&index).unwrap();
    let other = text.replace(TEST_VERSION, "0.0.0 (git other)");
    assert_ne!(other, text);
    std::fs::write(&index, &other).unwrap();
    let opts = RenderOptions::new("", "prod");
    render_matching(&repo, head, &opts, Some(index_file(&index)), wanted).unwrap();
    assert_eq!(opts.cache.parse_count(), 3 + 1);
    assert_eq!(std::fs::read_to_string(&index).unwrap(), text);
    // Without an index, a whole render, filtered.
    let opts = RenderOptions::new("", "prod");
    let got = render_matching(&repo, head, &opts, None, wanted).unwrap();
    assert_eq!(ids(&got), ["apps/Deployment/prod/web"]);
}

/// A unit's build reads only what its kustomizations name: its directory, bases, components
/// and files elsewhere in the repo. The workspace writes just those (not the unrelated files
/// beside them) and the build equals one made in a workspace holding the whole tree; a second
/// unit of the same render adds its own paths to the same workspace.
#[test]
fn workspaces_write_what_units_read_and_build_as_a_whole_tree() {
    let fx = FixtureRepo::new();
    fx.write("base/kustomization.yaml", "resources: [deploy.yaml]\n");
    fx.write("base/deploy.yaml", WEB);
    fx.write(
        "components/common/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nlabels:\n- pairs: {team: core}\n",
    );
    fx.write(
        "envs/prod/kustomization.yaml",
        "resources: [../../base, ../../shared]\ncomponents: [../../components/common]\nnamespace: prod\nconfigMapGenerator:\n- name: cfg\n  files: [settings=cfg.txt]\n",
    );
    fx.write("envs/prod/cfg.txt", "a=1\n");
    fx.write(
        "shared/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n",
    );
    fx.write("shared/kustomization.yaml", "resources: [svc.yaml]\n");
    fx.write("other/unrelated.yaml", "a: 1\n");
    fx.write(
        "envs/dev/kustomization.yaml",
        "resources: [../../base]\nnamePrefix: dev-\n",
    );
    fx.write("elsewhere/big.yaml", "a: 1\n");
    fx.commit("units");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let units = units(&repo, head, &RenderOptions::new("envs", "default")).unwrap();
    assert_eq!(units.len(), 2, "{units:?}");
    let kubectl = kustomize::default_kubectl();
    let cache = RenderCache::new();
    let subset = kustomize::Workspace::new(head).unwrap();
    let whole = kustomize::Workspace::whole(&repo, head).unwrap();
    for unit in &units {
        subset.prepare(&repo, unit).unwrap();
        let ours = kustomize::build(&repo, head, unit, &subset, &kubectl, &cache).unwrap();
        let theirs = kustomize::build(&repo, head, unit, &whole, &kubectl, &cache).unwrap();
        assert!(!ours.is_empty(), "{unit:?}");
        assert_eq!(ours, theirs, "{unit:?}");
    }
    let root = subset.path();
    for written in [
        "envs/prod/cfg.txt",
        "base/deploy.yaml",
        "components/common/kustomization.yaml",
        "shared/svc.yaml",
        "envs/dev/kustomization.yaml",
    ] {
        assert!(root.join(written).is_file(), "{written}");
    }
    for unread in ["other/unrelated.yaml", "elsewhere/big.yaml"] {
        assert!(!root.join(unread).exists(), "{unread}");
    }
    // Dropped with the render: nothing left behind.
    let dir = root.to_path_buf();
    drop(subset);
    assert!(!dir.exists());
}

/// A build kept by one run is read back by the next (a new cache on the same git dir) without
/// building; a build holding a Secret, one that may read a remote base, and a failed one are
/// never written.
#[test]
fn builds_are_kept_on_disk_except_secrets_remote_reads_and_failures() {
    let git_dir = tempfile::tempdir().unwrap();
    let object = |kind: &str| {
        (
            serde_json::json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "a"}}),
            Source {
                file: "a.yaml".into(),
                document: 0,
                line: 1,
                end_line: 3,
            },
        )
    };
    let first = RenderCache::on_disk(git_dir.path());
    let built = first.build_kept(
        "config map".into(),
        || true,
        || Ok(vec![object("ConfigMap")]),
    );
    assert!(built.is_ok());
    first.build_kept("secret".into(), || true, || Ok(vec![object("Secret")]));
    first.build_kept("remote".into(), || false, || Ok(vec![object("ConfigMap")]));
    first.build_kept(
        "failed".into(),
        || true,
        || {
            Err(RenderError {
                file: "a".into(),
                line: None,
                message: "timed out".into(),
            })
        },
    );
    let kept = std::fs::read_dir(git_dir.path().join("kubectl-gitops/builds-v1"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);

    let later = RenderCache::on_disk(git_dir.path());
    let again = later.build_kept("config map".into(), || true, || panic!("built again"));
    assert_eq!(again.as_ref().as_ref().unwrap(), &vec![object("ConfigMap")]);
    let mut runs = 0;
    for key in ["secret", "remote", "failed"] {
        later.build_kept(
            key.into(),
            || true,
            || {
                runs += 1;
                Ok(Vec::new())
            },
        );
    }
    assert_eq!(runs, 3);
}

#[test]
fn remote_bases_are_recognised_as_kustomize_names_them() {
    use crate::kustomize::looks_remote;
    for remote in [
        "https://github.com/org/repo//deploy?ref=v1",
        "git@github.com:org/repo.git//deploy",
        "git::https://example.com/repo",
        "github.com/org/repo//deploy?ref=main",
        "example.com/org/repo//deploy?ref=v2",
    ] {
        assert!(looks_remote(remote), "{remote}");
    }
    for local in [
        "../base",
        "deployment.yaml",
        "components/ha",
        "ghcr.io/org/app",
    ] {
        assert!(!looks_remote(local), "{local}");
    }
}
