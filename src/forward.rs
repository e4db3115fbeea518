//! Sending a request through its model group: pick a deployment, try it,
//! retry (another deployment when there is one), fall back to other groups,
//! and tell the client what it took. Retries and fallbacks happen only
//! before the first byte reaches the client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::time::Instant;

use crate::body::{self, GatewayBody};
use crate::budget::{Budgets, Keys, Verdict};
use crate::config::routing::ErrorClass;
use crate::config::{Config, Deployment};
use crate::error::GatewayError;
use crate::protocol::{self, Format};
use crate::providers::{openai, Endpoint};
use crate::record::Record;
use crate::request::defaults::{with_defaults, with_defaults_unless_sent};
use crate::request::{upstream_body, Peek};
use crate::router::{self, Busy};
use crate::stream::UsageScan;
use crate::telemetry;
use crate::translate;
use crate::upstream::{self, redact, Upstream};

mod failure;
mod plan;

use failure::{failure, Failure};
use plan::{plan, Plan};

/// Response headers saying how the request was served.
pub const MODEL_GROUP_HEADER: &str = "x-tollgate-model-group";
pub const DEPLOYMENT_HEADER: &str = "x-tollgate-deployment";
pub const RETRIES_HEADER: &str = "x-tollgate-retries";
pub const FALLBACKS_HEADER: &str = "x-tollgate-fallbacks";
/// What is left of the tightest budget covering the request, in the
/// reporting currency.
pub const BUDGET_REMAINING_HEADER: &str = "x-tollgate-budget-remaining";

/// A `Retry-After` longer than this is not waited for: the request moves on.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// One request to send.
pub struct Job<'a> {
    pub budgets: &'a Budgets,
    pub config: &'a Config,
    pub upstream: &'a Upstream,
    pub endpoint: Endpoint,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    pub peek: &'a Peek,
}

