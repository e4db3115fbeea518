//! The floor under tollgate: the least a hyper proxy does. Each request goes
//! to the mock as it came (its body streamed, its path kept) and the answer
//! comes back as it came, on the same tokio scheduler and hyper-util client
//! tollgate uses, with none of tollgate's own work: no JSON, keys, routing,
//! body rewrite, usage scan, log line or metrics. Measured beside nginx and
//! tollgate, it shows how much of the gap to nginx is the framework's.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(clap::Args)]
pub struct BareArgs {
    /// Port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// The mock's port.
    #[arg(long)]
    upstream: u16,
    /// Thread-per-core as tollgate serves by default: a single-threaded
    /// runtime per CPU, each on its own SO_REUSEPORT socket with its own
    /// client pool (else one multi-threaded runtime, or one thread on one CPU).
    #[arg(long)]
    per_core: bool,
}

pub fn main(args: BareArgs) -> i32 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.per_core {
        return per_core(&args, cpus);
    }
    // As tollgate: one CPU, one thread.
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let Ok(runtime) = builder.enable_all().build() else {
        eprintln!("bare: cannot start the runtime");
        return 1;
    };
    runtime.block_on(async {
        match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
            Ok(listener) => serve(listener, args.upstream).await,
            Err(error) => {
                eprintln!("bare: cannot listen on {}: {error}", args.port);
                1
            }
        }
    })
}

/// One single-threaded runtime per CPU on its own socket of the port.
fn per_core(args: &BareArgs, cpus: usize) -> i32 {
    let sockets = match tollgate::server::cores::Listeners::bind("127.0.0.1", args.port, cpus) {
        Ok(listeners) => listeners.into_sockets(),
        Err(error) => {
            eprintln!("bare: cannot listen on {}: {error}", args.port);
            return 1;
        }
    };
    let upstream = args.upstream;
    let threads: Vec<_> = sockets
        .into_iter()
        .map(|socket| {
            std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return 1;
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(socket) {
                        Ok(listener) => serve(listener, upstream).await,
                        Err(_) => 1,
                    }
                })
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap_or(1)).max().unwrap_or(0)
}

async fn serve(listener: tokio::net::TcpListener, upstream: u16) -> i32 {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(http);
    let upstream: std::sync::Arc<str> = format!("http://127.0.0.1:{upstream}").into();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service =
                service_fn(move |request: Request<Incoming>| relay(client.clone(), upstream.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Answer = Response<Either<Incoming, Empty<Bytes>>>;

async fn relay(
    client: Client<HttpConnector, Incoming>,
    upstream: std::sync::Arc<str>,
    mut request: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{upstream}{path}").parse() else {
        return Ok(bad_gateway());
    };
    *request.uri_mut() = uri;
    Ok(match client.request(request).await {
        Ok(response) => response.map(Either::Left),
        Err(_) => bad_gateway(),
    })
}

fn bad_gateway() -> Answer {
    let mut response = Response::new(Either::Right(Empty::new()));
    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
    response
}
