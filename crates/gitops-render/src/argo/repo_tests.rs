//! Argo CD Applications of generated repos, rendered with the real kubectl and helm, checked
//! against those tools run by hand on the same input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use gitops_git::EnvRepo;
use gitops_git::fixture::FixtureRepo;

use crate::{RenderOptions, Rendered, environment_inputs, render};

const REPO_URL: &str = "https://github.com/example/env";

/// An Application in `argocd` with `spec` (YAML, indented by the caller's nesting).
fn application(name: &str, spec: &str) -> String {
    let mut text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: default\n"
    );
    for line in spec.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A single-source Application of this repo.
fn app(name: &str, path: &str, namespace: &str, extra: &str) -> String {
    let mut spec = format!(
        "destination:\n  server: https://kubernetes.default.svc\n  namespace: {namespace}\nsource:\n  repoURL: {REPO_URL}.git\n  targetRevision: HEAD\n  path: {path}\n"
    );
    for line in extra.lines() {
        spec.push_str("  ");
        spec.push_str(line);
        spec.push('\n');
    }
    application(name, &spec)
}

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: \"1\"\n")
}

const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
";

fn fixture() -> FixtureRepo {
    let fx = FixtureRepo::new();
    fx.git(&["remote", "add", "origin", "git@GitHub.com:example/env.git"]);
    fx
}

/// helm for the tests, or `None` (with a note) where there is none outside CI.
fn helm() -> Option<PathBuf> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bin/helm");
    let candidates = [
        std::env::var_os("HELM_BINARY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        Some(shared),
        Some(PathBuf::from("helm")),
    ];
    for candidate in candidates.into_iter().flatten() {
        let works = Command::new(&candidate)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Some(candidate);
        }
    }
    assert!(std::env::var_os("CI").is_none(), "helm is missing");
    eprintln!("note: no helm; the Argo CD helm tests are skipped");
    None
}

fn opts(path: &str) -> RenderOptions {
    let mut opts = RenderOptions::new(path, "default");
    opts.kubectl = Some(PathBuf::from("kubectl"));
    opts.helm = helm();
    opts
}

fn render_head(fx: &FixtureRepo, path: &str) -> Rendered {
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let commit = repo.resolve("HEAD").unwrap();
    render(&repo, commit, &opts(path)).unwrap()
}

fn ids(rendered: &Rendered) -> Vec<String> {
    rendered
        .manifests
        .iter()
        .map(|m| m.id.to_string())
        .collect()
}

fn find<'a>(rendered: &'a Rendered, id: &str) -> &'a k8s_model::Manifest {
    rendered
        .manifests
        .iter()
        .find(|m| m.id.to_string() == id)
        .unwrap_or_else(|| {
            panic!(
                "{id} not rendered; got {:?}, errors {:?}",
                ids(rendered),
                rendered.errors
            )
        })
}

fn owner(manifest: &k8s_model::Manifest) -> Option<String> {
    manifest.owner.as_ref().map(ToString::to_string)
}

fn errors(rendered: &Rendered) -> Vec<String> {
    rendered.errors.iter().map(ToString::to_string).collect()
}

/// The objects of a tool's YAML output, sorted by kind and name.
fn parse_sorted(text: &[u8]) -> Vec<Value> {
    let mut docs: Vec<Value> = crate::documents::parse(crate::documents::Format::Yaml, text)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect();
    docs.sort_by_key(|d| (d["kind"].to_string(), d["metadata"]["name"].to_string()));
    docs
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Vec<Value> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_sorted(&out.stdout)
}

