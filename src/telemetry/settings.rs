//! Where telemetry goes: `tollgate.telemetry` resolved against the standard
//! `OTEL_*` variables, config fields winning over the environment.

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::TelemetrySettings;

/// The metric export interval when neither config nor environment sets one.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// A telemetry signal exported over OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    pub fn label(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }

    /// The part of the per-signal variable names (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    fn env(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        }
    }
}

/// OTLP's two wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    Grpc,
    Http,
}

/// Where one signal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// The full URL: gRPC's base, or HTTP's with `/v1/traces` or `/v1/metrics`.
    pub endpoint: String,
    pub wire: Wire,
}

/// The effective settings: which signals export where, and how.
#[derive(Debug)]
pub(super) struct Resolved {
    pub traces: Option<Target>,
    pub metrics: Option<Target>,
    /// Collector headers from the config (values may be credentials).
    pub headers: HeaderMap,
    /// `service.name` to set, when neither `OTEL_SERVICE_NAME` nor
    /// `OTEL_RESOURCE_ATTRIBUTES` names one; `None` leaves it to them.
    pub service_name: Option<String>,
    pub interval: Duration,
    pub record_content: bool,
}

impl Resolved {
    pub fn new(settings: &TelemetrySettings, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let target = |signal| if disabled { None } else { target(settings, signal, &env) };
        let service_name = settings.service_name.clone().or_else(|| {
            let named = env("OTEL_SERVICE_NAME").is_some()
                || env("OTEL_RESOURCE_ATTRIBUTES")
                    .is_some_and(|a| a.split(',').any(|kv| kv.trim().starts_with("service.name=")));
            (!named).then(|| super::names::SCOPE.to_owned())
        });
        let interval = settings.export_interval.filter(|d| !d.is_zero()).or_else(|| {
            let millis: u64 = env("OTEL_METRIC_EXPORT_INTERVAL")?.trim().parse().ok()?;
            // The config's own bound on durations, so the exporter's timer cannot overflow.
            let bounded = millis > 0 && (millis as f64) <= crate::config::MAX_SECONDS * 1e3;
            if !bounded {
                tracing::warn!(millis, "OTEL_METRIC_EXPORT_INTERVAL is 0 or above 30 days; using 60 s");
            }
            bounded.then(|| Duration::from_millis(millis))
        });
        Resolved {
            traces: target(Signal::Traces),
            metrics: target(Signal::Metrics),
            headers: headers(settings),
            service_name,
            interval: interval.unwrap_or(DEFAULT_INTERVAL),
            record_content: settings.record_content,
        }
    }

    pub fn endpoint(&self, signal: Signal) -> String {
        self.target(signal).map(|t| t.endpoint.clone()).unwrap_or_default()
    }

    pub fn wire(&self, signal: Signal) -> Wire {
        self.target(signal).map_or(Wire::Http, |t| t.wire)
    }

    fn target(&self, signal: Signal) -> Option<&Target> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
        }
    }
}

/// Config endpoint, else `OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT` (used as
/// is), else `OTEL_EXPORTER_OTLP_ENDPOINT`; `None` when none is set or
/// `OTEL_{SIGNAL}_EXPORTER` is `none`.
fn target(settings: &TelemetrySettings, signal: Signal, env: &dyn Fn(&str) -> Option<String>) -> Option<Target> {
    let sig = signal.env();
    if env(&format!("OTEL_{sig}_EXPORTER")).is_some_and(|e| e.trim() == "none") {
        return None;
    }
    let protocol = settings
        .otlp_protocol
        .clone()
        .or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{sig}_PROTOCOL")))
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    let wire = match protocol.as_deref().map(str::trim) {
        Some("grpc") => Wire::Grpc,
        None | Some("http/protobuf") => Wire::Http,
        Some(other) => {
            tracing::warn!(protocol = other, "unsupported OTLP protocol; using http/protobuf");
            Wire::Http
        }
    };
    let (base, verbatim) = match settings.otlp_endpoint.clone() {
        Some(endpoint) => (endpoint, false),
        None => match env(&format!("OTEL_EXPORTER_OTLP_{sig}_ENDPOINT")) {
            Some(endpoint) => (endpoint, true),
            None => (env("OTEL_EXPORTER_OTLP_ENDPOINT")?, false),
        },
    };
    let base = base.trim().to_owned();
    let endpoint = match wire {
        Wire::Http if !verbatim => format!("{}/v1/{}", base.trim_end_matches('/'), signal.label()),
        _ => base,
    };
    Some(Target { endpoint, wire })
}

