//! An in-process OTLP receiver for tests: opentelemetry-proto's generated
//! gRPC services on tonic, and OTLP/HTTP protobuf on hyper, both on
//! 127.0.0.1:0, keeping every export (and every exported byte) received.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;

/// What the receiver got, from either protocol.
#[derive(Default)]
struct Store {
    traces: Mutex<Vec<ExportTraceServiceRequest>>,
    metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
    /// Every export's payload, as received (HTTP) or re-encoded (gRPC).
    bytes: Mutex<Vec<u8>>,
    /// Request headers (HTTP) and metadata (gRPC) of every export.
    headers: Mutex<Vec<http::HeaderMap>>,
    /// Keep nothing, only count bytes (for throughput measurements).
    discard: bool,
    discarded: std::sync::atomic::AtomicU64,
}

/// A loopback OTLP collector.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT` of the gRPC server.
    pub grpc: String,
    /// `http://127.0.0.1:PORT` of the HTTP/protobuf server.
    pub http: String,
    store: Arc<Store>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::with_store(Store::default()).await
    }

    /// A receiver that decodes and keeps nothing, as cheap as a receiver
    /// can be; it only counts the bytes it gets ([`Receiver::discarded`]).
    pub async fn discarding() -> Receiver {
        Self::with_store(Store {
            discard: true,
            ..Store::default()
        })
        .await
    }

    /// Bytes received by a [`Receiver::discarding`] receiver.
    pub fn discarded(&self) -> u64 {
        self.store.discarded.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn with_store(store: Store) -> Receiver {
        let store = Arc::new(store);
        let grpc = serve_grpc(store.clone()).await;
        let http = serve_http(store.clone()).await;
        Receiver {
            grpc: format!("http://{grpc}"),
            http: format!("http://{http}"),
            store,
        }
    }

    /// Every span received, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        let traces = self.store.traces.lock().unwrap();
        traces
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }

    /// The resource attributes of every trace export.
    pub fn span_resources(&self) -> Vec<Vec<KeyValue>> {
        let traces = self.store.traces.lock().unwrap();
        traces
            .iter()
            .flat_map(|r| &r.resource_spans)
            .filter_map(|r| r.resource.as_ref().map(|res| res.attributes.clone()))
            .collect()
    }

    /// The metric `name` from the latest export that has it.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        let metrics = self.store.metrics.lock().unwrap();
        metrics.iter().rev().find_map(|r| {
            r.resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .find(|m| m.name == name)
                .cloned()
        })
    }

    /// Every byte exported so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.store.bytes.lock().unwrap().clone()
    }

    /// Headers (or gRPC metadata) of every export so far.
    pub fn headers(&self) -> Vec<http::HeaderMap> {
        self.store.headers.lock().unwrap().clone()
    }

    /// Waits until `ready` holds, polling; panics after `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, ready: impl Fn(&Receiver) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            if start.elapsed() > limit {
                let names: Vec<String> = self.spans().iter().map(|s| s.name.clone()).collect();
                panic!("OTLP receiver: no {what} within {limit:?}; spans so far: {names:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn keep_trace(&self, request: ExportTraceServiceRequest) {
        self.store.traces.lock().unwrap().push(request);
    }
}

/// A string, integer, float or bool attribute of a span or point.
pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

pub fn attr_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

pub fn attr_int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

pub fn attr_f64(attributes: &[KeyValue], key: &str) -> Option<f64> {
    match attr(attributes, key)? {
        any_value::Value::DoubleValue(f) => Some(*f),
        any_value::Value::IntValue(i) => Some(*i as f64),
        _ => None,
    }
}

/// One data point of a metric, whatever its kind: attributes and value
/// (a histogram's count and sum).
#[derive(Debug, Clone)]
pub struct Point {
    pub attributes: Vec<KeyValue>,
    pub value: f64,
    pub sum: f64,
}

pub fn points(metric: &Metric) -> Vec<Point> {
    let number = |v: &Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsDouble(f)) => *f,
        Some(number_data_point::Value::AsInt(i)) => *i as f64,
        None => f64::NAN,
    };
    match &metric.data {
        Some(metric::Data::Sum(sum)) => sum
            .data_points
            .iter()
            .map(|p| Point {
                attributes: p.attributes.clone(),
                value: number(&p.value),
                sum: number(&p.value),
            })
            .collect(),
        Some(metric::Data::Gauge(gauge)) => gauge
            .data_points
            .iter()
            .map(|p| Point {
                attributes: p.attributes.clone(),
                value: number(&p.value),
                sum: number(&p.value),
            })
            .collect(),
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| Point {
                attributes: p.attributes.clone(),
                value: p.count as f64,
                sum: p.sum.unwrap_or(0.0),
            })
            .collect(),
        _ => vec![],
    }
}

struct Grpc(Receiver);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let (metadata, _, message) = request.into_parts();
        let store = &self.0.store;
        store.headers.lock().unwrap().push(metadata.into_headers());
        store.bytes.lock().unwrap().extend(message.encode_to_vec());
        self.0.keep_trace(message);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let (metadata, _, message) = request.into_parts();
        let store = &self.0.store;
        store.headers.lock().unwrap().push(metadata.into_headers());
        store.bytes.lock().unwrap().extend(message.encode_to_vec());
        store.metrics.lock().unwrap().push(message);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn serve_grpc(store: Arc<Store>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver {
        grpc: String::new(),
        http: String::new(),
        store,
    };
    let router = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(Grpc(receiver.clone())))
        .add_service(MetricsServiceServer::new(Grpc(receiver)));
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
    addr
}

async fn serve_http(store: Arc<Store>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| receive(store.clone(), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// `POST /v1/traces` and `POST /v1/metrics` with a protobuf body.
async fn receive(store: Arc<Store>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (head, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if store.discard {
        let size = body.len() as u64;
        store.discarded.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        return Ok(Response::new(Full::new(Bytes::new())));
    }
    let protobuf = head
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
    let decoded = match (head.method == http::Method::POST && protobuf, head.uri.path()) {
        (true, "/v1/traces") => ExportTraceServiceRequest::decode(body.clone())
            .map(|m| store.traces.lock().unwrap().push(m))
            .is_ok(),
        (true, "/v1/metrics") => ExportMetricsServiceRequest::decode(body.clone())
            .map(|m| store.metrics.lock().unwrap().push(m))
            .is_ok(),
        _ => false,
    };
    store.headers.lock().unwrap().push(head.headers);
    store.bytes.lock().unwrap().extend_from_slice(&body);
    let status = if decoded {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::new()))
        .unwrap();
    Ok(response)
}
