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
                "Error": { "type": "object", "required": ["error", "status"],
                    "properties": { "error": { "type": "string" }, "status": { "type": "integer" } } },
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

fn responses(extra: Value) -> Value {
    let mut r = json!({
        "200": { "description": "OK", "content": { "application/json": {} } },
        "401": { "description": "No or wrong credentials",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
    });
    if let (Value::Object(r), Value::Object(extra)) = (&mut r, extra) {
        r.extend(extra);
    }
    r
}

/// A GET operation.
pub fn get_op(tag: &str, summary: &str, parameters: Vec<Value>) -> Value {
    json!({ "tags": [tag], "summary": summary, "parameters": parameters,
        "responses": responses(json!({ "404": { "description": "Not found" } })) })
}

/// A POST operation with a JSON body described by `body_schema`.
pub fn post_op(tag: &str, summary: &str, parameters: Vec<Value>, body_schema: Value) -> Value {
    json!({ "tags": [tag], "summary": summary, "parameters": parameters,
        "requestBody": { "required": true, "content": { "application/json": { "schema": body_schema } } },
        "responses": responses(json!({ "400": { "description": "Bad request" },
            "403": { "description": "Session call without X-CSRF-Token" },
            "404": { "description": "Not found" } })) })
}

pub fn param_path(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

pub fn param_query(name: &str, ty: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description,
        "schema": { "type": ty } })
}