/// Runs the whole attempt sequence for a request whose group was resolved
/// to `group_name`.
pub async fn run(job: &Job<'_>, group_name: &str, record: &mut Record) -> Result<Response<GatewayBody>, GatewayError> {
    let routing = &job.config.routing;
    // The first lookup is by the requested name (a wildcard captures from it);
    // fallbacks are looked up by the group names the config gives.
    let mut group = job.peek.model.clone();
    let mut fallbacks: Option<VecDeque<String>> = None;
    let mut last: Option<Failure> = None;
    let mut unavailable: Option<Duration> = None;
    // The tightest budget's remainder at the last admission.
    let mut remaining: Option<f64>;
    // Groups a spent budget sent the request to: each at most once.
    let mut budget_hops: Vec<Arc<str>> = Vec::new();
    // A spent `reject` budget met on one entry: another entry of the group
    // may not be covered by it (a provider's or an entry's budget).
    let mut refused: Option<GatewayError> = None;
    'groups: loop {
        let Some(resolved) = job.config.resolve(&group) else {
            // A fallback naming a group that does not exist (warned at load): skip it.
            match next_group(&mut fallbacks, routing, group_name, last.as_ref()) {
                Some(next) => {
                    group = next;
                    continue;
                }
                None => break,
            }
        };
        let (name, deployments) = (resolved.group, resolved.deployments);
        let mut tried = Vec::new();
        let mut retries_here = 0;
        // A retry is counted when it is sent, not when it is decided: the
        // pause before it may end with no deployment to send it to.
        let mut retry_due = false;
        loop {
            let deployment = match router::pick(deployments, routing.strategy, &tried) {
                Ok(d) => d,
                Err(e) => {
                    if let Some(error) = refused.take() {
                        return Err(error);
                    }
                    unavailable = Some(unavailable.map_or(e.retry_after, |u| u.min(e.retry_after)));
                    break;
                }
            };
            tried.push(deployment.index);
            match admit(job.budgets, record, name, &deployment) {
                Verdict::Admitted { tightest } => {
                    remaining = tightest.map(|t| t.amount);
                    refused = None;
                }
                Verdict::Rejected {
                    budget,
                    limit,
                    resets_at,
                    ..
                } => {
                    let error = GatewayError::BudgetExceeded {
                        budget,
                        limit,
                        currency: job.config.currency.code.clone(),
                        resets_at,
                    };
                    if deployments.iter().all(|d| tried.contains(&d.index)) {
                        return Err(error);
                    }
                    refused = Some(error);
                    continue;
                }
                Verdict::Fallback { group: to, budget } => {
                    if budget_hops.contains(&to) {
                        // Budgets falling back to each other in a ring: all are spent.
                        return Err(spent(job.budgets, &budget, &job.config.currency.code));
                    }
                    budget_hops.push(to.clone());
                    record.fallbacks += 1;
                    group = to.to_string();
                    continue 'groups;
                }
            }
            if std::mem::take(&mut retry_due) {
                record.retries += 1;
            }
            record.deployment = Some(deployment.clone());
            let planned = plan(job.endpoint, &deployment);
            record.upstream_format = match planned {
                Some(Plan::Translate { upstream, .. }) => Some(upstream),
                _ => None,
            };
            let attempt_no = record.retries + record.fallbacks + 1;
            let span = telemetry::attempt_span(&record.span, job.endpoint, &deployment, attempt_no);
            let result = match planned {
                Some(plan) => attempt(job, &deployment, plan, resolved.name, &span).await,
                None => Err(Failure::Unsupported {
                    provider: deployment.provider.name,
                    endpoint: job.endpoint.suffix(),
                }),
            };
            let (status, error) = match &result {
                Ok(response) => (Some(response.status().as_u16()), None),
                Err(Failure::Status { response, .. }) => (Some(response.status().as_u16()), None),
                Err(Failure::Unreachable(_)) => (None, Some("upstream_unreachable")),
                Err(Failure::Timeout(_)) => (None, Some("upstream_timeout")),
                Err(Failure::Unsupported { .. }) => (None, Some("endpoint_not_supported")),
                Err(Failure::Client(e)) => (None, Some(e.code())),
            };
            telemetry::attempt_result(&span, &deployment, status, error);
            match result {
                Ok(response) => {
                    deployment.state.succeeded();
                    let mut response = annotate(response, name, &deployment, record);
                    if let Some(value) = remaining.and_then(|r| HeaderValue::from_str(&amount(r)).ok()) {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static(BUDGET_REMAINING_HEADER), value);
                    }
                    return Ok(response);
                }
                Err(Failure::Client(error)) => return Err(error),
                Err(failure @ Failure::Unsupported { .. }) => {
                    // Not the deployment's health, and no retry can change
                    // it: only another deployment of the group may serve it.
                    last = Some(failure);
                    if deployments.iter().all(|d| tried.contains(&d.index)) {
                        break;
                    }
                }
                Err(failure) => {
                    let class = failure.class();
                    deployment.state.failed(failure.health(), routing);
                    let retry_after = match &failure {
                        Failure::Status { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    last = Some(failure);
                    if retries_here >= routing.retries_for(class) || retry_after.is_some_and(|r| r > MAX_RETRY_AFTER) {
                        break;
                    }
                    retries_here += 1;
                    // Another healthy deployment can be tried at once; the same one after a pause.
                    let now = router::now_ms();
                    let others = deployments
                        .iter()
                        .any(|d| !tried.contains(&d.index) && d.state.cooling(now).is_none());
                    if !others {
                        let pause = backoff(retries_here, retry_after);
                        // A pause after which every deployment is still cooling down
                        // would only delay the answer.
                        let back = now.saturating_add(pause.as_millis() as u64);
                        if deployments.iter().all(|d| d.state.cooling(back).is_some()) {
                            break;
                        }
                        tokio::time::sleep(pause).await;
                    }
                    retry_due = true;
                }
            }
        }
        match next_group(&mut fallbacks, routing, group_name, last.as_ref()) {
            Some(next) => {
                record.fallbacks += 1;
                group = next;
            }
            None => break,
        }
    }
    let model = record.model.clone().unwrap_or_default();
    let error = match last {
        // The provider's own error is the last word: passed through, not the gateway's.
        Some(Failure::Status { response, .. }) => return Ok(annotate_counts(response.map(body::full), record)),
        Some(Failure::Unreachable(cause)) => GatewayError::UpstreamUnreachable { model, cause },
        Some(Failure::Timeout(limit)) => GatewayError::UpstreamTimeout {
            model,
            seconds: limit.as_secs_f64(),
        },
        Some(Failure::Unsupported { provider, endpoint }) => GatewayError::EndpointNotSupported { provider, endpoint },
        Some(Failure::Client(error)) => error,
        None => {
            let wait = unavailable.unwrap_or(Duration::from_secs(1));
            let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            GatewayError::NoDeploymentAvailable {
                model,
                retry_after_secs,
            }
        }
    };
    record.error = Some(error.code());
    let response = error.into_response_as(job.endpoint.format().unwrap_or(Format::Chat));
    Ok(annotate_counts(response, record))
}

