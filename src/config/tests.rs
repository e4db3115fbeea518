//! Config loading: every problem found and placed, LiteLLM's keys accepted
//! with a warning, strangers refused.

use std::path::Path;

use super::*;

fn load(yaml: &str) -> Result<Loaded, Vec<Problem>> {
    let env = |name: &str| match name {
        "SET" => Some("sk-from-env".to_string()),
        _ => None,
    };
    load_str(yaml, Path::new("."), &env)
}

fn problems(yaml: &str) -> Vec<String> {
    load(yaml)
        .expect_err("should not load")
        .iter()
        .map(|p| p.to_string())
        .collect()
}

const ONE: &str = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n";

#[test]
fn a_minimal_config_defaults_to_openai() {
    let loaded = load(ONE).unwrap();
    let d = &loaded.config.deployments[0];
    assert_eq!(
        d.url(crate::providers::Endpoint::ChatCompletions),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(&*d.upstream_model_json, "\"gpt-4o\"");
    assert_eq!(d.timeout, Duration::from_secs(600));
    // No key anywhere: the one thing worth saying.
    assert_eq!(
        loaded.warnings,
        ["model_list[0]: no litellm_params.api_key, and OPENAI_API_KEY is not set: requests go to `openai` without a key"]
    );
    assert!(!loaded.config.requires_key());
}

#[test]
fn every_problem_is_reported_with_its_place() {
    let yaml = r#"
model_list:
  - model_name: a
    litellm_params:
      model: openai/x
      api_key: os.environ/MISSING_ONE
  - model_name: b
    litellm_params:
      model: gemini/gemini-2.5-pro
  - model_name: c
    litellm_params:
      model: openai/y
      api_base: ftp://nope
      headers:
        Host: evil
  - model_name: ""
    litellm_params:
      model: openai/z
      tiemout: 5
general_settings:
  master_key: os.environ/MISSING_TWO
"#;
    let found = problems(yaml);
    let expect = [
        "model_list[2] litellm_params.headers.Host: is set by the gateway itself",
        "general_settings.master_key: environment variable MISSING_TWO is not set",
    ];
    for e in expect {
        assert!(
            found.iter().any(|f| f.starts_with(e) || f.contains(e)),
            "missing `{e}` in {found:#?}"
        );
    }
    assert!(found.iter().any(|f| f.contains("model_name is empty")), "{found:#?}");
    // Entry 0 (an unset variable) and entry 2's api_base would only disable
    // their entries; they are not the config's problems.
    assert!(
        !found.iter().any(|f| f.contains("MISSING_ONE") || f.contains("http://")),
        "{found:#?}"
    );
}

#[test]
fn entries_that_cannot_be_served_load_disabled_and_say_why() {
    let yaml = r#"
model_list:
  - model_name: env
    litellm_params: {model: openai/x, api_key: os.environ/MISSING_ONE}
  - model_name: ftp
    litellm_params: {model: openai/y, api_base: "ftp://sk-secret-host/v1"}
  - model_name: garbage
    litellm_params: {model: openai/y, api_base: "not a url sk-secret"}
  - model_name: vllm
    litellm_params: {model: hosted_vllm/llama}
  - model_name: az
    litellm_params: {model: azure/gpt, api_key: sk-secret}
  - model_name: base-env
    litellm_params: {model: groq/llama, api_base: os.environ/UNSET_BASE}
  - model_name: ok
    litellm_params: {model: openai/z}
"#;
    let loaded = load(yaml).unwrap();
    let names: Vec<&str> = loaded.config.deployments.iter().map(|d| &*d.model_name).collect();
    assert_eq!(names, ["ok"]);
    let disabled: Vec<(usize, &str, String)> = loaded
        .config
        .disabled
        .iter()
        .map(|d| (d.index, d.provider, d.to_string()))
        .collect();
    let expect = [
        (
            0,
            "openai",
            "litellm_params.api_key: environment variable MISSING_ONE is not set",
        ),
        (
            1,
            "openai",
            "litellm_params.api_base: must start with http:// or https://",
        ),
        (2, "openai", "litellm_params.api_base: is not a URL"),
        (
            3,
            "hosted_vllm",
            "litellm_params.api_base: provider `hosted_vllm` needs an api_base (or HOSTED_VLLM_API_BASE)",
        ),
        (
            4,
            "azure",
            "litellm_params.api_base: provider `azure` needs an api_base (or AZURE_API_BASE)",
        ),
        (
            5,
            "groq",
            "litellm_params.api_base: environment variable UNSET_BASE is not set",
        ),
    ];
    let expect: Vec<(usize, &str, String)> = expect.iter().map(|(i, p, r)| (*i, *p, r.to_string())).collect();
    assert_eq!(disabled, expect);
    let w = loaded.warnings.join("\n");
    assert!(
        w.contains("model_list[3]: cannot be served (litellm_params.api_base: provider `hosted_vllm` needs an api_base (or HOSTED_VLLM_API_BASE)); the entry is loaded disabled"),
        "{w}"
    );
    assert!(!w.contains("secret"), "no value is quoted: {w}");
    // The same variable set serves the entry.
    let env = |name: &str| (name == "HOSTED_VLLM_API_BASE").then(|| "http://127.0.0.1:8000/v1".to_string());
    let yaml = "model_list:\n  - model_name: vllm\n    litellm_params: {model: hosted_vllm/llama}\n";
    let loaded = load_str(yaml, Path::new("."), &env).unwrap();
    assert_eq!((loaded.config.deployments.len(), loaded.config.disabled.len()), (1, 0));
}

#[test]
fn a_client_may_list_a_disabled_model() {
    let yaml = "model_list:\n  - model_name: off\n    litellm_params: {model: hosted_vllm/x}\n  - model_name: on\n    litellm_params: {model: openai/y}\ntollgate:\n  clients:\n    - name: c\n      key: client-key-1\n      models: [off, on]\n";
    let loaded = load(yaml).unwrap();
    assert_eq!(loaded.config.disabled.len(), 1);
    assert!(problems(&yaml.replace("[off, on]", "[of, on]"))
        .iter()
        .any(|p| p.contains("models[0]: is not a model_name")));
}

#[test]
fn what_is_wrong_in_the_file_still_stops_it() {
    // A bad type, a header name, a missing secret file and a provider
    // prefix with no model are the file's problems: the config does not load.
    let yaml = r#"
model_list:
  - model_name: a
    litellm_params: {model: openai/}
  - model_name: b
    litellm_params: {model: openai/x, api_key: "file:/nonexistent/tollgate-key"}
  - model_name: c
    litellm_params: {model: openai/x, timeout: soon}
  - model_name: d
    litellm_params: {model: openai/x, headers: {"x-ok": [1]}}
"#;
    let found = problems(yaml);
    for at in ["model_list[0]", "model_list[1]", "model_list[2]", "model_list[3]"] {
        assert!(found.iter().any(|f| f.starts_with(at)), "{at} in {found:#?}");
    }
}

#[test]
fn a_model_naming_no_provider_tollgate_finds_loads_disabled() {
    // LiteLLM's proxy starts without such a deployment; tollgate loads it
    // disabled and says why, a typo with the nearest provider.
    let yaml = r#"
model_list:
  - model_name: typo
    litellm_params: {model: olama/llama3}
  - model_name: stranger
    litellm_params: {model: mistralai/mistral-large}
  - model_name: "*"
    litellm_params: {model: "*"}
  - model_name: bare
    litellm_params: {model: my-own-finetune}
  - model_name: studio
    litellm_params: {model: lm_studio/qwen}
  - model_name: secret-typo
    litellm_params: {model: os.environ/TYPO_MODEL}
  - model_name: whisper
    litellm_params: {model: whisper-1}
"#;
    let env = |name: &str| (name == "TYPO_MODEL").then(|| "olama/llama3".to_string());
    let loaded = load_str(yaml, Path::new("."), &env).unwrap();
    let served: Vec<(&str, &str, &str)> = loaded
        .config
        .deployments
        .iter()
        .map(|d| (&*d.model_name, d.provider.name, &*d.upstream_model))
        .collect();
    // The bundled table now carries the provider of audio and image models.
    assert_eq!(served, [("whisper", "openai", "whisper-1")]);
    let disabled: Vec<(usize, &str, String)> = loaded
        .config
        .disabled
        .iter()
        .map(|d| (d.index, d.provider, d.to_string()))
        .collect();
    let unknown = "litellm_params.model: names an unknown provider (neither LiteLLM's nor tollgate's)";
    let expect = [
        (0, "unknown", format!("{unknown}; did you mean `ollama/`?")),
        (
            1,
            "unknown",
            format!("{unknown}; for an OpenAI-compatible server write `openai/<model>` with its api_base"),
        ),
        (2, "unknown", "litellm_params.model: `*` is LiteLLM's catch-all (it takes each request's provider from the model name); tollgate does not route a bare `*` entry: name the provider as in `model: openai/*` (a `model_name: \"*\"` entry then sends any model name there)".into()),
        (3, "unknown", "litellm_params.model: has no provider prefix and the bundled model table does not know it; write it as `openai/<model>` for an OpenAI-compatible server".into()),
        (
            4,
            "lm_studio",
            "litellm_params.api_base: provider `lm_studio` needs an api_base (or LM_STUDIO_API_BASE)".into(),
        ),
        // A value from a variable gets no hint: it may be a secret's.
        (
            5,
            "unknown",
            format!("{unknown}; for an OpenAI-compatible server write `openai/<model>` with its api_base"),
        ),
    ];
    assert_eq!(disabled, expect);
    let w = loaded.warnings.join("\n");
    assert!(
        w.contains("model_list[0]: cannot be served (litellm_params.model: names an unknown provider (neither LiteLLM's nor tollgate's); did you mean `ollama/`?); the entry is loaded disabled"),
        "{w}"
    );
    assert!(!w.contains("olama"), "no value is quoted: {w}");
    // `openai/*` under `model_name: "*"` is the wildcard tollgate routes.
    let wildcard = "model_list:\n  - model_name: \"*\"\n    litellm_params: {model: \"openai/*\"}\n";
    let loaded = load(wildcard).unwrap();
    let resolved = loaded.config.resolve("gpt-4o").unwrap();
    assert_eq!(resolved.deployments[0].upstream_for(resolved.name), "gpt-4o");
}

#[test]
fn litellm_keys_warn_once_and_strangers_are_errors() {
    let yaml = format!(
        "{ONE}      tags: [a]\n  - model_name: n\n    litellm_params:\n      model: openai/x\n      tags: [b]\n    model_info:\n      id: abc\nlitellm_settings:\n  drop_params: true\n  cache: true\nrouter_settings:\n  redis_host: localhost\ngeneral_settings:\n  database_url: postgres://x\n"
    );
    let loaded = load(&yaml).unwrap();
    let w = loaded.warnings.join("\n");
    assert_eq!(
        loaded
            .warnings
            .iter()
            .filter(|l| l.contains("litellm_params.tags"))
            .count(),
        1,
        "{w}"
    );
    assert!(w.contains("(in model_list[0], model_list[1])"), "{w}");
    for key in [
        "litellm_settings.drop_params",
        "litellm_settings.cache",
        "router_settings.redis_host",
        "general_settings.database_url",
    ] {
        assert!(w.contains(key), "{key} in {w}");
    }
    let loaded = load(&format!(
        "{ONE}nonsense_section: 1\ngeneral_settings:\n  master_kee: x\nrouter_settings:\n  num_retires: 2\n"
    ))
    .unwrap();
    let w = loaded.warnings.join("\n");
    assert!(w.contains("unknown key `nonsense_section`"), "{w}");
    assert!(
        w.contains("unknown key `general_settings.master_kee` (neither LiteLLM's nor tollgate's) is ignored; did you mean `general_settings.master_key`?"),
        "{w}"
    );
    assert!(w.contains("did you mean `router_settings.num_retries`?"), "{w}");
}

#[test]
fn litellm_1_110_keys_are_litellm_s() {
    // Keys of LiteLLM 1.110.2's example configs that an older key table
    // called "neither LiteLLM's nor tollgate's".
    let loaded = load(&format!(
        "{ONE}sandbox_tools: []\npolicies: {{}}\npolicy_attachments: []\nlitellm_settings:\n  websearch_interception_params: {{}}\n  code_interpreter_interception_params: {{}}\ngeneral_settings:\n  custom_team_metadata_validate: m.f\n"
    ))
    .unwrap();
    let w = loaded.warnings.join("\n");
    assert!(!w.contains("neither"), "{w}");
    for key in [
        "`sandbox_tools`",
        "`policies`",
        "`policy_attachments`",
        "`litellm_settings.websearch_interception_params`",
        "`litellm_settings.code_interpreter_interception_params`",
        "`general_settings.custom_team_metadata_validate`",
    ] {
        let ignored = "is a LiteLLM setting tollgate does not implement yet";
        assert!(
            loaded
                .warnings
                .iter()
                .any(|l| l.starts_with(key) && l.contains(ignored)),
            "{key} in {w}"
        );
    }
}

#[test]
fn unknown_entry_keys_warn_and_entry_limits_are_read() {
    let loaded = load(&format!(
        "{ONE}      tiemout: 5\n      project_id: p\n      model_id: arn\n    rpm: 7\n"
    ))
    .unwrap();
    let w = loaded.warnings.join("\n");
    assert!(w.contains("model_list[0]: unknown key `litellm_params.tiemout`"), "{w}");
    assert!(w.contains("did you mean `litellm_params.timeout`?"), "{w}");
    assert!(w.contains("`litellm_params.project_id`"), "{w}");
    // LiteLLM's own (watsonx's project, Bedrock's inference profile), not unknown keys.
    for key in ["project_id", "model_id"] {
        assert!(
            w.contains(&format!(
                "`litellm_params.{key}` (in model_list[0]) is a LiteLLM setting"
            )),
            "{w}"
        );
        assert!(!w.contains(&format!("unknown key `litellm_params.{key}`")), "{w}");
    }
    assert_eq!(loaded.config.deployments[0].rpm, Some(7));
}

#[test]
fn an_empty_model_list_starts_with_a_warning() {
    for yaml in ["model_list: []\n", "model_list:\n", "general_settings: {}\n"] {
        let loaded = load(yaml).unwrap();
        assert!(loaded.config.deployments.is_empty());
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.contains("model_list is missing or empty")),
            "{yaml}"
        );
    }
}

