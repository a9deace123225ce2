//! The OpenAPI document as served: what utoipa derives from the handlers, made exact where a
//! derive cannot be. Parameters get the schemas of the rules the server applies (a line code
//! is a machine name, a serial has no white space at its ends and no control character, a time
//! is RFC 3339 or plant-local), every operation lists every status it can answer (401 without a
//! session, 400 for a bad parameter, 503 when the store fails or is busy), and bodies whose
//! rules a derive cannot state ("exactly one of lot and serial") get hand-written schemas.
//! CI checks the result against the running server with schemathesis, every check on
//! (`scripts/schemathesis.sh`); rules no schema can state (a period's `from` before its `to`,
//! at most 400 days long) are named in the operations' descriptions and in `schemathesis.toml`.
//!
//! Must never: describe a rule the server does not apply, or omit one it does.

use std::sync::OnceLock;

use serde_json::{Value, json};
use utoipa::OpenApi as _;

use super::api::ApiDoc;

/// Control characters (Unicode general category Cc): never in an id.
const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";
/// White space (Unicode White_Space) that is not a control character: never at an id's ends.
const SPACE: &str = "\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// A serial or lot as [`crate::domain::ids::SerialNumber`] accepts it.
fn text_id() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": crate::domain::ids::MAX_ID_CHARS,
        "pattern": format!("^[^{CONTROL}{SPACE}]([^{CONTROL}]*[^{CONTROL}{SPACE}])?$"),
    })
}

/// A line or station code as [`crate::domain::ids::LineId`] accepts it.
fn code_id() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": crate::domain::ids::MAX_ID_CHARS,
        "pattern": "^[A-Za-z0-9._-]+$",
    })
}

/// An instant as [`crate::domain::shift::parse_instant`] accepts it.
fn instant() -> Value {
    json!({
        "type": "string",
        "anyOf": [
            { "format": "date-time" },
            { "format": "date" },
            { "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}$" },
        ],
    })
}

/// Text that says something: at least one character that is neither white space nor a
/// control character, at most `max` characters.
pub fn said(max: usize) -> Value {
    json!({ "type": "string", "maxLength": max, "pattern": format!("[^{CONTROL}{SPACE}]") })
}

/// The schema of a parameter by its name, wherever it appears, and whether it is required.
fn parameter(name: &str, path: &str) -> Option<(Value, bool)> {
    Some(match name {
        // Every report is of one line; the audit ledger lists every line's periods unless told.
        "line" => (code_id(), !path.starts_with("/api/v1/audit/") && !path.starts_with("/api/v1/reports")),
        "station" => (code_id(), false),
        "serial" | "lot" => (text_id(), false),
        "from" | "to" => (instant(), false),
        // A report's trend is per shift or day; the KPI slices go down to hours.
        "by" if path.starts_with("/api/v1/reports") => (json!({ "type": "string", "enum": ["shift", "day"] }), false),
        "by" => (json!({ "type": "string", "enum": ["shift", "day", "hour"] }), false),
        "lang" => (json!({ "type": "string", "enum": ["en", "vi"] }), false),
        "format" => (json!({ "type": "string", "enum": ["html", "csv", "png"] }), false),
        "kind" => (json!({ "type": "string", "enum": ["shift", "yield", "trace", "audit"] }), true),
        "table" | "chart" | "name" | "shift" => (json!({ "type": "string", "minLength": 1, "maxLength": 200 }), false),
        "limit" => (json!({ "type": "integer", "minimum": 1, "maximum": super::api::MAX_HOLDS }), false),
        "after" | "seq" => (json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX }), false),
        "first" | "second" => (json!({ "type": "integer", "minimum": 1, "maximum": i64::MAX }), true),
        _ => return None,
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } },
    })
}

/// A KPI document: the scope's keys, then the figures of the whole period at the top level,
/// or one entry per slice under `buckets` when sliced (see `figures::Report::document`).
fn kpi_document(figures: &str) -> Value {
    let figures = json!({ "$ref": format!("#/components/schemas/{figures}") });
    let time = json!({ "type": "string", "format": "date-time" });
    json!({
        "type": "object",
        "required": ["line", "from", "to"],
        "properties": {
            "line": { "type": "string" },
            "station": { "type": "string" },
            "from": time,
            "to": time,
        },
        "oneOf": [
            { "allOf": [figures, { "not": { "required": ["buckets"] } }] },
            {
                "required": ["by", "buckets"],
                "properties": {
                    "by": { "type": "string", "enum": ["shift", "day", "hour"] },
                    "buckets": {
                        "type": "array",
                        "items": {
                            "allOf": [
                                figures,
                                {
                                    "type": "object",
                                    "required": ["label", "from", "to"],
                                    "properties": { "label": { "type": "string" }, "from": time, "to": time },
                                },
                            ],
                        },
                    },
                },
            },
        ],
    })
}

