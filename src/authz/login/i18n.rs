//! The person-facing pages in English, Dutch and French, chosen by `ui_locales` (OpenID
//! Connect) or else `Accept-Language`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Nl,
    Fr,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
            Lang::Fr => "fr",
        }
    }

    /// `ui_locales` (space-separated) first, then the `Accept-Language` header.
    pub fn choose(ui_locales: Option<&str>, accept_language: Option<&str>) -> Self {
        let supported = ["en", "nl", "fr"];
        let from_ui = ui_locales.and_then(|locales| {
            locales
                .split(' ')
                .filter_map(|tag| tag.split('-').next())
                .find_map(|primary| {
                    supported
                        .iter()
                        .position(|s| s.eq_ignore_ascii_case(primary))
                })
        });
        // `parse` orders the header's tags by quality; the primary subtag decides.
        let index = from_ui.or_else(|| {
            accept_language::parse(accept_language?)
                .iter()
                .filter_map(|tag| tag.split('-').next())
                .find_map(|primary| {
                    supported
                        .iter()
                        .position(|s| s.eq_ignore_ascii_case(primary))
                })
        });
        match index {
            Some(1) => Lang::Nl,
            Some(2) => Lang::Fr,
            _ => Lang::En,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Nl => &NL,
            Lang::Fr => &FR,
        }
    }
}

pub struct Texts {
    pub service: &'static str,
    pub login_title: &'static str,
    pub login_for: &'static str,
    pub username: &'static str,
    pub username_hint: &'static str,
    pub password: &'static str,
    pub totp: &'static str,
    pub totp_hint: &'static str,
    pub login_button: &'static str,
    /// The upstream login's button: "Sign in with" and its configured name.
    pub sign_in_with: &'static str,
    pub bad_credentials: &'static str,
    pub throttled: &'static str,
    pub busy: &'static str,
    pub step_up: &'static str,
    pub profile_title: &'static str,
    pub profile_intro: &'static str,
    pub as_citizen: &'static str,
    pub as_professional: &'static str,
    pub for_organization: &'static str,
    pub for_mandator: &'static str,
    pub continue_button: &'static str,
    pub consent_title: &'static str,
    pub consent_intro: &'static str,
    pub allow: &'static str,
    pub deny: &'static str,
    pub account_title: &'static str,
    pub signed_in_as: &'static str,
    pub consents: &'static str,
    pub no_consents: &'static str,
    pub granted_on: &'static str,
    pub revoke: &'static str,
    /// The button that withdraws only the consent to `exchange`.
    pub withdraw_exchange: &'static str,
    pub keys_title: &'static str,
    pub keys_intro: &'static str,
    pub no_keys: &'static str,
    pub key_name: &'static str,
    pub rename: &'static str,
    pub key_application: &'static str,
    pub key_status: &'static str,
    pub last_used: &'static str,
    pub valid_until: &'static str,
    pub absences_title: &'static str,
    pub absences_intro: &'static str,
    pub no_absences: &'static str,
    pub absence_from: &'static str,
    pub absence_until: &'static str,
    pub substitutes: &'static str,
    pub substitutes_hint: &'static str,
    pub set_absence: &'static str,
    pub end_absence: &'static str,
    pub logout: &'static str,
    pub logged_out: &'static str,
    pub error_title: &'static str,
    pub expired: &'static str,
    pub forged: &'static str,
    pub back_to_app: &'static str,
    pub scopes: [(&'static str, &'static str); 10],
    pub qualities: [(&'static str, &'static str); 8],
}

impl Texts {
    pub fn scope(&self, scope: &str) -> &'static str {
        self.scopes
            .iter()
            .find(|(s, _)| *s == scope)
            .map(|(_, text)| *text)
            .unwrap_or("")
    }

    pub fn quality(&self, quality: &str) -> String {
        self.qualities
            .iter()
            .find(|(q, _)| *q == quality)
            .map(|(_, text)| (*text).to_owned())
            .unwrap_or_else(|| quality.to_owned())
    }
}

