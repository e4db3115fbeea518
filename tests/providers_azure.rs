//! Azure OpenAI and Azure AI Foundry end to end: the exact URL (path and
//! query), key header and body each receives, environment fallbacks, and
//! Entra ID tokens from a loopback token endpoint (cached, refreshed before
//! expiry, a failure answered as a gateway error).

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{post_json, TestGateway};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// One request as Azure (or the token endpoint) received it.
#[derive(Debug, Clone)]
struct Seen {
    /// Path and query, as sent.
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A loopback Azure resource and Entra token endpoint in one: requests to
/// `/.../oauth2/v2.0/token` get `tok-N` (N counting fetches) valid for
/// `lifetime` seconds; every other request gets a chat completion.
#[derive(Clone, Default)]
struct Azure {
    seen: Arc<Mutex<Vec<Seen>>>,
    tokens: Arc<AtomicUsize>,
    lifetime: Arc<AtomicUsize>,
    refuse_tokens: Arc<AtomicBool>,
    /// API calls get a 401 that repeats their `Authorization` (body and header).
    echo_authorization: Arc<AtomicBool>,
}

impl Azure {
    async fn start(lifetime: usize) -> (Azure, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let azure = Azure::default();
        azure.lifetime.store(lifetime, Ordering::SeqCst);
        let shared = azure.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let azure = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| azure.clone().answer(req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (azure, addr)
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let target = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
        let is_token = target.ends_with("/oauth2/v2.0/token");
        self.seen.lock().unwrap().push(Seen {
            target,
            headers: parts.headers,
            body,
        });
        let (status, answer) = if is_token && self.refuse_tokens.load(Ordering::SeqCst) {
            // Slow, so concurrent requests are all waiting on this one fetch.
            tokio::time::sleep(Duration::from_millis(200)).await;
            (
                401,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215 secret-ish detail"}),
            )
        } else if is_token {
            let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
            let lifetime = self.lifetime.load(Ordering::SeqCst);
            (
                200,
                json!({"token_type": "Bearer", "expires_in": lifetime, "access_token": format!("tok-{n}")}),
            )
        } else if self.echo_authorization.load(Ordering::SeqCst) {
            let sent = self
                .seen
                .lock()
                .unwrap()
                .last()
                .and_then(|s| s.header("authorization").map(str::to_string));
            let sent = sent.unwrap_or_default();
            let body = json!({"error": {"message": format!("Invalid token: {sent}"), "code": "401"}});
            return Ok(Response::builder()
                .status(401)
                .header("content-type", "application/json")
                .header("x-request-id", sent)
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap());
        } else {
            let completion = json!({"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
            (200, completion)
        };
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(answer.to_string())))
            .unwrap())
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests that were not for tokens.
    fn api_calls(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| !s.target.contains("/oauth2/"))
            .collect()
    }
}

fn entry(name: &str, model: &str, params: &str) -> String {
    format!("  - model_name: {name}\n    litellm_params:\n      model: {model}\n{params}")
}

#[tokio::test]
async fn chat_completions_and_embeddings_reach_the_deployment_path_with_the_api_key() {
    let (azure, addr) = Azure::start(3600).await;
    let yaml = format!(
        "model_list:\n{}",
        entry(
            "gpt",
            "azure/my-gpt4o",
            &format!("      api_base: http://{addr}\n      api_version: 2024-10-21\n      api_key: azure-key-1234\n")
        )
    );
    let gw = TestGateway::start(&yaml).await;
    let client_key = [("authorization", "Bearer client-secret-key")];
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        ("/v1/completions", json!({"model": "gpt", "prompt": "hi"})),
        ("/v1/embeddings", json!({"model": "gpt", "input": "hi"})),
    ] {
        let answer = post_json(&gw.url(path), &client_key, body).await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    }
    let calls = azure.api_calls();
    let targets: Vec<&str> = calls.iter().map(|c| c.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21",
            "/openai/deployments/my-gpt4o/completions?api-version=2024-10-21",
            "/openai/deployments/my-gpt4o/embeddings?api-version=2024-10-21",
        ]
    );
    for call in &calls {
        assert_eq!(call.header("api-key"), Some("azure-key-1234"));
        assert_eq!(
            call.header("authorization"),
            None,
            "the client's key never goes upstream"
        );
        assert_eq!(call.json()["model"], "my-gpt4o");
    }
    assert_eq!(calls[0].json()["messages"][0]["content"], "hi");
    assert_eq!(calls[2].json()["input"], "hi");
}