/// Our objects owned by `owner`, sorted as [`parse_sorted`], with the namespace the tool
/// run by hand would not write taken out where `strip_namespace`.
fn owned(rendered: &Rendered, owner_name: &str, strip_namespace: bool) -> Vec<Value> {
    let mut out: Vec<Value> = rendered
        .manifests
        .iter()
        .filter(|m| owner(m).as_deref() == Some(owner_name))
        .map(|m| {
            let mut value = m.object.clone();
            if strip_namespace {
                value["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("namespace");
            }
            value
        })
        .collect();
    out.sort_by_key(|d| (d["kind"].to_string(), d["metadata"]["name"].to_string()));
    out
}

#[test]
fn directory_sources_recurse_include_and_exclude() {
    let fx = fixture();
    fx.write("app/top.yaml", &config_map("top"));
    fx.write("app/skip.yaml", &config_map("skip"));
    fx.write(
        "app/other.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"json","namespace":"own"}}"#,
    );
    fx.write("app/sub/deep.yml", &config_map("deep"));
    fx.write("app/README.md", "not yaml\n");
    fx.write("env/plain.yaml", &app("plain", "app", "team", ""));
    fx.write(
        "env/recursive.yaml",
        &app(
            "recursive",
            "./app/",
            "rec",
            "directory:\n  recurse: true\n  include: '{*.yml,*.yaml}'\n  exclude: skip.yaml\n",
        ),
    );
    fx.commit("dir");
    let rendered = render_head(&fx, "env");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    // Not recursive: the path's own files; the destination namespace where none is set.
    let top = find(&rendered, "core/ConfigMap/team/top");
    assert_eq!(owner(top).as_deref(), Some("Application argocd/plain"));
    assert_eq!(top.source.file, "app/top.yaml");
    find(&rendered, "core/ConfigMap/team/skip");
    find(&rendered, "core/ConfigMap/own/json");
    assert!(!ids(&rendered).contains(&"core/ConfigMap/team/deep".to_owned()));
    // Recursive, include and exclude.
    let deep = find(&rendered, "core/ConfigMap/rec/deep");
    assert_eq!(owner(deep).as_deref(), Some("Application argocd/recursive"));
    find(&rendered, "core/ConfigMap/rec/top");
    let rec: Vec<String> = ids(&rendered)
        .into_iter()
        .filter(|id| id.contains("/rec/"))
        .collect();
    assert_eq!(rec.len(), 2, "{rec:?}");

    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    assert_eq!(
        environment_inputs(&repo, head, &opts("env")).unwrap(),
        ["env", "app"]
    );
}

#[test]
fn kustomize_options_match_kubectl_kustomize_of_the_same_kustomization() {
    let fx = fixture();
    fx.write(
        "app/kustomization.yaml",
        "resources: [deploy.yaml, settings.yaml]\nnamePrefix: old-\n",
    );
    fx.write("app/deploy.yaml", DEPLOY);
    fx.write("app/settings.yaml", &config_map("settings"));
    let options = "\
kustomize:
  namePrefix: dev-
  nameSuffix: -v1
  namespace: web
  images:
  - nginx=mirror.example/nginx:1.27
  replicas:
  - name: web
    count: \"2\"
  commonLabels:
    team: a
  commonAnnotations:
    owner: me
  patches:
  - target:
      kind: Deployment
    patch: |-
      - op: replace
        path: /spec/replicas
        value: 3
";
    fx.write("env/app.yaml", &app("web", "app", "ignored", options));
    fx.commit("kustomize");
    let rendered = render_head(&fx, "env");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);

    // The same kustomization written by hand.
    let by_hand = tempfile::tempdir().unwrap();
    std::fs::write(by_hand.path().join("deploy.yaml"), DEPLOY).unwrap();
    std::fs::write(by_hand.path().join("settings.yaml"), config_map("settings")).unwrap();
    std::fs::write(
        by_hand.path().join("kustomization.yaml"),
        "\
resources: [deploy.yaml, settings.yaml]
namePrefix: dev-
nameSuffix: -v1
namespace: web
images:
- name: nginx
  newName: mirror.example/nginx
  newTag: \"1.27\"
replicas:
- name: web
  count: 2
commonLabels:
  team: a
commonAnnotations:
  owner: me
patches:
- target:
    kind: Deployment
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 3
",
    )
    .unwrap();
    let theirs = run(
        Path::new("kubectl"),
        &["kustomize", &by_hand.path().display().to_string()],
        by_hand.path(),
    );
    assert_eq!(theirs.len(), 2);
    assert_eq!(owned(&rendered, "Application argocd/web", false), theirs);
    let deploy = find(&rendered, "apps/Deployment/web/dev-web-v1");
    assert_eq!(deploy.source.file, "app/deploy.yaml");
    // kustomize's replicas transformer runs after the patch.
    assert_eq!(deploy.object["spec"]["replicas"], 2);
}

