//! The page frame every HTML page shares: head (embedded stylesheet and script), the nav
//! bar with the user and a logout form, and small helpers for forms and values. Add a
//! nav entry to [`NAV`]; wrap a page's content with [`page`].

use super::auth::middleware::CSRF_FIELD;
use super::Session;
use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};

/// The nav bar: (path, label). The first entry is where `/` leads.
pub const NAV: &[(&str, &str)] = &[
    ("/dags", "DAGs"),
    ("/topics", "Topics"),
    ("/cassandra", "Cassandra"),
    ("/stream", "Stream"),
    ("/dead-letters", "Dead letters"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · cassflow" }
            link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
            link rel="stylesheet" href="/static/app.css";
            script src="/static/chart.js" defer {}
            script src="/static/app.js" defer {}
        }
    }
}

/// A full page for a logged-in user; `active` is the nav path to highlight.
pub fn page(session: &Session, active: &str, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-csrf=(session.csrf) {
                header class="top" {
                    a class="brand" href="/" { "cassflow" }
                    nav {
                        @for (path, label) in NAV {
                            a href=(path) class=[(active == *path).then_some("active")] { (label) }
                        }
                    }
                    form class="logout" method="post" action="/logout" {
                        (csrf_field(session))
                        span class="user" { (session.username) }
                        button type="submit" id="logout" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page without the nav bar (login, errors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (content) }
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Markup {
    bare(
        status.canonical_reason().unwrap_or("Error"),
        html! {
            main class="error-page" {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p class="error" { (message) }
                p { a href="/" { "Back to cassflow" } }
            }
        },
    )
}

/// The hidden CSRF field every `<form method="post">` must contain.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// Milliseconds since the epoch as UTC, to the second.
pub fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A short notice (error or success) above a page's content.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class=(format!("notice {kind}")) role="status" { (text) } }
}
