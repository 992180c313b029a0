//! The relying party as the public URL makes it: its id (the host) and the one origin answers
//! must come from.

use url::{Host, Url};

/// Why a public URL cannot be a WebAuthn relying party.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelyingPartyError {
    /// The text is not an absolute URL.
    #[error("the public URL is not an absolute URL")]
    NotAUrl,
    /// The host is an IP address; a relying-party id must be a domain name.
    #[error("passkeys need a domain name in the public URL, not an IP address")]
    IpAddress,
    /// Neither `https`, nor `http` on `localhost`: browsers offer WebAuthn only in a secure
    /// context.
    #[error("passkeys need an https public URL (plain http only on localhost)")]
    NotSecure,
    /// webauthn-rs refused the id and origin together (it should not, once the checks above
    /// have passed).
    #[error("webauthn-rs refused the relying party made from the public URL")]
    Refused,
}

/// The relying party of a public URL: `https://clinic.example/portal` is the id
/// `clinic.example` with the origin `https://clinic.example`; a port stays in the origin
/// (`https://clinic.example:8443`); the path plays no part.
///
/// ```
/// use portal_passkeys::{RelyingParty, RelyingPartyError};
///
/// let party = RelyingParty::from_public_url("https://Clinic.Example/portal/")?;
/// assert_eq!(party.id(), "clinic.example");
/// assert_eq!(party.origin().as_str(), "https://clinic.example/");
///
/// // Development on one machine: plain http is allowed on localhost only.
/// assert!(RelyingParty::from_public_url("http://localhost:8080").is_ok());
/// assert_eq!(RelyingParty::from_public_url("http://clinic.example"), Err(RelyingPartyError::NotSecure));
/// assert_eq!(RelyingParty::from_public_url("https://10.0.0.7"), Err(RelyingPartyError::IpAddress));
/// # Ok::<(), RelyingPartyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    id: String,
    origin: Url,
}

impl RelyingParty {
    /// The relying party of the portal's public URL (`--public-url`).
    ///
    /// # Errors
    /// [`RelyingPartyError::NotAUrl`], [`RelyingPartyError::IpAddress`] (IPv4 or IPv6, even
    /// loopback: WebAuthn has no IP relying parties), [`RelyingPartyError::NotSecure`] for
    /// `http` anywhere but `localhost`, and for any other scheme.
    pub fn from_public_url(public_url: &str) -> Result<Self, RelyingPartyError> {
        let url = Url::parse(public_url.trim()).map_err(|_| RelyingPartyError::NotAUrl)?;
        let domain = match url.host() {
            Some(Host::Domain(domain)) => domain.to_owned(),
            Some(Host::Ipv4(_) | Host::Ipv6(_)) => return Err(RelyingPartyError::IpAddress),
            None => return Err(RelyingPartyError::NotAUrl),
        };
        // `url` lower-cases a special URL's domain and turns it into its ASCII (punycode) form,
        // which is the form browsers hash for the relying-party id.
        match url.scheme() {
            "https" => {}
            "http" if domain == "localhost" => {}
            _ => return Err(RelyingPartyError::NotSecure),
        }
        let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|_| RelyingPartyError::NotAUrl)?;
        Ok(Self { id: domain, origin })
    }

    /// The relying-party id: the public URL's host. Passkeys are bound to it.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The one origin answers are accepted from: scheme, host and port of the public URL.
    #[must_use]
    pub fn origin(&self) -> &Url {
        &self.origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(url: &str) -> (String, String) {
        let party = RelyingParty::from_public_url(url).expect("a valid relying party");
        (party.id().to_owned(), party.origin().as_str().to_owned())
    }

    #[test]
    fn the_id_is_the_host_and_the_origin_keeps_scheme_host_and_port() {
        assert_eq!(party("https://clinic.example/portal"), ("clinic.example".into(), "https://clinic.example/".into()));
        assert_eq!(
            party("https://portal.clinic.example:8443/a/b?c=d"),
            ("portal.clinic.example".into(), "https://portal.clinic.example:8443/".into())
        );
        assert_eq!(party(" https://clinic.example:443/ "), ("clinic.example".into(), "https://clinic.example/".into()));
        assert_eq!(party("http://localhost:8080/portal"), ("localhost".into(), "http://localhost:8080/".into()));
        assert_eq!(party("https://localhost"), ("localhost".into(), "https://localhost/".into()));
    }

    #[test]
    fn an_international_domain_is_its_ascii_form() {
        assert_eq!(
            party("https://praxis-müller.example/"),
            ("xn--praxis-mller-klb.example".into(), "https://xn--praxis-mller-klb.example/".into())
        );
    }

    #[test]
    fn an_ip_address_is_no_relying_party() {
        for url in ["https://192.0.2.10/portal", "http://127.0.0.1:8080", "https://[2001:db8::1]/", "http://[::1]:8080"]
        {
            assert_eq!(RelyingParty::from_public_url(url), Err(RelyingPartyError::IpAddress), "{url}");
        }
    }

    #[test]
    fn plain_http_is_refused_beyond_localhost() {
        for url in ["http://clinic.example/portal", "http://localhost.clinic.example", "ftp://clinic.example/"] {
            assert_eq!(RelyingParty::from_public_url(url), Err(RelyingPartyError::NotSecure), "{url}");
        }
    }

    #[test]
    fn text_that_is_not_a_url_is_refused() {
        for url in ["", "clinic.example/portal", "https://", "mailto:staff@clinic.example"] {
            assert!(
                matches!(
                    RelyingParty::from_public_url(url),
                    Err(RelyingPartyError::NotAUrl | RelyingPartyError::NotSecure)
                ),
                "{url}"
            );
        }
        assert_eq!(RelyingParty::from_public_url("clinic.example"), Err(RelyingPartyError::NotAUrl));
    }
}
