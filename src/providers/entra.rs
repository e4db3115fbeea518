//! Entra ID (Azure AD) tokens by client credentials for Azure entries: fetched
//! on first use, cached, and refreshed in the background before they expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::secret::Secret;
use crate::upstream::Upstream;

/// Where tokens are asked for when neither `azure_authority_host` nor
/// `AZURE_AUTHORITY_HOST` says otherwise (Azure's public cloud).
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The audience of Azure OpenAI tokens (LiteLLM's default `azure_scope`).
pub const DEFAULT_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

/// The largest token answer read: a token is a few KiB.
const ANSWER_LIMIT: usize = 64 * 1024;

/// How long one token request may take, answer included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A token is refreshed this long before it expires at most (a fifth of its
/// lifetime when that is shorter), so no request meets an expired one.
const MAX_MARGIN: Duration = Duration::from_secs(300);

/// A service principal's credentials (`tenant_id`, `client_id`, `client_secret`).
pub struct ClientCredentials {
    /// `https://login.microsoftonline.com`, or a sovereign cloud's.
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: String,
}

/// One entry's token cache. Requests read the cached token without waiting;
/// only the first request, or one after a token expired unrenewed, waits
/// for the token endpoint, and then all such requests share one fetch.
pub struct TokenSource {
    url: Uri,
    /// The form body: it holds the client secret.
    form: Secret,
    cached: ArcSwapOption<Token>,
    /// The token the cached one replaced: requests sent with it may still
    /// be answered, and an answer that echoes it must be cleaned of it too.
    retired: ArcSwapOption<HeaderValue>,
    /// When the last fetch failed, and why: requests that waited for that
    /// fetch share its answer instead of each trying again.
    failed: ArcSwapOption<(Instant, &'static str)>,
    /// Held while a fetch is under way, so there is one at a time.
    fetching: Arc<Mutex<()>>,
}

struct Token {
    /// `Bearer <token>`, marked sensitive.
    header: HeaderValue,
    /// From here on a request starts a background refresh.
    refresh_at: Instant,
    expires_at: Instant,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Every live token source by its URL and form: entries (and the configs
/// of successive reloads) with the same service principal share one token.
static SOURCES: StdMutex<Option<HashMap<[u8; 32], Weak<TokenSource>>>> = StdMutex::new(None);

impl TokenSource {
    /// The source for these credentials: the live one when another entry or
    /// the running config already has it (its token is kept), else a new one.
    pub fn shared(credentials: ClientCredentials) -> Result<Arc<Self>, String> {
        let source = Self::new(credentials)?;
        let mut digest = Sha256::new();
        digest.update(source.url.to_string().as_bytes());
        digest.update([0]);
        digest.update(source.form.expose().as_bytes());
        let key: [u8; 32] = digest.finalize().into();
        // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
        let mut sources = SOURCES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let sources = sources.get_or_insert_with(HashMap::new);
        sources.retain(|_, weak| weak.strong_count() > 0);
        if let Some(live) = sources.get(&key).and_then(Weak::upgrade) {
            return Ok(live);
        }
        let source = Arc::new(source);
        sources.insert(key, Arc::downgrade(&source));
        Ok(source)
    }

    /// Checks the authority URL; the message quotes none of the values.
    fn new(credentials: ClientCredentials) -> Result<Self, String> {
        let authority = credentials.authority.trim().trim_end_matches('/');
        if !(authority.starts_with("https://") || authority.starts_with("http://")) {
            return Err("azure_authority_host must start with https:// (or http://)".into());
        }
        let tenant = credentials.tenant.trim();
        if tenant.is_empty() || !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
            return Err("tenant_id must be a tenant id or domain name".into());
        }
        let url = format!("{authority}/{tenant}/oauth2/v2.0/token")
            .parse()
            .map_err(|_| "azure_authority_host does not make a valid token URL".to_string())?;
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
            form_encode(credentials.client_id.trim()),
            form_encode(credentials.client_secret.expose()),
            form_encode(&credentials.scope),
        );
        Ok(TokenSource {
            url,
            form: Secret::new(form),
            cached: ArcSwapOption::empty(),
            retired: ArcSwapOption::empty(),
            failed: ArcSwapOption::empty(),
            fetching: Arc::new(Mutex::new(())),
        })
    }

    /// The `Authorization` value for the next request. A cached token
    /// answers at once (starting a background refresh once it is due); with
    /// none valid, this waits for the one fetch under way or starts it.
    pub async fn header(self: &Arc<Self>, upstream: &Upstream) -> Result<HeaderValue, &'static str> {
        if let Some(token) = self.cached.load_full() {
            let now = Instant::now();
            if now < token.refresh_at {
                return Ok(token.header.clone());
            }
            if now < token.expires_at {
                self.refresh_in_background(upstream);
                return Ok(token.header.clone());
            }
        }
        let asked = Instant::now();
        let _turn = self.fetching.lock().await;
        // Another request may have fetched one while this one waited.
        if let Some(token) = self.cached.load_full() {
            if Instant::now() < token.expires_at {
                return Ok(token.header.clone());
            }
        }
        if let Some(failure) = self.failed.load_full() {
            if failure.0 >= asked {
                return Err(failure.1);
            }
        }
        let token = match self.fetch(upstream).await {
            Ok(token) => token,
            Err(cause) => {
                self.failed.store(Some(Arc::new((Instant::now(), cause))));
                return Err(cause);
            }
        };
        let header = token.header.clone();
        self.keep(token);
        Ok(header)
    }

    /// Caches a fresh token, remembering the one it replaces.
    fn keep(&self, token: Token) {
        if let Some(old) = self.cached.swap(Some(Arc::new(token))) {
            self.retired.store(Some(Arc::new(old.header.clone())));
        }
    }

    /// Calls `f` with each `Authorization` value a request may have been
    /// sent with (`Bearer <token>`): the cached token and the one before it,
    /// for `upstream::redact` (a provider may echo what it was sent).
    pub fn each_token(&self, mut f: impl FnMut(&[u8])) {
        if let Some(token) = self.cached.load_full() {
            f(token.header.as_bytes());
        }
        if let Some(header) = self.retired.load_full() {
            f(header.as_bytes());
        }
    }

    fn refresh_in_background(self: &Arc<Self>, upstream: &Upstream) {
        // A fetch already under way will do.
        let Ok(turn) = self.fetching.clone().try_lock_owned() else {
            return;
        };
        let source = self.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let _turn = turn;
            match source.fetch(&upstream).await {
                Ok(token) => source.keep(token),
                Err(cause) => {
                    tracing::warn!(
                        cause,
                        "Entra ID token refresh failed; the current token serves until it expires"
                    )
                }
            }
        });
    }

    async fn fetch(&self, upstream: &Upstream) -> Result<Token, &'static str> {
        let mut request = Request::new(Full::new(Bytes::from(self.form.expose().to_string())));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.url.clone();
        let headers = request.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        // Lifetimes count from the request, so a slow answer errs on the early side.
        let sent = Instant::now();
        let deadline = sent + FETCH_TIMEOUT;
        let late = "the Entra ID token endpoint did not answer in time";
        let response = tokio::time::timeout_at(deadline, upstream.send(request))
            .await
            .map_err(|_| late)?
            .map_err(|_| "the Entra ID token endpoint could not be reached")?;
        let status = response.status();
        let body = tokio::time::timeout_at(deadline, Limited::new(response.into_body(), ANSWER_LIMIT).collect())
            .await
            .map_err(|_| late)?
            .map_err(|_| "the Entra ID token endpoint's answer was cut short or too large")?
            .to_bytes();
        if !status.is_success() {
            // Entra's error codes (`invalid_client`, ...) are a closed set; its descriptions are not logged.
            let code = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            tracing::warn!(
                status = status.as_u16(),
                error = code.as_deref().unwrap_or("-"),
                "Entra ID token request failed"
            );
            return Err(if status.is_client_error() {
                "the Entra ID token endpoint refused the client credentials"
            } else {
                "the Entra ID token endpoint failed"
            });
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|_| "the Entra ID token endpoint's answer holds no access_token")?;
        let lifetime = answer
            .lifetime()
            .ok_or("the Entra ID token endpoint's answer holds no usable expires_in")?;
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| "the Entra ID token holds characters a header cannot carry")?;
        header.set_sensitive(true);
        let margin = MAX_MARGIN.min(lifetime / 5);
        Ok(Token {
            header,
            refresh_at: sent + (lifetime - margin),
            expires_at: sent + lifetime,
        })
    }
}