/// A hold or release request: exactly one of `lot` and `serial` (a `null` counts as absent, as
/// the server reads it), and why (required to place and to release).
fn hold_request() -> Value {
    let or_null = |schema: Value| json!({ "oneOf": [schema, { "type": "null" }] });
    let only = |given: &str, absent: &str| json!({ "required": [given], "properties": { given: text_id(), absent: { "type": "null" } } });
    json!({
        "type": "object",
        "description": "Exactly one of `lot` (a lot or reel: every unit containing it, now and later) and \
                        `serial` (one unit).",
        "required": ["reason"],
        "properties": {
            "lot": or_null(text_id()),
            "serial": or_null(text_id()),
            "reason": said(super::api::MAX_REASON_CHARS),
        },
        "oneOf": [only("lot", "serial"), only("serial", "lot")],
    })
}

/// The served document (computed once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| exact(serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null)))
}

/// Makes the derived document exact (see the module's doc).
fn exact(mut doc: Value) -> Value {
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for operation in item.values_mut() {
                exact_operation(operation, path);
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    for kind in ["Yield", "Oee", "Pareto", "Downtime"] {
        schemas[format!("{kind}Document")] = kpi_document(&format!("{kind}Figures"));
    }
    // Documents whose shape a derive cannot state.
    for (path, method, schema) in [
        ("/api/v1/kpi/yield", "get", "YieldDocument"),
        ("/api/v1/kpi/oee", "get", "OeeDocument"),
        ("/api/v1/kpi/pareto", "get", "ParetoDocument"),
        ("/api/v1/kpi/downtime", "get", "DowntimeDocument"),
    ] {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"] =
            json!({ "$ref": format!("#/components/schemas/{schema}") });
    }
    // Reports answer HTML, CSV or PNG (the `format` asked for); written files likewise.
    let files = json!({
        "text/html": { "schema": { "type": "string" } },
        "text/csv": { "schema": { "type": "string" } },
        "image/png": { "schema": { "type": "string", "format": "binary" } },
    });
    for path in ["/api/v1/reports/{kind}", "/api/v1/reports/files/{name}"] {
        doc["paths"][path]["get"]["responses"]["200"]["content"] = files.clone();
    }
    doc["paths"]["/api/v1/holds/release"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({ "$ref": "#/components/schemas/ReleaseRequest" });
    let schemas = &mut doc["components"]["schemas"];
    schemas["HoldRequest"] = hold_request();
    schemas["ReleaseRequest"] = hold_request();
    schemas["LoginRequest"] = json!({
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": { "type": "string", "maxLength": super::api::MAX_CREDENTIAL_CHARS },
            "password": { "type": "string", "maxLength": super::api::MAX_CREDENTIAL_CHARS },
        },
    });
    schemas["PasswordChange"] = json!({
        "type": "object",
        "required": ["current_password", "new_password"],
        "properties": {
            "current_password": { "type": "string", "maxLength": super::api::MAX_CREDENTIAL_CHARS },
            "new_password": {
                "type": "string",
                "minLength": super::api::MIN_PASSWORD_CHARS,
                "maxLength": super::api::MAX_CREDENTIAL_CHARS,
            },
        },
    });
    doc
}

fn exact_operation(operation: &mut Value, path: &str) {
    let secured = operation["security"].as_array().is_none_or(|s| s.iter().any(|r| r != &json!({})));
    let mut takes_input = operation.get("requestBody").is_some();
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        takes_input |= !parameters.is_empty();
        for p in parameters {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            if let Some((schema, required)) = parameter(&name, path) {
                p["schema"] = schema;
                if required || p["in"] == "path" {
                    p["required"] = json!(true);
                }
            }
        }
    }
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    if takes_input {
        responses
            .entry("400")
            .or_insert_with(|| error_response("A parameter or the body is malformed; the message names it"));
    }
    if secured {
        responses.entry("401").or_insert_with(|| error_response("No valid session: log in first"));
    }
    responses
        .entry("503")
        .or_insert_with(|| error_response("The store failed, or the server is busy with costly work (Retry-After)"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_lists_401_and_503_and_the_rules_of_its_parameters() {
        let doc = document();
        let ops: Vec<(&String, &String, &Value)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().iter().map(move |(m, op)| (path, m, op)))
            .collect();
        assert!(ops.len() >= 16, "{}", ops.len());
        for (path, method, op) in ops {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("503"), "{method} {path}");
            if path != "/api/v1/auth/login" {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(p["schema"]["type"].is_string(), "{method} {path}: {p}");
            }
        }
        let kpi = &doc["paths"]["/api/v1/kpi/yield"]["get"]["parameters"];
        let line = kpi.as_array().unwrap().iter().find(|p| p["name"] == "line").unwrap();
        assert_eq!(line["required"], true);
    }
}
