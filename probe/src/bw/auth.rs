//! The control connection's proof of the key: HMAC-SHA-256 over a label, the
//! server's fresh nonce and the requested parameters, so a recorded request
//! cannot be replayed and its parameters cannot be changed on the way.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::protocol::{params_bytes, Params, NONCE_LEN};

const LABEL: &[u8] = b"hubmesh-bw-v1";

fn mac(key: &[u8]) -> Option<Hmac<Sha256>> {
    Hmac::<Sha256>::new_from_slice(key).ok()
}

/// The client's tag for `params` under the server's `nonce`.
pub fn sign(key: &[u8], nonce: &[u8; NONCE_LEN], params: &Params) -> Vec<u8> {
    let Some(mut m) = mac(key) else {
        return Vec::new();
    };
    m.update(LABEL);
    m.update(nonce);
    m.update(&params_bytes(params));
    m.finalize().into_bytes().to_vec()
}

/// Whether `tag` proves `key` (constant-time comparison).
pub fn verify(key: &[u8], nonce: &[u8; NONCE_LEN], params: &Params, tag: &[u8]) -> bool {
    let Some(mut m) = mac(key) else {
        return false;
    };
    m.update(LABEL);
    m.update(nonce);
    m.update(&params_bytes(params));
    m.verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::protocol::Protocol;
    use super::*;

    #[test]
    fn tag_binds_key_nonce_and_params() {
        let p = Params {
            protocol: Protocol::Tcp,
            reverse: false,
            streams: 2,
            duration_ms: 1000,
            udp_rate_bps: 0,
            udp_payload: 0,
        };
        let nonce = [3; NONCE_LEN];
        let tag = sign(b"key", &nonce, &p);
        assert_eq!(tag.len(), 32);
        assert!(verify(b"key", &nonce, &p, &tag));
        assert!(!verify(b"other", &nonce, &p, &tag));
        assert!(!verify(b"key", &[4; NONCE_LEN], &p, &tag));
        let more = Params { streams: 16, ..p };
        assert!(!verify(b"key", &nonce, &more, &tag));
        assert!(!verify(b"key", &nonce, &p, &tag[..16]));
        assert!(!verify(b"key", &nonce, &p, &[]));
    }
}
