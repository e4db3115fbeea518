//! Tests of `request`.

use super::*;

#[test]
fn steering_fields_are_sorted_for_binary_search() {
    assert!(STEERING_FIELDS.windows(2).all(|w| folded(w[0]).lt(folded(w[1]))));
}

#[test]
fn steering_fields_match_whatever_their_case_and_separators() {
    for key in ["API_BASE", "apiBase", "api-base", "Api_Base", "apibase"] {
        assert_eq!(steering_field(key), Some("api_base"), "{key}");
    }
    assert_eq!(steering_field("azureEndpoint"), Some("azure_endpoint"));
    assert_eq!(
        steering_field("AWS_BEDROCK_RUNTIME_ENDPOINT"),
        Some("aws_bedrock_runtime_endpoint")
    );
    for key in ["model", "messages", "temperature", "user", "metadata", "api", "base"] {
        assert_eq!(steering_field(key), None, "{key}");
    }
    for field in STEERING_FIELDS {
        let body = format!(r#"{{"model":"m","{}":"x"}}"#, field.to_uppercase());
        assert!(matches!(peek(body.as_bytes()), Err(GatewayError::ForbiddenField(f)) if f == *field));
    }
}

#[test]
fn finds_model_and_stream_and_rewrites_only_model() {
    let body = Bytes::from_static(
        br#"{"messages":[{"role":"user","content":"hi","model":"inner"}],"model":"kimi-code","stream":true,"tools":[{"x":1}]}"#,
    );
    let p = peek(&body).unwrap();
    assert_eq!(p.model, "kimi-code");
    assert!(p.stream);
    // The Responses API never has usage requested: only the model changes.
    let (out, _) = upstream_body(&body, &p, Endpoint::Responses, "\"kimi-for-coding\"");
    let expected = br#"{"messages":[{"role":"user","content":"hi","model":"inner"}],"model":"kimi-for-coding","stream":true,"tools":[{"x":1}]}"#;
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn same_name_is_not_copied() {
    let body = Bytes::from_static(br#"{ "model" : "m" }"#);
    let p = peek(&body).unwrap();
    let (out, _) = upstream_body(&body, &p, Endpoint::Responses, "\"m\"");
    assert_eq!(out.as_ptr(), body.as_ptr());
}

#[test]
fn escaped_model_names_are_decoded() {
    let p = peek(br#"{"model":"a\/b\u0041"}"#).unwrap();
    assert_eq!(p.model, "a/bA");
}

#[test]
fn bad_bodies_are_refused_with_the_right_error() {
    assert!(matches!(peek(b"{"), Err(GatewayError::InvalidJson(_))));
    assert!(matches!(peek(b"[1]"), Err(GatewayError::InvalidJson(_))));
    assert!(matches!(peek(b"{} x"), Err(GatewayError::InvalidJson(_))));
    assert!(matches!(peek(b"{}"), Err(GatewayError::MissingModel)));
    assert!(matches!(peek(br#"{"model":""}"#), Err(GatewayError::MissingModel)));
    assert!(matches!(peek(br#"{"model":5}"#), Err(GatewayError::MissingModel)));
    assert!(matches!(
        peek(br#"{"model":"a","model":"b"}"#),
        Err(GatewayError::InvalidJson(_))
    ));
    assert!(matches!(
        peek(br#"{"model":"a","stream":"yes"}"#),
        Err(GatewayError::InvalidJson(_))
    ));
    assert!(matches!(
        peek(br#"{"model":"a","api_base":"http://evil"}"#),
        Err(GatewayError::ForbiddenField("api_base"))
    ));
    assert!(matches!(
        peek(br#"{"base_url":"x","model":"a"}"#),
        Err(GatewayError::ForbiddenField("base_url"))
    ));
}

/// `upstream_body` with the model kept as it is.
fn keep_model(body: &Bytes, endpoint: Endpoint) -> (Bytes, bool) {
    let p = peek(body).unwrap();
    let model = std::str::from_utf8(&body[p.model_span.0..p.model_span.1]).unwrap();
    upstream_body(body, &p, endpoint, model)
}

/// Usage requested on a chat completion request, the model unchanged.
fn ensured(body: &'static str) -> (String, bool) {
    let body = Bytes::from_static(body.as_bytes());
    let (out, injected) = keep_model(&body, Endpoint::ChatCompletions);
    let text = String::from_utf8(out.to_vec()).unwrap();
    if injected {
        // What goes upstream is valid JSON that asks for usage.
        assert_eq!(
            peek(text.as_bytes()).unwrap().stream_options,
            StreamOptions::UsageOn,
            "{text}"
        );
    } else {
        assert_eq!(out.as_ptr(), body.as_ptr(), "an untouched body is not copied");
    }
    (text, injected)
}

#[test]
fn usage_is_requested_when_stream_options_is_absent() {
    let (out, injected) = ensured(r#"{"model":"m","stream":true,"messages":[]}"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream_options":{"include_usage":true},"stream":true,"messages":[]}"#
    );
    assert!(injected);
    let (out, _) = ensured(r#"{"stream":true,"model":"m"}"#);
    assert_eq!(
        out,
        r#"{"stream":true,"model":"m","stream_options":{"include_usage":true}}"#
    );
    let (out, _) = ensured(" { \"model\" : \"m\" ,\n \"stream\" : true }\n");
    assert_eq!(
        out,
        " { \"model\" : \"m\",\"stream_options\":{\"include_usage\":true} ,\n \"stream\" : true }\n"
    );
    let (out, _) = ensured("{\"stream\":true,\"model\":\"m\"\r\n}");
    assert_eq!(
        out,
        "{\"stream\":true,\"model\":\"m\",\"stream_options\":{\"include_usage\":true}\r\n}"
    );
}

#[test]
fn usage_is_added_inside_stream_options() {
    let (out, injected) = ensured(r#"{"stream_options":{"x":1},"model":"m","stream":true}"#);
    assert_eq!(
        out,
        r#"{"stream_options":{"include_usage":true,"x":1},"model":"m","stream":true}"#
    );
    assert!(injected);
    let (out, _) = ensured(r#"{"model":"m","stream":true,"stream_options":{}}"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#
    );
    let (out, _) = ensured(r#"{"model":"m","stream":true,"stream_options" : { } }"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream":true,"stream_options" : {"include_usage":true } }"#
    );
    let (out, _) = ensured(r#"{"model":"m","stream":true,"stream_options":null}"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#
    );
}

#[test]
fn usage_turned_off_is_turned_on() {
    let (out, injected) = ensured(r#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#
    );
    assert!(injected);
    let (out, _) = ensured(r#"{"model":"m","stream":true,"stream_options":{ "a":[1], "include_usage" : null }}"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream":true,"stream_options":{ "a":[1], "include_usage" : true }}"#
    );
    // An escaped key is the same key to the provider.
    let (out, _) = ensured(r#"{"model":"m","stream":true,"stream_options":{"include\u005fusage":false}}"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream":true,"stream_options":{"include\u005fusage":true}}"#
    );
    // A repeated key counts as its last occurrence, as for the provider.
    let (out, _) =
        ensured(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"stream_options":{}}"#);
    assert_eq!(
        out,
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}}"#
    );
}

#[test]
fn bodies_that_need_nothing_are_untouched() {
    for body in [
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#,
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":false},"stream_options":{"include_usage":true}}"#,
        r#"{"model":"m","stream":false}"#,
        r#"{"model":"m","stream":null}"#,
        r#"{"model":"m"}"#,
        r#"{"model":"m","stream":false,"stream_options":{"include_usage":false}}"#,
        // Invalid options are the provider's to refuse.
        r#"{"model":"m","stream":true,"stream_options":"yes"}"#,
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":1}}"#,
    ] {
        assert_eq!(ensured(body), (body.to_owned(), false), "{body}");
    }
    let body = Bytes::from_static(br#"{"model":"m","stream":true}"#);
    for endpoint in [Endpoint::Responses, Endpoint::Embeddings] {
        let (out, injected) = keep_model(&body, endpoint);
        assert_eq!((out.as_ptr(), injected), (body.as_ptr(), false));
    }
    let (_, injected) = keep_model(&body, Endpoint::Completions);
    assert!(injected);
}

#[test]
fn upstream_body_renames_and_requests_usage_in_one_copy() {
    let chat = Endpoint::ChatCompletions;
    let body = Bytes::from_static(br#"{"model":"short","stream":true}"#);
    let (out, injected) = upstream_body(&body, &peek(&body).unwrap(), chat, r#""long-name""#);
    assert_eq!(
        &out[..],
        br#"{"model":"long-name","stream_options":{"include_usage":true},"stream":true}"#
    );
    assert!(injected);
    // Options before the model: both offsets are of the original body.
    let body = Bytes::from_static(br#"{"stream_options":{},"stream":true,"model":"a-long-name"}"#);
    let (out, _) = upstream_body(&body, &peek(&body).unwrap(), chat, r#""b""#);
    assert_eq!(
        &out[..],
        br#"{"stream_options":{"include_usage":true},"stream":true,"model":"b"}"#
    );
    // Same name, no stream: the very same bytes.
    let body = Bytes::from_static(br#"{"model":"m"}"#);
    let (out, injected) = upstream_body(&body, &peek(&body).unwrap(), chat, r#""m""#);
    assert_eq!((out.as_ptr(), injected), (body.as_ptr(), false));
    let (out, _) = upstream_body(&body, &peek(&body).unwrap(), chat, r#""n""#);
    assert_eq!(&out[..], br#"{"model":"n"}"#);
}
