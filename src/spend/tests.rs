//! Tests of `spend`.

use super::*;

/// Usage in field order: input, output, cached_input, cache_write, reasoning.
fn usage(input: u64, output: u64, cached_input: u64, cache_write: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        output,
        cached_input,
        cache_write,
        reasoning,
    }
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= want.abs() * 1e-12, "{got} != {want}");
}

#[test]
fn every_table_line_parses() {
    let lines: Vec<&str> = TABLE.lines().filter(|l| !l.starts_with('#')).collect();
    // A provider-only line (`whisper-1\topenai` and blanks) names no price.
    let provider_only = |l: &&str| l.split('\t').skip(2).all(str::is_empty);
    let priced = lines.iter().filter(|l| !provider_only(l)).count();
    assert_eq!(table().len(), priced);
    assert!(priced > 3000, "{priced}");
    assert!(lines.len() > priced, "the table keeps provider-only lines too");
}

#[test]
fn provider_only_models_are_inferred_but_unpriced() {
    assert_eq!(provider_of("whisper-1"), Some("openai"));
    assert_eq!(provider_of("tts-1"), Some("openai"));
    assert_eq!(bundled("openai", "whisper-1"), None);
    assert_eq!(max_output_tokens("openai", "whisper-1"), None);
}

#[test]
fn lookup_follows_litellm_order() {
    let gpt4o = bundled("openai", "gpt-4o").unwrap();
    assert_eq!(gpt4o.input, 2.5e-6);
    assert_eq!(gpt4o.output, 1e-5);
    assert_eq!(gpt4o.cache_read, Some(1.25e-6));
    assert_eq!(gpt4o.reasoning, None);
    // The provider's own key wins over the bare name.
    assert_eq!(bundled("azure", "gpt-4o").unwrap().cache_read, Some(1.25e-6));
    let flash = bundled("gemini", "gemini-2.5-flash").unwrap();
    assert_eq!(flash.reasoning, Some(2.5e-6));
    let claude = bundled("anthropic", "claude-sonnet-4-5").unwrap();
    assert_eq!(claude.cache_write, Some(3.75e-6));
    // A namespaced name sent through an OpenAI-compatible provider.
    let routed = bundled("openai", "vercel_ai_gateway/anthropic/claude-3-5-sonnet").unwrap();
    assert_eq!(routed.output, 1.5e-5);
    assert!(bundled("openai", "deepinfra/meta-llama/Llama-3.3-70B-Instruct").is_some());
    // Embeddings: no output price means zero, not unknown.
    assert_eq!(bundled("openai", "text-embedding-3-small").unwrap().output, 0.0);
}

#[test]
fn unknown_models_are_unpriced() {
    assert_eq!(bundled("openai", "my-finetune-xyz"), None);
    assert_eq!(bundled("hosted_vllm", "llama-local"), None);
    assert_eq!(bundled("", ""), None);
    let none = PriceOverride::default();
    assert_eq!(price_for("openai", "my-finetune-xyz", None, &none), None);
}

#[test]
fn config_prices_override_and_borrow() {
    let none = PriceOverride::default();
    let borrowed = price_for("azure", "my-deployment", Some("gpt-4o"), &none);
    assert_eq!(borrowed.as_ref(), bundled("azure", "gpt-4o"));
    let own = PriceOverride {
        input: Some(1e-6),
        output: Some(2e-6),
        ..none
    };
    let local = price_for("openai", "llama-local", None, &own).unwrap();
    assert_eq!((local.input, local.output, local.cache_read), (1e-6, 2e-6, None));
    // A new input price drops the bundled cache price; output stays bundled.
    let cheaper = PriceOverride {
        input: Some(1e-6),
        ..none
    };
    let p = price_for("openai", "gpt-4o", None, &cheaper).unwrap();
    assert_eq!((p.input, p.output, p.cache_read), (1e-6, 1e-5, None));
}

#[test]
fn cost_bills_each_token_once() {
    let price = Price {
        input: 2.0,
        output: 8.0,
        cache_read: Some(0.5),
        cache_write: Some(2.5),
        reasoning: Some(10.0),
    };
    let used = usage(100, 30, 40, 10, 10);
    // 50 fresh * 2 + 40 * 0.5 + 10 * 2.5 + 20 * 8 + 10 * 10
    assert_eq!(cost_usd(&price, &used), 405.0);
    // Without special prices, cached bills as input and reasoning as output.
    let plain = Price {
        cache_read: None,
        cache_write: None,
        reasoning: None,
        ..price
    };
    assert_eq!(cost_usd(&plain, &used), 100.0 * 2.0 + 30.0 * 8.0);
    // Inconsistent counts never bill more tokens than were reported.
    let odd = usage(10, 0, 50, 0, 0);
    assert_eq!(cost_usd(&price, &odd), 5.0);
    assert_eq!(cost_usd(&price, &Usage::default()), 0.0);
}

