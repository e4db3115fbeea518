//! OTLP export end to end: the real binary, configured by the standard
//! `OTEL_*` variables, in front of a loopback upstream, exporting to an
//! in-process collector over gRPC and HTTP/protobuf. Checks spans, trace
//! continuation, metric points, and that no secret is ever exported or scraped.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::otlp::{attr_f64, attr_int, attr_str, points, Point, Receiver};
use common::process::Running;
use common::{chunk, post_json, send, Mock, Reply};

const MASTER_KEY: &str = "sk-master-canary-7f3a9c51";
const CLIENT_KEY: &str = "sk-client-canary-91bd0e77";
const UPSTREAM_KEY: &str = "sk-upstream-canary-44e1b2a0";
const OTLP_TOKEN: &str = "otlp-canary-5c2d88f1";
const CANARIES: [&str; 4] = [MASTER_KEY, CLIENT_KEY, UPSTREAM_KEY, OTLP_TOKEN];

/// A client's W3C trace context, to be continued.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

const WAIT: Duration = Duration::from_secs(20);

/// A gateway exporting to `receiver` over `protocol`, with priced, unpriced
/// and embedding models, a master key, a client key and spend in euros.
struct Setup {
    mock: Mock,
    receiver: Receiver,
    gateway: Running,
    _dir: tempfile::TempDir,
}

async fn start(protocol: &str, extra: &str) -> Setup {
    start_with(protocol, extra, &[]).await
}

