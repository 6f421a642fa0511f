//! Web sources: a URL fetched with a size limit, a time limit and a bounded number of redirects.
//! Addresses inside the server's own network (loopback, private ranges, link-local, cloud
//! metadata) are refused unless configuration allows them, at every hop and for every address a
//! name resolves to, so a page cannot point Tandem at an internal service. Google Docs and Sheets
//! links are mapped to their text and CSV exports.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;

/// What a fetch may do.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub max_bytes: u64,
    pub timeout: Duration,
    pub max_redirects: usize,
    /// Allow loopback and private addresses (tests, intranet deployments).
    pub allow_private: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self { max_bytes: 20 * 1000 * 1000, timeout: Duration::from_secs(30), max_redirects: 5, allow_private: false }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not an http(s) URL")]
    InvalidUrl(String),
    #[error("{0} is a private or local address; web sources must be public")]
    PrivateAddress(String),
    #[error("the page is larger than {} MB", .0 / 1_000_000)]
    TooLarge(u64),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("fetching the page failed: {0}")]
    Failed(String),
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "invalid_url",
            Self::PrivateAddress(_) => "private_address",
            Self::TooLarge(_) => "knowledge_base_too_large",
            Self::Status(_) => "fetch_status",
            Self::Failed(_) => "fetch_failed",
        }
    }
}

/// A fetched page: the URL it was finally read from and its bytes.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    pub bytes: Vec<u8>,
}

/// Checks a URL's form and maps Google Docs/Sheets links to their exports.
pub fn prepare(url: &str) -> Result<reqwest::Url, FetchError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| FetchError::InvalidUrl(url.into()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(FetchError::InvalidUrl(url.into()));
    }
    Ok(google_export(&parsed).unwrap_or(parsed))
}

/// `docs.google.com/document/d/ID/...` → plain-text export; `.../spreadsheets/d/ID/...#gid=N` →
/// CSV export of that sheet.
fn google_export(url: &reqwest::Url) -> Option<reqwest::Url> {
    if url.host_str() != Some("docs.google.com") {
        return None;
    }
    let parts: Vec<&str> = url.path_segments()?.collect();
    let at = parts.iter().position(|p| *p == "d")?;
    let id = parts.get(at + 1)?;
    let export = match *parts.first()? {
        "document" => format!("https://docs.google.com/document/d/{id}/export?format=txt"),
        "spreadsheets" => {
            let gid = url
                .fragment()
                .and_then(|f| f.strip_prefix("gid="))
                .map(str::to_string)
                .or_else(|| url.query_pairs().find(|(k, _)| k == "gid").map(|(_, v)| v.into_owned()));
            match gid {
                Some(g) => format!("https://docs.google.com/spreadsheets/d/{id}/export?format=csv&gid={g}"),
                None => format!("https://docs.google.com/spreadsheets/d/{id}/export?format=csv"),
            }
        }
        _ => return None,
    };
    reqwest::Url::parse(&export).ok()
}

/// Loopback, private, link-local, shared, unspecified, multicast and documentation ranges.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves names like the system does, then drops private addresses (and fails when none is left).
struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| !is_private(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(FetchError::PrivateAddress(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn check_literal(url: &reqwest::Url, policy: &FetchPolicy) -> Result<(), FetchError> {
    if policy.allow_private {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") => {
            return Err(FetchError::PrivateAddress(d.to_string()))
        }
        _ => return Ok(()),
    };
    if is_private(ip) {
        return Err(FetchError::PrivateAddress(ip.to_string()));
    }
    Ok(())
}

/// Fetches `url` under `policy`.
pub async fn fetch(url: &str, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
    let url = prepare(url)?;
    check_literal(&url, policy)?;
    let redirect_policy = {
        let policy = policy.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= policy.max_redirects {
                return attempt.error(FetchError::Failed(format!("more than {} redirects", policy.max_redirects)));
            }
            if !matches!(attempt.url().scheme(), "http" | "https") {
                let url = attempt.url().to_string();
                return attempt.error(FetchError::InvalidUrl(url));
            }
            match check_literal(attempt.url(), &policy) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        })
    };
    let mut builder = reqwest::Client::builder()
        .redirect(redirect_policy)
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("Tandem/", env!("CARGO_PKG_VERSION"), " (knowledge base)"));
    if !policy.allow_private {
        builder = builder.dns_resolver(Arc::new(PublicResolver));
    }
    let client = builder.build().map_err(|e| FetchError::Failed(e.to_string()))?;
    let response = client.get(url).send().await.map_err(explain)?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response.content_length().is_some_and(|n| n > policy.max_bytes) {
        return Err(FetchError::TooLarge(policy.max_bytes));
    }
    let final_url = response.url().to_string();
    let mut bytes = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(explain)?;
        if bytes.len() as u64 + piece.len() as u64 > policy.max_bytes {
            return Err(FetchError::TooLarge(policy.max_bytes));
        }
        bytes.extend_from_slice(&piece);
    }
    Ok(Fetched { url: final_url, bytes })
}

/// Finds our own refusal inside reqwest's error chain, so it keeps its code.
fn explain(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(ours) = s.downcast_ref::<FetchError>() {
            return ours.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return FetchError::Failed("the server did not answer in time".into());
    }
    FetchError::Failed(e.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_links_map_to_their_exports() {
        let doc = prepare("https://docs.google.com/document/d/1AbC_dEf/edit?usp=sharing").unwrap();
        assert_eq!(doc.as_str(), "https://docs.google.com/document/d/1AbC_dEf/export?format=txt");
        let sheet = prepare("https://docs.google.com/spreadsheets/d/1XyZ/edit#gid=42").unwrap();
        assert_eq!(sheet.as_str(), "https://docs.google.com/spreadsheets/d/1XyZ/export?format=csv&gid=42");
        let sheet = prepare("https://docs.google.com/spreadsheets/d/1XyZ/edit").unwrap();
        assert_eq!(sheet.as_str(), "https://docs.google.com/spreadsheets/d/1XyZ/export?format=csv");
        assert_eq!(prepare("https://example.com/a").unwrap().as_str(), "https://example.com/a");
        assert!(matches!(prepare("file:///etc/passwd"), Err(FetchError::InvalidUrl(_))));
        assert!(matches!(prepare("not a url"), Err(FetchError::InvalidUrl(_))));
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn local_targets_are_refused_unless_allowed() {
        let policy = FetchPolicy::default();
        for url in ["http://127.0.0.1:9/x", "http://localhost:9/", "http://[::1]:9/", "http://169.254.169.254/latest/meta-data/"] {
            assert!(matches!(fetch(url, &policy).await, Err(FetchError::PrivateAddress(_))), "{url}");
        }
    }
}
