//! Which failures to open a session are refusals waiting cannot cure (a rejected or missing
//! login, an untrusted or misnamed certificate, a client certificate missing or refused), read from the driver's error text; the
//! errors a user sees are [`super::CassandraError`]'s.

/// Why a node refused a session, when waiting cannot help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Login,
    NoLogin,
    WrongHost,
    Untrusted,
    NoClientCert,
}

/// Reads a refusal out of a rendered session error. The driver wraps a node's answer in
/// several layers of pool and metadata errors (a TLS failure arrives as an I/O error), so
/// this reads the texts that name it, which are stable: the driver's `DbError` and
/// `MissingAuthentication` messages, OpenSSL's verification results.
pub(super) fn refusal(text: &str) -> Option<Refusal> {
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "Authentication failed - bad credentials",
        "AuthenticationError",
    ]) {
        Some(Refusal::Login)
    } else if has(&["Authentication is required"]) {
        Some(Refusal::NoLogin)
    } else if has(&["IP address mismatch", "hostname mismatch"]) {
        Some(Refusal::WrongHost)
    } else if has(&["certificate verify failed"]) {
        Some(Refusal::Untrusted)
    } else if has(&["alert certificate required", "alert bad certificate"]) {
        // The node's alert after the handshake (TLS 1.3) or during it (1.2): it wanted a
        // client certificate it trusts and got none, or one it does not trust.
        Some(Refusal::NoClientCert)
    } else {
        None
    }
}

/// The part of a rendered error chain that says what happened (the driver's outer layers
/// only say "metadata fetch failed"): the server's message, OpenSSL's reason, or the last
/// connection's failure; at most 300 characters.
pub(super) fn short_cause(text: &str) -> String {
    let from = [
        ("Error message: ", true),
        ("SSL routines", false),
        ("failed with: ", true),
    ]
    .iter()
    .find_map(|(marker, skip)| {
        text.find(marker)
            .map(|at| if *skip { at + marker.len() } else { at })
    })
    .unwrap_or(0);
    text[from..].chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_from_the_driver_texts() {
        let pool = "Failed to perform initial cluster metadata fetch: Control connection pool error: The pool is broken; Last connection failed with: ";
        let bad = format!("{pool}Failed to perform a connection setup request. Request: AUTH_RESPONSE, reason: Database returned an error: Authentication failed - bad credentials, Error message: Provided username cassflow and/or password are incorrect");
        assert_eq!(refusal(&bad), Some(Refusal::Login));
        assert_eq!(
            short_cause(&bad),
            "Provided username cassflow and/or password are incorrect"
        );
        let none = format!("{pool}Failed to perform a connection setup request. Request: STARTUP, reason: Authentication is required. You can use SessionBuilder::user");
        assert_eq!(refusal(&none), Some(Refusal::NoLogin));
        let tls = format!("{pool}error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:1889:");
        assert_eq!(refusal(&tls), Some(Refusal::Untrusted));
        let no_cert = format!("{pool}error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../ssl/record/rec_layer_s3.c:1601:SSL alert number 116");
        assert_eq!(refusal(&no_cert), Some(Refusal::NoClientCert));
        assert_eq!(
            refusal(&format!("{pool}Connection refused (os error 111)")),
            None
        );
    }
}
