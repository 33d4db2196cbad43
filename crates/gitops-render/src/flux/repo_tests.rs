//! Flux Kustomizations of generated repos, rendered with the real kubectl.

use std::path::PathBuf;

use serde_json::{Value, json};

use gitops_git::EnvRepo;
use gitops_git::fixture::FixtureRepo;

use crate::{RenderOptions, Rendered, environment_inputs, environment_inputs_from, render};

const SOURCE: &str = "\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  url: https://example.com/env.git
";

fn kustomization(name: &str, path: &str, spec: &str) -> String {
    let mut text = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: {path}\n"
    );
    for line in spec.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
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

const SETTINGS: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: \"1\"
";

const SVC: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  ports: [{port: 80}]
";

/// The app directory without a kustomization: a file, a plain subdirectory and a
/// subdirectory that is a kustomization of its own.
fn write_app(fx: &FixtureRepo) {
    fx.write("apps/dev/deploy.yaml", DEPLOY);
    fx.write("apps/dev/sub/settings.yaml", SETTINGS);
    fx.write(
        "apps/dev/base/kustomization.yaml",
        "resources: [svc.yaml]\n",
    );
    fx.write("apps/dev/base/svc.yaml", SVC);
    fx.write("apps/dev/README.md", "not yaml\n");
}

const BUILD_SPEC: &str = "\
targetNamespace: web
namePrefix: dev-
nameSuffix: -v1
images:
- name: nginx
  newTag: \"1.27\"
patches:
- patch: |
    - op: replace
      path: /spec/replicas
      value: 3
  target:
    kind: Deployment
";

fn opts(path: &str) -> RenderOptions {
    let mut opts = RenderOptions::new(path, "default");
    opts.kubectl = Some(PathBuf::from("kubectl"));
    opts
}

fn render_head(fx: &FixtureRepo, path: &str) -> Rendered {
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let commit = repo.resolve("HEAD").unwrap();
    render(&repo, commit, &opts(path)).unwrap()
}

fn find<'a>(rendered: &'a Rendered, id: &str) -> &'a k8s_model::Manifest {
    rendered
        .manifests
        .iter()
        .find(|m| m.id.to_string() == id)
        .unwrap_or_else(|| {
            let ids: Vec<String> = rendered
                .manifests
                .iter()
                .map(|m| m.id.to_string())
                .collect();
            panic!(
                "{id} not rendered; got {ids:?}, errors {:?}",
                rendered.errors
            )
        })
}

fn owner(manifest: &k8s_model::Manifest) -> Option<String> {
    manifest.owner.as_ref().map(ToString::to_string)
}

/// Objects of `kubectl kustomize dir`, by kind and name.
fn kubectl_kustomize(dir: &std::path::Path) -> Vec<Value> {
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut docs: Vec<Value> =
        crate::documents::parse(crate::documents::Format::Yaml, text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|d| d.value)
            .collect();
    docs.sort_by_key(|d| (d["kind"].to_string(), d["metadata"]["name"].to_string()));
    docs
}