fn headers(settings: &TelemetrySettings) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &settings.otlp_headers {
        let parsed = HeaderName::try_from(name.to_ascii_lowercase())
            .ok()
            .zip(HeaderValue::from_str(value.expose()).ok());
        match parsed {
            Some((name, mut value)) => {
                value.set_sensitive(true);
                map.insert(name, value);
            }
            None => tracing::warn!(header = %name, "OTLP header is not a valid HTTP header; not sent"),
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(settings: &TelemetrySettings, vars: &[(&str, &str)]) -> Resolved {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Resolved::new(settings, &move |name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_exports_without_an_endpoint() {
        let r = resolve(&TelemetrySettings::default(), &[("OTEL_SERVICE_NAME", "x")]);
        assert_eq!((r.traces, r.metrics), (None, None));
        assert_eq!(r.service_name, None);
        assert_eq!(r.interval, DEFAULT_INTERVAL);
    }

    #[test]
    fn environment_endpoints_follow_the_spec() {
        let r = resolve(
            &TelemetrySettings::default(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://other:9/custom"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
            ],
        );
        assert_eq!(r.endpoint(Signal::Traces), "http://collector:4318/v1/traces");
        assert_eq!(r.endpoint(Signal::Metrics), "http://other:9/custom");
        assert_eq!(r.interval, Duration::from_millis(500));
        assert_eq!(r.service_name.as_deref(), Some("tollgate"));
        let grpc = resolve(
            &TelemetrySettings::default(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        );
        assert_eq!(
            grpc.traces,
            Some(Target {
                endpoint: "http://c:4317".into(),
                wire: Wire::Grpc
            })
        );
    }

    #[test]
    fn config_wins_and_the_sdk_can_be_disabled() {
        let settings = TelemetrySettings {
            otlp_endpoint: Some("http://mine:4317".into()),
            otlp_protocol: Some("grpc".into()),
            service_name: Some("gw".into()),
            export_interval: Some(Duration::from_secs(5)),
            ..TelemetrySettings::default()
        };
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ];
        let r = resolve(&settings, &env);
        assert_eq!(r.traces, None);
        assert_eq!(
            r.metrics,
            Some(Target {
                endpoint: "http://mine:4317".into(),
                wire: Wire::Grpc
            })
        );
        assert_eq!(
            (r.service_name.as_deref(), r.interval),
            (Some("gw"), Duration::from_secs(5))
        );
        let off = resolve(&settings, &[("OTEL_SDK_DISABLED", "TRUE")]);
        assert_eq!((off.traces, off.metrics), (None, None));
    }

    #[test]
    fn an_interval_beyond_30_days_is_ignored() {
        for huge in ["18446744073709551615", "2592000001", "0"] {
            let r = resolve(&TelemetrySettings::default(), &[("OTEL_METRIC_EXPORT_INTERVAL", huge)]);
            assert_eq!(r.interval, DEFAULT_INTERVAL, "{huge}");
        }
    }

    #[test]
    fn resource_attributes_may_name_the_service() {
        let r = resolve(
            &TelemetrySettings::default(),
            &[("OTEL_RESOURCE_ATTRIBUTES", "a=b, service.name=s")],
        );
        assert_eq!(r.service_name, None);
    }
}
