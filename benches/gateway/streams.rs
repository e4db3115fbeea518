//! Many concurrent streams held open through tollgate: over HTTP/1.1 (one
//! connection each) or h2c (many per connection), pausing at milestones so
//! the orchestrator can read tollgate's memory.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::client::{chat_body, connect_h1, connect_h2, fail, post, print, runtime};

#[derive(clap::Args)]
pub struct StreamsArgs {
    #[arg(long)]
    url: Uri,
    #[arg(long, default_value = "slow")]
    model: String,
    /// Open streams at which to stop, report `held K failed F`, and wait for a
    /// line on stdin before going on.
    #[arg(long, value_delimiter = ',')]
    milestones: Vec<usize>,
    /// `h1`: one connection per stream; `h2`: `per_conn` streams per h2c connection.
    #[arg(long, default_value = "h1")]
    proto: String,
    #[arg(long, default_value_t = 100)]
    per_conn: usize,
    /// Streams being opened at once.
    #[arg(long, default_value_t = 200)]
    parallel: usize,
}

pub fn streams_main(args: StreamsArgs) -> i32 {
    runtime().block_on(streams(args))
}

#[derive(Clone)]
enum Sender {
    H1,
    H2(http2::SendRequest<Full<Bytes>>),
}

async fn streams(args: StreamsArgs) -> i32 {
    let body = Bytes::from(chat_body(&args.model, true));
    let held = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let opening = Arc::new(tokio::sync::Semaphore::new(args.parallel));
    let h2 = args.proto == "h2";
    let mut sender = Sender::H1;
    let mut opened = 0usize;
    let mut ramps = Vec::new();
    let started = Instant::now();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    for &milestone in &args.milestones {
        while opened < milestone {
            if h2 && opened.is_multiple_of(args.per_conn) {
                sender = match connect_h2(&args.url).await {
                    Ok(s) => Sender::H2(s),
                    Err(e) => return fail("streams", e),
                };
            }
            let task = Held {
                uri: args.url.clone(),
                body: body.clone(),
                sender: sender.clone(),
                held: held.clone(),
                failed: failed.clone(),
                first_error: first_error.clone(),
                opening: opening.clone(),
            };
            tokio::spawn(task.run());
            opened += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while held.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < milestone && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        ramps.push(secs);
        let (h, f) = (held.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        println!("held {h} failed {f} secs {secs:.2}");
        let _ = std::io::stdout().flush();
        // The orchestrator samples memory, then says go on.
        let _ = stdin.next_line().await;
    }
    let error = first_error.lock().map(|e| e.clone()).unwrap_or(None);
    print(json!({
        "held": held.load(Ordering::Relaxed),
        "failed": failed.load(Ordering::Relaxed),
        "ramp_secs": ramps,
        "first_error": error,
    }));
    0
}

/// One long-lived stream: counted as held once its first chunk arrives, then
/// read until the process ends.
struct Held {
    uri: Uri,
    body: Bytes,
    sender: Sender,
    held: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    first_error: Arc<std::sync::Mutex<Option<String>>>,
    opening: Arc<tokio::sync::Semaphore>,
}

impl Held {
    async fn run(self) {
        let permit = self.opening.clone().acquire_owned().await;
        let body = match tokio::time::timeout(Duration::from_secs(60), self.open()).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => return self.failed(e),
            Err(_) => return self.failed("no first chunk within 60 s".into()),
        };
        drop(permit);
        let mut body = body;
        while let Some(Ok(_)) = body.frame().await {}
    }

    async fn open(&self) -> Result<Incoming, String> {
        let response = match self.sender.clone() {
            Sender::H1 => {
                let mut sender = connect_h1(&self.uri).await?;
                sender.send_request(post(&self.uri, &self.body, false)).await
            }
            Sender::H2(mut sender) => {
                sender.ready().await.map_err(|e| e.to_string())?;
                sender.send_request(post(&self.uri, &self.body, true)).await
            }
        }
        .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let mut body = response.into_body();
        match body.frame().await {
            Some(Ok(_)) => {
                self.held.fetch_add(1, Ordering::Relaxed);
                Ok(body)
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err("stream ended before its first chunk".into()),
        }
    }

    fn failed(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
    }
}