#[test]
fn generated_kustomization_with_the_spec_matches_kubectl_kustomize() {
    let fx = FixtureRepo::new();
    write_app(&fx);
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/apps.yaml",
        &kustomization("apps", "./apps/dev", BUILD_SPEC),
    );
    fx.commit("apps");
    let rendered = render_head(&fx, "clusters/dev");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let ids: Vec<String> = rendered
        .manifests
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "kustomize.toolkit.fluxcd.io/Kustomization/flux-system/apps",
            "source.toolkit.fluxcd.io/GitRepository/flux-system/flux-system",
            "core/ConfigMap/web/dev-settings-v1",
            "core/Service/web/dev-svc-v1",
            "apps/Deployment/web/dev-web-v1",
        ]
    );
    // The Kustomization stays a resource of --path; what it applies is owned by it and
    // points at the repo file it comes from.
    assert_eq!(owner(&rendered.manifests[0]), None);
    let deploy = find(&rendered, "apps/Deployment/web/dev-web-v1");
    assert_eq!(
        owner(deploy).as_deref(),
        Some("Kustomization flux-system/apps")
    );
    assert_eq!(deploy.source.file, "apps/dev/deploy.yaml");
    assert_eq!(
        find(&rendered, "core/ConfigMap/web/dev-settings-v1")
            .source
            .file,
        "apps/dev/sub/settings.yaml"
    );
    assert_eq!(
        find(&rendered, "core/Service/web/dev-svc-v1").source.file,
        "apps/dev/base/svc.yaml"
    );

    // The same by hand: the kustomization Flux would generate, with the spec written in.
    let by_hand = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = by_hand.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("deploy.yaml", DEPLOY);
    write("sub/settings.yaml", SETTINGS);
    write("base/kustomization.yaml", "resources: [svc.yaml]\n");
    write("base/svc.yaml", SVC);
    write(
        "kustomization.yaml",
        &format!(
            "resources: [base, deploy.yaml, sub/settings.yaml]\nnamespace: web\n{}",
            BUILD_SPEC.replace("targetNamespace: web\n", "")
        ),
    );
    let theirs = kubectl_kustomize(by_hand.path());
    let mut ours: Vec<Value> = rendered.manifests[2..]
        .iter()
        .map(|m| m.object.clone())
        .collect();
    ours.sort_by_key(|d| (d["kind"].to_string(), d["metadata"]["name"].to_string()));
    assert_eq!(ours, theirs);
    assert_eq!(ours[1]["spec"]["replicas"], 3);
    assert_eq!(
        ours[1]["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );

    // What history walks includes the directory the Kustomization reads.
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    assert_eq!(
        environment_inputs(&repo, head, &opts("clusters/dev")).unwrap(),
        ["clusters/dev", "apps/dev"]
    );
}

#[test]
fn common_metadata_and_an_existing_kustomization() {
    let fx = FixtureRepo::new();
    fx.write(
        "apps/web/kustomization.yaml",
        "resources: [deploy.yaml]\nnamePrefix: own-\nimages:\n- name: nginx\n  newName: mirror/nginx\n",
    );
    fx.write("apps/web/deploy.yaml", DEPLOY);
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/apps.yaml",
        &kustomization(
            "web",
            "./apps/web",
            "namePrefix: flux-\nimages:\n- name: nginx\n  newTag: \"2\"\ncommonMetadata:\n  labels: {team: a, app: replaced}\n  annotations: {note: x}\n",
        ),
    );
    fx.commit("web");
    let rendered = render_head(&fx, "clusters/dev");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    // namePrefix replaces the kustomization's own; an image replaces its entry of that name
    // (so `newName: mirror/nginx` is gone), as fluxcd/pkg writes them.
    let deploy = find(&rendered, "apps/Deployment/default/flux-web");
    assert_eq!(
        deploy.object["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    // commonMetadata: the object's metadata only, winning over its own labels.
    assert_eq!(
        deploy.object["metadata"]["labels"],
        json!({"team": "a", "app": "replaced"})
    );
    assert_eq!(
        deploy.object["metadata"]["annotations"],
        json!({"note": "x"})
    );
    assert_eq!(
        deploy.object["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"}})
    );
    assert_eq!(deploy.source.file, "apps/web/deploy.yaml");
}

#[test]
fn post_build_substitution() {
    let fx = FixtureRepo::new();
    fx.write(
        "apps/vars/app.yaml",
        "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${APP}-conf
data:
  domain: app.${DOMAIN}
  region: ${REGION:=eu}
  escaped: $${KEEP}
  shell: echo $HOME
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${APP}
spec:
  replicas: ${REPLICAS}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: raw
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  script: echo ${APP}
",
    );
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/vars.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-vars\n  namespace: flux-system\ndata:\n  DOMAIN: example.com\n  APP: from-configmap\n  REPLICAS: \"4\"\n",
    );
    fx.write(
        "clusters/dev/apps.yaml",
        &kustomization(
            "vars",
            "./apps/vars",
            "postBuild:\n  substitute:\n    APP: web\n  substituteFrom:\n  - kind: ConfigMap\n    name: cluster-vars\n  - kind: Secret\n    name: absent\n    optional: true\n",
        ),
    );
    fx.write(
        "clusters/dev/broken.yaml",
        &kustomization(
            "broken",
            "./apps/vars",
            "namePrefix: b-\npostBuild:\n  substituteFrom:\n  - kind: ConfigMap\n    name: nope\n",
        ),
    );
    fx.commit("vars");
    let rendered = render_head(&fx, "clusters/dev");
    // The inline value wins over the ConfigMap's; a default fills what is unset; `$${...}`
    // is the literal; `$HOME` is left for the shell; the opted-out object is as written.
    let conf = find(&rendered, "core/ConfigMap/default/web-conf");
    assert_eq!(
        conf.object["data"],
        json!({"domain": "app.example.com", "region": "eu", "escaped": "${KEEP}", "shell": "echo $HOME"})
    );
    assert_eq!(
        owner(conf).as_deref(),
        Some("Kustomization flux-system/vars")
    );
    assert_eq!(conf.source.file, "apps/vars/app.yaml");
    assert_eq!(conf.source.line, 1);
    // Substituted in the YAML text, so the number is a number.
    assert_eq!(
        find(&rendered, "apps/Deployment/default/web").object["spec"]["replicas"],
        4
    );
    assert_eq!(
        find(&rendered, "core/ConfigMap/default/raw").object["data"]["script"],
        "echo ${APP}"
    );
    // A missing substituteFrom that is not optional fails that Kustomization alone.
    assert_eq!(
        rendered
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "clusters/dev/broken.yaml:1: Kustomization flux-system/broken: postBuild.substituteFrom ConfigMap flux-system/nope is not defined in the environment, and this run does not read the cluster (an online run reads it from there; or define it, or mark it `optional: true`)"
        ]
    );
    assert!(
        !rendered
            .manifests
            .iter()
            .any(|m| m.id.name.starts_with("b-")),
        "the broken Kustomization renders nothing"
    );
}