#[test]
fn a_hosted_provider_without_any_key_is_warned_about_a_server_of_one_s_own_is_not() {
    let yaml = "model_list:\n  - model_name: g\n    litellm_params:\n      model: groq/llama-3.1-8b-instant\n  - model_name: own\n    litellm_params:\n      model: openai/llama3\n      api_base: http://localhost:8000/v1\n  - model_name: mock\n    litellm_params:\n      model: openai/x\n      mock_response: hi\n";
    let loaded = super::load_str(yaml, std::path::Path::new("."), &|_: &str| None).unwrap();
    let w = loaded.warnings.join("\n");
    assert!(
        w.contains("model_list[0]: no litellm_params.api_key, and GROQ_API_KEY is not set: requests go to `groq` without a key"),
        "{w}"
    );
    assert!(!w.contains("model_list[1]: no litellm_params.api_key"), "{w}");
    assert!(!w.contains("model_list[2]: no litellm_params.api_key"), "{w}");
    assert_eq!(loaded.config.deployments.len(), 3, "a warning, not a disabled entry");
}

#[test]
fn providers_read_litellm_s_variables() {
    let env = |name: &str| match name {
        "GROQ_API_KEY" => Some("gsk-1".to_string()),
        "HOSTED_VLLM_API_BASE" => Some("http://vllm:8000/v1".to_string()),
        _ => None,
    };
    let yaml = "model_list:\n  - model_name: g\n    litellm_params:\n      model: groq/llama-3.1-8b-instant\n  - model_name: v\n    litellm_params:\n      model: hosted_vllm/m\n  - model_name: b\n    litellm_params:\n      model: gpt-4o\n      api_key: k\n  - model_name: f\n    litellm_params:\n      model: fireworks_ai/llama-v3\n      api_key: k\n";
    let loaded = super::load_str(yaml, std::path::Path::new("."), &env).unwrap();
    let d = &loaded.config.deployments;
    assert_eq!(
        d[0].urls[0].to_string(),
        "https://api.groq.com/openai/v1/chat/completions"
    );
    assert_eq!(
        d[0].api_key.as_ref().map(|k| k.expose().to_string()),
        Some("gsk-1".into())
    );
    assert_eq!(d[1].urls[0].to_string(), "http://vllm:8000/v1/chat/completions");
    assert_eq!((d[2].provider.name, &*d[2].upstream_model), ("openai", "gpt-4o"));
    assert_eq!(&*d[3].upstream_model, "accounts/fireworks/models/llama-v3");
    let w = loaded.warnings.join("\n");
    assert!(
        w.contains("model_list[0]: litellm_params.api_key taken from environment variable GROQ_API_KEY"),
        "{w}"
    );
    assert!(w.contains("HOSTED_VLLM_API_BASE"), "{w}");
    assert!(w.contains("model_list[2]: provider `openai` inferred"), "{w}");
    assert!(!w.contains("gsk-1"), "{w}");
}