pub static EN: Texts = Texts {
    service: "eHealth depot",
    login_title: "Log in",
    login_for: "to continue to",
    username: "National register number (SSIN)",
    username_hint: "11 digits, without dots or dashes",
    password: "Password",
    totp: "One-time code",
    totp_hint: "The 6 digits of your authenticator app, if you use one",
    login_button: "Log in",
    sign_in_with: "Sign in with",
    bad_credentials: "The number, the password or the code is not correct.",
    throttled: "Too many failed attempts. Try again later.",
    busy: "The service is busy. Try again in a moment.",
    step_up: "This application needs a higher level of assurance: log in again with your one-time code.",
    profile_title: "Choose a profile",
    profile_intro: "In which capacity do you want to continue?",
    as_citizen: "As a citizen",
    as_professional: "As a health professional",
    for_organization: "On behalf of the organization",
    for_mandator: "On behalf of",
    continue_button: "Continue",
    consent_title: "Allow access",
    consent_intro: "asks for permission to:",
    allow: "Allow",
    deny: "Deny",
    account_title: "Your account",
    signed_in_as: "Logged in as",
    consents: "Applications you allowed",
    no_consents: "You have not allowed any application yet.",
    granted_on: "allowed on",
    revoke: "Revoke",
    withdraw_exchange: "Stop acting for me",
    keys_title: "Your device keys",
    keys_intro: "The public keys your devices registered, per application. Revoking a key means nothing new can be encrypted to it or signed with it; it stays in this history.",
    no_keys: "No device key is registered.",
    key_name: "Name",
    rename: "Rename",
    key_application: "Application",
    key_status: "Status",
    last_used: "Last used",
    valid_until: "Valid until",
    absences_title: "Out of office",
    absences_intro: "While you are away, senders are told until when and who substitutes for you. Messages stay end-to-end encrypted: a substitute receives a copy only when the sender encrypted it for them too.",
    no_absences: "No absence is planned.",
    absence_from: "From (UTC, empty for now)",
    absence_until: "Until (UTC)",
    substitutes: "Substitutes",
    substitutes_hint: "One per line: nihii:…, ssin:… or cbe:…",
    set_absence: "Set the absence",
    end_absence: "End",
    logout: "Log out",
    logged_out: "You are logged out.",
    error_title: "This request cannot be processed",
    expired: "This page has expired. Start again from the application.",
    forged: "This form was not sent from this site or has expired. Start again from the application.",
    back_to_app: "Return to the application and try again.",
    scopes: [
        ("depot:send", "send sealed messages in your name"),
        ("depot:read", "read the messages in your box"),
        ("keys:register", "register and manage your device keys"),
        ("keys:read", "look up the public keys of recipients"),
        (
            "symkeys:create",
            "create encryption keys for unknown recipients",
        ),
        (
            "symkeys:read",
            "fetch encryption keys you are allowed to use",
        ),
        ("tsa", "obtain time stamps"),
        ("admin", "administer the service"),
        (
            "exchange",
            "act for you towards other services (exchange your token for theirs)",
        ),
        ("openid", "know who you are"),
    ],
    qualities: [
        ("doctor", "doctor"),
        ("dentist", "dentist"),
        ("pharmacist", "pharmacist"),
        ("nurse", "nurse"),
        ("midwife", "midwife"),
        ("physiotherapist", "physiotherapist"),
        ("psychologist", "psychologist"),
        ("paramedic", "paramedic"),
    ],
};

