//! The route handlers: decode the request as Tessera's resource does, call the transaction
//! manager, render its answer. `thirdparty-api` reuses [`store_raw`], [`keys`] and
//! [`party_info_keys`].

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse};
use tm_client::q2t::{
    encode_hash, DeleteRequest, EncodedPayloadJson, KeyEntry, KeysResponse, MediaType,
    OrionReceiveRequest, OrionReceiveResponse, PathEncoding, PrivacyGroupDeleteRequest,
    PrivacyGroupRequest, PrivacyGroupResponse, PrivacyGroupRetrieveRequest,
    PrivacyGroupSearchRequest, ReceiveResponse, SendRequest, SendResponse, SendSignedRequest,
    StoreRawRequest, StoreRawResponse, HEADER_FROM, HEADER_KEY, HEADER_TO, OCTET_STREAM,
};
use tm_core::payload::{Nonce, PrivacyGroupId, RecipientBox, SecurityHash};
use tm_core::{EncodedPayload, PrivacyMode, PublicKey, TxHash};
use tm_http::ApiError;
use tm_manager::transaction::{Privacy, Received, SendParams, Sent, SignedParams};
use tm_manager::Node;

use crate::input;
use crate::media::{self, accept_variant, json_variant};

const ALL: [MediaType; 4] = MediaType::ALL;
const JSON_AND_2_1: [MediaType; 2] = [MediaType::Json, MediaType::V2_1];

type Result<T> = std::result::Result<T, ApiError>;

fn text(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain")
        .body(body)
}

fn json_response<T: serde::Serialize>(
    status: actix_web::http::StatusCode,
    media: MediaType,
    value: &T,
) -> Result<HttpResponse> {
    let body = serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("cannot render the answer: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type(media.as_str())
        .body(body))
}

/// `Location: <base>/transaction/<hash, form-encoded>`, as Jersey resolves Tessera's relative
/// location against the request's base URI.
fn location(req: &HttpRequest, hash: &TxHash) -> String {
    let info = req.connection_info();
    format!(
        "{}://{}/transaction/{}",
        info.scheme(),
        info.host(),
        encode_hash(&hash.to_base64(), PathEncoding::Form)
    )
}

fn b64_list(keys: &[PublicKey]) -> Vec<String> {
    keys.iter().map(PublicKey::to_base64).collect()
}

fn send_response(sent: &Sent, media: MediaType) -> SendResponse {
    SendResponse {
        key: sent.hash.to_base64(),
        managed_parties: media
            .is_multi_tenant()
            .then(|| b64_list(&sent.managed_parties)),
        sender_key: media.is_multi_tenant().then(|| sent.sender.to_base64()),
    }
}

/// A send's `privacyGroupId`: every JSON variant honours it (Tessera's current
/// `TransactionResource.send` and `sendSignedTransactionEnhanced` do too).
fn privacy_group_id(text: Option<&str>) -> Result<Option<PrivacyGroupId>> {
    text.map(group_id).transpose()
}

/// `@PrivacyValid`: PSV needs an exec hash.
fn check_exec_hash(mode: PrivacyMode, exec_hash: Option<&str>) -> Result<()> {
    if mode == PrivacyMode::PrivateStateValidation && exec_hash.is_none_or(str::is_empty) {
        return Err(ApiError::bad_request("Exec hash missing"));
    }
    Ok(())
}

/// The recipients and privacy settings of a JSON send or signed send (the same fields in both).
struct PrivacyFields<'a> {
    to: Option<&'a [String]>,
    privacy_flag: i32,
    affected: Option<&'a [String]>,
    exec_hash: Option<String>,
    privacy_group_id: Option<&'a str>,
    mandatory_recipients: Option<&'a [String]>,
}

/// The [`PrivacyFields`] of a `SendRequest` or a `SendSignedRequest` (same field names).
macro_rules! privacy_fields {
    ($request:expr) => {
        PrivacyFields {
            to: $request.to.as_deref(),
            privacy_flag: $request.privacy_flag,
            affected: $request.affected_contract_transactions.as_deref(),
            exec_hash: $request.exec_hash.clone(),
            privacy_group_id: $request.privacy_group_id.as_deref(),
            mandatory_recipients: $request.mandatory_recipients.as_deref(),
        }
    };
}