/// Asks the budgets about sending the request to `deployment` of `group`.
fn admit(budgets: &Budgets, record: &Record, group: &str, deployment: &Deployment) -> Verdict {
    if budgets.is_empty() {
        return Verdict::Admitted { tightest: None };
    }
    budgets.admit(&Keys {
        client: &record.client,
        group,
        deployment: Some(deployment.index),
        provider: Some(deployment.provider.name),
    })
}

/// The rejection for a spent budget met again while falling back.
fn spent(budgets: &Budgets, budget: &Arc<str>, currency: &Arc<str>) -> GatewayError {
    let gauge = budgets.snapshot().budgets.into_iter().find(|g| g.budget == *budget);
    GatewayError::BudgetExceeded {
        budget: budget.clone(),
        limit: gauge.as_ref().map_or(0.0, |g| g.limit),
        currency: currency.clone(),
        resets_at: gauge.map_or(0, |g| g.period_end),
    }
}

/// A budget amount as a plain number: at most six decimals, no trailing zeros.
fn amount(value: f64) -> String {
    let text = format!("{:.6}", value.max(0.0));
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The next fallback group, computing the list from the first failure.
fn next_group(
    fallbacks: &mut Option<VecDeque<String>>,
    routing: &crate::config::routing::Routing,
    original: &str,
    last: Option<&Failure>,
) -> Option<String> {
    let list = fallbacks.get_or_insert_with(|| match last.map(Failure::class) {
        // A client's own bad request fails the same way anywhere.
        Some(ErrorClass::BadRequest) => VecDeque::new(),
        Some(class) => routing
            .fallbacks_for(original, class)
            .into_iter()
            .map(String::from)
            .collect(),
        None => routing
            .fallbacks_for(original, ErrorClass::RateLimit)
            .into_iter()
            .map(String::from)
            .collect(),
    });
    list.pop_front()
}

/// One try on one deployment, up to the first byte of a stream.
async fn attempt(
    job: &Job<'_>,
    deployment: &Arc<Deployment>,
    plan: Plan,
    name: &str,
    span: &telemetry::Span,
) -> Result<Response<GatewayBody>, Failure> {
    let started = Instant::now();
    let stream = job.peek.stream;
    if plan == Plan::CountLocally {
        // The same estimate a translated answer states before the provider has.
        let request =
            protocol::anthropic::parse_count_request(job.body).map_err(|e| Failure::Client(translate::rejected(e)))?;
        let count = serde_json::json!({"input_tokens": request.estimate_tokens()});
        return Ok(body::json(StatusCode::OK, Bytes::from(count.to_string())));
    }
    let upstream_model = deployment.upstream_for(name);
    let translation = match plan {
        Plan::Translate { client, upstream } => {
            // Defaults go in the client's terms first, so the translation carries them.
            let sent = with_defaults(job.body.clone(), deployment.request_defaults.for_client(client));
            Some(
                protocol::translate_request(client, upstream, &sent, &upstream_model, &defaults(deployment))
                    .map_err(|e| Failure::Client(translate::rejected(e)))?,
            )
        }
        Plan::Passthrough | Plan::CountLocally => None,
    };
    if let Some(text) = &deployment.mock_response {
        // The mock stands in for the upstream, so it answers in the format the
        // request went out in: chat chunks for an Anthropic client's stream.
        let endpoint = translation
            .as_ref()
            .map_or(job.endpoint, |t| Endpoint::of_format(t.context.upstream));
        let response = mock(endpoint, deployment, text, stream);
        return match translation {
            Some(translated) => translate_answer(response, translated, stream).await,
            None => Ok(response),
        };
    }
    // A stream whose client did not ask for usage is asked for it anyway; the
    // usage chunk is then cut out of the answer (see `stream::UsageScan`).
    let (body, usage_injected, endpoint) = match &translation {
        Some(t) => (t.body.clone(), false, Endpoint::of_format(t.context.upstream)),
        None => {
            let pattern_json;
            let model_json = if deployment.pattern.is_some() {
                pattern_json = serde_json::to_string(&*upstream_model).unwrap_or_default();
                &pattern_json
            } else {
                &*deployment.upstream_model_json
            };
            let (mut body, injected) = upstream_body(job.body, job.peek, job.endpoint, model_json);
            if job.endpoint == Endpoint::Messages {
                // Thinking the gateway made on another provider's turn would be refused.
                if let Some(cleaned) = protocol::anthropic::without_unsigned_thinking(&body) {
                    body = Bytes::from(cleaned);
                }
            }
            (body, injected, job.endpoint)
        }
    };
    // `litellm_params` defaults (`max_tokens`, ...) for fields the client
    // left out, in the upstream's terms; after a translation, those it could
    // not carry (`seed` from a Responses client, `extra_body`'s members).
    let upstream_defaults = deployment.request_defaults.for_upstream(endpoint);
    let body = match &translation {
        None => with_defaults(body, upstream_defaults),
        Some(_) => with_defaults_unless_sent(body, upstream_defaults, job.body),
    };
    // Fields the provider knows by another name (Mistral's `random_seed`).
    let body = match endpoint {
        Endpoint::ChatCompletions => crate::request::rename::renamed(body, deployment.param_renames),
        _ => body,
    };
    let passthrough = translation.is_none();
    let deadline = started + deployment.timeout;
    let token = upstream::credential(deployment, job.upstream, deadline)
        .await
        .map_err(Failure::Unreachable)?;
    let request = || {
        let mut request = upstream::request(
            deployment,
            endpoint,
            job.headers,
            body.clone(),
            passthrough,
            token.as_ref(),
        );
        // The upstream call continues this attempt's trace.
        telemetry::inject_traceparent(span, request.headers_mut());
        request
    };
    let busy = Busy::start(deployment);
    let first_limit = if stream {
        deployment.stream_timeout
    } else {
        deployment.timeout
    };
    let first_deadline = started + first_limit;
    let response = match tokio::time::timeout_at(first_deadline, job.upstream.send_resending(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(cause)) => return Err(Failure::Unreachable(cause)),
        Err(_) => return Err(Failure::Timeout(first_limit)),
    };
    let (mut head, mut body) = response.into_parts();
    upstream::keep_relayed(&mut head.headers);
    if !head.status.is_success() {
        let mut failed = failure(head, body, deadline, job.config).await;
        if let (Failure::Status { response, .. }, Some(t)) = (&mut failed, &translation) {
            // The provider's error, restated in the client's format.
            let status = response.status().as_u16();
            let restated = protocol::translate_error(t.context.client, status, response.body());
            set_json_body(response, restated);
        }
        return Err(failed);
    }
    redact::headers_of(&mut head.headers, deployment);
    // A stream is only committed once its first chunk is here: until then a
    // retry or fallback is still possible.
    let first = if stream {
        match first_chunk(&mut body, first_deadline).await {
            Ok(frame) => Some(frame),
            Err(Some(cause)) => return Err(Failure::Unreachable(cause)),
            Err(None) => return Err(Failure::Timeout(first_limit)),
        }
    } else {
        None
    };
    deployment.state.observe_latency(started.elapsed());
    let idle = job.config.routing.stream_idle_timeout;
    if let Some(translated) = translation {
        let body = body::Upstream::new(body, first, idle, deadline, busy).boxed_unsync();
        return translate_answer(Response::from_parts(head, body), translated, stream).await;
    }
    let scan = UsageScan::for_response(&head.headers, usage_injected);
    if scan.may_drop() {
        // The usage chunk will be cut out: the length is no longer the provider's.
        head.headers.remove(http::header::CONTENT_LENGTH);
    }
    let body = body::Upstream::new(body, first, idle, deadline, busy).boxed_unsync();
    let mut response = Response::from_parts(head, body);
    // Taken out where the record's body wrapper is made (`Gateway::handle`).
    response.extensions_mut().insert(scan);
    Ok(response)
}

/// What a translation into a deployment's format needs to know of it.
fn defaults(deployment: &Deployment) -> protocol::RequestDefaults {
    let fallback = protocol::RequestDefaults::default();
    protocol::RequestDefaults {
        max_tokens: deployment.max_output_tokens.unwrap_or(fallback.max_tokens),
        max_tokens_cap: deployment.max_output_tokens,
    }
}

/// A successful upstream answer, translated into the client's format: a
/// stream event by event as it arrives, a whole answer at once.
async fn translate_answer(
    response: Response<GatewayBody>,
    translated: protocol::Translated,
    stream: bool,
) -> Result<Response<GatewayBody>, Failure> {
    let (mut head, body) = response.into_parts();
    head.headers.remove(http::header::CONTENT_LENGTH);
    head.headers.remove(http::header::CONTENT_ENCODING);
    if let Some(warning) = translate::warning(&translated.notes) {
        head.headers
            .insert(HeaderName::from_static(translate::WARNING_HEADER), warning);
    }
    let context = translated.context;
    let usage = Arc::new(translate::UsageCell::default());
    if stream {
        let translator = protocol::Translator::new(&context).map_err(|e| Failure::Client(translate::rejected(e)))?;
        let body = translate::Translated::new(body, translator, usage.clone()).boxed_unsync();
        head.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        head.headers
            .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let mut response = Response::from_parts(head, body);
        response.extensions_mut().insert(usage);
        return Ok(response);
    }
    // The deadline and idle limits of `body::Upstream` bound this read.
    let Some(bytes) = translate::read_whole(body, translate::MAX_ANSWER).await else {
        return Err(Failure::Unreachable(
            "the answer broke off or was too large to translate",
        ));
    };
    let answer = protocol::translate_answer(&context, &bytes)
        .map_err(|_| Failure::Unreachable("an answer that is not valid in its own format"))?;
    if let Some(read) = translate::usage_of(&answer.usage) {
        usage.set(read);
    }
    head.status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    head.headers
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    head.headers
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(answer.body.len()));
    let mut response = Response::from_parts(head, body::full(answer.body));
    response.extensions_mut().insert(usage);
    Ok(response)
}

