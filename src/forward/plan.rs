//! Which way one request goes to one deployment: as it came, translated
//! through the hub into the deployment's format, or answered by the gateway.

use crate::config::Deployment;
use crate::protocol::{self, Format};
use crate::providers::{Endpoint, Wire};

/// How one attempt sends the client's request to one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// The deployment speaks the client's format: the body goes as it
    /// came, with the model spliced in.
    Passthrough,
    /// The deployment speaks another format: the request and its answer go
    /// through the hub (`protocol`).
    Translate { client: Format, upstream: Format },
    /// Token counting for a deployment that is not Anthropic's: the gateway
    /// answers with its own estimate.
    CountLocally,
}

/// The plan for `endpoint` on `deployment`, or `None` when its provider
/// serves no such endpoint in any format.
pub(super) fn plan(endpoint: Endpoint, deployment: &Deployment) -> Option<Plan> {
    if deployment.mock_response.is_some() {
        // A mock answers as a chat server would; Anthropic and Responses
        // clients get that translated like any chat answer (streams too).
        return Some(match endpoint {
            Endpoint::CountTokens => Plan::CountLocally,
            Endpoint::Messages => Plan::Translate {
                client: Format::Anthropic,
                upstream: Format::Chat,
            },
            Endpoint::Responses => Plan::Translate {
                client: Format::Responses,
                upstream: Format::Chat,
            },
            _ => Plan::Passthrough,
        });
    }
    let Some(client) = endpoint.format() else {
        // Completions and embeddings exist only in OpenAI's API.
        return match deployment.provider.wire {
            Wire::OpenAi => Some(Plan::Passthrough),
            Wire::Anthropic => None,
        };
    };
    let upstream = protocol::plan(client, &deployment.serves)?;
    Some(match (endpoint, upstream) {
        (Endpoint::CountTokens, Format::Anthropic) => Plan::Passthrough,
        (Endpoint::CountTokens, _) => Plan::CountLocally,
        _ if upstream == client => Plan::Passthrough,
        _ => Plan::Translate { client, upstream },
    })
}