const CHART: &str = "apiVersion: v2\nname: demo\nversion: 0.1.0\n";
const CHART_VALUES: &str = "replicas: 1\nimage: nginx\ntag: \"1.25\"\nextra: {}\nlabel: none\n";
const TEMPLATE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  namespace: {{ .Release.Namespace }}
  labels:
    label: {{ .Values.label | quote }}
    {{- range $k, $v := .Values.extra }}
    {{ $k }}: {{ $v | quote }}
    {{- end }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: \"{{ .Values.image }}:{{ .Values.tag }}\"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  number: {{ .Values.number | default 0 | quote }}
  kind: {{ kindOf .Values.number | quote }}
";

fn write_chart(fx: &FixtureRepo, dir: &str) {
    fx.write(&format!("{dir}/Chart.yaml"), CHART);
    fx.write(&format!("{dir}/values.yaml"), CHART_VALUES);
    fx.write(&format!("{dir}/templates/all.yaml"), TEMPLATE);
    fx.write(
        &format!("{dir}/values-prod.yaml"),
        "replicas: 3\ntag: \"1.26\"\n",
    );
}

#[test]
fn helm_sources_match_helm_template_with_the_same_values() {
    let Some(helm) = helm() else {
        return;
    };
    let fx = fixture();
    write_chart(&fx, "charts/demo");
    fx.write("shared/common.yaml", "label: common\nextra: {a: \"1\"}\n");
    let options = "\
helm:
  valueFiles:
  - values-prod.yaml
  - ../../shared/common.yaml
  values: |
    image: from-values
    label: from-values
  parameters:
  - name: number
    value: \"0755\"
    forceString: true
  - name: extra.b
    value: x,y
";
    fx.write(
        "env/demo.yaml",
        &app("demo", "charts/demo", "apps", options),
    );
    let object_options = "\
helm:
  releaseName: obj
  values: |
    image: never-used
  valuesObject:
    replicas: 5
  parameters:
  - name: number
    value: \"42\"
";
    fx.write(
        "env/object.yaml",
        &app("object", "charts/demo", "other", object_options),
    );
    fx.commit("helm");
    let rendered = render_head(&fx, "env");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);

    let dir = fx.dir();
    std::fs::write(
        dir.join("values-inline.yaml"),
        "image: from-values\nlabel: from-values\n",
    )
    .unwrap();
    let theirs = run(
        &helm,
        &[
            "template",
            "charts/demo",
            "--name-template",
            "demo",
            "--namespace",
            "apps",
            "--include-crds",
            "--values",
            "charts/demo/values-prod.yaml",
            "--values",
            "shared/common.yaml",
            "--values",
            "values-inline.yaml",
            "--set-string",
            "number=0755",
            "--set",
            "extra.b=x\\,y",
        ],
        dir,
    );
    assert_eq!(theirs.len(), 2);
    // helm writes no namespace on the ConfigMap; the destination namespace is placed on it.
    let ours = owned(&rendered, "Application argocd/demo", false);
    let mut expected = theirs.clone();
    for doc in &mut expected {
        if doc["kind"] == "ConfigMap" {
            doc["metadata"]
                .as_object_mut()
                .unwrap()
                .insert("namespace".to_owned(), Value::from("apps"));
        }
    }
    assert_eq!(ours, expected);
    let deploy = find(&rendered, "apps/Deployment/apps/demo-web");
    assert_eq!(deploy.object["spec"]["replicas"], 3);
    assert_eq!(deploy.source.file, "charts/demo/templates/all.yaml");
    let settings = find(&rendered, "core/ConfigMap/apps/demo-settings");
    assert_eq!(settings.object["data"]["number"], "0755");
    assert_eq!(settings.object["data"]["kind"], "string");

    // valuesObject replaces values; releaseName names the release.
    std::fs::write(dir.join("values-object.yaml"), "replicas: 5\n").unwrap();
    let theirs = run(
        &helm,
        &[
            "template",
            "charts/demo",
            "--name-template",
            "obj",
            "--namespace",
            "other",
            "--values",
            "values-object.yaml",
            "--set",
            "number=42",
        ],
        dir,
    );
    assert_eq!(
        owned(&rendered, "Application argocd/object", true),
        theirs
            .into_iter()
            .map(|mut d| {
                d["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("namespace");
                d
            })
            .collect::<Vec<_>>()
    );
    let obj = find(&rendered, "apps/Deployment/other/obj-web");
    assert_eq!(
        obj.object["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(
        find(&rendered, "core/ConfigMap/other/obj-settings").object["data"]["kind"],
        "int64"
    );
}

#[test]
fn several_sources_and_ref_value_files() {
    let Some(_) = helm() else {
        return;
    };
    let fx = fixture();
    write_chart(&fx, "charts/demo");
    fx.write("values/prod.yaml", "replicas: 7\n");
    fx.write("plain/settings.yaml", &config_map("plain"));
    let spec = format!(
        "\
destination:
  namespace: multi
sources:
- repoURL: {REPO_URL}
  path: charts/demo
  helm:
    valueFiles:
    - $values/values/prod.yaml
- repoURL: {REPO_URL}
  ref: values
- repoURL: {REPO_URL}
  path: plain
"
    );
    fx.write("env/multi.yaml", &application("multi", &spec));
    let other_ref = format!(
        "\
destination:
  namespace: bad
sources:
- repoURL: {REPO_URL}
  path: charts/demo
  helm:
    valueFiles:
    - $cfg/prod.yaml
- repoURL: https://github.com/example/other
  ref: cfg
"
    );
    fx.write("env/bad.yaml", &application("bad", &other_ref));
    fx.commit("sources");
    let rendered = render_head(&fx, "env");
    let deploy = find(&rendered, "apps/Deployment/multi/multi-web");
    assert_eq!(deploy.object["spec"]["replicas"], 7);
    assert_eq!(owner(deploy).as_deref(), Some("Application argocd/multi"));
    let plain = find(&rendered, "core/ConfigMap/multi/plain");
    assert_eq!(owner(plain).as_deref(), Some("Application argocd/multi"));
    assert_eq!(
        errors(&rendered),
        [
            "env/bad.yaml:1: Application argocd/bad: sources[0] (https://github.com/example/env): helm.valueFiles $cfg/prod.yaml: source ref cfg is not this repo; its files cannot be read"
        ]
    );
}

#[test]
fn apps_of_apps_cycles_other_repos_and_plugins() {
    let fx = fixture();
    fx.write("env/root.yaml", &app("root", "apps", "argocd", ""));
    fx.write("apps/child.yaml", &app("child", "child", "kids", ""));
    fx.write("child/settings.yaml", &config_map("settings"));
    fx.write(
        "apps/other.yaml",
        &app("other", "x", "o", "").replace(REPO_URL, "https://github.com/example/elsewhere"),
    );
    fx.write(
        "apps/plugin.yaml",
        &app("plug", "child", "p", "plugin:\n  name: kasane\n"),
    );
    fx.write("apps/jsonnet.yaml", &app("jn", "jsonnet", "j", ""));
    fx.write("jsonnet/a.jsonnet", "{}\n");
    fx.write("loop/root.yaml", &app("a", "cyc/a", "argocd", ""));
    fx.write("cyc/a/b.yaml", &app("b", "cyc/b", "argocd", ""));
    fx.write("cyc/b/a.yaml", &app("a", "cyc/a", "argocd", ""));
    fx.commit("apps");

    let rendered = render_head(&fx, "env");
    let child = find(&rendered, "argoproj.io/Application/argocd/child");
    assert_eq!(owner(child).as_deref(), Some("Application argocd/root"));
    let settings = find(&rendered, "core/ConfigMap/kids/settings");
    assert_eq!(owner(settings).as_deref(), Some("Application argocd/child"));
    // Another repo's Application stays a plain object.
    find(&rendered, "argoproj.io/Application/argocd/other");
    let mut found = errors(&rendered);
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("apps/jsonnet.yaml:1: Application argocd/jn: jsonnet is not rendered")
            && found[0].contains("jsonnet/a.jsonnet"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("apps/plugin.yaml:1: Application argocd/plug: source (https://github.com/example/env.git) uses config management plugin kasane: config management plugins are not run"),
        "{found:?}"
    );

    let looped = render_head(&fx, "loop");
    assert_eq!(
        errors(&looped),
        [
            "cyc/a/b.yaml:1: Application argocd/b: cycle: Application argocd/a -> Application argocd/b -> Application argocd/a (each Application must apply itself or its parents at most once)"
        ]
    );
}

#[test]
fn builds_are_cached_by_content() {
    let fx = fixture();
    fx.write("app/settings.yaml", &config_map("settings"));
    fx.write("env/app.yaml", &app("web", "app", "team", ""));
    fx.commit("app");
    fx.write("unrelated.txt", "x\n");
    fx.commit("unrelated");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let opts = opts("env");
    for rev in ["HEAD", "HEAD~1"] {
        let rendered = render(&repo, repo.resolve(rev).unwrap(), &opts).unwrap();
        assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
        find(&rendered, "core/ConfigMap/team/settings");
    }
    assert_eq!(opts.cache.build_count(), 1, "one build for both commits");
}

#[test]
fn a_repo_without_remotes_takes_any_repo_url_as_its_own() {
    let fx = FixtureRepo::new();
    fx.write("app/settings.yaml", &config_map("settings"));
    fx.write(
        "env/app.yaml",
        &app("web", "app", "team", "").replace(REPO_URL, "https://git.example/any/repo"),
    );
    // Its path is no directory here: another repo's Application, left a plain object.
    fx.write(
        "env/other.yaml",
        &app("other", "elsewhere", "team", "").replace(REPO_URL, "https://git.example/other"),
    );
    fx.commit("app");
    let rendered = render_head(&fx, "env");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let settings = find(&rendered, "core/ConfigMap/team/settings");
    assert_eq!(owner(settings).as_deref(), Some("Application argocd/web"));
    find(&rendered, "argoproj.io/Application/argocd/other");

    // With a remote, another URL is another repo: the Application stays a plain object.
    fx.git(&["remote", "add", "origin", "https://github.com/example/env"]);
    let rendered = render_head(&fx, "env");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(
        ids(&rendered),
        [
            "argoproj.io/Application/argocd/web",
            "argoproj.io/Application/argocd/other"
        ]
    );
}
