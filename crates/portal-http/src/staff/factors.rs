//! A client's second factors as staff see them (kinds, names and dates; never a secret) and
//! remove them (a lost phone), audited and mailed to the client.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portal_core::service::ClientError;

use super::client_id;
use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::client_factors::FactorsBody;
use crate::error::{ApiError, Problem};

/// How many factors were removed.
#[derive(Object, Debug, Clone)]
#[oai(rename = "FactorsRemoved")]
pub(crate) struct RemovedBody {
    /// Factors removed (the recovery codes went with them); 0 when there were none.
    removed: u32,
}

/// Answers of `GET /api/v1/clients/{id}/portal/factors`.
#[derive(ApiResponse)]
pub(crate) enum ClientFactorsResponse {
    /// The client's second factors.
    #[oai(status = 200)]
    Ok(Json<FactorsBody>),
    /// `client_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

/// Answers of `DELETE /api/v1/clients/{id}/portal/factors`.
#[derive(ApiResponse)]
pub(crate) enum RemoveFactorsResponse {
    /// Every factor and recovery code removed; when there were any, a notice is mailed.
    #[oai(status = 200)]
    Ok(Json<RemovedBody>),
    /// `client_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

/// A client's second factors, for staff.
pub(crate) struct FactorsApi;

#[OpenApi(tag = "ApiTags::Staff")]
impl FactorsApi {
    /// A client's second factors
    ///
    /// Kinds, names and dates of the client's second factors and how many recovery codes are
    /// left; never a secret.
    #[oai(path = "/api/v1/clients/:id/portal/factors", method = "get", operation_id = "get_client_factors")]
    async fn get_factors(&self, auth: StaffKey, ctx: Ctx, id: Path<String>) -> Result<ClientFactorsResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(ClientFactorsResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.client_factors(&staff, &id).await {
            Ok(view) => Ok(ClientFactorsResponse::Ok(Json(FactorsBody::of(&view)))),
            Err(ClientError::ClientNotFound) => Ok(ClientFactorsResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// Remove a client's second factors
    ///
    /// Removes every second factor of the client and its recovery codes (a lost phone): the
    /// client signs in with the password alone again, or enrols anew when the practice requires
    /// a factor. Audited; a notice is mailed to the client.
    #[oai(path = "/api/v1/clients/:id/portal/factors", method = "delete", operation_id = "remove_client_factors")]
    async fn remove_factors(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        id: Path<String>,
    ) -> Result<RemoveFactorsResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(RemoveFactorsResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.remove_client_factors(&staff, &id).await {
            Ok(removed) => {
                ctx.mail_queued();
                Ok(RemoveFactorsResponse::Ok(Json(RemovedBody { removed: u32::try_from(removed).unwrap_or(u32::MAX) })))
            }
            Err(ClientError::ClientNotFound) => Ok(RemoveFactorsResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }
}