/// The token endpoint's answer (OAuth 2.0, RFC 6749 §5.1).
#[derive(Deserialize)]
struct Answer {
    access_token: String,
    /// Seconds; a number, or (older endpoints) a numeric string.
    expires_in: Value,
}

impl Answer {
    fn lifetime(&self) -> Option<Duration> {
        let seconds = match &self.expires_in {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }?;
        (seconds > 0).then(|| Duration::from_secs(seconds))
    }
}

/// `application/x-www-form-urlencoded` for one value: unreserved bytes as
/// they are, every other byte as `%XX`.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(authority: &str, tenant: &str) -> ClientCredentials {
        ClientCredentials {
            authority: authority.into(),
            tenant: tenant.into(),
            client_id: "id".into(),
            client_secret: Secret::new("s3cret&=/+"),
            scope: DEFAULT_SCOPE.into(),
        }
    }

    #[test]
    fn the_form_encodes_the_secret_and_the_scope() {
        let source = TokenSource::new(credentials("https://login.example/", "tenant-1")).unwrap();
        assert_eq!(
            source.url.to_string(),
            "https://login.example/tenant-1/oauth2/v2.0/token"
        );
        assert_eq!(
            source.form.expose(),
            "grant_type=client_credentials&client_id=id&client_secret=s3cret%26%3D%2F%2B&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"
        );
        assert!(!format!("{source:?}").contains("s3cret"));
    }

    #[test]
    fn bad_authorities_and_tenants_are_refused() {
        assert!(TokenSource::new(credentials("login.example", "t")).is_err());
        assert!(TokenSource::new(credentials("https://login.example", "a/b")).is_err());
        assert!(TokenSource::new(credentials("https://login.example", "")).is_err());
    }

    #[test]
    fn expires_in_is_a_number_or_a_numeric_string() {
        let answer = |v: Value| Answer {
            access_token: "t".into(),
            expires_in: v,
        };
        assert_eq!(answer(Value::from(3599)).lifetime(), Some(Duration::from_secs(3599)));
        assert_eq!(answer(Value::from("60")).lifetime(), Some(Duration::from_secs(60)));
        assert_eq!(answer(Value::from(0)).lifetime(), None);
        assert_eq!(answer(Value::Null).lifetime(), None);
    }
}