/// Replaces a buffered response's JSON body, keeping its length true.
fn set_json_body(response: &mut Response<Bytes>, bytes: Bytes) {
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    headers.remove(http::header::CONTENT_ENCODING);
    *response.body_mut() = bytes;
}

/// Reads up to the first data frame. `Err(None)` is a timeout.
async fn first_chunk(body: &mut Incoming, deadline: Instant) -> Result<Frame<Bytes>, Option<&'static str>> {
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(None),
            Ok(None) => return Err(Some("stream ended before its first chunk")),
            Ok(Some(Err(_))) => return Err(Some("stream broke before its first chunk")),
            Ok(Some(Ok(frame))) if frame.data_ref().is_some_and(|d| !d.is_empty()) => return Ok(frame),
            Ok(Some(Ok(frame))) if frame.is_trailers() => return Ok(frame),
            Ok(Some(Ok(_empty))) => continue,
        }
    }
}

/// Exponential backoff with jitter: 0.25 s × 2^(n-1), at most 8 s, then a
/// random 50–100 % of it; a provider's `Retry-After` wins when it is given.
pub fn backoff(retry: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(MAX_RETRY_AFTER);
    }
    let base = Duration::from_millis(250)
        .saturating_mul(1 << retry.saturating_sub(1).min(5))
        .min(Duration::from_secs(8));
    base.mul_f64(0.5 + fastrand::f64() * 0.5)
}

