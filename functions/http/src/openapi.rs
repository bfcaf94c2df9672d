//! The OpenAPI 3 document, generated from the handlers' annotations and
//! the DTOs' types, served at `/openapi.json`.

use serde_json::{json, Value};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "coderun",
        description = "Runs untrusted code in a sandbox and judges it. Every route except \
            the public ones needs `Authorization: Bearer <JWT>`. Errors are \
            `{\"error\": {\"code\", \"message\"}}`. POSTs accept an `Idempotency-Key` header."
    ),
    paths(
        routes::health,
        routes::languages,
        routes::client_config,
        routes::dev_login,
        routes::list_problems,
        routes::get_problem,
        routes::statement_image,
        routes::create_problem,
        routes::replace_problem,
        routes::delete_problem,
        routes::import_problem,
        routes::get_import,
        routes::create_run,
        routes::list_runs,
        routes::get_run,
        routes::run_logs,
        routes::create_submission,
        routes::create_submissions,
        routes::list_submissions,
        routes::get_submission,
        routes::rejudge,
        routes::me,
        routes::create_session,
        routes::get_session,
        routes::update_session,
        routes::run_session,
        routes::admin_queue,
        routes::metrics,
    ),
    modifiers(&Bearer)
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The document as served: what the handlers' annotations say, completed
/// where they cannot say it (see [`complete`]).
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    complete(&mut doc);
    doc
}