#[test]
fn a_query_on_api_base_goes_on_every_url_and_spaced_headers_are_skipped() {
    let yaml = "model_list:\n  - model_name: q\n    litellm_params:\n      model: openai/m\n      api_base: https://h.example/v1/?api-version=2024-10-21\n      headers:\n        Bad Name: x\n        X-Ok: y\n";
    let loaded = load(yaml).unwrap();
    let d = &loaded.config.deployments[0];
    assert_eq!(
        d.urls[0].to_string(),
        "https://h.example/v1/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        d.urls[2].to_string(),
        "https://h.example/v1/embeddings?api-version=2024-10-21"
    );
    assert!(d.headers.contains_key("x-ok") && d.headers.len() == 1);
    assert!(loaded.warnings.iter().any(|w| w.contains("cannot hold a space")));
}

#[test]
fn yes_and_on_are_strings_not_booleans() {
    let yaml = format!("{ONE}      headers:\n        X-Flag: yes\n        X-Num: 3\n");
    let loaded = load(&yaml).unwrap();
    let headers = &loaded.config.deployments[0].headers;
    assert_eq!(headers["x-flag"], "yes");
    assert_eq!(headers["x-num"], "3");
    assert!(
        headers["x-flag"].is_sensitive(),
        "configured header values are never logged"
    );
    // `tollgate.allow_unauthenticated: yes` is not a boolean under strict booleans.
    let found = problems(&format!("{ONE}tollgate:\n  allow_unauthenticated: yes\n"));
    assert!(found.iter().any(|p| p.starts_with("tollgate")), "{found:?}");
}

