//! The request path end to end: every endpoint, bodies passed through
//! untouched but for `model`, headers and keys, streaming, upstream failures.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::json;

#[tokio::test]
async fn every_endpoint_reaches_the_upstream_path_with_and_without_v1() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "up-model")], "")).await;
    let cases = [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/chat/completions", "/v1/chat/completions"),
        ("/v1/completions", "/v1/completions"),
        ("/completions", "/v1/completions"),
        ("/v1/embeddings", "/v1/embeddings"),
        ("/embeddings", "/v1/embeddings"),
        // A server other than OpenAI's is taken to serve chat only: Responses
        // requests are translated to chat (`use_chat_completions_api`).
        ("/v1/responses", "/v1/chat/completions"),
        ("/responses", "/v1/chat/completions"),
    ];
    for (path, _) in cases {
        let answer = post_json(&gw.url(path), &[], json!({"model": "m", "input": "x"})).await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
        assert_eq!(
            answer.header("x-request-id"),
            Some("mock"),
            "the provider's request id is relayed"
        );
    }
    let paths: Vec<String> = mock.calls().iter().map(|c| c.path.clone()).collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.1).collect();
    assert_eq!(paths, expected);
    assert!(mock
        .calls()
        .iter()
        .all(|c| c.method == "POST" && c.json()["model"] == "up-model"));
}

#[tokio::test]
async fn the_body_passes_untouched_except_model() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "vendor/model:tag")], "")).await;
    // Field order, spacing, unknown provider fields, tools and nested "model" keys must survive byte for byte.
    let body = r#"{"messages":[{"role":"user","content":"h\u00e9 \"q\"","model":"inner"}],  "model" : "m","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"response_format":{"type":"json_schema"},"x_vendor":{"deep":[1,2.50,null]}}"#;
    let answer = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(answer.status, 200);
    let sent = &mock.calls()[0].body;
    let expected = body.replace(r#""model" : "m""#, r#""model" : "vendor/model:tag""#);
    assert_eq!(std::str::from_utf8(sent).unwrap(), expected);
}

#[tokio::test]
async fn the_response_comes_back_as_the_upstream_sent_it() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], "")).await;
    let upstream = json!({"id": "x", "object": "chat.completion", "weird": {"keep": [1, "two"]}, "choices": []});
    mock.script([Reply::Json(200, upstream.clone())]);
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "m"})).await;
    assert_eq!(answer.json(), upstream);
    assert_eq!(answer.header("connection"), None, "hop-by-hop headers are dropped");
}

#[tokio::test]
async fn the_seed_config_loads_unchanged_and_routes_exactly() {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/seed_proxy_config.yaml"
    ))
    .expect("the seed config is in ../shared/fixtures");
    let mock = Mock::start().await;
    // Only the hosts change, so that nothing leaves this machine.
    let yaml = seed
        .replace(
            "https://api.kimi.com/coding/v1",
            &format!("http://{}/coding/v1", mock.addr),
        )
        .replace("https://openrouter.ai/api/v1", &format!("http://{}/api/v1", mock.addr))
        .replace(
            "http://ollama.ollama.svc.cluster.local:11434/v1",
            &format!("http://{}/v1", mock.addr),
        );
    let env = [
        ("KIMI_API_KEY", "sk-kimi-canary"),
        ("OPENROUTER_API_KEY", "sk-or-canary"),
    ];
    let gw = TestGateway::start_with_env(&yaml, &env).await;
    for model in ["kimi-code", "openrouter-free", "local-llama"] {
        let answer = post_json(
            &gw.url("/v1/chat/completions"),
            &[],
            json!({"model": model, "messages": []}),
        )
        .await;
        assert_eq!(answer.status, 200, "{model}");
    }
    let calls = mock.calls();
    assert_eq!(calls[0].path, "/coding/v1/chat/completions");
    assert_eq!(calls[0].json()["model"], "kimi-for-coding");
    assert_eq!(calls[0].header("authorization"), Some("Bearer sk-kimi-canary"));
    assert_eq!(calls[0].header("user-agent"), Some("claude-code/0.1.0"));
    assert_eq!(calls[0].header("x-kimi-client"), Some("Kimi-Code"));
    assert_eq!(calls[1].path, "/api/v1/chat/completions");
    assert_eq!(calls[1].json()["model"], "openrouter/free");
    assert_eq!(calls[1].header("authorization"), Some("Bearer sk-or-canary"));
    assert_eq!(calls[1].header("http-referer"), Some("https://blog.eduard3v.com"));
    assert_eq!(calls[1].header("x-title"), Some("LiteLLM-Automation"));
    assert_eq!(calls[2].path, "/v1/chat/completions");
    assert_eq!(calls[2].json()["model"], "llama3.1");
    assert_eq!(calls[2].header("authorization"), Some("Bearer dummy"));
    assert_eq!(calls[2].header("x-kimi-client"), None, "headers stay with their entry");
}