#[test]
fn nested_kustomizations_and_cycles() {
    let fx = FixtureRepo::new();
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/root.yaml",
        &kustomization("outer", "./nested/a", ""),
    );
    fx.write(
        "nested/a/inner.yaml",
        &kustomization("inner", "./nested/b", "targetNamespace: deep\n"),
    );
    fx.write("nested/b/settings.yaml", SETTINGS);
    fx.write("clusters/loop/source.yaml", SOURCE);
    fx.write(
        "clusters/loop/root.yaml",
        &kustomization("root", "./cyc/a", ""),
    );
    fx.write("cyc/a/ks.yaml", &kustomization("a", "./cyc/b", ""));
    fx.write("cyc/b/ks.yaml", &kustomization("b", "./cyc/a", ""));
    fx.commit("nested");

    let rendered = render_head(&fx, "clusters/dev");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let inner = find(
        &rendered,
        "kustomize.toolkit.fluxcd.io/Kustomization/flux-system/inner",
    );
    assert_eq!(
        owner(inner).as_deref(),
        Some("Kustomization flux-system/outer")
    );
    let settings = find(&rendered, "core/ConfigMap/deep/settings");
    assert_eq!(
        owner(settings).as_deref(),
        Some("Kustomization flux-system/inner")
    );
    assert_eq!(settings.source.file, "nested/b/settings.yaml");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let plain = opts("clusters/dev");
    assert_eq!(
        environment_inputs(&repo, head, &plain).unwrap(),
        ["clusters/dev", "nested/a", "nested/b"]
    );
    assert!(plain.cache.build_count() > 0, "the plain way renders");
    // Taken from the render already done: the same inputs, and no build to learn them.
    let fresh = opts("clusters/dev");
    assert_eq!(
        environment_inputs_from(&repo, &fresh, &rendered).unwrap(),
        ["clusters/dev", "nested/a", "nested/b"]
    );
    assert_eq!(fresh.cache.build_count(), 0);
    // Known to the options (as status hands them to its walk): returned as they are.
    let mut known = opts("clusters/dev");
    known.known_inputs = Some(std::sync::Arc::new((head, vec!["clusters/dev".to_owned()])));
    assert_eq!(
        environment_inputs(&repo, head, &known).unwrap(),
        ["clusters/dev"]
    );

    let looped = render_head(&fx, "clusters/loop");
    let errors: Vec<String> = looped.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "cyc/b/ks.yaml:1: Kustomization flux-system/b: cycle: Kustomization flux-system/root -> Kustomization flux-system/a -> Kustomization flux-system/b -> Kustomization flux-system/a (each Kustomization must apply itself or its parents at most once)"
        ]
    );
    // Everything up to the cycle still renders.
    find(
        &looped,
        "kustomize.toolkit.fluxcd.io/Kustomization/flux-system/b",
    );
}

#[test]
fn kustomizations_of_other_repos_and_failed_builds() {
    let fx = FixtureRepo::new();
    fx.write("clusters/dev/source.yaml", SOURCE);
    // Its path is not in this repo: another repo's GitRepository, left as an object.
    fx.write(
        "clusters/dev/other.yaml",
        &kustomization("other", "./not/here", ""),
    );
    fx.write(
        "clusters/dev/bad.yaml",
        &kustomization("bad", "./apps/bad", ""),
    );
    fx.write("apps/bad/kustomization.yaml", "resources: [missing.yaml]\n");
    fx.write("apps/good/settings.yaml", SETTINGS);
    fx.write(
        "clusters/dev/good.yaml",
        &kustomization("good", "./apps/good", ""),
    );
    fx.commit("mixed");
    let rendered = render_head(&fx, "clusters/dev");
    let errors: Vec<String> = rendered.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "clusters/dev/bad.yaml:1: Kustomization flux-system/bad: kubectl kustomize failed:"
        ),
        "{errors:?}"
    );
    assert!(errors[0].contains("missing.yaml"), "{errors:?}");
    assert!(
        !errors[0].contains("kubectl-gitops-kustomize-"),
        "{errors:?}"
    );
    assert_eq!(
        owner(find(&rendered, "core/ConfigMap/default/settings")).as_deref(),
        Some("Kustomization flux-system/good")
    );
    find(
        &rendered,
        "kustomize.toolkit.fluxcd.io/Kustomization/flux-system/other",
    );
}