/// What the annotations leave out, so that the document tells the truth
/// (clients and tools such as schemathesis take it at its word):
/// - every `{name}` of a path is a required string parameter;
/// - every operation may answer an error body, besides what it documents;
/// - `language` is one of the table's ids;
/// - a package is uploaded as bytes or as the multipart field `package`;
/// - `PUT /problems/{id}` takes its id from the path, not the body.
fn complete(doc: &mut Value) {
    let languages: Vec<Value> = coderun_protocol::lang::LANGUAGES
        .iter()
        .map(|l| json!(l.id))
        .collect();
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in ["RunRequest", "SubmissionRequest", "SessionRequest"] {
            if let Some(language) = schemas
                .get_mut(name)
                .and_then(|s| s.pointer_mut("/properties/language"))
            {
                let mut values = languages.clone();
                // An optional one (`PATCH /sessions/{id}`) may be null.
                if language["type"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("null")))
                {
                    values.push(Value::Null);
                }
                language["enum"] = json!(values);
            }
        }
        // What the types say too loosely (`Object`), or cannot say.
        let callback = json!({"type": ["string", "null"], "maxLength": 2048,
            "pattern": "^https?://[^/?#@\\s]+[^\\s]*$",
            "description": "Gets the finished job (an http or https URL, no credentials)."});
        schemas.insert(
            "Input".into(),
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "stdin": {"type": "string", "maxLength": 262144},
                    "args": {"type": "array", "maxItems": 32,
                        "items": {"type": "string", "maxLength": 256, "pattern": "^[^\\u0000]*$"}},
                    "expected_output": {"type": ["string", "null"], "maxLength": 262144},
                },
            }),
        );
        schemas.insert("Limits".into(), json!({
            "type": "object",
            "additionalProperties": false,
            "description": "Per-input limits, each within its cap; unset ones take their defaults.",
            "properties": {
                "time_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
                "wall_time_ms": {"type": "integer", "minimum": 0, "maximum": 180000},
                "memory_mb": {"type": "integer", "minimum": 64, "maximum": 4096},
                "processes": {"type": "integer", "minimum": 1, "maximum": 512},
                "output_bytes": {"type": "integer", "minimum": 1, "maximum": 268435456},
                "file_size_bytes": {"type": "integer", "minimum": 1, "maximum": 1073741824},
                "open_files": {"type": "integer", "minimum": 1, "maximum": 4096},
                "stack_mb": {"type": "integer", "minimum": 1, "maximum": 64},
            },
        }));
        if let Some(run) = schemas.get_mut("RunRequest") {
            run["properties"]["inputs"] = json!({"type": "array", "minItems": 1, "maxItems": 16,
                "items": {"$ref": "#/components/schemas/Input"},
                "description": "1 to 16 inputs; the program runs once per input."});
            run["properties"]["limits"] =
                json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Limits"}]});
        }
        for name in ["RunRequest", "SubmissionRequest"] {
            if let Some(s) = schemas.get_mut(name) {
                s["properties"]["callback_url"] = callback.clone();
                s["properties"]["source"]["pattern"] = json!("^[^\\u0000]*$");
                // The program is its source, or its files.
                s["anyOf"] = json!([
                    {"required": ["source"], "properties": {"source": {"minLength": 1}}},
                    {"required": ["files"], "properties": {"files": {"minItems": 1}}},
                    {"required": ["files_zip"], "properties": {"files_zip": {"type": "string"}}},
                ]);
            }
        }
        if let Some(p) = schemas.get_mut("ProblemRequest") {
            p["properties"]["tests"]["minItems"] = json!(1);
            p["properties"]["tests"]["maxItems"] = json!(200);
            // One test at least is hidden (`sample` false, its default).
            p["properties"]["tests"]["contains"] =
                json!({"properties": {"sample": {"const": false}}});
        }
        if let Some(session) = schemas.get_mut("SessionRequest") {
            session["properties"]["source"]["pattern"] = json!("^[^\\u0000]*$");
            session["properties"]["title"]["maxLength"] = json!(200);
        }
        if let Some(login) = schemas.get_mut("DevLoginRequest") {
            login["properties"]["user"]["pattern"] = json!("^[A-Za-z0-9_.@-]{1,64}$");
            login["properties"]["roles"]["maxItems"] = json!(2);
        }
        if let Some(float) = schemas
            .get_mut("CheckerRequest")
            .and_then(|c| c["oneOf"].as_array_mut())
            .and_then(|v| {
                v.iter_mut()
                    .find(|v| v.pointer("/properties/tolerance").is_some())
            })
        {
            float["properties"]["tolerance"]["exclusiveMinimum"] = json!(0);
            float["properties"]["tolerance"]["maximum"] = json!(0.99);
        }
        if let Some(mut replacement) = schemas.get("ProblemRequest").cloned() {
            if let Some(props) = replacement["properties"].as_object_mut() {
                props.remove("id");
            }
            // `POST /problems` names the problem it makes.
            if let Some(p) = schemas.get_mut("ProblemRequest") {
                p["properties"]["id"]["type"] = json!("string");
                if let Some(required) = p["required"].as_array_mut() {
                    required.push(json!("id"));
                }
            }
            replacement["description"] =
                json!("`PUT /problems/{id}`: the problem, its id the path's.");
            schemas.insert("ProblemReplacement".into(), replacement);
        }
        // Requests refuse fields they do not know.
        for name in [
            "RunRequest",
            "SubmissionRequest",
            "BatchRequest",
            "SessionRequest",
            "ProblemRequest",
            "ProblemReplacement",
            "TestRequest",
            "FileRequest",
            "NugetPackage",
            "DevLoginRequest",
        ] {
            if let Some(s) = schemas.get_mut(name) {
                s["additionalProperties"] = json!(false);
            }
        }
        if let Some(variants) = schemas
            .get_mut("CheckerRequest")
            .and_then(|c| c["oneOf"].as_array_mut())
        {
            // Those with fields of their own refuse others; the others
            // (`kind` alone) let them be.
            for v in variants {
                if v["properties"].as_object().is_some_and(|p| p.len() > 1) {
                    v["additionalProperties"] = json!(false);
                }
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let names: Vec<String> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let params = op
                .entry("parameters")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("parameters is a list");
            // Query parameters' ranges and values.
            for p in params.iter_mut() {
                let name = p["name"].as_str().unwrap_or_default().to_string();
                let schema = &mut p["schema"];
                match Some(name.as_str()) {
                    Some("limit") => {
                        schema["minimum"] = json!(1);
                        schema["maximum"] = json!(if path.ends_with("/logs") { 1000 } else { 100 });
                    }
                    Some("wait") => {
                        schema["minimum"] = json!(0);
                        schema["maximum"] = json!(10);
                    }
                    Some("input") => schema["maximum"] = json!(15),
                    Some("stream") => schema["enum"] = json!(["stdout", "stderr", "compile"]),
                    Some("verdict") => {
                        schema["enum"] =
                            json!(["AC", "PA", "WA", "TLE", "MLE", "OLE", "RE", "CE", "IE"])
                    }
                    _ => {}
                }
            }
            for name in &names {
                // Problem ids are path segments and keys: plain.
                let schema = if path.starts_with("/problems/{id}") && name == "id" {
                    json!({"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"})
                } else {
                    json!({"type": "string", "minLength": 1})
                };
                let declared = params
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == name.as_str());
                if !declared {
                    params.push(json!({
                        "name": name,
                        "in": "path",
                        "required": true,
                        "schema": schema,
                    }));
                }
            }
            if params.is_empty() {
                op.remove("parameters");
            }
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                responses.entry("default").or_insert_with(|| {
                    json!({
                        "description": "An error: 4xx for the request's fault (its `code` and \
                            `message` say which), 5xx for the platform's.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    })
                });
            }
            if path == "/problems/import" && method == "post" {
                let binary = json!({"schema": {"type": "string", "format": "binary"}});
                op["requestBody"] = json!({
                    "required": true,
                    "description": "A zip or tar.gz of the package: the raw body, or the multipart field `package`.",
                    "content": {
                        "application/zip": binary,
                        "application/gzip": binary,
                        "application/octet-stream": binary,
                        "multipart/form-data": {"schema": {
                            "type": "object",
                            "required": ["package"],
                            "properties": {"package": {"type": "string", "format": "binary"}},
                        }},
                    },
                });
            }
            if path == "/runs/{id}/logs" && method == "get" {
                // With `follow=true`: Server-Sent Events, each of them this.
                op["responses"]["200"]["content"]["text/event-stream"] = json!({"schema": {
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "event": {"enum": ["status", "line", "end"]},
                        "data": {"type": "string"},
                        "id": {"type": "string"},
                    },
                }});
            }
            if path == "/problems/{id}" && method == "put" {
                op["requestBody"]["content"]["application/json"]["schema"] =
                    json!({"$ref": "#/components/schemas/ProblemReplacement"});
            }
        }
    }
}
