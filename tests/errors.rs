//! Every error the gateway makes: OpenAI's shape, the right status, the
//! gateway's own marker header, and nothing lost or leaked.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::json;

async fn gateway(mock: &Mock, extra: &str) -> TestGateway {
    TestGateway::start(&config_for(mock, &[("m", "u")], extra)).await
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "").await;
    let url = gw.url("/v1/chat/completions");
    for (body, code) in [
        ("{not json", "invalid_json"),
        ("[1,2]", "invalid_json"),
        ("", "invalid_json"),
        ("{}", "missing_model"),
        (r#"{"model": null}"#, "missing_model"),
        (r#"{"model": ""}"#, "missing_model"),
        (r#"{"model": "m"} trailing"#, "invalid_json"),
    ] {
        let answer = send("POST", &url, &[("content-type", "application/json")], body).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.error_code(), code, "{body}");
        assert_eq!(answer.header("x-tollgate-error"), Some(code));
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let error = &answer.json()["error"];
        assert_eq!(error["type"], "invalid_request_error");
    }
    assert!(mock.calls().is_empty());
}

#[tokio::test]
async fn param_is_a_real_json_null_when_no_field_is_at_fault() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "").await;
    let answer = send("POST", &gw.url("/v1/chat/completions"), &[], "{oops").await;
    assert!(answer.json()["error"]["param"].is_null());
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "nope"})).await;
    assert_eq!(answer.json()["error"]["param"], "model");
}

#[tokio::test]
async fn unknown_models_are_404_and_say_how_to_list_models() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "").await;
    let answer = post_json(&gw.url("/v1/embeddings"), &[], json!({"model": "gpt-9", "input": "x"})).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error_code(), "model_not_found");
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/models"));
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "").await;
    let answer = send("POST", &gw.url("/v1/images/generations"), &[], "{}").await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (404, "unknown_url")
    );
    let answer = send("GET", &gw.url("/v1/chat/completions"), &[], "").await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (405, "method_not_allowed")
    );
    assert_eq!(answer.header("allow"), Some("POST"));
    let answer = send("POST", &gw.url("/v1/models"), &[], "").await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET"));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_declared_or_not() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "general_settings:\n  max_request_size_mb: 0.001\n").await; // 1048 bytes
    let big = format!(r#"{{"model":"m","pad":"{}"}}"#, "x".repeat(5000));
    // Declared by content-length: refused before reading.
    let answer = send("POST", &gw.url("/v1/chat/completions"), &[], big.clone()).await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (413, "request_too_large")
    );
    // Chunked, no length declared: refused once the limit is crossed.
    let chunks: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = big
        .as_bytes()
        .chunks(500)
        .map(|c| Ok(hyper::body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
    let request = http::Request::post(gw.url("/v1/chat/completions")).body(body).unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 413);
    // Under the limit is fine.
    let small = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "m"})).await;
    assert_eq!(small.status, 200);
    assert_eq!(mock.calls().len(), 1);
}

#[tokio::test]
async fn the_default_limit_is_32_mib() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "").await;
    assert_eq!(gw.gateway.config().max_body_bytes, 32 * 1024 * 1024);
    let declared = (32 * 1024 * 1024 + 1).to_string();
    let answer = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[("content-length", &declared)],
        "",
    )
    .await;
    assert_eq!(answer.status, 413);
}

#[tokio::test]
async fn gateway_errors_never_echo_keys() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, "general_settings:\n  master_key: sk-master-canary-77\n").await;
    let url = gw.url("/v1/chat/completions");
    let answers = [
        post_json(
            &url,
            &[("authorization", "Bearer sk-client-canary-88")],
            json!({"model": "m"}),
        )
        .await,
        post_json(
            &url,
            &[("authorization", "Bearer sk-master-canary-77")],
            json!({"model": "absent"}),
        )
        .await,
        post_json(
            &url,
            &[("authorization", "Bearer sk-master-canary-77"), ("x-junk", "1")],
            json!({"model": "m", "api_key": "sk-body-canary"}),
        )
        .await,
    ];
    for answer in answers {
        let text = format!("{:?} {}", answer.headers, String::from_utf8_lossy(&answer.body));
        for canary in ["canary-77", "canary-88", "sk-upstream-m", "sk-body-canary"] {
            assert!(!text.contains(canary), "{canary} leaked: {text}");
        }
    }
}
