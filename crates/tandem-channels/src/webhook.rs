//! A webhook request as the server received it, before anything is trusted.

/// Everything verification and parsing may need; header names are lower case.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The public URL the provider called, scheme to query included (Twilio signs it).
    pub url: &'a str,
    /// Query parameters, decoded, in order.
    pub query: &'a [(String, String)],
    /// Headers with lower-case names.
    pub headers: &'a [(String, String)],
    /// The raw body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The answer a provider expects once its webhook is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub content_type: &'static str,
    pub body: String,
}

impl Ack {
    pub fn empty_json() -> Self {
        Self { content_type: "application/json", body: "{}".into() }
    }
}
