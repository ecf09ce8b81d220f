//! The randomuser client against a local HTTP stand-in that plays scripted answers: recorded
//! response shapes (tests/fixtures/randomuser), 429 with Retry-After, 500s, malformed JSON,
//! a truncated body, a slow answer, an empty `results` list and users with missing fields.
//! (The internet is unreachable here; Kafka is not involved.)

use cassflow::config::{SourceConfig, SourceKind};
use cassflow::source::randomuser::RandomUserClient;
use cassflow::source::{Source, SourceError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One scripted answer: raw HTTP bytes, sent after a delay, then the connection closes.
struct Answer {
    delay: Duration,
    bytes: Vec<u8>,
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/randomuser/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn http(status: &str, extra_headers: &str, body: &str) -> Answer {
    Answer {
        delay: Duration::ZERO,
        bytes: format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra_headers}connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    }
}

/// A body that promises more bytes than it sends.
fn truncated(body: &str) -> Answer {
    let cut = &body[..body.len() / 2];
    Answer {
        delay: Duration::ZERO,
        bytes: format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{cut}",
            body.len()
        )
        .into_bytes(),
    }
}

/// The stand-in: answers requests in order; remembers each request line.
struct StandIn {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn stand_in(answers: Vec<Answer>) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/api/", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (seen, answers) = (seen.clone(), answers.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                seen.lock().unwrap().push(line);
                let answer = answers.lock().unwrap().pop_front();
                let Some(answer) = answer else { return };
                tokio::time::sleep(answer.delay).await;
                let _ = socket.write_all(&answer.bytes).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    StandIn { url, requests }
}

impl StandIn {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn config(url: &str) -> SourceConfig {
    SourceConfig {
        url: url.to_string(),
        timeout: Duration::from_millis(500),
        retries: 3,
        retry_initial_backoff: Duration::from_millis(10),
        retry_max_backoff: Duration::from_secs(2),
        ..SourceConfig::default()
    }
}

#[tokio::test]
async fn flattens_a_recorded_response() {
    let server = stand_in(vec![http("200 OK", "", &fixture("three_users.json"))]).await;
    let mut client = RandomUserClient::new(&config(&server.url)).unwrap();
    let batch = client.fetch(3).await.expect("fetch");
    assert!(batch.skipped.is_empty());
    let names: Vec<_> = batch
        .records
        .iter()
        .map(|r| r.first_name.as_str())
        .collect();
    assert_eq!(names, ["Jennie", "Louis", "Isla"]);
    let louis = &batch.records[1];
    assert_eq!(
        louis.address,
        "3172 Rue de L'Abbé-Soulange-Bodin, Rennes, Haute-Corse, France"
    );
    assert_eq!(
        batch.records[0].post_code, "63104",
        "numeric post code as text"
    );
    assert_eq!(batch.records[2].post_code, "W2 5NP");
    assert_eq!(
        louis.picture,
        "https://randomuser.me/api/portraits/med/men/12.jpg"
    );
    assert_eq!(server.requests(), ["GET /api/?results=3 HTTP/1.1"]);
}

#[tokio::test]
async fn passes_seed_page_and_nat() {
    let body = fixture("three_users.json");
    let server = stand_in(vec![http("200 OK", "", &body), http("200 OK", "", &body)]).await;
    let mut cfg = config(&server.url);
    cfg.seed = Some("abc".into());
    cfg.nat = Some("us,gb".into());
    let mut client = RandomUserClient::new(&cfg).unwrap();
    client.fetch(3).await.expect("page 1");
    client.fetch(9000).await.expect("page 2, capped at 5000");
    assert_eq!(
        server.requests(),
        [
            "GET /api/?results=3&seed=abc&page=1&nat=us%2Cgb HTTP/1.1",
            "GET /api/?results=5000&seed=abc&page=2&nat=us%2Cgb HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn retries_429_500_truncated_and_slow_answers_then_succeeds() {
    let body = fixture("three_users.json");
    let server = stand_in(vec![
        http("429 Too Many Requests", "retry-after: 1\r\n", "{}"),
        http("500 Internal Server Error", "", &fixture("error.json")),
        truncated(&body),
        Answer {
            delay: Duration::from_secs(3),
            ..http("200 OK", "", &body)
        },
        http("200 OK", "", &body),
    ])
    .await;
    let mut cfg = config(&server.url);
    cfg.retries = 4;
    let mut client = RandomUserClient::new(&cfg).unwrap();
    let batch = client.fetch(3).await.expect("succeeds on the fifth try");
    assert_eq!(batch.records.len(), 3);
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn gives_one_clear_error_after_the_last_retry() {
    let error = fixture("error.json");
    let server = stand_in(
        (0..4)
            .map(|_| http("500 Internal Server Error", "", &error))
            .collect(),
    )
    .await;
    let mut client = RandomUserClient::new(&config(&server.url)).unwrap();
    let err = client.fetch(3).await.expect_err("all attempts fail");
    let text = err.to_string();
    assert!(
        matches!(err, SourceError::Api { attempts: 4, .. }),
        "{text}"
    );
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("Uh oh, something has gone wrong"), "{text}");
    assert!(text.contains(&server.url), "{text}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn a_client_error_or_malformed_json_is_not_retried() {
    let server = stand_in(vec![
        http("200 OK", "", "<html>maintenance</html>"),
        http("400 Bad Request", "", "{}"),
    ])
    .await;
    let mut client = RandomUserClient::new(&config(&server.url)).unwrap();
    let err = client.fetch(3).await.expect_err("malformed");
    assert!(err.to_string().contains("not JSON"), "{err}");
    let err = client.fetch(3).await.expect_err("bad request");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert_eq!(server.requests().len(), 2, "one request each");
}

#[tokio::test]
async fn empty_results_and_users_with_missing_fields() {
    let server = stand_in(vec![
        http("200 OK", "", &fixture("empty_results.json")),
        http("200 OK", "", &fixture("missing_fields.json")),
    ])
    .await;
    let mut client = RandomUserClient::new(&config(&server.url)).unwrap();
    let empty = client.fetch(3).await.expect("empty is not an error");
    assert!(empty.records.is_empty() && empty.skipped.is_empty());
    let batch = client.fetch(3).await.expect("partly usable");
    assert_eq!(batch.records.len(), 1);
    let skipped: Vec<_> = batch
        .skipped
        .iter()
        .map(|s| (s.index, s.error.to_string()))
        .collect();
    assert_eq!(
        skipped,
        [
            (1, "`login.username` is missing".to_string()),
            (2, "`dob.date` is missing".to_string())
        ]
    );
}

#[tokio::test]
async fn unreachable_api_fails_after_retries_and_auto_falls_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("http://127.0.0.1:{port}/api/");
    let mut client = RandomUserClient::new(&config(&url)).unwrap();
    let err = client.fetch(1).await.expect_err("nothing listens");
    assert!(err.to_string().contains("could not connect"), "{err}");
    assert!(matches!(err, SourceError::Api { attempts: 4, .. }));

    let source = Source::open(&config(&url), SourceKind::Auto).await.unwrap();
    assert_eq!(source.name(), "generator");

    let server = stand_in(vec![http("200 OK", "", &fixture("three_users.json"))]).await;
    let source = Source::open(&config(&server.url), SourceKind::Auto)
        .await
        .unwrap();
    assert_eq!(source.name(), "randomuser");
}
