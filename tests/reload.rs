//! Hot reload: Kubernetes' atomic ConfigMap updates under load, editor
//! saves, SIGHUP, routes removed under a running stream, rotated secrets.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tollgate::reload::Reloader;

/// Reproduces kubelet's AtomicWriter for a ConfigMap or Secret volume:
/// payload in `..<timestamp>/`, `..data -> ..<timestamp>`, each visible file
/// `name -> ..data/name`. An update writes a new timestamped folder, points
/// `..data_tmp` at it, renames `..data_tmp` over `..data`, then deletes the
/// old folder (whose inodes a watch on the file itself would die with).
struct AtomicVolume {
    dir: PathBuf,
    version: usize,
    current: Option<PathBuf>,
}

impl AtomicVolume {
    fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        AtomicVolume {
            dir: dir.to_path_buf(),
            version: 0,
            current: None,
        }
    }

    fn write(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let stamp = format!("..2026_11_23_10_00_00.{:09}", self.version);
        let payload = self.dir.join(&stamp);
        std::fs::create_dir(&payload).unwrap();
        for (name, content) in files {
            std::fs::write(payload.join(name), content).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&stamp, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (name, _) in files {
            let visible = self.dir.join(name);
            if std::fs::symlink_metadata(&visible).is_err() {
                std::os::unix::fs::symlink(format!("..data/{name}"), &visible).unwrap();
            }
        }
        if let Some(old) = self.current.replace(payload) {
            std::fs::remove_dir_all(old).unwrap();
        }
    }
}

fn start_reloader(path: &Path, gw: &TestGateway) {
    Reloader {
        path: path.to_path_buf(),
        gateway: gw.gateway.clone(),
        loopback: true,
    }
    .spawn(true);
}

async fn gateway_on(path: &Path) -> TestGateway {
    let loaded = tollgate::config::load_file(path, &|_| None).expect("initial config loads");
    let gw = TestGateway::serve(loaded.config).await;
    start_reloader(path, &gw);
    gw
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Version `i` of a config: `stable` routes to `up-v{i}`, and `m{i}` exists only in it.
fn version(mock: &Mock, i: usize) -> String {
    format!(
        "model_list:\n  - model_name: stable\n    litellm_params:\n      model: openai/up-v{i}\n      api_base: {base}\n  - model_name: m{i}\n    litellm_params:\n      model: openai/x\n      api_base: {base}\n",
        base = mock.base()
    )
}

/// Broken configs, each a different kind of mistake.
fn broken(i: usize) -> String {
    let kinds = [
        "model_list:\n  - model_name: [unclosed\n".to_string(),
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      headers: {Host: evil}\n".to_string(),
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      timeout: soon\n".to_string(),
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\ntollgate:\n  clients:\n    - name: dup\n      key: k1\n    - name: dup\n      key: k2\n".to_string(),
        "model_list:\n  - model_name: \"\"\n    litellm_params:\n      model: openai/x\n".to_string(),
    ];
    kinds[i % kinds.len()].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_configmap_updates_under_load_never_fail_a_request() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut volume = AtomicVolume::new(dir.path());
    volume.write(&[("proxy_config.yaml", &version(&mock, 0))]);
    let path = dir.path().join("proxy_config.yaml");
    let gw = Arc::new(gateway_on(&path).await);

    // Continuous load: streaming and non-streaming clients on the stable route.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for client in 0..4 {
        let (gw, stop, served, failed) = (gw.clone(), stop.clone(), served.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let ok = if client % 2 == 0 {
                    let (status, frames) = stream_frames(
                        &gw.url("/v1/chat/completions"),
                        &[],
                        json!({"model": "stable", "stream": true}),
                    )
                    .await;
                    let text = frames_text(&frames);
                    status == 200 && text.ends_with("data: [DONE]\n\n")
                } else {
                    post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "stable"}))
                        .await
                        .status
                        == 200
                };
                let counter = if ok { &served } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut valid = 0;
    let mut refused = 0;
    for i in 1..=24 {
        let before = gw.gateway.status();
        if i % 4 == 0 {
            volume.write(&[("proxy_config.yaml", &broken(i / 4))]);
            wait_for("the refusal", async || {
                gw.gateway.status().reloads_failed > before.reloads_failed
            })
            .await;
            let status = gw.gateway.status();
            assert!(status.last_reload_failed && status.last_error.is_some());
            assert_eq!(status.generation, before.generation, "a broken file never swaps");
            let ready = send("GET", &gw.url("/health/readiness"), &[], "").await.json();
            assert_eq!(ready["config"]["last_reload_failed"], true);
            // The previous routes keep serving.
            let previous = post_json(
                &gw.url("/v1/chat/completions"),
                &[],
                json!({"model": format!("m{}", i - 1)}),
            )
            .await;
            assert_eq!(previous.status, 200);
            refused += 1;
        } else {
            volume.write(&[("proxy_config.yaml", &version(&mock, i))]);
            let model = format!("m{i}");
            wait_for(&model, async || {
                post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": model}))
                    .await
                    .status
                    == 200
            })
            .await;
            let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "stable"})).await;
            assert_eq!(
                answer.json()["model"],
                format!("up-v{i}"),
                "the stable route follows the update"
            );
            let old = post_json(
                &gw.url("/v1/chat/completions"),
                &[],
                json!({"model": format!("m{}", i - 1)}),
            )
            .await;
            assert_eq!(old.status, 404, "the removed route is gone");
            assert!(!gw.gateway.status().last_reload_failed);
            valid += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!((valid, refused), (18, 6));
    assert_eq!(gw.gateway.status().generation, 19, "18 swaps after the first load");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed during {} served",
        served.load(Ordering::Relaxed)
    );
    assert!(served.load(Ordering::Relaxed) > 100, "the load really ran");
}

