//! The OpenAPI 3 document, generated from the handlers' annotations and
//! the DTOs' types, served at `/openapi.json`.

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

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
