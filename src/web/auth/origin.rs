//! Where a request comes from, checked before any route: the `Host` header must name this
//! server, and a state-changing request (anything but GET, HEAD, OPTIONS) must come from a
//! page of this server.
//!
//! Host: DNS rebinding points a name the attacker owns at 127.0.0.1, so a page of theirs can
//! reach the UI with `Host: attacker.example` (and try admin/admin). Allowed are IP literals
//! of the bind address (any loopback address on a loopback bind, any address on `0.0.0.0` or
//! `::`, an IP literal cannot be rebound), `localhost` and `*.localhost` on a loopback or
//! unspecified bind, and the names of `web.allowed_hosts` (`"*"` allows any). The port is not
//! compared: the connection reached us, and tests and proxies use other ports. A request
//! without `Host` (HTTP/1.0 tools; browsers always send one) passes.
//!
//! Origin: when present it must be this server (`scheme://` + the `Host`) or a name listed in
//! `web.allowed_hosts` (a TLS proxy's public name); `null` is refused. Without `Origin`,
//! `Sec-Fetch-Site: cross-site` or `same-site` is refused. So a cross-origin POST fails with
//! 403 even when it carries a valid session cookie and CSRF token.

use crate::web::{AppState, WebError};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};

/// Refuses requests for another host (421) and cross-origin state changes (403).
pub async fn check_host_and_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, WebError> {
    let web = &state.config.web;
    let host = request_host(&request);
    if let Some(host) = &host {
        let name = host_name(host);
        if !host_allowed(&name, web.bind, &web.allowed_hosts) {
            tracing::warn!(host = ?host, "request for a host this server does not answer to");
            return Err(WebError::MisdirectedHost {
                host: host.clone(),
                name,
            });
        }
    }
    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        if let Err(why) = same_origin(request.headers(), host.as_deref(), &web.allowed_hosts) {
            tracing::warn!(origin = ?why, method = %request.method(), path = %request.uri().path(), "cross-origin request refused");
            return Err(WebError::Forbidden(format!(
                "cross-origin request refused: {why} (fix: use the UI's own pages, or call the API without a browser; a proxy's public name goes in web.allowed_hosts)"
            )));
        }
    }
    Ok(next.run(request).await)
}

/// The `Host` header, else the URI's authority (HTTP/2), lower-cased.
fn request_host(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .map(|h| h.trim().to_ascii_lowercase())
}

/// The host part of `host[:port]` (`[::1]:8080` -> `::1`), without a trailing dot.
pub fn host_name(authority: &str) -> String {
    let name = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        },
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether this server answers to host `name` when bound to `bind`.
pub fn host_allowed(name: &str, bind: SocketAddr, allowed: &[String]) -> bool {
    if allowed
        .iter()
        .any(|a| a == "*" || host_name(a).eq_ignore_ascii_case(name))
    {
        return true;
    }
    let bound = bind.ip();
    let local_bind = bound.is_loopback() || bound.is_unspecified();
    match name.parse::<IpAddr>() {
        Ok(ip) => {
            bound.is_unspecified() || ip == bound || (bound.is_loopback() && ip.is_loopback())
        }
        Err(_) => local_bind && (name == "localhost" || name.ends_with(".localhost")),
    }
}

/// `Ok` when the request's `Origin` (or `Sec-Fetch-Site`) says it comes from this server.
fn same_origin(headers: &HeaderMap, host: Option<&str>, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        let site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return match site {
            "cross-site" | "same-site" => Err(format!("Sec-Fetch-Site is `{site}`")),
            _ => Ok(()),
        };
    };
    let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err(format!("Origin `{origin}` is not this server"));
    };
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(format!("Origin `{origin}` is not this server")),
    };
    let strip = |a: &str| a.strip_suffix(default_port).unwrap_or(a).to_string();
    let authority = strip(authority);
    if host.is_some_and(|h| strip(h) == authority) {
        return Ok(());
    }
    let name = host_name(&authority);
    if allowed
        .iter()
        .any(|a| a != "*" && host_name(a).eq_ignore_ascii_case(&name))
    {
        return Ok(());
    }
    Err(format!(
        "Origin `{origin}` is not this server (`{}`)",
        host.unwrap_or("no Host header")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bind(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn host_names_are_split_from_ports() {
        assert_eq!(host_name("localhost:8080"), "localhost");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("Example.COM."), "example.com");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn a_loopback_bind_answers_to_loopback_names_only() {
        let b = bind("127.0.0.1:8080");
        for ok in [
            "localhost",
            "127.0.0.1",
            "::1",
            "127.0.0.2",
            "app.localhost",
        ] {
            assert!(host_allowed(ok, b, &[]), "{ok}");
        }
        for bad in ["attacker.example", "10.0.0.1", "localhost.attacker.example"] {
            assert!(!host_allowed(bad, b, &[]), "{bad}");
        }
        let listed = vec!["cassflow.example.com".to_string()];
        assert!(host_allowed("cassflow.example.com", b, &listed));
        assert!(host_allowed("anything", b, &["*".to_string()]));
    }

    #[test]
    fn a_public_bind_answers_to_its_address_and_listed_names() {
        let b = bind("10.0.0.5:8080");
        assert!(host_allowed("10.0.0.5", b, &[]));
        assert!(!host_allowed("localhost", b, &[]));
        assert!(!host_allowed("cassflow.example.com", b, &[]));
        assert!(host_allowed("192.168.1.1", bind("0.0.0.0:8080"), &[]));
    }

    #[test]
    fn origins() {
        let h = |origin: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).unwrap_or_else(|_| unreachable!()),
            );
            m
        };
        let none: &[String] = &[];
        assert!(same_origin(&h("http://127.0.0.1:8080"), Some("127.0.0.1:8080"), none).is_ok());
        assert!(same_origin(&h("http://localhost"), Some("localhost:80"), none).is_ok());
        assert!(same_origin(&h("http://evil.example"), Some("127.0.0.1:8080"), none).is_err());
        assert!(same_origin(&h("http://127.0.0.1:9999"), Some("127.0.0.1:8080"), none).is_err());
        assert!(same_origin(&h("null"), Some("127.0.0.1:8080"), none).is_err());
        let proxy = vec!["cassflow.example.com".to_string()];
        assert!(same_origin(
            &h("https://cassflow.example.com"),
            Some("127.0.0.1:8080"),
            &proxy
        )
        .is_ok());
        let mut m = HeaderMap::new();
        assert!(same_origin(&m, Some("x"), none).is_ok());
        m.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&m, Some("x"), none).is_err());
        m.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&m, Some("x"), none).is_ok());
    }
}