fn annotate(
    mut response: Response<GatewayBody>,
    group: &str,
    deployment: &Deployment,
    record: &Record,
) -> Response<GatewayBody> {
    let headers = response.headers_mut();
    // The deployment's own name is the usual group: its value is built once.
    let name = match &deployment.name_header {
        Some(value) if group == &*deployment.model_name => Some(value.clone()),
        _ => HeaderValue::from_str(group).ok(),
    };
    if let Some(v) = name {
        headers.insert(HeaderName::from_static(MODEL_GROUP_HEADER), v);
    }
    headers.insert(
        HeaderName::from_static(DEPLOYMENT_HEADER),
        deployment.index_header.clone(),
    );
    annotate_counts(response, record)
}

fn annotate_counts(mut response: Response<GatewayBody>, record: &Record) -> Response<GatewayBody> {
    let headers = response.headers_mut();
    headers.insert(HeaderName::from_static(RETRIES_HEADER), count(record.retries));
    headers.insert(HeaderName::from_static(FALLBACKS_HEADER), count(record.fallbacks));
    response
}

/// A small count as a header value; the usual ones (0–9) without an allocation.
fn count(n: u32) -> HeaderValue {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match usize::try_from(n).ok().and_then(|i| DIGITS.get(i)) {
        Some(digit) => HeaderValue::from_static(digit),
        None => HeaderValue::from(n),
    }
}

/// Answers from `mock_response` without calling the provider.
fn mock(endpoint: Endpoint, deployment: &Deployment, text: &str, stream: bool) -> Response<GatewayBody> {
    use http::header;
    let model = &deployment.upstream_model;
    if !(stream && openai::mock_streams(endpoint)) {
        return body::json(StatusCode::OK, openai::mock_body(endpoint, model, text));
    }
    let mut response = Response::new(body::frames(openai::mock_stream(endpoint, model, text)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_are_decimal_whether_static_or_not() {
        for n in [0, 1, 9, 10, 42, u32::MAX] {
            assert_eq!(count(n).to_str().unwrap(), n.to_string());
        }
    }
}
