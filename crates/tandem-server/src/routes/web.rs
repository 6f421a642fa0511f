//! The shared inbox's web UI for support staff: `GET /inbox` (the page), `/inbox/inbox.js` and
//! `/inbox/inbox.css`. Plain HTML, CSS and one JavaScript module, compiled into the binary so that
//! every replica serves the same version and no build step or CDN is involved. The page talks to
//! the JSON API under `/api/v1` with the login session cookie (`POST /api/v1/auth/login`) and
//! hears of changes over `GET /api/v1/events` (server-sent events).
//!
//! The files are sent with `Cache-Control: no-cache`: browsers keep them but ask again each time,
//! so a deploy reaches staff on their next page load. The page's Content-Security-Policy allows
//! only this origin's scripts, styles, images and connections, and no inline script or style:
//! the script builds the DOM with `textContent` and attaches its handlers with
//! `addEventListener`, so text that came from a customer can never run as code.

use axum::{
    http::{header, HeaderName, HeaderValue},
    response::{IntoResponse, Response},
};

const PAGE: &str = include_str!("../../assets/inbox/index.html");
const SCRIPT: &str = include_str!("../../assets/inbox/inbox.js");
const STYLESHEET: &str = include_str!("../../assets/inbox/inbox.css");

/// Same-origin only, no inline code, no plugins, no framing (clickjacking), no `<base>` tricks.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One of the UI's files with the headers every one of them gets.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], body)
        .into_response()
}

/// `GET /inbox`: the page (login form and the inbox's layout; the script fills it).
pub async fn page() -> Response {
    let mut response = asset("text/html; charset=utf-8", PAGE);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Conversation ids in the URL's fragment never leave the browser, but other paths might.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    response
}

/// `GET /inbox/inbox.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /inbox/inbox.css`.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page must load what the routes serve, and nothing the policy would block.
    #[test]
    fn the_page_names_its_assets_and_has_no_inline_code() {
        assert!(PAGE.contains(r#"<script type="module" src="/inbox/inbox.js"></script>"#));
        assert!(PAGE.contains(r#"<link rel="stylesheet" href="/inbox/inbox.css">"#));
        assert!(!PAGE.contains("<style"), "inline styles are blocked by the policy");
        assert!(!PAGE.contains(" style="), "style attributes are blocked by the policy");
        for handler in [" onclick=", " onsubmit=", " oninput=", " onchange=", " onload=", "javascript:"] {
            assert!(!PAGE.contains(handler), "inline handlers are blocked by the policy: {handler}");
        }
        assert!(!SCRIPT.contains(".innerHTML"), "the script builds the DOM with textContent");
        assert!(!STYLESHEET.contains("@import"), "no external styles");
    }
}
