//! LiteLLM's `include:` directive: included files' sections merge into the
//! config (lists extended, other values replaced), paths relative to the
//! file naming them, each file read once; a missing or malformed included
//! file stops the config with its place, like any other config problem.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn entry(name: &str, base: &str) -> String {
    format!("  - model_name: {name}\n    litellm_params:\n      model: openai/{name}-up\n      api_base: {base}\n")
}

#[tokio::test]
async fn included_files_add_models_and_settings_once_each() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = mock.base();
    let main = write(
        dir.path(),
        "proxy_config.yaml",
        &format!(
            "include:\n  - models.yaml\n  - settings/router.yaml\nmodel_list:\n{}router_settings:\n  num_retries: 5\n",
            entry("main", &base)
        ),
    );
    write(
        dir.path(),
        "models.yaml",
        &format!("model_list:\n{}{}", entry("a", &base), entry("b", &base)),
    );
    // Nested, relative to settings/, and naming the main config and models.yaml again.
    write(
        dir.path(),
        "settings/router.yaml",
        "include:\n  - ../more.yaml\n  - ../models.yaml\nrouter_settings:\n  num_retries: 0\n",
    );
    write(
        dir.path(),
        "more.yaml",
        &format!("include:\n  - proxy_config.yaml\nmodel_list:\n{}", entry("c", &base)),
    );
    let loaded = tollgate::config::load_file(&main, &|_: &str| None).unwrap();
    let config = &loaded.config;
    let names: Vec<&str> = config.deployments.iter().map(|d| &*d.model_name).collect();
    assert_eq!(names, ["main", "a", "b", "c"], "each file merged once, in order");
    assert_eq!(
        config.routing.num_retries, 0,
        "a later file's setting replaces the earlier"
    );
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("include")),
        "include is understood, not an ignored LiteLLM key: {:?}",
        loaded.warnings
    );

    let gw = TestGateway::serve(loaded.config).await;
    for model in ["main", "a", "b", "c"] {
        let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": model})).await;
        assert_eq!(answer.status, 200, "{model}");
    }
    assert_eq!(mock.calls().last().unwrap().json()["model"], "c-up");
}

#[test]
fn a_missing_or_malformed_included_file_stops_the_config_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let models = "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/a\n";
    let cases = [
        ("include:\n  - nowhere.yaml\n", "include[0]", "nowhere.yaml"),
        ("include: models.yaml\n", "include", "list of file paths"),
        ("include:\n  - 3\n", "include[0]", "file path"),
        ("include:\n  - broken.yaml\n", "include[0]", "broken.yaml"),
        ("include:\n  - list.yaml\n", "include[0]", "not a YAML mapping"),
    ];
    write(dir.path(), "broken.yaml", "model_list: [\n");
    write(dir.path(), "list.yaml", "- a\n- b\n");
    for (i, (head, at, says)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("c{i}.yaml"), &format!("{head}{models}"));
        let problems = match tollgate::config::load_file(&path, &|_: &str| None) {
            Ok(_) => panic!("case {i} should not load"),
            Err(problems) => problems,
        };
        assert!(
            problems
                .iter()
                .any(|p| p.at.starts_with(at) && (p.message.contains(says) || p.at.contains(says))),
            "case {i}: {problems:?}"
        );
    }
}