#[tokio::test]
async fn responses_pass_through_natively_and_the_environment_fills_base_key_and_version() {
    let (azure, addr) = Azure::start(3600).await;
    let yaml = format!("model_list:\n{}", entry("gpt", "azure/dep", ""));
    let base = format!("http://{addr}");
    let env = [
        ("AZURE_API_BASE", base.as_str()),
        ("AZURE_API_KEY", "env-azure-key"),
        ("AZURE_API_VERSION", "2025-03-01-preview"),
    ];
    let gw = TestGateway::start_with_env(&yaml, &env).await;
    let answer = post_json(&gw.url("/v1/responses"), &[], json!({"model": "gpt", "input": "hi"})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "gpt", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let calls = azure.api_calls();
    assert_eq!(calls[0].target, "/openai/responses?api-version=2025-03-01-preview");
    assert_eq!(
        calls[0].json(),
        json!({"model": "dep", "input": "hi"}),
        "Responses is not translated"
    );
    assert_eq!(
        calls[1].target,
        "/openai/deployments/dep/chat/completions?api-version=2025-03-01-preview"
    );
    assert!(calls.iter().all(|c| c.header("api-key") == Some("env-azure-key")));
}

#[tokio::test]
async fn a_portal_url_and_the_v1_scheme() {
    let (azure, addr) = Azure::start(3600).await;
    let portal = format!("http://{addr}/openai/deployments/dep/chat/completions?api-version=2024-06-01");
    let yaml = format!(
        "model_list:\n{}{}",
        entry(
            "portal",
            "azure/dep",
            &format!("      api_base: \"{portal}\"\n      api_key: k1\n")
        ),
        entry(
            "v1",
            "azure/dep2",
            &format!("      api_base: http://{addr}/openai/v1\n      api_key: k2\n")
        ),
    );
    let gw = TestGateway::start(&yaml).await;
    for model in ["portal", "v1"] {
        let answer = post_json(
            &gw.url("/v1/chat/completions"),
            &[],
            json!({"model": model, "messages": []}),
        )
        .await;
        assert_eq!(answer.status, 200, "{model}: {:?}", answer.body);
    }
    let answer = post_json(&gw.url("/v1/responses"), &[], json!({"model": "v1", "input": "x"})).await;
    assert_eq!(answer.status, 200);
    let targets: Vec<String> = azure.api_calls().into_iter().map(|c| c.target).collect();
    assert_eq!(
        targets,
        [
            "/openai/deployments/dep/chat/completions?api-version=2024-06-01",
            "/openai/v1/chat/completions",
            "/openai/v1/responses",
        ]
    );
}

#[tokio::test]
async fn a_static_azure_ad_token_goes_as_bearer() {
    let (azure, addr) = Azure::start(3600).await;
    let yaml = format!(
        "model_list:\n{}",
        entry(
            "gpt",
            "azure/dep",
            &format!("      api_base: http://{addr}\n      azure_ad_token: os.environ/TOKEN\n")
        )
    );
    let gw = TestGateway::start_with_env(&yaml, &[("TOKEN", "static-entra-token")]).await;
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "gpt", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let call = &azure.api_calls()[0];
    assert_eq!(call.header("authorization"), Some("Bearer static-entra-token"));
    assert_eq!(call.header("api-key"), None);
}

fn entra_config(addr: SocketAddr) -> String {
    format!(
        "model_list:\n{}",
        entry(
            "gpt",
            "azure/dep",
            &format!(
                "      api_base: http://{addr}\n      api_version: 2024-10-21\n      tenant_id: my-tenant\n      client_id: my-client\n      client_secret: os.environ/SECRET\n      azure_authority_host: http://{addr}/login\n"
            )
        )
    )
}

#[tokio::test]
async fn client_credentials_fetch_one_token_for_many_requests() {
    let (azure, addr) = Azure::start(3600).await;
    let gw = TestGateway::start_with_env(&entra_config(addr), &[("SECRET", "client-secret-value")]).await;
    // Concurrent first requests share one fetch.
    let requests = (0..8).map(|_| {
        let url = gw.url("/v1/chat/completions");
        async move { post_json(&url, &[], json!({"model": "gpt", "messages": []})).await }
    });
    for answer in futures::future::join_all(requests).await {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    let seen = azure.seen();
    let token_calls: Vec<&Seen> = seen.iter().filter(|s| s.target.contains("/oauth2/")).collect();
    assert_eq!(token_calls.len(), 1, "one token for every request");
    let fetch = token_calls[0];
    assert_eq!(fetch.target, "/login/my-tenant/oauth2/v2.0/token");
    assert_eq!(fetch.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(
        std::str::from_utf8(&fetch.body).unwrap(),
        "grant_type=client_credentials&client_id=my-client&client_secret=client-secret-value&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"
    );
    let calls = azure.api_calls();
    assert_eq!(calls.len(), 8);
    assert!(calls.iter().all(|c| c.header("authorization") == Some("Bearer tok-1")));
    assert!(calls.iter().all(|c| c.header("api-key").is_none()));
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires_without_holding_requests() {
    // Two seconds of life: refreshed after 1.6 s (a fifth before expiry).
    let (azure, addr) = Azure::start(2).await;
    let gw = TestGateway::start_with_env(&entra_config(addr), &[("SECRET", "s")]).await;
    let url = gw.url("/v1/chat/completions");
    let ask = || post_json(&url, &[], json!({"model": "gpt", "messages": []}));
    assert_eq!(ask().await.status, 200);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    // Still valid: this request goes with it at once and starts the refresh.
    assert_eq!(ask().await.status, 200);
    for _ in 0..100 {
        if azure.tokens.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(azure.tokens.load(Ordering::SeqCst), 2, "refreshed in the background");
    // The endpoint counted its answer; the gateway (on threads of its own)
    // keeps the new token a moment later. From then on every request uses it.
    let used = || -> Vec<String> {
        azure
            .api_calls()
            .iter()
            .map(|c| c.header("authorization").unwrap_or("").to_string())
            .collect()
    };
    for _ in 0..100 {
        assert_eq!(ask().await.status, 200);
        if used().last().map(String::as_str) == Some("Bearer tok-2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ask().await.status, 200);
    let used = used();
    assert_eq!(
        used[..2],
        ["Bearer tok-1", "Bearer tok-1"],
        "the second request did not wait"
    );
    let first_new = used
        .iter()
        .position(|t| t == "Bearer tok-2")
        .expect("the new token is used");
    assert!(
        used[first_new..].iter().all(|t| t == "Bearer tok-2"),
        "once kept, the new token serves every request: {used:?}"
    );
    assert!(used[..first_new].iter().all(|t| t == "Bearer tok-1"), "{used:?}");
}

#[tokio::test]
async fn a_refused_token_request_is_a_gateway_error_naming_no_secret() {
    let (azure, addr) = Azure::start(3600).await;
    azure.refuse_tokens.store(true, Ordering::SeqCst);
    // Five failures would cool the deployment down; the recovery below needs it up.
    let yaml = format!("{}router_settings:\n  allowed_fails: 100\n", entra_config(addr));
    let gw = TestGateway::start_with_env(&yaml, &[("SECRET", "client-secret-value")]).await;
    let url = gw.url("/v1/chat/completions");
    let requests = (0..5).map(|_| post_json(&url, &[], json!({"model": "gpt", "messages": []})));
    let answers = futures::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.status == 502));
    let fetches = azure.seen().iter().filter(|s| s.target.contains("/oauth2/")).count();
    assert_eq!(fetches, 1, "requests that waited on a failed fetch share its failure");
    let answer = &answers[0];
    assert_eq!(answer.error_code(), "upstream_unreachable");
    let text = String::from_utf8_lossy(&answer.body).to_string();
    assert!(text.contains("Entra ID token"), "{text}");
    assert!(
        !text.contains("client-secret-value") && !text.contains("AADSTS"),
        "{text}"
    );
    assert!(azure.api_calls().is_empty(), "nothing goes to Azure without a token");
    // The endpoint recovers: the next request fetches again.
    azure.refuse_tokens.store(false, Ordering::SeqCst);
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "gpt", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test]
async fn azure_ai_takes_api_key_on_services_hosts_and_bearer_elsewhere() {
    let (azure, addr) = Azure::start(3600).await;
    let yaml = format!(
        "model_list:\n{}",
        entry(
            "foundry",
            "azure_ai/mistral-large",
            &format!("      api_base: http://{addr}/models\n      api_version: 2024-05-01-preview\n")
        )
    );
    let gw = TestGateway::start_with_env(&yaml, &[("AZURE_AI_API_KEY", "foundry-key")]).await;
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "foundry", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let call = &azure.api_calls()[0];
    // Loopback is not a `services.ai.azure.com` host: the path is the base's, the key a Bearer.
    assert_eq!(call.target, "/models/chat/completions?api-version=2024-05-01-preview");
    assert_eq!(call.header("authorization"), Some("Bearer foundry-key"));
    assert_eq!(call.json()["model"], "mistral-large");
}

#[test]
fn an_azure_entry_without_a_base_loads_disabled_saying_which_variable_would_do() {
    let yaml = "model_list:\n  - model_name: gpt\n    litellm_params:\n      model: azure/dep\n      api_key: k\n";
    let loaded = tollgate::config::load_str(yaml, std::path::Path::new("."), &|_| None).unwrap();
    let disabled = &loaded.config.disabled;
    assert_eq!((disabled.len(), disabled[0].provider), (1, "azure"));
    assert!(disabled[0].to_string().contains("AZURE_API_BASE"), "{}", disabled[0]);
}

#[tokio::test]
async fn entries_and_reloads_with_the_same_service_principal_share_one_token() {
    let (azure, addr) = Azure::start(3600).await;
    let one = entra_config(addr);
    let two = format!(
        "{one}{}",
        one.trim_start_matches("model_list:\n")
            .replace("model_name: gpt", "model_name: gpt-b")
    );
    let env = |name: &str| (name == "SECRET").then(|| "s".to_string());
    let first = tollgate::config::load_str(&two, std::path::Path::new("."), &env).unwrap();
    // A reload builds a new config while the running one is alive: it keeps the token source.
    let reloaded = tollgate::config::load_str(&two, std::path::Path::new("."), &env).unwrap();
    let source = |loaded: &tollgate::config::Loaded, i: usize| loaded.config.deployments[i].credential.clone().unwrap();
    assert!(std::sync::Arc::ptr_eq(&source(&first, 0), &source(&first, 1)));
    assert!(std::sync::Arc::ptr_eq(&source(&first, 0), &source(&reloaded, 0)));
    let gw = TestGateway::serve(first.config).await;
    for model in ["gpt", "gpt-b", "gpt"] {
        let answer = post_json(
            &gw.url("/v1/chat/completions"),
            &[],
            json!({"model": model, "messages": []}),
        )
        .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    assert_eq!(azure.tokens.load(Ordering::SeqCst), 1);
}

#[test]
fn an_azure_entry_without_credentials_loads_with_a_warning() {
    let yaml = "model_list:\n  - model_name: gpt\n    litellm_params:\n      model: azure/dep\n      api_base: https://res.openai.azure.com\n";
    let loaded = tollgate::config::load_str(yaml, std::path::Path::new("."), &|_| None).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w.contains("without credentials")),
        "{:?}",
        loaded.warnings
    );
}

#[tokio::test]
async fn a_provider_echoing_the_fetched_token_has_it_redacted() {
    let (azure, addr) = Azure::start(3600).await;
    azure.echo_authorization.store(true, Ordering::SeqCst);
    let gw = TestGateway::start_with_env(&entra_config(addr), &[("SECRET", "client-secret-value")]).await;
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "gpt", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 401, "the provider's own status");
    assert_eq!(azure.api_calls()[0].header("authorization"), Some("Bearer tok-1"));
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    assert!(!body.contains("tok-1"), "{body}");
    assert_eq!(answer.json()["error"]["message"], "Invalid token: [redacted]", "{body}");
    assert_eq!(
        answer.header("x-request-id"),
        Some("[redacted]"),
        "a relayed header too"
    );
}