#[tokio::test]
async fn client_credentials_and_hop_by_hop_headers_never_go_upstream() {
    let mock = Mock::start().await;
    let extra = "general_settings:\n  master_key: sk-master-canary\n";
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], extra)).await;
    let headers = [
        ("authorization", "Bearer sk-master-canary"),
        ("x-api-key", "sk-master-canary"),
        ("cookie", "session=secret"),
        ("openai-organization", "org-steer"),
        ("proxy-authorization", "Basic abc"),
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("x-request-id", "req-1"),
    ];
    let answer = post_json(&gw.url("/v1/chat/completions"), &headers, json!({"model": "m"})).await;
    assert_eq!(answer.status, 200);
    let call = &mock.calls()[0];
    assert_eq!(call.header("authorization"), Some("Bearer sk-upstream-m"));
    for name in ["x-api-key", "cookie", "openai-organization", "proxy-authorization"] {
        assert_eq!(call.header(name), None, "{name} must not go upstream");
    }
    assert!(!format!("{:?}", call.headers).contains("sk-master-canary"));
    assert_eq!(call.header("traceparent"), Some(headers[5].1));
    assert_eq!(call.header("x-request-id"), Some("req-1"));
}

#[tokio::test]
async fn steering_fields_in_the_body_are_refused() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], "")).await;
    for field in [
        "api_base",
        "base_url",
        "api_key",
        "extra_headers",
        "headers",
        "user_config",
    ] {
        let body = json!({"model": "m", field: "http://attacker.example"});
        let answer = post_json(&gw.url("/v1/chat/completions"), &[], body).await;
        assert_eq!(answer.status, 400, "{field}");
        assert_eq!(answer.error_code(), "forbidden_field");
        assert_eq!(answer.json()["error"]["param"], field);
        assert_eq!(answer.header("x-tollgate-error"), Some("forbidden_field"));
    }
    assert!(mock.calls().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn the_openai_sdk_works_against_the_gateway() {
    let mock = Mock::start().await;
    let extra = "general_settings:\n  master_key: sk-master\n";
    let gw = TestGateway::start(&config_for(&mock, &[("chat-model", "upstream-chat")], extra)).await;
    let client = openai_client(&gw.url("/v1"), "sk-master");

    let models = client.models().list().await.unwrap();
    assert_eq!(
        models.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["chat-model"]
    );

    let request = chat_request("chat-model");
    let response = client.chat().create(request.clone()).await.unwrap();
    assert_eq!(response.model, "upstream-chat");
    assert_eq!(
        response.choices[0].message.content.as_deref(),
        Some("echo via /v1/chat/completions")
    );

    let mut stream = client.chat().create_stream(request).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        text.push_str(chunk.choices[0].delta.content.as_deref().unwrap_or(""));
    }
    assert_eq!(text, "Hello from the mock");
}

#[tokio::test]
async fn streams_are_relayed_chunk_by_chunk_as_they_arrive() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], "")).await;
    let events: Vec<String> = (0..5).map(|i| chunk("u", &format!("t{i}"))).collect();
    let gap = Duration::from_millis(150);
    mock.script([Reply::Sse(events.clone(), gap)]);
    let (status, frames) = stream_frames(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "m", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    let text = frames_text(&frames);
    let expected: String = events.iter().map(|e| format!("data: {e}\n\n")).collect::<String>() + "data: [DONE]\n\n";
    assert_eq!(text, expected, "the stream arrives byte for byte");
    // Each event arrives on its own, about one gap after the previous: nothing is buffered.
    let starts: Vec<_> = frames
        .iter()
        .filter(|(_, b)| b.starts_with(b"data: {"))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(starts.len(), 5, "one frame per event");
    for pair in starts.windows(2) {
        let spacing = pair[1] - pair[0];
        assert!(
            spacing >= Duration::from_millis(100),
            "events were bunched: {spacing:?}"
        );
    }
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_upstream_stream() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], "")).await;
    let events: Vec<String> = (0..50).map(|i| chunk("u", &format!("t{i}"))).collect();
    mock.script([Reply::Sse(events, Duration::from_millis(50))]);
    let request = http::Request::post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json!({"model": "m", "stream": true}).to_string(),
        )))
        .unwrap();
    let response = http_client().request(request).await.unwrap();
    let mut body = response.into_body();
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some());
    drop(body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while mock.cancelled() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream stream was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn upstream_errors_pass_through_with_their_status() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], "")).await;
    let error = json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}});
    mock.script([Reply::Json(429, error.clone())]);
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "m"})).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.json(), error);
    assert_eq!(
        answer.header("x-tollgate-error"),
        None,
        "a provider's error is not marked as the gateway's"
    );
}

