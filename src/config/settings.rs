//! tollgate's own settings beside the model list: telemetry export and the
//! spend currency.

use std::time::Duration;

use super::build::Report;
use super::numbers::seconds_at;
use super::raw;
use super::resolve::Resolver;
use crate::secret::Secret;
use crate::spend::Currency;

/// OTLP export as the config asks for it. Unset fields fall back to the
/// standard `OTEL_*` environment variables when telemetry starts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// Collector endpoint; `None` leaves it to `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// `grpc` or `http/protobuf`; `None` leaves it to `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub otlp_protocol: Option<String>,
    /// Headers for the collector (values may be credentials).
    pub otlp_headers: Vec<(String, Secret)>,
    /// `service.name`; `None` leaves it to `OTEL_SERVICE_NAME`, else `tollgate`.
    pub service_name: Option<String>,
    /// Metric export interval; `None` leaves it to `OTEL_METRIC_EXPORT_INTERVAL`, else 60 s.
    pub export_interval: Option<Duration>,
    /// Record prompts and completions on spans.
    pub record_content: bool,
}

pub(super) fn telemetry(
    raw: Option<raw::TelemetryEntry>,
    resolver: &mut Resolver,
    report: &mut Report,
) -> TelemetrySettings {
    let Some(raw) = raw else {
        return TelemetrySettings::default();
    };
    let at = "tollgate.telemetry";
    if let Some(p) = raw.otlp_protocol.as_deref() {
        if !matches!(p, "grpc" | "http/protobuf") {
            report.problem(format!("{at}.otlp_protocol"), "must be `grpc` or `http/protobuf`");
        }
    }
    let mut headers = Vec::new();
    for (name, value) in raw.otlp_headers.unwrap_or_default() {
        match resolver.resolve(&value) {
            Ok(v) => headers.push((name, Secret::new(v))),
            Err(e) => report.problem(format!("{at}.otlp_headers.{name}"), e),
        }
    }
    let export_interval =
        seconds_at(raw.export_interval.as_ref(), &format!("{at}.export_interval"), report).map(Duration::from_secs_f64);
    let endpoint = raw.otlp_endpoint.and_then(|e| {
        resolver
            .resolve(&e)
            .map_err(|err| report.problem(format!("{at}.otlp_endpoint"), err))
            .ok()
    });
    TelemetrySettings {
        otlp_endpoint: endpoint,
        otlp_protocol: raw.otlp_protocol,
        otlp_headers: headers,
        service_name: raw.service_name,
        export_interval,
        record_content: raw.record_content,
    }
}

pub(super) fn currency(raw: Option<raw::SpendEntry>, report: &mut Report) -> Currency {
    let Some(raw) = raw else { return Currency::usd() };
    let code = raw.currency.unwrap_or_else(|| "USD".into());
    let per_usd = match (code.eq_ignore_ascii_case("USD"), raw.per_usd) {
        (true, rate) => rate.unwrap_or(1.0),
        (false, Some(rate)) => rate,
        (false, None) => {
            report.problem(
                "tollgate.spend.per_usd",
                "is needed to report spend in a currency other than USD",
            );
            return Currency::usd();
        }
    };
    // `Currency::new` quotes the values; say what is wrong without them.
    Currency::new(&code, per_usd).unwrap_or_else(|_| {
        let (at, message) = if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            ("tollgate.spend.currency", "must be three letters (ISO 4217, e.g. EUR)")
        } else {
            ("tollgate.spend.per_usd", "must be above 0, and 1 for USD")
        };
        report.problem(at, message);
        Currency::usd()
    })
}