#[test]
fn cost_of_gpt_4o_with_cache() {
    let used = usage(1000, 500, 400, 0, 200);
    // 600 * 2.5e-6 + 400 * 1.25e-6 + 500 * 1e-5
    close(cost_usd(bundled("openai", "gpt-4o").unwrap(), &used), 0.007);
}

#[test]
fn currency_is_checked_and_converts() {
    assert_eq!(Currency::usd().convert(1.5), 1.5);
    let eur = Currency::new("eur", 0.92).unwrap();
    assert_eq!(&*eur.code, "EUR");
    close(eur.convert(2.0), 1.84);
    assert_eq!(Currency::new("USD", 1.0), Ok(Currency::usd()));
    for code in ["EU", "EURO", "E1R", "€UR", ""] {
        assert!(Currency::new(code, 1.0).is_err(), "{code}");
    }
    for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(Currency::new("EUR", rate).is_err(), "{rate}");
    }
    assert!(Currency::new("usd", 0.9).is_err());
}

#[test]
fn usage_of_chat_completion() {
    let body = br#"{"id":"x","choices":[{"message":{"content":"hi \"there\""}}],
        "usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,
        "prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},
        "completion_tokens_details":{"reasoning_tokens":128}}}"#;
    let want = usage(1200, 300, 1024, 0, 128);
    assert_eq!(parse_usage(body), Some(want));
}

#[test]
fn usage_of_responses_api() {
    let body = br#"{"object":"response","output":[{"type":"message"}],
        "usage":{"input_tokens":50,"output_tokens":70,"total_tokens":120,
        "input_tokens_details":{"cached_tokens":20},
        "output_tokens_details":{"reasoning_tokens":40}}}"#;
    let want = usage(50, 70, 20, 0, 40);
    assert_eq!(parse_usage(body), Some(want));
    let event = br#"{"type":"response.completed","response":{"id":"r",
        "usage":{"input_tokens":5,"output_tokens":7}}}"#;
    assert_eq!(parse_usage(event).map(|u| (u.input, u.output)), Some((5, 7)));
}

#[test]
fn usage_of_embeddings_and_anthropic_names() {
    let body = br#"{"object":"list","data":[{"embedding":[0.1,-0.2]}],
        "usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    let want = usage(8, 0, 0, 0, 0);
    assert_eq!(parse_usage(body), Some(want));
    // Native Anthropic input_tokens exclude the cache; prompt_tokens include it.
    let native = br#"{"usage":{"input_tokens":10,"output_tokens":5,
        "cache_read_input_tokens":100,"cache_creation_input_tokens":50}}"#;
    let relayed = br#"{"usage":{"prompt_tokens":160,"completion_tokens":5,
        "cache_read_input_tokens":100,"cache_creation_input_tokens":50}}"#;
    let want = usage(160, 5, 100, 50, 0);
    assert_eq!(parse_usage(native), Some(want));
    assert_eq!(parse_usage(relayed), Some(want));
}

