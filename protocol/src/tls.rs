//! TLS for the agent's client and every client command: rustls (ring), the
//! system's roots or a CA file of the operator's, and optionally a pin of the
//! controller's public key on top of the chain check (never instead of it).
//!
//! A pin is the SHA-256 of the leaf certificate's SubjectPublicKeyInfo, as
//! `openssl x509 -pubkey -noout -in cert.pem | openssl pkey -pubin -outform der
//! | sha256sum` prints it (hex), or base64 as curl's `--pinnedpubkey
//! sha256//...` takes it. Pinning the key, not the certificate, survives a
//! renewal that keeps the key.
//!
//! Verification failures (unknown CA, expired, wrong host name, pin
//! mismatch) are [`TlsFailure`]s: not retryable, since asking again cannot
//! fix them, so an agent stops with one line instead of looping.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a client checks the controller's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA(s) to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the controller's public key (SubjectPublicKeyInfo) that
    /// must match as well.
    pub pin_sha256: Option<[u8; 32]>,
}

/// Why TLS could not be set up or the controller's certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsFailure {
    #[error("--ca-file {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("no trusted roots: the system has none readable ({0}); give --ca-file")]
    NoRoots(String),
    #[error("--pin-sha256 {0:?}: expected 64 hex digits or 44 base64 characters (optionally after sha256//)")]
    BadPin(String),
    #[error("the controller's certificate is not signed by a trusted CA (check --ca-file)")]
    UnknownIssuer,
    #[error("the controller's certificate has expired or is not yet valid")]
    Expired,
    #[error("the controller's certificate is not valid for the host name {0:?}")]
    WrongName(String),
    #[error("the controller's public key does not match --pin-sha256 (it is {0})")]
    PinMismatch(String),
    #[error("the controller's certificate was refused: {0}")]
    Other(String),
}

/// Parses a pin: 64 hex digits, or base64 of 32 bytes, optionally after
/// `sha256//`.
pub fn parse_pin(text: &str) -> Result<[u8; 32], TlsFailure> {
    let bad = || TlsFailure::BadPin(text.to_string());
    let t = text.trim();
    let t = t.strip_prefix("sha256//").unwrap_or(t);
    let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?
    } else {
        crate::window::base64_decode(t).ok_or_else(bad)?
    };
    bytes.try_into().map_err(|_| bad())
}

/// The pin of a certificate (DER): SHA-256 of its SubjectPublicKeyInfo, hex.
pub fn pin_of(cert: &[u8]) -> Result<[u8; 32], TlsFailure> {
    let spki = spki_of(cert).ok_or_else(|| TlsFailure::Other("malformed certificate".into()))?;
    Ok(Sha256::digest(spki).into())
}

/// Hex of a pin.
pub fn hex(pin: &[u8; 32]) -> String {
    pin.iter().map(|b| format!("{b:02x}")).collect()
}

/// One DER element at the start of `der`: (tag, whole element, contents).
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *der.first()?;
    let first = *der.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*der.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    let whole = der.get(..end)?;
    Some((tag, whole, &whole[head..]))
}

/// The SubjectPublicKeyInfo element of an X.509 certificate (DER): the
/// seventh field of tbsCertificate when it has a version, the sixth without.
fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (_, _, cert_body) = der_element(cert)?;
    let (_, _, mut tbs) = der_element(cert_body)?;
    let mut fields = Vec::new();
    while !tbs.is_empty() && fields.len() < 7 {
        let (tag, whole, _) = der_element(tbs)?;
        fields.push((tag, whole));
        tbs = &tbs[whole.len()..];
    }
    // [0] EXPLICIT version is optional (context tag 0xa0).
    let skip = usize::from(fields.first()?.0 == 0xa0);
    fields.get(5 + skip).map(|(_, whole)| *whole)
}

/// The roots: the CA file's, or the system's.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsFailure> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let fail = |why: String| TlsFailure::CaFile {
                path: path.display().to_string(),
                why,
            };
            let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(format!("not PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(fail("no certificate in it".into()));
            }
            for c in certs {
                store
                    .add(c)
                    .map_err(|e| fail(format!("not a usable CA certificate: {e}")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // A system root rustls cannot use is skipped, as browsers do.
                let _ = store.add(c);
            }
            if store.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_string(), ToString::to_string);
                return Err(TlsFailure::NoRoots(why));
            }
        }
    }
    Ok(store)
}

/// The provider every config here uses: ring. rustls marks it deprecated
/// because it has no post-quantum (hybrid ML-KEM) key exchange; aws-lc-rs
/// has one but needs a much heavier native build. What crosses here
/// (tokens, windows, reports) must stay secret for days, not decades, so
/// classical key exchange is the trade taken; switching is this function.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration for these options.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsFailure> {
    let roots = Arc::new(roots(opts.ca_file.as_deref())?);
    let provider = provider();
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsFailure::Other(e.to_string()))?;
    let verifier = Arc::new(Verifier {
        webpki,
        pin: opts.pin_sha256,
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFailure::Other(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The chain check (webpki), then the pin when one is given.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pin: Option<[u8; 32]>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if let Some(want) = self.pin {
            let got = pin_of(end_entity).map_err(|e| rustls::Error::General(e.to_string()))?;
            if got != want {
                return Err(rustls::Error::General(format!(
                    "pin mismatch: {}",
                    hex(&got)
                )));
            }
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// What a failed handshake says about the certificate, when it was refused
/// (None: the handshake failed some other way, e.g. the connection broke).
pub fn classify(e: &std::io::Error, host: &str) -> Option<TlsFailure> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match inner {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsFailure::UnknownIssuer
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::WrongName(host.to_string())
            }
            other => TlsFailure::Other(format!("{other:?}")),
        },
        rustls::Error::General(m) if m.starts_with("pin mismatch: ") => {
            TlsFailure::PinMismatch(m["pin mismatch: ".len()..].to_string())
        }
        other => TlsFailure::Other(other.to_string()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_as_hex_or_base64() {
        let hex_pin = "00".repeat(31) + "ff";
        let mut want = [0u8; 32];
        want[31] = 0xff;
        assert_eq!(parse_pin(&hex_pin).unwrap(), want);
        let b64 = crate::window::base64_encode(&want);
        assert_eq!(parse_pin(&b64).unwrap(), want);
        assert_eq!(parse_pin(&format!("sha256//{b64}")).unwrap(), want);
        assert!(parse_pin("abcd").is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn the_pin_is_the_hash_of_the_public_key() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        use rcgen::PublicKeyData;
        let want: [u8; 32] = Sha256::digest(key.subject_public_key_info()).into();
        assert_eq!(pin_of(cert.der()).unwrap(), want);
        // Another certificate of the same key: the same pin.
        let again = rcgen::CertificateParams::new(vec!["other".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(pin_of(again.der()).unwrap(), want);
        assert!(pin_of(&[0x30, 0x03, 0x02, 0x01]).is_err());
    }
}