#[tokio::test]
async fn unreachable_upstream_is_502_and_slow_upstream_is_504() {
    let mock = Mock::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: down\n    litellm_params:\n      model: openai/x\n      api_base: http://{closed}/v1\n      api_key: sk-canary-down\n  - model_name: slow\n    litellm_params:\n      model: openai/y\n      api_base: {}\n      timeout: 0.3\n",
        mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "down"})).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.error_code(), "upstream_unreachable");
    assert!(
        !String::from_utf8_lossy(&answer.body).contains(&closed.port().to_string()),
        "no upstream URL in errors"
    );

    mock.script([Reply::Hang]);
    let started = std::time::Instant::now();
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "slow"})).await;
    assert_eq!(answer.status, 504);
    assert_eq!(answer.error_code(), "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));

    mock.script([Reply::Close]);
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "slow"})).await;
    assert_eq!(answer.status, 502);
}

#[tokio::test]
async fn mock_response_answers_without_an_upstream() {
    let yaml = "model_list:\n  - model_name: demo\n    litellm_params:\n      model: openai/demo\n      mock_response: hello there world\n";
    let gw = TestGateway::start(yaml).await;
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], json!({"model": "demo"})).await;
    assert_eq!(answer.json()["choices"][0]["message"]["content"], "hello there world");
    let (_, frames) = stream_frames(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "demo", "stream": true}),
    )
    .await;
    let text = frames_text(&frames);
    assert!(
        text.ends_with("data: [DONE]\n\n") && text.contains("\"world\""),
        "{text}"
    );
    let client = openai_client(&gw.url("/v1"), "unused");
    let request = chat_request("demo");
    let mut stream = client.chat().create_stream(request).await.unwrap();
    let mut streamed = String::new();
    while let Some(chunk) = stream.next().await {
        streamed.push_str(
            chunk
                .unwrap()
                .choices
                .first()
                .and_then(|c| c.delta.content.clone())
                .as_deref()
                .unwrap_or(""),
        );
    }
    assert_eq!(streamed, "hello there world");
    for path in ["/v1/completions", "/v1/embeddings", "/v1/responses"] {
        assert_eq!(
            post_json(&gw.url(path), &[], json!({"model": "demo"})).await.status,
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn health_needs_no_key_and_readiness_reports_draining() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(
        &mock,
        &[("m", "u")],
        "general_settings:\n  master_key: k\n",
    ))
    .await;
    assert_eq!(send("GET", &gw.url("/health/liveliness"), &[], "").await.status, 200);
    let ready = send("GET", &gw.url("/health/readiness"), &[], "").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "healthy");
    gw.gateway.start_draining();
    assert_eq!(send("GET", &gw.url("/health/readiness"), &[], "").await.status, 503);
}

/// The usage-only chunk OpenAI sends last when `include_usage` is on.
fn usage_chunk() -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "u", "choices": [],
           "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}})
    .to_string()
}

#[tokio::test]
async fn a_stream_is_counted_even_when_the_client_did_not_ask_for_usage() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "u")], "")).await;
    let events = vec![chunk("u", "a"), chunk("u", "b"), usage_chunk()];
    mock.script([Reply::Sse(events.clone(), Duration::from_millis(20))]);
    let (status, frames) = stream_frames(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "m", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    let text = frames_text(&frames);
    let expected = format!("data: {}\n\ndata: {}\n\ndata: [DONE]\n\n", events[0], events[1]);
    assert_eq!(text, expected);
    let sent = String::from_utf8(mock.calls()[0].body.to_vec()).unwrap();
    assert_eq!(
        sent,
        r#"{"model":"u","stream_options":{"include_usage":true},"stream":true}"#
    );

    mock.script([Reply::Sse(events.clone(), Duration::from_millis(20))]);
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}});
    let (_, frames) = stream_frames(&gw.url("/v1/chat/completions"), &[], body).await;
    let text = frames_text(&frames);
    assert!(text.contains(&usage_chunk()), "{text}");
}