#[tokio::test]
async fn an_editor_rename_save_is_picked_up() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, version(&mock, 1)).unwrap();
    let gw = gateway_on(&path).await;
    for i in 2..=4 {
        let tmp = dir.path().join(".proxy_config.yaml.swp");
        std::fs::write(&tmp, version(&mock, i)).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let model = format!("m{i}");
        wait_for(&model, async || {
            post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": model}))
                .await
                .status
                == 200
        })
        .await;
    }
    // An in-place write is seen too.
    std::fs::write(&path, version(&mock, 5)).unwrap();
    wait_for("m5", async || {
        post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "m5"}))
            .await
            .status
            == 200
    })
    .await;
}

#[tokio::test]
async fn touching_the_file_without_changing_it_does_not_swap() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, version(&mock, 1)).unwrap();
    let gw = gateway_on(&path).await;
    std::fs::write(&path, version(&mock, 1)).unwrap();
    wait_for("the unchanged reload", async || {
        gw.gateway.status().reloads_unchanged > 0
    })
    .await;
    assert_eq!(gw.gateway.status().generation, 1);
}

#[tokio::test]
async fn a_stream_on_a_removed_route_finishes_on_the_old_config() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut volume = AtomicVolume::new(dir.path());
    volume.write(&[("proxy_config.yaml", &version(&mock, 1))]);
    let gw = gateway_on(&dir.path().join("proxy_config.yaml")).await;
    let events: Vec<String> = (0..8).map(|i| chunk("x", &format!("t{i}"))).collect();
    mock.script([Reply::Sse(events, Duration::from_millis(100))]);
    let url = gw.url("/v1/chat/completions");
    let stream = tokio::spawn(async move { stream_frames(&url, &[], json!({"model": "m1", "stream": true})).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    volume.write(&[("proxy_config.yaml", &version(&mock, 2))]);
    wait_for("the swap", async || gw.gateway.status().generation == 2).await;
    let gone = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "m1"})).await;
    assert_eq!(gone.status, 404, "new requests see the new routes");
    let (status, frames) = stream.await.unwrap();
    let text = frames_text(&frames);
    assert_eq!(status, 200);
    assert!(
        text.contains("t7") && text.ends_with("data: [DONE]\n\n"),
        "the running stream finished: {text}"
    );
}

#[tokio::test]
async fn a_rotated_secret_file_takes_effect_without_a_restart() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut secrets = AtomicVolume::new(&dir.path().join("secrets"));
    secrets.write(&[("provider-key", "sk-old\n")]);
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n      api_base: {}\n      api_key: file:../secrets/provider-key\n",
        mock.base()
    );
    std::fs::write(config.join("proxy_config.yaml"), yaml).unwrap();
    let gw = gateway_on(&config.join("proxy_config.yaml")).await;
    post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "m"})).await;
    secrets.write(&[("provider-key", "sk-new\n")]);
    wait_for("the new key", async || {
        post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "m"})).await;
        mock.calls().last().unwrap().header("authorization") == Some("Bearer sk-new")
    })
    .await;
    assert_eq!(mock.calls()[0].header("authorization"), Some("Bearer sk-old"));
}