fn privacy(fields: PrivacyFields<'_>, media: MediaType) -> Result<Privacy> {
    let privacy_mode = PrivacyMode::from_flag(i64::from(fields.privacy_flag));
    check_exec_hash(privacy_mode, fields.exec_hash.as_deref())?;
    Ok(Privacy {
        to: input::keys(fields.to, "to")?,
        privacy_mode,
        affected: input::hashes(fields.affected, "affectedContractTransactions")?,
        exec_hash: fields.exec_hash.unwrap_or_default().into_bytes(),
        privacy_group_id: privacy_group_id(fields.privacy_group_id)?,
        // Only the 4.0 resource reads mandatory recipients.
        mandatory_recipients: if media == MediaType::V4_0 {
            input::keys(fields.mandatory_recipients, "mandatoryRecipients")?
        } else {
            Vec::new()
        },
    })
}

fn send_params(request: SendRequest, media: MediaType) -> Result<SendParams> {
    if request.payload.is_empty() {
        return Err(ApiError::bad_request("payload is required"));
    }
    let privacy = privacy(privacy_fields!(request), media)?;
    Ok(SendParams {
        from: request
            .from
            .as_deref()
            .map(|from| input::key(from, "from"))
            .transpose()?,
        privacy,
        payload: request.payload,
    })
}

/// `POST /send` (docs/protocol.md §6.1): 201, `Location`, the variant's JSON.
pub async fn send(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let media = json_variant(&req, &ALL)?;
    let params = send_params(input::json(&body)?, media)?;
    let sent = node.send(params).await?;
    sent_response(&req, &sent, media, actix_web::http::StatusCode::CREATED)
}

/// A JSON send's answer: the variant's body with `status` and the transaction's `Location`.
fn sent_response(
    req: &HttpRequest,
    sent: &Sent,
    media: MediaType,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse> {
    let mut response = json_response(status, media, &send_response(sent, media))?;
    insert_location(&mut response, &location(req, &sent.hash));
    Ok(response)
}

fn insert_location(response: &mut HttpResponse, value: &str) {
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(value) {
        response.headers_mut().insert(LOCATION, value);
    }
}

/// `POST /sendsignedtx` (docs/protocol.md §6.2): the octet-stream form (raw hash bytes, `c11n-to`;
/// 200 text) or the JSON forms (201).
pub async fn send_signed(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    if media::is_octet_stream(&req) {
        if body.is_empty() {
            return Err(ApiError::bad_request(
                "the signed transaction hash is required",
            ));
        }
        let to = input::header_keys(&req, HEADER_TO)?;
        let sent = node
            .send_signed(SignedParams {
                hash: TxHash::from_bytes(body.to_vec()),
                privacy: Privacy::standard(to),
            })
            .await?;
        let mut response = text(actix_web::http::StatusCode::OK, sent.hash.to_base64());
        insert_location(&mut response, &location(&req, &sent.hash));
        return Ok(response);
    }
    let media = json_variant(&req, &ALL)?;
    let request: SendSignedRequest = input::json(&body)?;
    if request.hash.is_empty() {
        return Err(ApiError::bad_request("hash is required"));
    }
    let privacy = privacy(privacy_fields!(request), media)?;
    let params = SignedParams {
        privacy,
        hash: TxHash::from_bytes(request.hash),
    };
    let sent = node.send_signed(params).await?;
    sent_response(&req, &sent, media, actix_web::http::StatusCode::CREATED)
}

/// `POST /sendraw` (docs/protocol.md §6.3): binary plaintext, `c11n-from`, `c11n-to`; 200 text
/// hash.
pub async fn send_raw(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    media::require_octet_stream_or_none(&req)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("a payload is required"));
    }
    let from = input::header_base64(&req, HEADER_FROM)?
        .filter(|bytes| !bytes.is_empty())
        .map(PublicKey::from_bytes);
    let to = input::header_keys(&req, HEADER_TO)?;
    let sent = node
        .send(SendParams {
            payload: body.to_vec(),
            from,
            privacy: Privacy::standard(to),
        })
        .await?;
    let mut response = text(actix_web::http::StatusCode::OK, sent.hash.to_base64());
    insert_location(&mut response, &location(&req, &sent.hash));
    Ok(response)
}

