//! The one guard of every protected call (DESIGN.md, "Rules that hold everywhere"): a
//! route states what it needs in the type of an argument, `Authorized<needs::DepotSend>`,
//! and gets the verified token's claims; it never checks a token by hand. What a need
//! names: the resource (so the audience the token must carry), the scope, and the
//! permission the PDP must have granted the token (API.md "Permissions"); the proof
//! of possession joins them here. A missing or bad token is 401, a valid one without
//! the audience, scope or permission 403, each with its `WWW-Authenticate` challenge
//! (RFC 6750 §3).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::bearer::TokenVerifier;
use super::scope::{Resource, Scope};
use super::tokens::AccessTokenClaims;
use crate::problem::Problem;

/// What a protected call needs of its caller's token.
pub trait Need {
    const RESOURCE: Resource;
    const SCOPE: Scope;
    /// The permission the PDP must have granted (API.md "Permissions").
    const PERMISSION: &'static str;
}

/// A caller whose token passed the guard for `N`: its claims.
#[derive(Debug)]
pub struct Authorized<N> {
    pub claims: AccessTokenClaims,
    need: PhantomData<N>,
}

impl<N: Need> FromRequest for Authorized<N> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let verifier = req
                .app_data::<web::Data<TokenVerifier>>()
                .ok_or_else(|| Problem::internal("E-GUARD", &"no token verifier is configured"))?;
            let claims = verifier
                .require(&req, N::RESOURCE, N::SCOPE, N::PERMISSION)
                .await?;
            Ok(Self {
                claims,
                need: PhantomData,
            })
        })
    }
}

/// The needs of the protected calls (API.md "Permissions").
pub mod needs {
    use super::{Need, Resource, Scope};

    macro_rules! need {
        ($(#[$doc:meta])* $name:ident: $resource:ident, $scope:ident, $permission:literal) => {
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;
            impl Need for $name {
                const RESOURCE: Resource = Resource::$resource;
                const SCOPE: Scope = Scope::$scope;
                const PERMISSION: &'static str = $permission;
            }
        };
    }

    need!(/// `POST /depot/messages`.
        DepotSend: Depot, DepotSend, "message:send");
    need!(/// Every other `/depot/…` call.
        DepotRead: Depot, DepotRead, "message:read");
    need!(/// The registration ceremony and one's own keys.
        KeysRegister: Keys, KeysRegister, "key:register");
    need!(/// The JWKS search.
        KeysRead: Keys, KeysRead, "key:read");
    need!(/// Creating and deleting symmetric keys.
        SymkeysCreate: Symkeys, SymkeysCreate, "symkey:create");
    need!(/// Reading a symmetric key.
        SymkeysRead: Symkeys, SymkeysRead, "symkey:read");
    need!(/// `POST /tsa`.
        Timestamp: Tsa, Tsa, "timestamp:request");
    need!(/// `/admin/…`.
        Admin: Admin, Admin, "admin");
}
