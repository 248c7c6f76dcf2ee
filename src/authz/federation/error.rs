//! Why an upstream login did not go through, with the status and the sentence of the
//! page the person sees (English, Dutch, French). Nothing is stored before every check
//! has passed, so each of these leaves the depot as it was.

use actix_web::http::StatusCode;

use crate::authz::login::i18n::Lang;

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// No pending upstream login has this `state` (forged, expired, or already used).
    #[error("unknown or already used state")]
    UnknownState,
    /// The callback came to another browser than the one that started the login.
    #[error("the login was started in another browser")]
    OtherBrowser,
    #[error("the callback carries no code")]
    MissingCode,
    /// The upstream answered with an error (`access_denied`, …).
    #[error("the upstream provider answered {0}")]
    Upstream(String),
    /// The upstream could not be reached, or answered what OpenID Connect does not.
    #[error("the upstream provider is unavailable: {0}")]
    Unavailable(String),
    /// The ID token failed a check of OIDC Core §3.1.3.7.
    #[error("the upstream ID token was refused: {0}")]
    IdToken(String),
    #[error("the upstream login states no acr")]
    AcrMissing,
    #[error("the upstream acr {0:?} is not in the acr table")]
    AcrUnmapped(String),
    #[error("the upstream login carries no SSIN claim")]
    SsinMissing,
    #[error("the upstream SSIN claim is not a valid SSIN")]
    SsinMalformed,
    /// The SSIN is not a person of the authentic source.
    #[error("the person is not known here")]
    UnknownPerson,
    /// The profiles claim grants none of the person's profiles.
    #[error("the upstream login grants none of the person's profiles")]
    NoProfile,
}

impl FederationError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownState | Self::MissingCode => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::BAD_GATEWAY,
            Self::OtherBrowser
            | Self::Upstream(_)
            | Self::IdToken(_)
            | Self::AcrMissing
            | Self::AcrUnmapped(_)
            | Self::SsinMissing
            | Self::SsinMalformed
            | Self::UnknownPerson
            | Self::NoProfile => StatusCode::FORBIDDEN,
        }
    }

    /// A stable code for the log and the page (never the upstream's details).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownState => "F-STATE",
            Self::OtherBrowser => "F-BROWSER",
            Self::MissingCode => "F-CODE",
            Self::Upstream(_) => "F-UPSTREAM-ERROR",
            Self::Unavailable(_) => "F-UNAVAILABLE",
            Self::IdToken(_) => "F-ID-TOKEN",
            Self::AcrMissing | Self::AcrUnmapped(_) => "F-ACR",
            Self::SsinMissing | Self::SsinMalformed => "F-SSIN",
            Self::UnknownPerson => "F-UNKNOWN-PERSON",
            Self::NoProfile => "F-PROFILE",
        }
    }

    /// The sentence of the error page.
    pub fn text(&self, lang: Lang) -> String {
        let [en, nl, fr] = match self {
            Self::UnknownState => [
                "This sign-in link is unknown, expired or was already used. Start again from the application.",
                "Deze aanmeldlink is onbekend, verlopen of al gebruikt. Begin opnieuw vanuit de toepassing.",
                "Ce lien de connexion est inconnu, expiré ou déjà utilisé. Recommencez depuis l'application.",
            ],
            Self::OtherBrowser => [
                "This sign-in was started in another browser.",
                "Deze aanmelding werd in een andere browser gestart.",
                "Cette connexion a été commencée dans un autre navigateur.",
            ],
            Self::MissingCode => [
                "The identity provider sent no authorization code.",
                "De identiteitsprovider stuurde geen autorisatiecode.",
                "Le fournisseur d'identité n'a envoyé aucun code d'autorisation.",
            ],
            Self::Upstream(_) => [
                "The identity provider did not sign you in.",
                "De identiteitsprovider heeft u niet aangemeld.",
                "Le fournisseur d'identité ne vous a pas connecté.",
            ],
            Self::Unavailable(_) => [
                "The identity provider cannot be reached now. Try again later.",
                "De identiteitsprovider is nu niet bereikbaar. Probeer later opnieuw.",
                "Le fournisseur d'identité est injoignable pour le moment. Réessayez plus tard.",
            ],
            Self::IdToken(_) => [
                "The identity provider's answer failed our checks.",
                "Het antwoord van de identiteitsprovider doorstond onze controles niet.",
                "La réponse du fournisseur d'identité n'a pas passé nos contrôles.",
            ],
            Self::AcrMissing | Self::AcrUnmapped(_) => [
                "The identity provider's level of assurance is not accepted here.",
                "Het betrouwbaarheidsniveau van de identiteitsprovider wordt hier niet aanvaard.",
                "Le niveau de garantie du fournisseur d'identité n'est pas accepté ici.",
            ],
            Self::SsinMissing | Self::SsinMalformed => [
                "The identity provider did not give a valid national register number.",
                "De identiteitsprovider gaf geen geldig rijksregisternummer.",
                "Le fournisseur d'identité n'a pas donné de numéro de registre national valide.",
            ],
            Self::UnknownPerson => [
                "You are not registered with this service.",
                "U bent niet geregistreerd bij deze dienst.",
                "Vous n'êtes pas enregistré auprès de ce service.",
            ],
            Self::NoProfile => [
                "This sign-in does not allow any of your profiles.",
                "Deze aanmelding laat geen enkel van uw profielen toe.",
                "Cette connexion ne permet aucun de vos profils.",
            ],
        };
        let text = match lang {
            Lang::En => en,
            Lang::Nl => nl,
            Lang::Fr => fr,
        };
        format!("{text} ({})", self.code())
    }
}