#[test]
fn usage_of_stream_chunks() {
    let last = br#"{"id":"c","object":"chat.completion.chunk","choices":[],
        "usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;
    let want = usage(9, 12, 0, 0, 0);
    assert_eq!(parse_usage(last), Some(want));
    let middle = br#"{"choices":[{"delta":{"content":"x"}}],"usage":null}"#;
    assert_eq!(parse_usage(middle), None);
    assert_eq!(parse_usage(br#"{"choices":[]}"#), None);
}

#[test]
fn no_usage_from_garbage() {
    for body in [
        &b""[..],
        b"[DONE]",
        b"not json",
        b"[1,2]",
        b"{\"usage\":{}}",
        b"{\"usage\":{\"prompt_tokens\":-1}}",
        b"{\"usage\":\"lots\"}",
        b"{\"usage\":{\"prompt_tokens\":1}",
    ] {
        assert_eq!(parse_usage(body), None, "{}", String::from_utf8_lossy(body));
    }
}

/// What `usage_at_end` decided, and what both readers return.
fn both(body: &[u8]) -> (bool, Option<Usage>) {
    let whole = parse_usage(body);
    let answer = parse_answer_usage(body);
    assert_eq!(answer, whole, "{}", String::from_utf8_lossy(body));
    (usage_at_end(body).is_some(), answer)
}

#[test]
fn the_usage_at_the_end_is_read_alone_and_agrees_with_the_whole_parse() {
    // Read from the end: the top-level key, whatever follows it at top level.
    let after = br#"{"id":"x","choices":[{"message":{"content":"a } ] \" { [ usage"}}],
        "usage":{"prompt_tokens":3,"completion_tokens":4},
        "service_tier":"default","system_fingerprint":"fp_1","x":{"y":[1,{"z":"}"}]}}  "#;
    assert_eq!(both(after), (true, Some(usage(3, 4, 0, 0, 0))));
    let last = br#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
    assert_eq!(both(last), (true, Some(usage(1, 2, 0, 0, 0))));

    // Not certainly the top-level key: the whole body decides.
    let nested = br#"{"choices":[{"message":{"usage":{"prompt_tokens":9}}}]}"#;
    assert_eq!(both(nested), (false, None));
    let nested_then_top = br#"{"usage":{"prompt_tokens":5},"meta":{"usage":{"prompt_tokens":9}}}"#;
    assert_eq!(both(nested_then_top), (false, Some(usage(5, 0, 0, 0, 0))));
    let a_value = br#"{"usage":{"prompt_tokens":5},"role":"usage"}"#;
    assert_eq!(both(a_value), (false, Some(usage(5, 0, 0, 0, 0))));
    let null_then_response = br#"{"response":{"usage":{"input_tokens":2}},"usage":null}"#;
    assert_eq!(both(null_then_response), (false, Some(usage(2, 0, 0, 0, 0))));
    let cut = br#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}"#;
    assert_eq!(both(cut), (false, None));
    let trailing = br#"{"usage":{"prompt_tokens":1}} {"#;
    assert_eq!(both(trailing), (false, None));
    let in_array = br#"[{"usage":{"prompt_tokens":1}}]"#;
    assert_eq!(both(in_array), (false, None));
    let form_feed = b"{\"usage\":{\"prompt_tokens\":1}}\x0c";
    assert_eq!(both(form_feed), (false, None));
    let escaped_key = br#"{"\u0075sage":{"prompt_tokens":1}}"#;
    assert_eq!(both(escaped_key), (false, Some(usage(1, 0, 0, 0, 0))));
}

#[test]
fn where_reading_from_the_end_is_laxer_than_the_whole_parse() {
    // Two usage keys: the last counts (the whole parse refuses the body).
    let twice = br#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}"#;
    assert_eq!(parse_usage(twice), None);
    assert_eq!(parse_answer_usage(twice), Some(usage(2, 0, 0, 0, 0)));
    // A `response` member that is not an object does not hide the usage.
    let odd = br#"{"response":"hi","usage":{"prompt_tokens":1}}"#;
    assert_eq!(parse_usage(odd), None);
    assert_eq!(parse_answer_usage(odd), Some(usage(1, 0, 0, 0, 0)));
}

#[test]
fn every_body_the_other_tests_read_reads_the_same_from_the_end() {
    let bodies: [&[u8]; 9] = [
        br#"{"id":"x","choices":[{"message":{"content":"hi \"there\""}}],
        "usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,
        "prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},
        "completion_tokens_details":{"reasoning_tokens":128}}}"#,
        br#"{"object":"response","output":[{"type":"message"}],
        "usage":{"input_tokens":50,"output_tokens":70,"total_tokens":120,
        "input_tokens_details":{"cached_tokens":20},
        "output_tokens_details":{"reasoning_tokens":40}}}"#,
        br#"{"object":"list","data":[{"embedding":[0.1,-0.2]}],
        "usage":{"prompt_tokens":8,"total_tokens":8}}"#,
        br#"{"usage":{"input_tokens":10,"output_tokens":5,
        "cache_read_input_tokens":100,"cache_creation_input_tokens":50}}"#,
        b"{\"usage\":{}}",
        b"{\"usage\":{\"prompt_tokens\":-1}}",
        b"{\"usage\":\"lots\"}",
        b"{\"usage\":{\"prompt_tokens\":1}",
        b"not json",
    ];
    for body in bodies {
        both(body);
    }
}

#[test]
fn output_limits_come_from_the_same_table() {
    assert_eq!(max_output_tokens("anthropic", "claude-sonnet-4-5"), Some(64000));
    assert_eq!(max_output_tokens("openai", "gpt-4o"), Some(16384));
    assert_eq!(max_output_tokens("openai", "no-such-model"), None);
}
