//! The OpenAPI 3.1 document of the served functions (`GET /openapi.json`).

use esim_proto::function::Function;
use serde_json::{Value, json};

use crate::names::{function_path, interface_name, qualified_name};

/// The OpenAPI 3.1 document of a server answering `functions`: one `POST` path per function
/// with its request and response schemas, the operations path, and the error shapes.
pub fn openapi_document(functions: &[Function]) -> Value {
    let mut paths = serde_json::Map::new();
    let schemas = serde_json::Map::new();
    for &f in functions {
        let q = qualified_name(f);
        paths.insert(
            function_path(f),
            json!({
                "post": {
                    "operationId": q.replace('.', "_"),
                    "summary": format!("SGP.02 {q}"),
                    "tags": [interface_name(f.interface())],
                    "parameters": [{"$ref": "#/components/parameters/wait"}],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    },
                    "responses": common_responses(json!({"type": "object"})),
                }
            }),
        );
    }
    document(paths, schemas)
}

fn common_responses(done: Value) -> Value {
    json!({
        "200": {"description": "Done: the SGP.02 response", "content": {"application/json": {"schema": done}}},
        "202": {"description": "Pending: follow Location", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pending"}}}},
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"},
        "404": {"$ref": "#/components/responses/Error"},
        "409": {"$ref": "#/components/responses/Error"},
        "413": {"$ref": "#/components/responses/Error"},
        "500": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"}
    })
}

fn document(
    mut paths: serde_json::Map<String, Value>,
    mut schemas: serde_json::Map<String, Value>,
) -> Value {
    paths.insert(
        "/api/v1/operations/{id}".into(),
        json!({
            "get": {
                "operationId": "getOperation",
                "summary": "The outcome of a long function",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"$ref": "#/components/parameters/wait"}
                ],
                "responses": common_responses(json!({"type": "object"})),
            }
        }),
    );
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "kind"],
            "properties": {"error": {"type": "string"}, "kind": {"type": "string"}}
        }),
    );
    schemas.insert(
        "Pending".into(),
        json!({
            "type": "object",
            "required": ["OperationId", "Function", "Location"],
            "properties": {
                "OperationId": {"type": "string"},
                "Function": {"type": "string"},
                "Location": {"type": "string"}
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "esim-rsp SGP.02 functions (JSON binding)",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {
                "wait": {
                    "name": "wait", "in": "query", "required": false,
                    "description": "Seconds to wait for a long function before answering 202",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 300}
                }
            },
            "responses": {
                "Error": {
                    "description": "Refused",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearer": []}]
    })
}