/// [`start`] with more environment variables.
async fn start_with(protocol: &str, extra: &str, more_env: &[(&str, &str)]) -> Setup {
    let mock = Mock::start().await;
    let receiver = Receiver::start().await;
    let base = mock.base();
    let yaml = format!(
        "model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o, api_base: {base}, api_key: os.environ/TG_UPSTREAM_KEY}}
  - model_name: embed
    litellm_params: {{model: openai/text-embedding-3-small, api_base: {base}, api_key: os.environ/TG_UPSTREAM_KEY}}
  - model_name: local
    litellm_params: {{model: openai/my-finetune-xyz, api_base: {base}, api_key: os.environ/TG_UPSTREAM_KEY}}
general_settings:
  master_key: os.environ/TG_MASTER_KEY
{extra}tollgate:
  clients:
    - name: script
      key: os.environ/TG_CLIENT_KEY
  spend: {{currency: EUR, per_usd: 0.5}}
  telemetry:
    otlp_headers: {{authorization: os.environ/TG_OTLP_TOKEN}}
"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let endpoint = if protocol == "grpc" {
        &receiver.grpc
    } else {
        &receiver.http
    };
    let token = format!("Bearer {OTLP_TOKEN}");
    let mut env = vec![
        ("TG_MASTER_KEY", MASTER_KEY),
        ("TG_CLIENT_KEY", CLIENT_KEY),
        ("TG_UPSTREAM_KEY", UPSTREAM_KEY),
        ("TG_OTLP_TOKEN", token.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test"),
    ];
    env.extend_from_slice(more_env);
    let gateway = Running::start(&path, &[], &env);
    Setup {
        mock,
        receiver,
        gateway,
        _dir: dir,
    }
}

impl Setup {
    async fn chat(&self, model: &str, extra: &[(&str, &str)]) -> common::Answer {
        let auth = format!("Bearer {CLIENT_KEY}");
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        post_json(&self.gateway.url("/v1/chat/completions"), &headers, body).await
    }

    /// The finished span named `name`, waiting for it.
    async fn span(&self, name: &str) -> opentelemetry_proto::tonic::trace::v1::Span {
        self.receiver
            .wait_for(WAIT, name, |r| r.spans().iter().any(|s| s.name == name))
            .await;
        self.receiver.spans().into_iter().find(|s| s.name == name).unwrap()
    }

    /// Waits for a point of `metric` whose attributes include `labels`.
    async fn point(&self, metric: &str, labels: &[(&str, &str)]) -> Point {
        let find = |r: &Receiver| {
            let m = r.metric(metric)?;
            points(&m)
                .into_iter()
                .find(|p| labels.iter().all(|(k, v)| attr_str(&p.attributes, k) == Some(v)))
        };
        self.receiver
            .wait_for(WAIT, &format!("{metric} {labels:?}"), |r| find(r).is_some())
            .await;
        find(&self.receiver).unwrap()
    }

    async fn scrape(&self) -> String {
        let answer = send("GET", &self.gateway.url("/metrics"), &[], "").await;
        assert_eq!(answer.status, 200, "GET /metrics");
        assert!(
            answer.header("content-type").unwrap_or("").starts_with("text/plain"),
            "{:?}",
            answer.headers
        );
        String::from_utf8(answer.body.to_vec()).unwrap()
    }

    /// Nothing exported and nothing scraped contains a key, ever.
    async fn assert_no_secrets(&self) {
        let exported = self.receiver.bytes();
        let scraped = self.scrape().await;
        for canary in CANARIES {
            assert!(
                !contains(&exported, canary.as_bytes()),
                "{canary} was exported over OTLP"
            );
            assert!(!scraped.contains(canary), "{canary} is on /metrics");
        }
        // Not even a recognisable piece of one.
        for canary in CANARIES {
            let tail = &canary[canary.len() - 8..];
            assert!(!contains(&exported, tail.as_bytes()), "part of {canary} was exported");
            assert!(!scraped.contains(tail), "part of {canary} is on /metrics");
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_over_http_protobuf_continues_the_trace_and_counts_spend() {
    let s = start("http/protobuf", "").await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let answer = s.chat("smart", &[("traceparent", traceparent.as_str())]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    // One span for the request, continuing the client's trace ...
    let request = s.span("chat smart").await;
    assert_eq!(hex(&request.trace_id), TRACE_ID);
    assert_eq!(hex(&request.parent_span_id), PARENT_ID);
    assert_eq!(request.kind, 2, "server span");
    let a = &request.attributes;
    assert_eq!(attr_str(a, "gen_ai.operation.name"), Some("chat"));
    assert_eq!(attr_str(a, "gen_ai.request.model"), Some("smart"));
    assert_eq!(attr_str(a, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(attr_str(a, "gen_ai.response.model"), Some("gpt-4o"));
    assert_eq!(attr_str(a, "server.address"), Some("127.0.0.1"));
    assert_eq!(attr_str(a, "tollgate.client"), Some("script"));
    assert_eq!(attr_int(a, "http.response.status_code"), Some(200));
    // The mock reports 3 prompt and 4 completion tokens.
    assert_eq!(attr_int(a, "gen_ai.usage.input_tokens"), Some(3));
    assert_eq!(attr_int(a, "gen_ai.usage.output_tokens"), Some(4));
    assert_eq!(attr_str(a, "tollgate.currency"), Some("EUR"));
    let cost = attr_f64(a, "tollgate.cost").expect("cost on the span");
    let want = (3.0 * 2.5e-6 + 4.0 * 1e-5) * 0.5;
    assert!((cost - want).abs() < 1e-12, "{cost} != {want}");
    // Prompts are not recorded unless the config opts in.
    assert!(attr_str(a, "gen_ai.input.messages").is_none());

    // ... and one child per upstream attempt, whose context went upstream.
    let attempt = s.span("chat gpt-4o").await;
    assert_eq!(attempt.parent_span_id, request.span_id);
    let attempts: Vec<_> = s
        .receiver
        .spans()
        .into_iter()
        .filter(|sp| sp.parent_span_id == request.span_id)
        .collect();
    assert_eq!(attempts.len(), 1, "one attempt span");
    let attempt_span = &attempts[0];
    assert_eq!(attempt_span.kind, 3, "client span");
    assert_eq!(attr_int(&attempt_span.attributes, "tollgate.attempt"), Some(1));
    assert_eq!(
        attr_int(&attempt_span.attributes, "http.response.status_code"),
        Some(200)
    );
    let call = &s.mock.calls()[0];
    let sent = call.header("traceparent").expect("traceparent upstream");
    assert_eq!(sent, format!("00-{TRACE_ID}-{}-01", hex(&attempt_span.span_id)));
    assert_eq!(
        attr_str(&attempt_span.attributes, "gen_ai.request.model"),
        Some("gpt-4o")
    );

    // The resource: service.name defaults to tollgate; OTEL_RESOURCE_ATTRIBUTES add to it.
    let resources = s.receiver.span_resources();
    assert!(resources.iter().any(|r| attr_str(r, "service.name") == Some("tollgate")
        && attr_str(r, "deployment.environment.name") == Some("test")));

    // Metric points, with labels from closed sets.
    let duration = s
        .point(
            "gen_ai.client.operation.duration",
            &[("gen_ai.request.model", "smart"), ("gen_ai.operation.name", "chat")],
        )
        .await;
    assert_eq!(duration.value, 1.0);
    assert_eq!(attr_str(&duration.attributes, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(attr_str(&duration.attributes, "server.address"), Some("127.0.0.1"));
    assert!(attr_str(&duration.attributes, "error.type").is_none());
    let input = s
        .point("gen_ai.client.token.usage", &[("gen_ai.token.type", "input")])
        .await;
    assert_eq!((input.value, input.sum), (1.0, 3.0));
    let requests = s
        .point(
            "tollgate.requests",
            &[("tollgate.client", "script"), ("tollgate.outcome", "ok")],
        )
        .await;
    assert_eq!(requests.value, 1.0);
    assert_eq!(
        attr_str(&requests.attributes, "http.response.status_class"),
        Some("2xx")
    );
    let spend = s.point("tollgate.cost", &[("tollgate.currency", "EUR")]).await;
    assert!((spend.value - want).abs() < 1e-12);
    let tokens = s
        .point(
            "tollgate.tokens",
            &[("tollgate.client", "script"), ("gen_ai.token.type", "output")],
        )
        .await;
    assert_eq!(tokens.value, 4.0);

    // The collector got the configured header.
    let headers = s.receiver.headers();
    let token = format!("Bearer {OTLP_TOKEN}");
    assert!(headers
        .iter()
        .any(|h| h.get("authorization").is_some_and(|v| v == token.as_str())));

    // The same instruments on /metrics, named as the collector translates them.
    let text = s.scrape().await;
    for name in [
        "# TYPE gen_ai_client_operation_duration_seconds histogram",
        "gen_ai_client_operation_duration_seconds_bucket{",
        "gen_ai_client_token_usage_bucket{",
        "# TYPE tollgate_requests_total counter",
        "# TYPE tollgate_requests_active gauge",
        "tollgate_cost_total{",
        "tollgate_config_generation 1",
        "tollgate_config_last_reload_success 1",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(text.contains(r#"le="81.92""#), "semconv buckets:\n{text}");
    s.assert_no_secrets().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_chat_without_requested_usage_over_grpc() {
    let s = start("grpc", "").await;
    // What a provider sends when asked for usage: a last chunk with no choices.
    let usage = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
    let events = vec![chunk("gpt-4o", "Hel"), chunk("gpt-4o", "lo"), usage.to_string()];
    s.mock.script([Reply::Sse(events, Duration::from_millis(20))]);
    let auth = format!("Bearer {CLIENT_KEY}");
    let body = json!({"model": "smart", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, frames) = common::stream_frames(
        &s.gateway.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        body,
    )
    .await;
    assert_eq!(status, 200);
    let text: String = frames.iter().map(|(_, b)| String::from_utf8_lossy(b)).collect();
    assert!(text.contains("Hel") && text.contains("[DONE]"), "{text}");

    // The gateway asked for usage itself, and kept it from the client.
    let sent: Value = s.mock.calls()[0].json();
    assert_eq!(sent["stream_options"]["include_usage"], json!(true), "{sent}");
    assert!(!text.contains("\"usage\":{"), "usage chunk reached the client: {text}");

    let request = s.span("chat smart").await;
    let a = &request.attributes;
    assert_eq!(attr_int(a, "gen_ai.usage.input_tokens"), Some(5));
    assert_eq!(attr_int(a, "gen_ai.usage.output_tokens"), Some(2));
    assert!(attr_f64(a, "gen_ai.response.time_to_first_chunk").is_some());
    let first = s
        .point(
            "gen_ai.client.operation.time_to_first_chunk",
            &[("gen_ai.request.model", "smart")],
        )
        .await;
    assert_eq!(first.value, 1.0);
    let output = s
        .point("gen_ai.client.token.usage", &[("gen_ai.token.type", "output")])
        .await;
    assert_eq!(output.sum, 2.0);
    s.assert_no_secrets().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_unpriced_and_unknown_models() {
    let s = start("http/protobuf", "").await;
    let auth = format!("Bearer {CLIENT_KEY}");
    let body = json!({"model": "embed", "input": "hello"});
    let answer = post_json(
        &s.gateway.url("/v1/embeddings"),
        &[("authorization", auth.as_str())],
        body,
    )
    .await;
    assert_eq!(answer.status, 200);
    let span = s.span("embeddings embed").await;
    assert_eq!(attr_str(&span.attributes, "gen_ai.operation.name"), Some("embeddings"));
    assert_eq!(attr_int(&span.attributes, "gen_ai.usage.input_tokens"), Some(3));
    s.point(
        "gen_ai.client.operation.duration",
        &[
            ("gen_ai.operation.name", "embeddings"),
            ("gen_ai.request.model", "embed"),
        ],
    )
    .await;

    // A model without a price is counted as unpriced, not as free.
    assert_eq!(s.chat("local", &[]).await.status, 200);
    let unpriced = s
        .point(
            "tollgate.requests.unpriced",
            &[
                ("gen_ai.request.model", "local"),
                ("tollgate.unpriced.reason", "no_price"),
            ],
        )
        .await;
    assert_eq!(unpriced.value, 1.0);
    let spent = s
        .receiver
        .metric("tollgate.cost")
        .map(|m| points(&m))
        .unwrap_or_default();
    assert!(
        spent
            .iter()
            .all(|p| attr_str(&p.attributes, "gen_ai.request.model") != Some("local")),
        "an unpriced model has no cost series"
    );

    // A name nobody configured never becomes a label value.
    let unknown = s.chat("made-up-model-1234", &[]).await;
    assert_eq!(unknown.status, 404);
    let other = s
        .point(
            "tollgate.requests",
            &[
                ("gen_ai.request.model", "_OTHER"),
                ("tollgate.outcome", "gateway_error"),
            ],
        )
        .await;
    assert_eq!(attr_str(&other.attributes, "http.response.status_class"), Some("4xx"));
    let text = s.scrape().await;
    assert!(!text.contains("made-up-model-1234"), "client input on /metrics");
    assert!(
        !contains(&s.receiver.bytes(), b"made-up-model-1234"),
        "client input exported"
    );
    s.assert_no_secrets().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_error_marks_spans_and_counts_per_provider() {
    let s = start("grpc", "router_settings:\n  num_retries: 1\n").await;
    s.mock.always(Reply::Json(
        500,
        json!({"error": {"message": "boom", "type": "server_error", "code": null}}),
    ));
    let answer = s.chat("smart", &[]).await;
    assert_eq!(answer.status, 500);

    let request = s.span("chat smart").await;
    assert_eq!(attr_str(&request.attributes, "error.type"), Some("500"));
    assert_eq!(request.status.as_ref().map(|st| st.code), Some(2), "status error");
    // One child span per attempt: the first try and the retry.
    s.receiver
        .wait_for(WAIT, "two attempt spans", |r| {
            r.spans()
                .iter()
                .filter(|sp| sp.parent_span_id == request.span_id)
                .count()
                == 2
        })
        .await;
    for attempt in s
        .receiver
        .spans()
        .iter()
        .filter(|sp| sp.parent_span_id == request.span_id)
    {
        assert_eq!(attr_int(&attempt.attributes, "http.response.status_code"), Some(500));
        assert_eq!(attr_str(&attempt.attributes, "error.type"), Some("500"));
    }
    let failed = s
        .point(
            "tollgate.requests",
            &[
                ("gen_ai.provider.name", "openai"),
                ("tollgate.outcome", "upstream_error"),
            ],
        )
        .await;
    assert_eq!(attr_str(&failed.attributes, "http.response.status_class"), Some("5xx"));
    s.point("gen_ai.client.operation.duration", &[("error.type", "500")])
        .await;
    let retries = s.point("tollgate.retries", &[("gen_ai.request.model", "smart")]).await;
    assert_eq!(retries.value, 1.0);
    // Every try counts against its provider, retried or not.
    let attempts = s
        .point(
            "tollgate.upstream.attempts",
            &[("gen_ai.provider.name", "openai"), ("error.type", "500")],
        )
        .await;
    assert_eq!(attempts.value, 2.0);
    s.assert_no_secrets().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_means_no_export_and_no_complaint() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, common::config_for(&mock, &[("m", "gpt-4o")], "")).unwrap();
    let gateway = Running::start(&path, &[], &[("OTEL_SERVICE_NAME", "quiet")]);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post_json(&gateway.url("/v1/chat/completions"), &[], body).await.status,
        200
    );
    let text = send("GET", &gateway.url("/metrics"), &[], "").await;
    assert!(String::from_utf8_lossy(&text.body).contains("tollgate_requests_total{"));
    gateway.signal("TERM");
    let (status, output) = gateway.wait(Duration::from_secs(10));
    assert!(status.success(), "{output}");
    for word in ["OTLP", "otlp", "opentelemetry", "ERROR"] {
        assert!(!output.contains(word), "{word} in the output:\n{output}");
    }
}

/// Requests answered by `gateway` in `window`, from 32 concurrent clients.
async fn load(gateway: &Running, window: Duration) -> u64 {
    let url = gateway.url("/v1/chat/completions");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let client = common::http_client();
    let deadline = tokio::time::Instant::now() + window;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while tokio::time::Instant::now() < deadline {
                    let request = http::Request::post(&url)
                        .header("content-type", "application/json")
                        .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                        .unwrap();
                    let response = client.request(request).await.unwrap();
                    let ok = response.status() == 200;
                    http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
                    done += u64::from(ok);
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

/// `OTEL_TRACES_SAMPLER` thins the traces, never the metrics: at a ratio of
/// 0 under a parent-based sampler, requests export no span yet are all
/// counted, while a request whose client sampled its trace is traced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_sampler_thins_spans_but_not_metrics() {
    let sampler = [
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ];
    let s = start_with("http/protobuf", "", &sampler).await;
    for _ in 0..5 {
        assert_eq!(s.chat("smart", &[]).await.status, 200);
    }
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    assert_eq!(s.chat("smart", &[("traceparent", &traceparent)]).await.status, 200);
    let span = s.span("chat smart").await;
    assert_eq!(hex(&span.trace_id), TRACE_ID);
    let counted = |r: &Receiver| {
        r.metric("tollgate.requests").is_some_and(|m| {
            points(&m)
                .iter()
                .any(|p| attr_str(&p.attributes, "tollgate.client") == Some("script") && p.value == 6.0)
        })
    };
    s.receiver.wait_for(WAIT, "6 requests counted", counted).await;
    // Give unsampled spans, were there any, the time to arrive too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spans = s.receiver.spans();
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) == TRACE_ID),
        "only the sampled trace: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(spans.len(), 2, "its request and attempt spans");
}

/// Throughput with OTLP export on (traces and metrics, HTTP/protobuf to a
/// loopback receiver that discards) against export off, in the same run;
/// the goal is at least 0.9.
/// `cargo test --test telemetry throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on purpose"]
async fn throughput_with_export_on_against_off() {
    let mock = Mock::start().await;
    let receiver = Receiver::discarding().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, common::config_for(&mock, &[("m", "gpt-4o")], "")).unwrap();
    let quiet = [("RUST_LOG", "warn,tollgate=info,tollgate::access=warn")];
    let off = Running::start(&path, &[], &quiet);
    let on = Running::start(
        &path,
        &[],
        &[
            ("RUST_LOG", "warn,tollgate=info,tollgate::access=warn"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ],
    );
    let window = Duration::from_secs(3);
    load(&off, Duration::from_secs(1)).await;
    load(&on, Duration::from_secs(1)).await;
    let (mut with_off, mut with_on) = (0, 0);
    // Alternating windows, so drift in the machine's load hits both.
    for first_off in [true, false, false, true] {
        if first_off {
            with_off += load(&off, window).await;
            with_on += load(&on, window).await;
        } else {
            with_on += load(&on, window).await;
            with_off += load(&off, window).await;
        }
    }
    let seconds = 4.0 * window.as_secs_f64();
    let ratio = with_on as f64 / with_off as f64;
    println!(
        "export off: {:.0} req/s, export on: {:.0} req/s, ratio {ratio:.3} ({} KiB exported)",
        with_off as f64 / seconds,
        with_on as f64 / seconds,
        receiver.discarded() / 1024
    );
    assert!(receiver.discarded() > 0, "telemetry was exported");
    // A debug build on a busy machine measures the SDK's unoptimized
    // encoding too: the goal is judged on a release build.
    let verdict = if ratio >= 0.9 { "met" } else { "NOT met" };
    println!("goal (at least 0.9): {verdict}");
}