/// `POST /storeraw` (docs/protocol.md §6.4; Q2T and ThirdParty): 200 `{"key"}`.
pub async fn store_raw(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let media = json_variant(&req, &JSON_AND_2_1)?;
    let request: StoreRawRequest = input::json(&body)?;
    if request.payload.is_empty() {
        return Err(ApiError::bad_request("payload is required"));
    }
    let hash = node
        .store_raw(request.payload, request.from.map(PublicKey::from_bytes))
        .await?;
    json_response(
        actix_web::http::StatusCode::OK,
        media,
        &StoreRawResponse {
            key: hash.as_bytes().to_vec(),
        },
    )
}

/// A transaction's privacy group id as receives answer it (base64).
fn group_id_text(id: &PrivacyGroupId) -> String {
    tm_core::b64::encode(id.as_bytes())
}

fn receive_response(received: Received, media: MediaType, raw: bool) -> ReceiveResponse {
    ReceiveResponse {
        payload: received.payload,
        privacy_flag: i32::from(received.privacy_mode.flag()),
        affected_contract_transactions: received.affected.iter().map(TxHash::to_base64).collect(),
        exec_hash: (!raw).then(|| String::from_utf8_lossy(&received.exec_hash).into_owned()),
        managed_parties: media
            .is_multi_tenant()
            .then(|| b64_list(&received.managed_parties)),
        sender_key: media.is_multi_tenant().then(|| received.sender.to_base64()),
        privacy_group_id: received.privacy_group_id.map(|id| group_id_text(&id)),
    }
}

/// `GET /transaction/{hash}` (docs/protocol.md §6.5): `?to=`, `?isRaw=`; the variant by `Accept`.
pub async fn receive(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    let media = accept_variant(&req, &[MediaType::Json, MediaType::V2_1, MediaType::V3_0])?;
    let hash = input::path_hash_validated(&req)?;
    let raw = match input::query_param(&req, "isRaw") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(ApiError::bad_request("isRaw must be true or false")),
    };
    let to = input::query_param(&req, "to")
        .filter(|t| !t.is_empty())
        .map(|t| input::key(&t, "to"))
        .transpose()?;
    let received = node.receive(&hash, to, raw).await?;
    json_response(
        actix_web::http::StatusCode::OK,
        media,
        &receive_response(received, media, raw),
    )
}

/// `POST /send` in orion mode (docs/privacy-groups.md, Tessera's `BesuTransactionResource`):
/// `application/json` only; without a `privacyGroupId` the LEGACY group of the sender and the
/// recipients is found or created here and attached; **200** `{"key"}` and `Location`.
pub async fn orion_send(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let media = json_variant(&req, &[MediaType::Json])?;
    let mut params = send_params(input::json(&body)?, media)?;
    if params.privacy.privacy_group_id.is_none() {
        let (sender, id) = node
            .legacy_privacy_group(params.from.take(), &params.privacy.to)
            .await?;
        params.from = Some(sender);
        params.privacy.privacy_group_id = Some(id);
    }
    let sent = node.send(params).await?;
    sent_response(&req, &sent, media, actix_web::http::StatusCode::OK)
}

/// `POST /receive` in orion mode (Besu's receive): consumes `application/json` or
/// `application/vnd.orion.v1+json`, answers `application/json` `{payload, senderKey,
/// privacyGroupId}`.
pub async fn orion_receive(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    media::orion_json(&req)?;
    let request: OrionReceiveRequest = input::json(&body)?;
    let key = request
        .key
        .filter(|key| !key.is_empty())
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    let hash = input::hash(&key, "key")?;
    let to = request
        .to
        .filter(|to| !to.is_empty())
        .map(|to| input::key(&to, "to"))
        .transpose()?;
    let received = node.receive(&hash, to, request.raw).await?;
    json_response(
        actix_web::http::StatusCode::OK,
        MediaType::Json,
        &OrionReceiveResponse {
            payload: received.payload,
            sender_key: received.sender.to_base64(),
            privacy_group_id: received.privacy_group_id.map(|id| group_id_text(&id)),
        },
    )
}

