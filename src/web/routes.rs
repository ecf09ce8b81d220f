//! The route table: the only way a route gets into the application. Each route is added
//! with its [`Access`] class, which decides the guard in front of it, and is listed in
//! [`Routes::list`], so tests walk every route (and check the API's OpenAPI coverage)
//! without a second list to keep in sync.
//!
//! To add a page or an API route, write `pub fn register(routes: Routes) -> Routes` in
//! your module and call it from [`build`]; see `.helpers/web.md`.

use super::auth::middleware::{require_api, require_session};
use super::{api, assets, auth, cassandra_pages, dead_letters, problem, stream_page, topics};
use super::{AppState, WebError};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{Redirect, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: `/login`, `/health`, static assets.
    Public,
    /// HTML for a logged-in user: session cookie, CSRF on non-GET; else redirect to login.
    Page,
    /// JSON (and `/metrics`): basic auth, bearer token or session; else 401.
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    /// axum 0.8 path syntax (`/topics/{topic}`), which is also OpenAPI's.
    pub path: &'static str,
    pub access: Access,
}

pub struct Routes {
    public: Router<AppState>,
    pages: Router<AppState>,
    api: Router<AppState>,
    list: Vec<RouteInfo>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            public: Router::new(),
            pages: Router::new(),
            api: Router::new(),
            list: Vec::new(),
        }
    }
}

/// Every route of the application.
pub fn build() -> Routes {
    let routes = Routes::default().page(Method::GET, "/", home);
    let routes = auth::login::register(routes);
    let routes = assets::register(routes);
    let routes = api::register(routes);
    let routes = topics::register(routes);
    let routes = cassandra_pages::register(routes);
    let routes = stream_page::register(routes);
    let routes = super::dags::register(routes);
    dead_letters::register(routes)
}

/// The first page after login.
async fn home() -> Redirect {
    Redirect::to(super::layout::NAV[0].0)
}

impl Routes {
    pub fn page<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Access::Page, method, path, handler)
    }

    pub fn api<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Access::Api, method, path, handler)
    }

    pub fn public<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Access::Public, method, path, handler)
    }

    fn add<H, T>(mut self, access: Access, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        // Methods come from the code, never from input: an unknown one is a programming error.
        let Ok(filter) = MethodFilter::try_from(method.clone()) else {
            panic!("route {path}: method {method} is not routable");
        };
        let route = on(filter, handler);
        match access {
            Access::Public => self.public = self.public.route(path, route),
            Access::Page => self.pages = self.pages.route(path, route),
            Access::Api => self.api = self.api.route(path, route),
        }
        self.list.push(RouteInfo {
            method,
            path,
            access,
        });
        self
    }

    /// The methods of each API route, by path pattern.
    fn allowed_methods(&self) -> problem::AllowedMethods {
        let mut allowed: std::collections::HashMap<&'static str, Vec<Method>> = Default::default();
        for route in self.list.iter().filter(|r| r.access == Access::Api) {
            allowed
                .entry(route.path)
                .or_default()
                .push(route.method.clone());
        }
        std::sync::Arc::new(allowed)
    }

    /// Every registered route, in registration order.
    pub fn list(&self) -> &[RouteInfo] {
        &self.list
    }

    /// The router, each class behind its guard, every route behind the Host and Origin
    /// checks, with security headers on every response.
    pub fn into_router(self, state: AppState) -> Router {
        let allowed = self.allowed_methods();
        let pages = self
            .pages
            .layer(from_fn_with_state(state.clone(), require_session));
        let api = self
            .api
            .layer(from_fn_with_state(state.clone(), require_api))
            .layer(from_fn_with_state(allowed, problem::api_errors));
        self.public
            .merge(pages)
            .merge(api)
            .fallback(not_found)
            .layer(from_fn_with_state(
                state.clone(),
                auth::origin::check_host_and_origin,
            ))
            .layer(from_fn(problem::api_path_errors))
            .layer(from_fn(security_headers))
            .with_state(state)
    }
}

async fn not_found(uri: axum::http::Uri) -> WebError {
    let path = uri.path();
    if problem::is_api_path(path) {
        WebError::NotFound(format!(
            "no API route `{path}` (fix: the routes are listed in /api/v1/openapi.json, e.g. GET /api/v1/pipelines)"
        ))
    } else {
        WebError::NotFound(path.to_string())
    }
}

/// Scripts and styles only from this server, no framing, no MIME sniffing.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}
