//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, written by hand as JSON
//! (no schema-generation dependency). Each module contributes its path items through an
//! `openapi_paths()` function; a test checks every API route of the router is documented.

use serde_json::{json, Map, Value};

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for part in [
        super::api::openapi_paths(),
        super::topics::openapi_paths(),
        super::cassandra_pages::openapi_paths(),
        super::stream_page::openapi_paths(),
        super::dead_letters::openapi_paths(),
        super::dags_api::openapi_paths(),
    ] {
        if let Value::Object(items) = part {
            for (path, item) in items {
                merge(&mut paths, path, item);
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cassflow",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Kafka to Cassandra pipelines: topics, tables, stream status, dead letters.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "basic": [] }, { "bearer": [] }, { "session": [] }],
        "components": {
            "securitySchemes": {
                "basic": { "type": "http", "scheme": "basic" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "web.api_token" },
                "session": { "type": "apiKey", "in": "cookie", "name": "cassflow_session",
                    "description": "The UI's session; calls that change state also need the X-CSRF-Token header." },
            },
            "schemas": {
                "Problem": super::problem::schema(),
            },
        },
        "paths": paths,
    })
}

/// Two modules may document different methods of one path.
fn merge(paths: &mut Map<String, Value>, path: String, item: Value) {
    match (paths.get_mut(&path), item) {
        (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
        (_, item) => {
            paths.insert(path, item);
        }
    }
}

/// An error response: its description and the problem document it carries.
pub fn problem_response(description: &str) -> Value {
    json!({ "description": description,
        "content": { super::problem::CONTENT_TYPE: { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

/// The responses of an operation: 200, the errors every API route can answer (401, 405,
/// 500, 502) and `errors` (status to description), each error a problem document.
fn responses(errors: &[(&str, &str)]) -> Value {
    let mut r = Map::new();
    r.insert(
        "200".into(),
        json!({ "description": "OK", "content": { "application/json": {} } }),
    );
    let common = [
        ("401", "No or wrong credentials"),
        ("405", "Method not allowed on this path"),
        ("500", "Internal error"),
        ("502", "Kafka or Cassandra failed to answer"),
    ];
    for (status, description) in common.iter().chain(errors) {
        r.insert((*status).into(), problem_response(description));
    }
    Value::Object(r)
}

/// A GET operation.
pub fn get_op(tag: &str, summary: &str, parameters: Vec<Value>) -> Value {
    json!({ "tags": [tag], "summary": summary, "parameters": parameters,
        "responses": responses(&[("404", "Not found")]) })
}

/// A POST operation with a JSON body described by `body_schema`.
pub fn post_op(tag: &str, summary: &str, parameters: Vec<Value>, body_schema: Value) -> Value {
    json!({ "tags": [tag], "summary": summary, "parameters": parameters,
        "requestBody": { "required": true, "content": { "application/json": { "schema": body_schema } } },
        "responses": responses(&[("400", "Bad request"),
            ("403", "Session call without X-CSRF-Token"), ("404", "Not found")]) })
}

pub fn param_path(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

pub fn param_query(name: &str, ty: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description,
        "schema": { "type": ty } })
}