#[test]
fn builds_are_cached_by_content() {
    let fx = FixtureRepo::new();
    write_app(&fx);
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/apps.yaml",
        &kustomization("apps", "./apps/dev", BUILD_SPEC),
    );
    fx.commit("apps");
    fx.write("unrelated.txt", "x\n");
    fx.commit("unrelated");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let opts = opts("clusters/dev");
    for rev in ["HEAD", "HEAD~1", "HEAD"] {
        let rendered = render(&repo, repo.resolve(rev).unwrap(), &opts).unwrap();
        assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
        assert_eq!(rendered.manifests.len(), 5);
    }
    assert_eq!(opts.cache.build_count(), 1, "one build for both commits");
}

#[test]
fn a_kustomization_inside_the_path_replaces_its_files_render() {
    let fx = FixtureRepo::new();
    fx.write("clusters/dev/source.yaml", SOURCE);
    // The cluster's own sync Kustomization (its path is --path): not built again.
    fx.write(
        "clusters/dev/sync.yaml",
        &kustomization("flux-system", "./clusters/dev", ""),
    );
    fx.write(
        "clusters/dev/extra.yaml",
        &kustomization("extra", "./clusters/dev/extra", "targetNamespace: x\n"),
    );
    fx.write("clusters/dev/extra/settings.yaml", SETTINGS);
    fx.commit("inside");
    let rendered = render_head(&fx, "clusters/dev");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let ids: Vec<String> = rendered
        .manifests
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "kustomize.toolkit.fluxcd.io/Kustomization/flux-system/extra",
            "source.toolkit.fluxcd.io/GitRepository/flux-system/flux-system",
            "kustomize.toolkit.fluxcd.io/Kustomization/flux-system/flux-system",
            "core/ConfigMap/x/settings",
        ]
    );
    let settings = find(&rendered, "core/ConfigMap/x/settings");
    assert_eq!(
        owner(settings).as_deref(),
        Some("Kustomization flux-system/extra")
    );
    assert_eq!(settings.source.file, "clusters/dev/extra/settings.yaml");
}

#[test]
fn render_matching_does_not_take_a_controlled_file_alone() {
    let fx = FixtureRepo::new();
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/extra.yaml",
        &kustomization(
            "extra",
            "./clusters/dev/extra",
            "postBuild:\n  substitute:\n    X: set\n",
        ),
    );
    fx.write(
        "clusters/dev/extra/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  x: ${X}\n",
    );
    fx.commit("extra");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index.json");
    let file = crate::RenderIndexFile {
        path: &index,
        version: "test",
    };
    for _ in 0..2 {
        let rendered =
            crate::render_matching(&repo, head, &opts("clusters/dev"), Some(file), |id| {
                id.kind == "ConfigMap"
            })
            .unwrap();
        assert_eq!(rendered.manifests.len(), 1);
        assert_eq!(rendered.manifests[0].object["data"]["x"], "set");
    }
    assert!(index.is_file());
}