pub static NL: Texts = Texts {
    service: "eHealth-depot",
    login_title: "Aanmelden",
    login_for: "om verder te gaan naar",
    username: "Rijksregisternummer (INSZ)",
    username_hint: "11 cijfers, zonder punten of streepjes",
    password: "Wachtwoord",
    totp: "Eenmalige code",
    totp_hint: "De 6 cijfers van uw authenticator-app, als u er een gebruikt",
    login_button: "Aanmelden",
    sign_in_with: "Aanmelden met",
    bad_credentials: "Het nummer, het wachtwoord of de code is niet juist.",
    throttled: "Te veel mislukte pogingen. Probeer het later opnieuw.",
    busy: "De dienst is druk bezet. Probeer het zo dadelijk opnieuw.",
    step_up: "Deze toepassing vraagt een hoger betrouwbaarheidsniveau: meld u opnieuw aan met uw eenmalige code.",
    profile_title: "Kies een profiel",
    profile_intro: "In welke hoedanigheid wilt u verdergaan?",
    as_citizen: "Als burger",
    as_professional: "Als zorgverlener",
    for_organization: "Namens de organisatie",
    for_mandator: "Namens",
    continue_button: "Verder",
    consent_title: "Toegang toestaan",
    consent_intro: "vraagt uw toestemming om:",
    allow: "Toestaan",
    deny: "Weigeren",
    account_title: "Uw account",
    signed_in_as: "Aangemeld als",
    consents: "Toepassingen die u toegang gaf",
    no_consents: "U hebt nog geen enkele toepassing toegang gegeven.",
    granted_on: "toegestaan op",
    revoke: "Intrekken",
    withdraw_exchange: "Niet langer namens mij optreden",
    keys_title: "Uw toestelsleutels",
    keys_intro: "De publieke sleutels die uw toestellen registreerden, per toepassing. Na intrekking kan er niets nieuws meer voor versleuteld of mee ondertekend worden; de sleutel blijft in deze geschiedenis.",
    no_keys: "Er is geen toestelsleutel geregistreerd.",
    key_name: "Naam",
    rename: "Hernoemen",
    key_application: "Toepassing",
    key_status: "Status",
    last_used: "Laatst gebruikt",
    valid_until: "Geldig tot",
    absences_title: "Afwezigheid",
    absences_intro: "Terwijl u weg bent, horen afzenders tot wanneer en wie u vervangt. Berichten blijven end-to-end versleuteld: een vervanger krijgt alleen een kopie als de afzender ook voor hem of haar versleutelde.",
    no_absences: "Er is geen afwezigheid gepland.",
    absence_from: "Vanaf (UTC, leeg voor nu)",
    absence_until: "Tot (UTC)",
    substitutes: "Vervangers",
    substitutes_hint: "Eén per regel: nihii:…, ssin:… of cbe:…",
    set_absence: "Afwezigheid instellen",
    end_absence: "Beëindigen",
    logout: "Afmelden",
    logged_out: "U bent afgemeld.",
    error_title: "Deze aanvraag kan niet worden verwerkt",
    expired: "Deze pagina is verlopen. Begin opnieuw vanuit de toepassing.",
    forged: "Dit formulier komt niet van deze site of is verlopen. Begin opnieuw vanuit de toepassing.",
    back_to_app: "Keer terug naar de toepassing en probeer opnieuw.",
    scopes: [
        ("depot:send", "verzegelde berichten in uw naam versturen"),
        ("depot:read", "de berichten in uw brievenbus lezen"),
        (
            "keys:register",
            "de sleutels van uw toestellen registreren en beheren",
        ),
        ("keys:read", "de publieke sleutels van ontvangers opzoeken"),
        (
            "symkeys:create",
            "versleutelingssleutels maken voor onbekende ontvangers",
        ),
        (
            "symkeys:read",
            "versleutelingssleutels ophalen die u mag gebruiken",
        ),
        ("tsa", "tijdstempels verkrijgen"),
        ("admin", "de dienst beheren"),
        (
            "exchange",
            "namens u optreden bij andere diensten (uw token inruilen voor het hunne)",
        ),
        ("openid", "weten wie u bent"),
    ],
    qualities: [
        ("doctor", "arts"),
        ("dentist", "tandarts"),
        ("pharmacist", "apotheker"),
        ("nurse", "verpleegkundige"),
        ("midwife", "vroedvrouw"),
        ("physiotherapist", "kinesitherapeut"),
        ("psychologist", "psycholoog"),
        ("paramedic", "paramedicus"),
    ],
};