#[test]
fn broken_yaml_says_where() {
    let found = problems("model_list:\n  - model_name: [canary-value\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("yaml line 2, column "), "{found:?}");
    assert!(
        !found[0].contains("canary"),
        "the line's text is never shown: {found:?}"
    );
    assert!(problems("")[0].contains("must be a mapping"));
}

#[test]
fn groups_and_names() {
    let yaml = format!("{ONE}  - model_name: m\n    litellm_params:\n      model: openai/other\n      api_base: http://10.0.0.1:8000/v1/\n      timeout: \"2.5\"\n");
    let loaded = load(&yaml).unwrap();
    let group = loaded.config.group("m").unwrap();
    assert_eq!(group.len(), 2);
    assert_eq!(
        group[1].url(crate::providers::Endpoint::Embeddings),
        "http://10.0.0.1:8000/v1/embeddings"
    );
    assert_eq!(&*group[1].server_address, "10.0.0.1");
    assert_eq!(group[1].timeout, Duration::from_millis(2500));
    assert_eq!(loaded.config.model_names.len(), 1);
}

#[test]
fn clients_are_validated() {
    let base = format!("{ONE}general_settings:\n  master_key: os.environ/SET\n");
    let ok = format!("{base}tollgate:\n  clients:\n    - name: a\n      key: k1\n      models: [m]\n    - name: b\n      key_sha256: {}\n", "ab".repeat(32));
    let loaded = load(&ok).unwrap();
    assert!(loaded.config.requires_key());
    let bad = format!(
        "{base}tollgate:\n  clients:\n    - name: a\n      key: os.environ/SET\n    - name: a\n      key_sha256: xyz\n    - name: c\n    - name: d\n      key: k\n      models: [ghost]\n"
    );
    let found = problems(&bad).join("\n");
    assert!(found.contains("already used by the master key"), "{found}");
    assert!(found.contains("clients[1]: the name is already used"), "{found}");
    assert!(found.contains("64 hexadecimal digits"), "{found}");
    assert!(found.contains("exactly one of `key` or `key_sha256`"), "{found}");
    assert!(found.contains("clients[3] models[0]: is not a model_name"), "{found}");
    assert!(!found.contains("ghost"), "values are never echoed: {found}");
}

#[test]
fn environment_variables_section_feeds_references() {
    let yaml = format!("environment_variables:\n  MY_KEY: sk-inline\n{ONE}      api_key: os.environ/MY_KEY\n");
    let loaded = load(&yaml).unwrap();
    assert_eq!(
        loaded.config.deployments[0].api_key.as_ref().unwrap().expose(),
        "sk-inline"
    );
}

#[test]
fn debug_output_of_a_config_holds_no_secret() {
    let yaml = format!("{ONE}      api_key: sk-canary-provider\n      headers:\n        X-Secret: canary-header\ngeneral_settings:\n  master_key: sk-canary-master\n");
    let loaded = load(&yaml).unwrap();
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("canary"), "{debug}");
}

