//! Every config we hand to users loads: each `*.yaml` in `examples/` and the
//! LiteLLM config inside every ConfigMap under `k8s/`, checked by the real
//! binary with `tollgate check`, as a user would run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const TOLLGATE: &str = env!("CARGO_BIN_EXE_tollgate");

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Every `*.yaml` directly in `examples/`, found by listing the folder so a
/// new example is covered without touching this test.
fn example_configs() -> Vec<PathBuf> {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(repo_path("examples"))
        .expect("examples/ is readable")
        .map(|entry| entry.expect("examples/ entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    configs.sort();
    configs
}

/// Every `*.yaml` under `dir`, recursively.
fn yaml_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("folder is readable") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            yaml_files_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// The names a config refers to as `os.environ/NAME` (comments included:
/// setting a variable nobody reads is harmless).
fn env_references(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("os.environ/")
        .map(|(at, prefix)| {
            text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A stand-in value: a URL where one is expected, else text unique to the
/// name (keys must differ from each other).
fn dummy_value(name: &str) -> String {
    if name.contains("BASE") || name.contains("URL") {
        "http://127.0.0.1:9/v1".to_string()
    } else {
        format!("dummy-{}", name.to_ascii_lowercase())
    }
}

/// Runs `tollgate check --config path` with `set` given dummy values and
/// `unset` removed from the environment.
fn check(path: &Path, set: &[String], unset: &[&str]) -> Output {
    let mut command = Command::new(TOLLGATE);
    command.arg("check").arg("--config").arg(path);
    for name in set {
        command.env(name, dummy_value(name));
    }
    for name in unset {
        command.env_remove(name);
    }
    command.output().expect("the tollgate binary runs")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_example_config_passes_check() {
    let configs = example_configs();
    let names: Vec<String> = configs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "quickstart.yaml",
        "seed_proxy_config.yaml",
        "local-dev.yaml",
        "client-keys.yaml",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    for config in &configs {
        let text = std::fs::read_to_string(config).unwrap();
        let output = check(config, &env_references(&text), &[]);
        assert!(
            output.status.success(),
            "{} should pass check\n{}",
            config.display(),
            describe(&output)
        );
    }
}

/// One example per provider family; each must pass `check --strict`: every
/// entry servable, with only dummy values for its variables.
#[test]
fn every_provider_family_example_passes_check_strict() {
    let families = [
        "providers-openai-compatible.yaml",
        "providers-self-hosted.yaml",
        "providers-bare-names.yaml",
    ];
    let configs = example_configs();
    for family in families {
        assert!(
            configs.iter().any(|p| p.ends_with(family)),
            "{family} missing from examples/"
        );
    }
    for config in &configs {
        let text = std::fs::read_to_string(config).unwrap();
        let mut command = Command::new(TOLLGATE);
        command.args(["check", "--strict", "--config"]).arg(config);
        for name in env_references(&text) {
            command.env(&name, dummy_value(&name));
        }
        let output = command.output().expect("the tollgate binary runs");
        assert!(
            output.status.success(),
            "{} should pass check --strict\n{}",
            config.display(),
            describe(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains(" disabled: "), "{}: {stdout}", config.display());
    }
}

#[test]
fn an_unset_variable_disables_its_entry_is_named_and_fails_strict() {
    const UNSET: &str = "TOLLGATE_EXAMPLES_TEST_UNSET_KEY";
    let seed = std::fs::read_to_string(repo_path("examples/seed_proxy_config.yaml")).unwrap();
    assert!(seed.contains("os.environ/KIMI_API_KEY"));
    let broken = seed.replace("os.environ/KIMI_API_KEY", &format!("os.environ/{UNSET}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, &broken).unwrap();

    let others: Vec<String> = env_references(&broken)
        .into_iter()
        .filter(|name| name != UNSET)
        .collect();
    // The gateway would start without that entry (LiteLLM fails it only
    // when it is called): a warning naming the variable, exit 0...
    let output = check(&path, &others, &[UNSET]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("environment variable {UNSET} is not set")),
        "{}",
        describe(&output)
    );
    // ...and `--strict` refuses it.
    let mut strict = Command::new(TOLLGATE);
    strict
        .args(["check", "--strict", "--config"])
        .arg(&path)
        .env_remove(UNSET);
    for name in &others {
        strict.env(name, dummy_value(name));
    }
    let output = strict.output().expect("the tollgate binary runs");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
}

/// The folder every k8s/ manifest mounts its Secrets under.
const SECRETS_DIR: &str = "/etc/tollgate/secrets/";

/// The `proxy_config.yaml` of every ConfigMap under `k8s/`, with where it came from.
fn k8s_configs() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    yaml_files_under(&repo_path("k8s"), &mut files);
    files.sort();
    let mut configs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Documents are split on `---` lines; each is parsed alone.
        for document in text.split("\n---\n") {
            let value: Value =
                serde_saphyr::from_str(document).unwrap_or_else(|e| panic!("{} is not YAML: {e}", file.display()));
            if value["kind"] != "ConfigMap" {
                continue;
            }
            if let Some(config) = value["data"]["proxy_config.yaml"].as_str() {
                configs.push((file.clone(), config.to_string()));
            }
        }
    }
    configs
}

#[test]
fn every_k8s_configmap_passes_check() {
    let configs = k8s_configs();
    assert!(
        configs.len() >= 3,
        "sidecar, daemonset and deployment each carry a config: {configs:?}"
    );
    for (file, config) in configs {
        // The Secret files the manifests mount, recreated with dummy keys.
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        for (at, _) in config.match_indices(&format!("file:{SECRETS_DIR}")) {
            let relative: String = config[at + "file:".len() + SECRETS_DIR.len()..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            let path = secrets.join(&relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("dummy-{relative}\n")).unwrap();
        }
        let local = config.replace(
            SECRETS_DIR,
            &format!("{}/", secrets.display().to_string().trim_end_matches('/')),
        );
        let path = dir.path().join("proxy_config.yaml");
        std::fs::write(&path, &local).unwrap();
        let output = check(&path, &env_references(&local), &[]);
        assert!(
            output.status.success(),
            "the ConfigMap in {} should pass check\n{}",
            file.display(),
            describe(&output)
        );
    }
}