pub static FR: Texts = Texts {
    service: "Dépôt eHealth",
    login_title: "Connexion",
    login_for: "pour continuer vers",
    username: "Numéro de registre national (NISS)",
    username_hint: "11 chiffres, sans points ni tirets",
    password: "Mot de passe",
    totp: "Code à usage unique",
    totp_hint: "Les 6 chiffres de votre application d'authentification, si vous en utilisez une",
    login_button: "Se connecter",
    sign_in_with: "Se connecter avec",
    bad_credentials: "Le numéro, le mot de passe ou le code n'est pas correct.",
    throttled: "Trop de tentatives échouées. Réessayez plus tard.",
    busy: "Le service est occupé. Réessayez dans un instant.",
    step_up: "Cette application demande un niveau de garantie plus élevé : reconnectez-vous avec votre code à usage unique.",
    profile_title: "Choisissez un profil",
    profile_intro: "En quelle qualité souhaitez-vous continuer ?",
    as_citizen: "En tant que citoyen",
    as_professional: "En tant que professionnel de santé",
    for_organization: "Au nom de l'organisation",
    for_mandator: "Au nom de",
    continue_button: "Continuer",
    consent_title: "Autoriser l'accès",
    consent_intro: "demande votre autorisation pour :",
    allow: "Autoriser",
    deny: "Refuser",
    account_title: "Votre compte",
    signed_in_as: "Connecté en tant que",
    consents: "Applications que vous avez autorisées",
    no_consents: "Vous n'avez encore autorisé aucune application.",
    granted_on: "autorisée le",
    revoke: "Révoquer",
    withdraw_exchange: "Ne plus agir pour moi",
    keys_title: "Vos clés d'appareil",
    keys_intro: "Les clés publiques enregistrées par vos appareils, par application. Une clé révoquée ne peut plus servir à chiffrer ni à signer quoi que ce soit de nouveau ; elle reste dans cet historique.",
    no_keys: "Aucune clé d'appareil n'est enregistrée.",
    key_name: "Nom",
    rename: "Renommer",
    key_application: "Application",
    key_status: "Statut",
    last_used: "Dernière utilisation",
    valid_until: "Valable jusqu'au",
    absences_title: "Absence",
    absences_intro: "Pendant votre absence, les expéditeurs apprennent jusqu'à quand et qui vous remplace. Les messages restent chiffrés de bout en bout : un remplaçant n'en reçoit une copie que si l'expéditeur l'a aussi chiffré pour lui.",
    no_absences: "Aucune absence n'est prévue.",
    absence_from: "À partir de (UTC, vide pour maintenant)",
    absence_until: "Jusqu'au (UTC)",
    substitutes: "Remplaçants",
    substitutes_hint: "Un par ligne : nihii:…, ssin:… ou cbe:…",
    set_absence: "Enregistrer l'absence",
    end_absence: "Terminer",
    logout: "Se déconnecter",
    logged_out: "Vous êtes déconnecté.",
    error_title: "Cette demande ne peut pas être traitée",
    expired: "Cette page a expiré. Recommencez depuis l'application.",
    forged: "Ce formulaire ne provient pas de ce site ou a expiré. Recommencez depuis l'application.",
    back_to_app: "Retournez à l'application et réessayez.",
    scopes: [
        ("depot:send", "envoyer des messages scellés en votre nom"),
        ("depot:read", "lire les messages de votre boîte"),
        (
            "keys:register",
            "enregistrer et gérer les clés de vos appareils",
        ),
        (
            "keys:read",
            "rechercher les clés publiques des destinataires",
        ),
        (
            "symkeys:create",
            "créer des clés de chiffrement pour des destinataires inconnus",
        ),
        (
            "symkeys:read",
            "obtenir les clés de chiffrement que vous pouvez utiliser",
        ),
        ("tsa", "obtenir des horodatages"),
        ("admin", "administrer le service"),
        (
            "exchange",
            "agir pour vous auprès d'autres services (échanger votre jeton contre le leur)",
        ),
        ("openid", "savoir qui vous êtes"),
    ],
    qualities: [
        ("doctor", "médecin"),
        ("dentist", "dentiste"),
        ("pharmacist", "pharmacien"),
        ("nurse", "infirmier"),
        ("midwife", "sage-femme"),
        ("physiotherapist", "kinésithérapeute"),
        ("psychologist", "psychologue"),
        ("paramedic", "secouriste-ambulancier"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice() {
        assert_eq!(
            Lang::choose(None, Some("nl-BE,nl;q=0.9,en;q=0.5")),
            Lang::Nl
        );
        assert_eq!(Lang::choose(None, Some("de-DE, fr;q=0.8")), Lang::Fr);
        assert_eq!(Lang::choose(None, Some("de")), Lang::En);
        assert_eq!(Lang::choose(None, None), Lang::En);
        assert_eq!(Lang::choose(Some("fr-BE nl"), Some("nl")), Lang::Fr);
        assert_eq!(Lang::choose(Some("de"), Some("nl")), Lang::Nl);
    }

    #[test]
    fn every_scope_has_a_text_in_every_language() {
        for scope in crate::authz::scope::Scope::ALL {
            for lang in [Lang::En, Lang::Nl, Lang::Fr] {
                assert!(
                    !lang.texts().scope(scope.as_str()).is_empty(),
                    "{scope} {lang:?}"
                );
            }
        }
        for quality in crate::people::model::QUALITIES {
            assert_eq!(EN.quality(quality), *quality);
        }
    }
}
