//! The Prometheus text format of the metrics, named as the OpenTelemetry
//! Collector's Prometheus exporter names them.

use std::collections::BTreeMap;
use std::fmt::{Display, Write};

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its `# TYPE` and its sample lines.
struct Family {
    kind: &'static str,
    help: String,
    samples: String,
}

/// Renders every metric in `metrics`, families sorted by name.
pub fn render(metrics: &ResourceMetrics) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            let (name, kind) = name_and_kind(metric);
            let family = families.entry(name.clone()).or_insert_with(|| Family {
                kind,
                help: metric.description().replace('\\', r"\\").replace('\n', r"\n"),
                samples: String::new(),
            });
            if family.kind == kind {
                match metric.data() {
                    AggregatedMetrics::F64(data) => samples(&name, data, &mut family.samples),
                    AggregatedMetrics::U64(data) => samples(&name, data, &mut family.samples),
                    AggregatedMetrics::I64(data) => samples(&name, data, &mut family.samples),
                }
            }
        }
    }
    let mut out = String::new();
    for (name, family) in families {
        if family.samples.is_empty() {
            continue;
        }
        if !family.help.is_empty() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
        }
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        out.push_str(&family.samples);
    }
    out
}

/// The Prometheus name and type: dots to underscores, a unit suffix
/// (`_seconds` for `s`; `{annotations}` add none), `_total` on counters.
fn name_and_kind(metric: &Metric) -> (String, &'static str) {
    let (kind, monotonic) = match metric.data() {
        AggregatedMetrics::F64(d) => kind_of(d),
        AggregatedMetrics::U64(d) => kind_of(d),
        AggregatedMetrics::I64(d) => kind_of(d),
    };
    let mut name = sanitize(metric.name());
    let unit = match metric.unit() {
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        _ => "",
    };
    if !unit.is_empty() && !name.ends_with(unit) {
        name = format!("{name}_{unit}");
    }
    if monotonic && !name.ends_with("_total") {
        name.push_str("_total");
    }
    (name, kind)
}

fn kind_of<T>(data: &MetricData<T>) -> (&'static str, bool) {
    match data {
        MetricData::Gauge(_) => ("gauge", false),
        MetricData::Sum(sum) if sum.is_monotonic() => ("counter", true),
        MetricData::Sum(_) => ("gauge", false),
        MetricData::Histogram(_) => ("histogram", false),
        MetricData::ExponentialHistogram(_) => ("histogram", false),
    }
}

fn samples<T: Num>(name: &str, data: &MetricData<T>, out: &mut String) {
    match data {
        MetricData::Gauge(gauge) => {
            for point in gauge.data_points() {
                sample(out, name, "", &labels(point.attributes(), None), point.value().text());
            }
        }
        MetricData::Sum(sum) => {
            for point in sum.data_points() {
                sample(out, name, "", &labels(point.attributes(), None), point.value().text());
            }
        }
        MetricData::Histogram(histogram) => {
            for point in histogram.data_points() {
                let mut cumulative = 0u64;
                let bounds = point.bounds().map(number).chain(std::iter::once("+Inf".to_owned()));
                for (le, count) in bounds.zip(point.bucket_counts()) {
                    cumulative += count;
                    let labels = labels(point.attributes(), Some(&le));
                    sample(out, name, "_bucket", &labels, cumulative);
                }
                let labels = labels(point.attributes(), None);
                sample(out, name, "_sum", &labels, point.sum().text());
                sample(out, name, "_count", &labels, point.count());
            }
        }
        // Never configured: every histogram here has explicit buckets.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, value: impl Display) {
    let _ = writeln!(out, "{name}{suffix}{labels} {value}");
}

/// `{a="1",b="2"}` sorted by name, with `le` last; empty without labels.
fn labels<'a>(attributes: impl Iterator<Item = &'a KeyValue>, le: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = attributes
        .map(|kv| (sanitize(kv.key.as_str()), escape(&kv.value.as_str())))
        .collect();
    pairs.sort();
    if let Some(le) = le {
        pairs.push(("le".to_owned(), le.to_owned()));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// A metric or label name: anything but `[a-zA-Z0-9_:]` becomes `_`, runs
/// of `_` collapse, and a leading digit gets a `_` before it.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == ':' { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// A sample value as Prometheus writes it.
trait Num: Copy {
    fn text(self) -> String;
}

impl Num for f64 {
    fn text(self) -> String {
        number(self)
    }
}

impl Num for u64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Num for i64 {
    fn text(self) -> String {
        self.to_string()
    }
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_translate_like_the_collector() {
        assert_eq!(
            sanitize("gen_ai.client.operation.duration"),
            "gen_ai_client_operation_duration"
        );
        assert_eq!(sanitize("tollgate.requests.active"), "tollgate_requests_active");
        assert_eq!(sanitize("9lives..x-y"), "_9lives_x_y");
    }

    #[test]
    fn labels_are_sorted_and_escaped() {
        let attributes = [
            KeyValue::new("tollgate.client", "a\"b\\c\nd"),
            KeyValue::new("gen_ai.request.model", "gpt"),
        ];
        let text = labels(attributes.iter(), Some("0.5"));
        assert_eq!(
            text,
            r#"{gen_ai_request_model="gpt",tollgate_client="a\"b\\c\nd",le="0.5"}"#
        );
        assert_eq!(labels([].iter(), None), "");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(0.01), "0.01");
        assert_eq!(number(81.92), "81.92");
        assert_eq!(number(67108864.0), "67108864");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