/// `DELETE /transaction/{hash}` (docs/protocol.md §6.6): 204; 404 with an empty body.
pub async fn delete(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    let hash = input::path_hash(&req)?;
    node.delete_transaction(&hash).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /delete` (docs/protocol.md §6.11, deprecated): 200 `Delete successful`.
pub async fn delete_deprecated(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    json_variant(&req, &[MediaType::Json])?;
    let request: DeleteRequest = input::json(&body)?;
    if request.key.is_empty() {
        return Err(ApiError::bad_request("key is required"));
    }
    let hash = input::hash(&request.key, "key")?;
    node.delete_transaction(&hash).await?;
    Ok(text(
        actix_web::http::StatusCode::OK,
        "Delete successful".into(),
    ))
}

/// `GET /transaction/{hash}/isSender` (docs/protocol.md §6.7): `true` or `false`.
pub async fn is_sender(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    let hash = input::path_hash(&req)?;
    let answer = node.is_sender(&hash).await?;
    Ok(text(actix_web::http::StatusCode::OK, answer.to_string()))
}

/// `GET /transaction/{hash}/participants` (docs/protocol.md §6.8): comma-separated keys.
pub async fn participants(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    let hash = input::path_hash(&req)?;
    let keys = node.participants(&hash).await?;
    Ok(text(
        actix_web::http::StatusCode::OK,
        b64_list(&keys).join(","),
    ))
}

/// `GET /transaction/{hash}/mandatory` (docs/protocol.md §6.9): comma-separated keys.
pub async fn mandatory(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    let hash = input::path_hash(&req)?;
    let keys = node.mandatory_recipients(&hash).await?;
    Ok(text(
        actix_web::http::StatusCode::OK,
        b64_list(&keys).join(","),
    ))
}

/// `GET /receiveraw` (docs/protocol.md §6.10): `c11n-key`, optional `c11n-to`; the plaintext bytes.
pub async fn receive_raw(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    media::require_octet_stream_or_none(&req)?;
    let hash = input::header_base64(&req, HEADER_KEY)?
        .map(TxHash::from_bytes)
        .ok_or_else(|| ApiError::bad_request("header c11n-key is required"))?;
    let to = input::header_base64(&req, HEADER_TO)?
        .filter(|bytes| !bytes.is_empty())
        .map(PublicKey::from_bytes);
    let received = node.receive(&hash, to, false).await?;
    Ok(HttpResponse::Ok()
        .content_type(OCTET_STREAM)
        .body(received.payload))
}

/// `POST /encodedpayload/create` (docs/protocol.md §6.12): encrypts without storing or pushing.
pub async fn encoded_payload_create(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let media = json_variant(&req, &JSON_AND_2_1)?;
    let mut params = send_params(input::json(&body)?, MediaType::Json)?;
    params.privacy.mandatory_recipients.clear();
    let payload = node.encrypt_only(params).await?;
    json_response(
        actix_web::http::StatusCode::OK,
        media,
        &encoded_payload_json(&payload),
    )
}

fn encoded_payload_json(payload: &EncodedPayload) -> EncodedPayloadJson {
    EncodedPayloadJson {
        sender_key: payload.sender.as_bytes().to_vec(),
        cipher_text: payload.cipher_text.clone(),
        cipher_text_nonce: payload.cipher_text_nonce.0.clone(),
        recipient_boxes: payload
            .recipient_boxes
            .iter()
            .map(|b| b.0.clone())
            .collect(),
        recipient_nonce: payload.recipient_nonce.0.clone(),
        recipient_keys: payload
            .recipient_keys
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect(),
        privacy_mode: i32::from(payload.privacy_mode.flag()),
        affected_contract_transactions: payload
            .affected_contract_transactions
            .iter()
            .map(|(hash, security)| (hash.to_base64(), tm_core::b64::encode(security.as_bytes())))
            .collect(),
        exec_hash: Some(payload.exec_hash.clone()),
    }
}

fn payload_from_json(json: EncodedPayloadJson) -> Result<EncodedPayload> {
    let bad = |what: &str| ApiError::bad_request(format!("{what} is not valid base64"));
    let affected = json
        .affected_contract_transactions
        .iter()
        .map(|(hash, security)| {
            Ok((
                TxHash::from_base64(hash).map_err(|_| bad("affectedContractTransactions"))?,
                SecurityHash(
                    tm_core::b64::decode(security, "security hash")
                        .map_err(|_| bad("affectedContractTransactions"))?,
                ),
            ))
        })
        .collect::<Result<_>>()?;
    Ok(EncodedPayload {
        sender: PublicKey::from_bytes(json.sender_key),
        cipher_text: json.cipher_text,
        cipher_text_nonce: Nonce(json.cipher_text_nonce),
        recipient_boxes: json.recipient_boxes.into_iter().map(RecipientBox).collect(),
        recipient_nonce: Nonce(json.recipient_nonce),
        recipient_keys: json
            .recipient_keys
            .into_iter()
            .map(PublicKey::from_bytes)
            .collect(),
        privacy_mode: PrivacyMode::from_flag(i64::from(json.privacy_mode)),
        affected_contract_transactions: affected,
        exec_hash: json.exec_hash.unwrap_or_default(),
        privacy_group_id: None,
        mandatory_recipients: Default::default(),
    })
}

/// `POST /encodedpayload/decrypt` (docs/protocol.md §6.13): decrypts a payload given in the body.
pub async fn encoded_payload_decrypt(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let media = json_variant(&req, &JSON_AND_2_1)?;
    let payload = payload_from_json(input::json(&body)?)?;
    let received = node.decrypt_only(payload).await?;
    // This resource never reports managedParties or senderKey.
    json_response(
        actix_web::http::StatusCode::OK,
        media,
        &receive_response(received, MediaType::Json, false),
    )
}

/// A privacy group id in base64: malformed text is 400 (docs/privacy-groups.md; Tessera's
/// `Id.fromBase64String` fails with a 500).
fn group_id(text: &str) -> Result<PrivacyGroupId> {
    tm_core::b64::decode(text, "privacy group id")
        .map(PrivacyGroupId)
        .map_err(|_| {
            ApiError::bad_request(format!("Invalid privacy group id {text:?}: not base64"))
        })
}

/// Keys of a privacy group request: malformed base64 or a key of the wrong length is 400.
fn group_keys(list: Option<&[String]>, what: &str) -> Result<Vec<PublicKey>> {
    list.unwrap_or_default()
        .iter()
        .map(|text| group_key(text, what))
        .collect()
}

/// The `privacyGroupId` a group request must carry (400 when absent or malformed).
fn required_group_id(text: Option<&str>) -> Result<PrivacyGroupId> {
    group_id(text.ok_or_else(|| ApiError::bad_request("privacyGroupId is required"))?)
}

/// A group request's optional `from` key (400 when malformed).
fn from_key(text: Option<&str>) -> Result<Option<PublicKey>> {
    text.map(|text| group_key(text, "from key")).transpose()
}

fn group_key(text: &str, what: &str) -> Result<PublicKey> {
    match PublicKey::from_base64(text) {
        Ok(key) if key.as_bytes().len() == tm_core::keys::NACL_KEY_LEN => Ok(key),
        _ => Err(ApiError::bad_request(format!(
            "Invalid {what} {text:?}: not a base64 public key"
        ))),
    }
}

fn group_response(group: tm_manager::groups::GroupSummary) -> PrivacyGroupResponse {
    PrivacyGroupResponse {
        privacy_group_id: tm_core::b64::encode(&group.id),
        name: group.name,
        description: group.description,
        group_type: group.group_type,
        members: group.members,
    }
}

/// `POST /createPrivacyGroup` (docs/privacy-groups.md): a PANTHEON group, pushed to its other
/// members' nodes; **200** with the group.
pub async fn create_privacy_group(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    json_variant(&req, &[MediaType::Json])?;
    let request: PrivacyGroupRequest = input::json(&body)?;
    let members = group_keys(request.addresses.as_deref(), "member")?;
    let from = from_key(request.from.as_deref())?;
    let seed = request
        .seed
        .as_deref()
        .map(|text| {
            tm_core::b64::decode(text, "seed")
                .map_err(|_| ApiError::bad_request("Invalid seed: not base64"))
        })
        .transpose()?;
    let group = node
        .create_privacy_group(tm_manager::groups::NewGroup {
            name: request.name.unwrap_or_default(),
            description: request.description.unwrap_or_default(),
            from,
            members,
            seed,
        })
        .await?;
    json_response(
        actix_web::http::StatusCode::OK,
        MediaType::Json,
        &group_response(group),
    )
}

/// `POST /findPrivacyGroup`: the active groups with exactly these members; **200** array.
pub async fn find_privacy_group(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    json_variant(&req, &[MediaType::Json])?;
    let request: PrivacyGroupSearchRequest = input::json(&body)?;
    let members = group_keys(request.addresses.as_deref(), "member")?;
    let groups: Vec<PrivacyGroupResponse> = node
        .find_privacy_groups(&members)
        .await?
        .into_iter()
        .map(group_response)
        .collect();
    json_response(actix_web::http::StatusCode::OK, MediaType::Json, &groups)
}

/// `POST /retrievePrivacyGroup`: **200** the group; 404 unknown or deleted.
pub async fn retrieve_privacy_group(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    json_variant(&req, &[MediaType::Json])?;
    let request: PrivacyGroupRetrieveRequest = input::json(&body)?;
    let id = required_group_id(request.privacy_group_id.as_deref())?;
    let group = node.retrieve_privacy_group(&id).await?;
    json_response(
        actix_web::http::StatusCode::OK,
        MediaType::Json,
        &group_response(group),
    )
}

/// `POST /deletePrivacyGroup`: marks it DELETED and pushes that; **200** with the id as a JSON
/// string (what Besu reads).
pub async fn delete_privacy_group(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    json_variant(&req, &[MediaType::Json])?;
    let request: PrivacyGroupDeleteRequest = input::json(&body)?;
    let id = required_group_id(request.privacy_group_id.as_deref())?;
    let from = from_key(request.from.as_deref())?;
    let deleted = node.delete_privacy_group(from, &id).await?;
    json_response(
        actix_web::http::StatusCode::OK,
        MediaType::Json,
        &tm_core::b64::encode(&deleted.id),
    )
}

/// `GET /groups/{type}` (docs/protocol.md §6.14): active groups of a type; `resident` needs
/// multiple private states (503 otherwise).
pub async fn groups(node: web::Data<Node>, req: HttpRequest) -> Result<HttpResponse> {
    accept_variant(&req, &[MediaType::Json])?;
    let wanted = req.match_info().get("type").unwrap_or_default();
    let groups: Vec<PrivacyGroupResponse> = node
        .privacy_groups(wanted)
        .await?
        .into_iter()
        .map(group_response)
        .collect();
    json_response(actix_web::http::StatusCode::OK, MediaType::Json, &groups)
}

fn keys_response(keys: &[PublicKey]) -> KeysResponse {
    KeysResponse {
        keys: keys
            .iter()
            .map(|key| KeyEntry {
                key: key.to_base64(),
            })
            .collect(),
    }
}

/// ThirdParty `GET /keys` (docs/protocol.md §7): the enclave's public keys.
pub async fn keys(node: web::Data<Node>) -> Result<HttpResponse> {
    let keys = node.public_keys().await?;
    json_response(
        actix_web::http::StatusCode::OK,
        MediaType::Json,
        &keys_response(&keys),
    )
}

/// `GET /partyinfo/keys` (docs/protocol.md §7): every key known, ours first.
pub async fn party_info_keys(node: web::Data<Node>) -> Result<HttpResponse> {
    let keys = node.known_keys().await?;
    json_response(
        actix_web::http::StatusCode::OK,
        MediaType::Json,
        &keys_response(&keys),
    )
}