#[test]
fn prices_come_from_the_table_the_entry_or_base_model() {
    let yaml = "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n  - model_name: b\n    litellm_params:\n      model: openai/my-finetune\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n  - model_name: c\n    litellm_params:\n      model: openai/private\n    model_info:\n      base_model: gpt-4o\n  - model_name: d\n    litellm_params:\n      model: openai/unknown-model-xyz\n";
    let loaded = load(yaml).unwrap();
    let d = &loaded.config.deployments;
    assert!(d[0].price.unwrap().input > 0.0, "gpt-4o is in the bundled table");
    assert_eq!(
        (d[1].price.unwrap().input, d[1].price.unwrap().output),
        (0.000001, 0.000002)
    );
    assert_eq!(d[2].price, d[0].price, "base_model borrows the table's price");
    assert_eq!(d[3].price, None, "unknown models are unpriced, not free");
}

#[test]
fn telemetry_and_spend_settings() {
    let yaml = format!(
        "{ONE}tollgate:\n  telemetry:\n    otlp_endpoint: http://collector:4317\n    otlp_protocol: grpc\n    otlp_headers:\n      authorization: os.environ/SET\n    export_interval: 5\n  spend:\n    currency: eur\n    per_usd: 0.92\n"
    );
    let config = load(&yaml).unwrap().config;
    assert_eq!(config.telemetry.otlp_endpoint.as_deref(), Some("http://collector:4317"));
    assert_eq!(config.telemetry.otlp_headers[0].1.expose(), "sk-from-env");
    assert_eq!(config.telemetry.export_interval, Some(Duration::from_secs(5)));
    assert_eq!(&*config.currency.code, "EUR");
    let found = problems(&format!(
        "{ONE}tollgate:\n  telemetry:\n    otlp_protocol: udp\n  spend:\n    currency: EUR\n"
    ));
    assert!(found.iter().any(|p| p.contains("otlp_protocol")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("per_usd")), "{found:?}");
}

#[test]
fn yaml_quirks_load_with_warnings() {
    let yaml = format!("{ONE}environment_variables:\n  EMPTY:\n  SET: x\ngeneral_settings:\n  max_request_size_mb: 1\ngeneral_settings:\n  max_request_size_mb: 2\n");
    let loaded = load(&yaml).unwrap();
    assert_eq!(loaded.config.max_body_bytes, 2 * 1024 * 1024, "the last key wins");
    let w = loaded.warnings.join("\n");
    assert!(
        w.contains("yaml line 10, column 1: a key appears twice in the same mapping; the last one wins"),
        "{w}"
    );
    assert!(w.contains("environment_variables.EMPTY: has no value"), "{w}");
}