#[tokio::test]
async fn upstream_connections_survive_a_reload() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, version(&mock, 1)).unwrap();
    let gw = gateway_on(&path).await;
    for _ in 0..3 {
        assert_eq!(
            post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "stable"}))
                .await
                .status,
            200
        );
    }
    // One pool per core: the test gateway's two cores may each have one.
    let before = mock.connections();
    assert!((1..=2).contains(&before), "{before}");
    std::fs::write(&path, version(&mock, 2)).unwrap();
    wait_for("the swap", async || gw.gateway.status().generation == 2).await;
    for _ in 0..3 {
        assert_eq!(
            post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "stable"}))
                .await
                .status,
            200
        );
    }
    let after = mock.connections();
    assert!(
        after <= 2,
        "the pooled connections were reused after the reload: {before} then {after}"
    );
}

#[tokio::test]
async fn a_keyless_config_is_refused_when_listening_beyond_loopback() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    let keyed = format!("{}general_settings:\n  master_key: sk-m\n", version(&mock, 1));
    std::fs::write(&path, &keyed).unwrap();
    let loaded = tollgate::config::load_file(&path, &|_| None).unwrap();
    let gw = TestGateway::serve(loaded.config).await;
    let reloader = Reloader {
        path: path.clone(),
        gateway: gw.gateway.clone(),
        loopback: false,
    };
    std::fs::write(&path, version(&mock, 2)).unwrap();
    assert_eq!(reloader.reload("test"), tollgate::reload::Outcome::Rejected);
    assert!(gw.gateway.config().requires_key(), "the keyed config still serves");
    assert!(gw.gateway.status().last_error.unwrap().contains("loopback"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_when_watching_is_off() {
    use common::process::Running;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    let mock_entry = |name: &str| {
        format!("model_list:\n  - model_name: {name}\n    litellm_params:\n      model: openai/x\n      mock_response: hi\n")
    };
    std::fs::write(&path, mock_entry("before")).unwrap();
    let running = Running::start(&path, &["--no-watch"], &[]);
    // Written in place; with watching off nothing happens until SIGHUP.
    std::fs::write(&path, mock_entry("after")).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let url = running.url("/v1/chat/completions");
    assert_eq!(post_json(&url, &[], json!({"model": "after"})).await.status, 404);
    running.signal("HUP");
    wait_for("the SIGHUP reload", async || {
        post_json(&url, &[], json!({"model": "after"})).await.status == 200
    })
    .await;
    // A broken file on SIGHUP is refused; the process keeps serving.
    std::fs::write(&path, "model_list: [").unwrap();
    running.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(post_json(&url, &[], json!({"model": "after"})).await.status, 200);
    running.signal("TERM");
    let (status, output) = tokio::task::spawn_blocking(move || running.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success());
    assert!(
        output.contains("trigger=\"sighup\"") && output.contains("reload refused"),
        "{output}"
    );
}

#[tokio::test]
async fn an_idle_gateway_does_not_reload_by_reading_its_own_config() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, version(&mock, 1)).unwrap();
    let gw = gateway_on(&path).await;
    // One change: one reload, whose own read of the file must not trigger another.
    std::fs::write(&path, version(&mock, 2)).unwrap();
    wait_for("the swap", async || gw.gateway.status().generation == 2).await;
    let settled = gw.gateway.status();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = gw.gateway.status();
    assert_eq!(
        (later.reloads_ok, later.reloads_unchanged, later.reloads_failed),
        (settled.reloads_ok, settled.reloads_unchanged, settled.reloads_failed),
        "no reload without a change"
    );
}

/// LiteLLM's `include:`: a change in an included file is a change of the
/// config, reloaded like one; a broken included file keeps the last good one.
#[tokio::test]
async fn a_change_in_an_included_file_reloads() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    let models = dir.path().join("models.yaml");
    std::fs::write(&models, version(&mock, 1)).unwrap();
    std::fs::write(&path, "include:\n  - models.yaml\nrouter_settings:\n  num_retries: 0\n").unwrap();
    let gw = gateway_on(&path).await;
    let url = gw.url("/v1/chat/completions");
    let chat = |model: &'static str| post_json(&url, &[], json!({"model": model}));
    assert_eq!(chat("m1").await.status, 200);
    assert_eq!(chat("m2").await.status, 404);
    std::fs::write(&models, version(&mock, 2)).unwrap();
    wait_for("the included file's new model", async || chat("m2").await.status == 200).await;
    assert_eq!(chat("m1").await.status, 404);
    std::fs::write(&models, "model_list: [").unwrap();
    wait_for("the refused reload", async || gw.gateway.status().reloads_failed == 1).await;
    assert_eq!(chat("m2").await.status, 200, "the last good config serves on");
}
