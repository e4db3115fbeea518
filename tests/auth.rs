//! Keys: master key, per-client keys with allowlists, and the model list each key sees.

mod common;

use common::*;
use serde_json::json;

fn keyed(mock: &Mock) -> String {
    let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // sha256("test")
    config_for(
        mock,
        &[("cheap", "c"), ("expensive", "e")],
        &format!(
            "general_settings:\n  master_key: os.environ/MASTER\ntollgate:\n  clients:\n    - name: ide\n      key: os.environ/IDE_KEY\n    - name: script\n      key_sha256: {digest}\n      models: [cheap]\n"
        ),
    )
}

async fn gateway(mock: &Mock) -> TestGateway {
    TestGateway::start_with_env(&keyed(mock), &[("MASTER", "sk-master"), ("IDE_KEY", "sk-ide")]).await
}

#[tokio::test]
async fn missing_or_wrong_keys_get_401_in_openai_shape() {
    let mock = Mock::start().await;
    let gw = gateway(&mock).await;
    let url = gw.url("/v1/chat/completions");
    let answer = post_json(&url, &[], json!({"model": "cheap"})).await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (401, "missing_api_key")
    );
    let answer = post_json(&url, &[("authorization", "Bearer sk-wrong")], json!({"model": "cheap"})).await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (401, "invalid_api_key")
    );
    assert_eq!(answer.header("x-tollgate-error"), Some("invalid_api_key"));
    let answer = send("GET", &gw.url("/v1/models"), &[], "").await;
    assert_eq!(answer.status, 401);
    assert!(mock.calls().is_empty());
}

#[tokio::test]
async fn each_key_is_accepted_in_each_header() {
    let mock = Mock::start().await;
    let gw = gateway(&mock).await;
    let url = gw.url("/v1/chat/completions");
    for headers in [
        [("authorization", "Bearer sk-master")],
        [("x-api-key", "sk-master")],
        [("authorization", "Bearer sk-ide")],
        [("authorization", "bearer test")],
        [("x-api-key", "test")],
    ] {
        assert_eq!(
            post_json(&url, &headers, json!({"model": "cheap"})).await.status,
            200,
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn a_client_key_is_limited_to_its_models() {
    let mock = Mock::start().await;
    let gw = gateway(&mock).await;
    let url = gw.url("/v1/chat/completions");
    let script = [("x-api-key", "test")];
    let answer = post_json(&url, &script, json!({"model": "expensive"})).await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (403, "model_not_allowed")
    );
    assert_eq!(post_json(&url, &script, json!({"model": "cheap"})).await.status, 200);
    assert_eq!(
        post_json(&url, &[("x-api-key", "sk-ide")], json!({"model": "expensive"}))
            .await
            .status,
        200
    );
    assert_eq!(mock.calls().len(), 2, "the refused request never went upstream");
}

#[tokio::test]
async fn the_model_list_shows_what_the_key_may_use() {
    let mock = Mock::start().await;
    let gw = gateway(&mock).await;
    let ids = |answer: Answer| -> Vec<String> {
        let v = answer.json();
        assert_eq!(v["object"], "list");
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let master = send(
        "GET",
        &gw.url("/v1/models"),
        &[("authorization", "Bearer sk-master")],
        "",
    )
    .await;
    assert_eq!(ids(master), ["cheap", "expensive"]);
    let script = send("GET", &gw.url("/models"), &[("x-api-key", "test")], "").await;
    assert_eq!(ids(script), ["cheap"]);
}

#[tokio::test]
async fn without_keys_loopback_serves_anonymously() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], "")).await;
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[("authorization", "Bearer anything")],
        json!({"model": "m"}),
    )
    .await;
    assert_eq!(answer.status, 200);
}
