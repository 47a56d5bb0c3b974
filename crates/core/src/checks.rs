//! What a payload from the network must look like before a node stores it.
//!
//! The codecs accept what Tessera's decoders accept, including payloads no node could ever
//! decrypt: `{}` as CBOR decodes to an empty sender, cipher text and nonces. Storing such a
//! payload helps nobody and blocks the real transaction later (its hash is then held with other
//! fields). [`EncodedPayload::check_storable`] refuses them before anything is written
//! (docs/security.md, "Pushes we refuse that Tessera would store").

use std::collections::HashSet;

use crate::keys::NACL_KEY_LEN;
use crate::nacl::{KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::{CodecError, EncodedPayload, PrivacyMode};

/// The length of a recipient box: the 32-byte master key sealed with a 16-byte tag.
pub const RECIPIENT_BOX_LEN: usize = KEY_LEN + TAG_LEN;

fn invalid(message: String) -> CodecError {
    CodecError::Invalid(message)
}

fn check_len(what: &str, len: usize, wanted: usize) -> Result<(), CodecError> {
    if len == wanted {
        Ok(())
    } else {
        Err(invalid(format!("{what} must be {wanted} bytes, got {len}")))
    }
}

impl EncodedPayload {
    /// Whether this payload, as received from a peer, could be opened by someone: every field
    /// a recipient needs is present and has the size NaCl needs (docs/protocol.md §1.1, §3.1).
    ///
    /// - the sender key, every recipient key and every mandatory recipient are 32 bytes;
    /// - the cipher text holds at least the 16-byte tag; both nonces are 24 bytes;
    /// - there is at least one recipient box, and every box is 48 bytes;
    /// - recipient keys are distinct and line up with the boxes: one key per box (or no keys at
    ///   all, as very old nodes wrote, with exactly one box); in PSV mode every recipient is
    ///   listed and the boxes belong to the first keys;
    /// - the builder invariants of [`EncodedPayload::validate`] hold.
    ///
    /// The work is linear in the size of the payload.
    pub fn check_storable(&self) -> Result<(), CodecError> {
        check_len("sender key", self.sender.as_bytes().len(), NACL_KEY_LEN)?;
        if self.cipher_text.len() < TAG_LEN {
            return Err(invalid(format!(
                "cipher text must hold at least the {TAG_LEN}-byte tag, got {} bytes",
                self.cipher_text.len()
            )));
        }
        check_len(
            "cipher text nonce",
            self.cipher_text_nonce.as_bytes().len(),
            NONCE_LEN,
        )?;
        check_len(
            "recipient nonce",
            self.recipient_nonce.as_bytes().len(),
            NONCE_LEN,
        )?;
        if self.recipient_boxes.is_empty() {
            return Err(invalid("the payload has no recipient box".into()));
        }
        for (i, recipient_box) in self.recipient_boxes.iter().enumerate() {
            let len = recipient_box.as_bytes().len();
            if len != RECIPIENT_BOX_LEN {
                return Err(invalid(format!(
                    "recipient box {i} must be {RECIPIENT_BOX_LEN} bytes, got {len}"
                )));
            }
        }
        let mut seen = HashSet::with_capacity(self.recipient_keys.len());
        for (i, key) in self.recipient_keys.iter().enumerate() {
            check_len(
                &format!("recipient key {i}"),
                key.as_bytes().len(),
                NACL_KEY_LEN,
            )?;
            if !seen.insert(key.as_bytes()) {
                return Err(invalid(format!("recipient key {key} is listed twice")));
            }
        }
        let (keys, boxes) = (self.recipient_keys.len(), self.recipient_boxes.len());
        if self.privacy_mode == PrivacyMode::PrivateStateValidation {
            if boxes > keys {
                return Err(invalid(format!(
                    "a private state validation payload lists every recipient: {keys} keys for {boxes} boxes"
                )));
            }
        } else if keys == 0 {
            if boxes != 1 {
                return Err(invalid(format!(
                    "a payload without recipient keys carries exactly one box, not {boxes}"
                )));
            }
        } else if keys != boxes {
            return Err(invalid(format!(
                "recipient keys and boxes do not line up: {keys} keys for {boxes} boxes"
            )));
        }
        for key in &self.mandatory_recipients {
            check_len("mandatory recipient", key.as_bytes().len(), NACL_KEY_LEN)?;
        }
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Nonce, RecipientBox};
    use crate::PublicKey;

    fn key(byte: u8) -> PublicKey {
        PublicKey::from_bytes(vec![byte; 32])
    }

    fn good() -> EncodedPayload {
        EncodedPayload {
            sender: key(1),
            cipher_text: vec![0; 40],
            cipher_text_nonce: Nonce(vec![0; 24]),
            recipient_boxes: vec![RecipientBox(vec![0; 48])],
            recipient_nonce: Nonce(vec![0; 24]),
            recipient_keys: vec![key(2)],
            ..EncodedPayload::default()
        }
    }

    fn refused(payload: EncodedPayload) -> String {
        payload
            .check_storable()
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn a_recipients_copy_is_storable() {
        good().check_storable().expect("storable");
        let keyless = EncodedPayload {
            recipient_keys: Vec::new(),
            ..good()
        };
        keyless.check_storable().expect("very old form");
        let psv = EncodedPayload {
            privacy_mode: PrivacyMode::PrivateStateValidation,
            exec_hash: b"exec".to_vec(),
            recipient_keys: vec![key(2), key(3), key(1)],
            ..good()
        };
        psv.check_storable().expect("PSV copy: all keys, one box");
    }

    #[test]
    fn what_no_one_can_decrypt_is_refused() {
        assert!(refused(EncodedPayload::default()).contains("sender key"));
        let cases: Vec<(&str, EncodedPayload)> = vec![
            (
                "cipher text",
                EncodedPayload {
                    cipher_text: Vec::new(),
                    ..good()
                },
            ),
            (
                "cipher text nonce",
                EncodedPayload {
                    cipher_text_nonce: Nonce(vec![0; 23]),
                    ..good()
                },
            ),
            (
                "recipient nonce",
                EncodedPayload {
                    recipient_nonce: Nonce(Vec::new()),
                    ..good()
                },
            ),
            (
                "no recipient box",
                EncodedPayload {
                    recipient_boxes: Vec::new(),
                    recipient_keys: Vec::new(),
                    ..good()
                },
            ),
            (
                "recipient box 0",
                EncodedPayload {
                    recipient_boxes: vec![RecipientBox(vec![0; 47])],
                    ..good()
                },
            ),
            (
                "recipient key 0",
                EncodedPayload {
                    recipient_keys: vec![PublicKey::from_bytes(vec![2; 31])],
                    ..good()
                },
            ),
            (
                "listed twice",
                EncodedPayload {
                    recipient_keys: vec![key(2), key(2)],
                    recipient_boxes: vec![RecipientBox(vec![0; 48]); 2],
                    ..good()
                },
            ),
            (
                "do not line up",
                EncodedPayload {
                    recipient_keys: vec![key(2), key(3)],
                    ..good()
                },
            ),
            (
                "exactly one box",
                EncodedPayload {
                    recipient_keys: Vec::new(),
                    recipient_boxes: vec![RecipientBox(vec![0; 48]); 2],
                    ..good()
                },
            ),
            (
                "lists every recipient",
                EncodedPayload {
                    privacy_mode: PrivacyMode::PrivateStateValidation,
                    exec_hash: b"exec".to_vec(),
                    recipient_boxes: vec![RecipientBox(vec![0; 48]); 2],
                    ..good()
                },
            ),
            (
                "mandatory recipient",
                EncodedPayload {
                    privacy_mode: PrivacyMode::MandatoryRecipients,
                    mandatory_recipients: [PublicKey::from_bytes(vec![5; 3])].into(),
                    ..good()
                },
            ),
        ];
        for (what, payload) in cases {
            let message = refused(payload);
            assert!(message.contains(what), "{what}: {message}");
        }
    }
}