#[test]
fn builds_never_read_files_outside_the_repo() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.yaml");
    std::fs::write(
        &secret,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  stolen: SECRET-FROM-DISK\n",
    )
    .unwrap();
    let secret = secret.display().to_string();
    let fx = FixtureRepo::new();
    fx.write("clusters/dev/source.yaml", SOURCE);
    // A spec patch naming a file: Flux's patches are inline only, the `path` is dropped.
    fx.write(
        "clusters/dev/patched.yaml",
        &kustomization(
            "patched",
            "./apps/patched",
            &format!("patches:\n- path: {secret}\n  target:\n    kind: ConfigMap\n"),
        ),
    );
    fx.write("apps/patched/settings.yaml", SETTINGS);
    // A kustomization reading a file by absolute path, or above the repo's root.
    fx.write(
        "clusters/dev/reads.yaml",
        &kustomization("reads", "./apps/reads", ""),
    );
    fx.write(
        "apps/reads/kustomization.yaml",
        &format!("configMapGenerator:\n- name: gen\n  files: [{secret}]\n"),
    );
    fx.write(
        "clusters/dev/climbs.yaml",
        &kustomization("climbs", "./apps/climbs", ""),
    );
    fx.write(
        "apps/climbs/kustomization.yaml",
        "configMapGenerator:\n- name: gen\n  files: [../../../../../../../../../../etc/hostname]\n",
    );
    fx.commit("outside");
    let rendered = render_head(&fx, "clusters/dev");
    for m in &rendered.manifests {
        assert!(
            !m.object.to_string().contains("SECRET-FROM-DISK"),
            "{}",
            m.id
        );
    }
    let errors: Vec<String> = rendered.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "clusters/dev/climbs.yaml:1: Kustomization flux-system/climbs: apps/climbs/kustomization.yaml names \"../../"
        ),
        "{errors:?}"
    );
    // Without its `path`, the patch is one kustomize refuses (Flux's API requires `patch`).
    assert!(
        errors[1].starts_with("clusters/dev/patched.yaml:1: Kustomization flux-system/patched: kubectl kustomize failed:")
            && errors[1].contains("must specify one of patch and path"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with(
            "clusters/dev/reads.yaml:1: Kustomization flux-system/reads: apps/reads/kustomization.yaml names"
        ) && errors[2].contains("outside the repo"),
        "{errors:?}"
    );
}

#[test]
fn only_the_git_repository_syncing_the_path_is_this_repo() {
    let fx = FixtureRepo::new();
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/sync.yaml",
        &kustomization("flux-system", "./clusters/dev", ""),
    );
    fx.write(
        "clusters/dev/apps.yaml",
        &kustomization("apps", "./apps", ""),
    );
    // A tenant's repo whose root path `./` also exists here: not this repo.
    fx.write(
        "clusters/dev/tenant.yaml",
        &kustomization("tenant", "./", "")
            .replace("name: flux-system\n  path", "name: tenant\n  path"),
    );
    fx.write("apps/settings.yaml", SETTINGS);
    fx.commit("tenant");
    let rendered = render_head(&fx, "clusters/dev");
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(
        owner(find(&rendered, "core/ConfigMap/default/settings")).as_deref(),
        Some("Kustomization flux-system/apps")
    );
    assert!(
        rendered
            .manifests
            .iter()
            .all(|m| m.owner.as_ref().is_none_or(|o| o.id.name == "apps")),
        "the tenant's Kustomization renders nothing"
    );
}

#[test]
fn substitute_from_reads_live_what_no_kustomization_defines() {
    let fx = FixtureRepo::new();
    fx.write(
        "apps/app/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  color: ${COLOR}\n  token: ${TOKEN}\n",
    );
    // `vars` is defined by a Kustomization expanded after `app` asks for it: the environment
    // still wins over the cluster's.
    fx.write(
        "apps/vars/vars.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: flux-system\ndata:\n  COLOR: from-git\n",
    );
    fx.write("clusters/dev/source.yaml", SOURCE);
    fx.write(
        "clusters/dev/app.yaml",
        &kustomization(
            "app",
            "./apps/app",
            "postBuild:\n  substituteFrom:\n  - kind: ConfigMap\n    name: vars\n  - kind: Secret\n    name: token\n",
        ),
    );
    fx.write(
        "clusters/dev/vars.yaml",
        &kustomization("vars", "./apps/vars", ""),
    );
    fx.commit("live vars");
    let repo = EnvRepo::open(fx.dir()).unwrap();
    let commit = repo.resolve("HEAD").unwrap();
    let reads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&reads);
    let mut options = opts("clusters/dev");
    options.live = Some(std::sync::Arc::new(
        move |kind: &str, namespace: &str, name: &str| {
            seen.lock()
                .unwrap()
                .push(format!("{kind} {namespace}/{name}"));
            Ok(match (kind, name) {
                ("ConfigMap", "vars") => Some(json!({"data": {"COLOR": "from-cluster"}})),
                ("Secret", "token") => Some(json!({"data": {"TOKEN": "bGl2ZQ=="}})),
                _ => None,
            })
        },
    ));
    let rendered = render(&repo, commit, &options).unwrap();
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    assert_eq!(
        find(&rendered, "core/ConfigMap/default/app").object["data"],
        json!({"color": "from-git", "token": "live"})
    );
    assert_eq!(*reads.lock().unwrap(), ["Secret flux-system/token"]);
    assert!(options.cache.outside_read_count() > 0);
}
