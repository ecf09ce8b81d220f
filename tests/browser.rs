//! The web UI in a real headless Chromium (Debian `chromium` + `chromium-driver`, driven
//! over WebDriver with fantoccini): log in, see the users this test produced on the topic
//! page and the table page, watch the Stream page, log out. Screenshots of each step go
//! to `target/screenshots/`.
//!
//! The server runs in-process against the test stack, with a stream job for a pipeline on
//! fresh names, exactly as `cassflow up` serves it.

mod common;
mod web_support;

use cassflow::config::Config;
use cassflow::web::AppState;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use web_support::{PASSWORD, USER};

/// chromedriver, stopped when the test ends (even when it fails).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chromedriver(port: u16) -> Driver {
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run chromedriver ({e}): install Debian's chromium and chromium-driver \
                 (`scripts/dev setup` does)"
            )
        });
    Driver(child)
}

async fn connect(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver on {url} did not start a browser: {last:?}");
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shoot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
}

/// Waits until the page's path is `path` (bounded).
async fn wait_for_path(browser: &Client, path: &str) {
    for _ in 0..100 {
        if browser.current_url().await.is_ok_and(|u| u.path() == path) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let now = browser.current_url().await.map(|u| u.to_string());
    panic!("the browser did not reach {path}; it is at {now:?}");
}

/// Waits until the page's source contains every one of `needles` (bounded; pages
/// refresh themselves from the API).
async fn wait_for_text(browser: &Client, needles: &[String]) -> String {
    let mut source = String::new();
    for _ in 0..60 {
        source = browser.source().await.expect("page source");
        if needles.iter().all(|n| source.contains(n.as_str())) {
            return source;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let missing: Vec<_> = needles
        .iter()
        .filter(|n| !source.contains(n.as_str()))
        .collect();
    panic!("the page never showed {missing:?}:\n{source}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_sees_the_pipeline_and_logs_out() {
    let mut config: Config = web_support::web_config(common::stack().await);
    let pipeline = common::users_pipeline("browser");
    config.pipelines = vec![pipeline.clone()];
    let records = common::users(5, "browser");
    common::produce(&config, &pipeline.topic, &records).await;

    let cancel = CancellationToken::new();
    let stream = {
        let (config, pipeline, cancel) = (config.clone(), pipeline.clone(), cancel.clone());
        tokio::spawn(async move {
            cassflow::stream::run_pipeline(&config, &pipeline, None, cancel).await
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    // The scheduler as `cassflow up` runs it, on a database of its own. The built-in DAG is
    // paused so only the run triggered below produces (manual runs go ahead when paused).
    let sched_dir = tempfile::tempdir().expect("tempdir");
    let mut sched_config = config.clone();
    sched_config.source.kind = cassflow::config::SourceKind::Generator;
    sched_config.scheduler.dags_dir = sched_dir.path().join("dags");
    sched_config.scheduler.database = Some(sched_dir.path().join("scheduler.sqlite"));
    let scheduler = cassflow::scheduler::Scheduler::from_config(&sched_config).expect("scheduler");
    scheduler
        .set_paused("user_automation", true)
        .expect("pause");
    tokio::spawn(scheduler.clone().run(cancel.clone()));
    let state = AppState::new(&config)
        .expect("state")
        .with_scheduler(scheduler);
    let server = tokio::spawn(cassflow::web::serve_on(listener, state, cancel.clone()));
    let session = common::session(&config).await;
    let rows = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        5,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(rows, 5);

    let [port] = common::free_ports::<1>();
    let _driver = start_chromedriver(port);
    let browser = connect(port).await;

    // Any page sends a stranger to the login form.
    browser.goto(&format!("{base}/topics")).await.expect("goto");
    wait_for_path(&browser, "/login").await;
    shoot(&browser, "01-login").await;
    browser
        .find(Locator::Css("#username"))
        .await
        .expect("username")
        .send_keys(USER)
        .await
        .expect("type");
    browser
        .find(Locator::Css("#password"))
        .await
        .expect("password")
        .send_keys(PASSWORD)
        .await
        .expect("type");
    browser
        .find(Locator::Css("#login"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    wait_for_path(&browser, "/topics").await;
    shoot(&browser, "02-topics").await;

    // Trigger user_automation from its DAG page, with run parameters: 5 generated users to
    // a topic of their own (the pipeline's topic keeps the 5 records checked below). The
    // page refreshes itself until the run and its task show success.
    let dag_topic = common::unique("browser_dag");
    browser.goto(&format!("{base}/dags")).await.expect("goto");
    shoot(&browser, "03-dags").await;
    browser
        .find(Locator::Css("#dag-user_automation a"))
        .await
        .expect("DAG link")
        .click()
        .await
        .expect("click");
    wait_for_path(&browser, "/dags/user_automation").await;
    browser
        .find(Locator::Css("#conf"))
        .await
        .expect("conf field")
        .send_keys(&format!(r#"{{"count": 5, "topic": "{dag_topic}"}}"#))
        .await
        .expect("type");
    browser
        .find(Locator::Css("#trigger-user_automation"))
        .await
        .expect("trigger button")
        .click()
        .await
        .expect("click");
    let grid = wait_for_text(
        &browser,
        &[
            "Triggered run manual__".to_string(),
            "data-task=\"stream_data_from_api\"".to_string(),
            "class=\"cell state-success\" data-state=\"success\"".to_string(),
        ],
    )
    .await;
    assert!(!grid.contains("data-state=\"failed\""), "{grid}");
    shoot(&browser, "03-dag-run").await;
    let mut dag_pipeline = pipeline.clone();
    dag_pipeline.topic = dag_topic;
    let produced = cassflow::checks::consumer_lag(&config.kafka, &dag_pipeline)
        .await
        .expect("the DAG's topic");
    assert_eq!(produced.total(), 5, "the run produced 5 users: {produced}");

    let names: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    browser
        .goto(&format!("{base}/topics/{}", pipeline.topic))
        .await
        .expect("goto");
    let source = wait_for_text(&browser, &names).await;
    assert!(source.contains("6 partitions, 5 messages retained"));
    shoot(&browser, "04-topic").await;

    browser
        .goto(&format!(
            "{base}/cassandra/{}/{}",
            pipeline.keyspace, pipeline.table
        ))
        .await
        .expect("goto");
    let mut needles = names.clone();
    needles.extend(records.iter().map(|r| r.email.clone()));
    wait_for_text(&browser, &needles).await;
    // The row count arrives from the API after the page loads.
    let count = browser
        .find(Locator::Css("#row-count"))
        .await
        .expect("count");
    for _ in 0..60 {
        if count.text().await.is_ok_and(|t| t == "5") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count.text().await.expect("count text"), "5");
    shoot(&browser, "05-table").await;

    browser.goto(&format!("{base}/stream")).await.expect("goto");
    let written = browser
        .find(Locator::Css("[data-field=written]"))
        .await
        .expect("written");
    for _ in 0..30 {
        if written
            .text()
            .await
            .is_ok_and(|t| t.parse::<u64>().is_ok_and(|n| n >= 5))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(written
        .text()
        .await
        .is_ok_and(|t| t.parse::<u64>().is_ok_and(|n| n >= 5)));
    shoot(&browser, "06-stream").await;

    browser
        .find(Locator::Css("#logout"))
        .await
        .expect("logout")
        .click()
        .await
        .expect("click");
    wait_for_path(&browser, "/login").await;
    browser
        .goto(&format!("{base}/cassandra"))
        .await
        .expect("goto");
    wait_for_path(&browser, "/login").await;
    shoot(&browser, "07-logged-out").await;

    browser.close().await.expect("close browser");
    cancel.cancel();
    let _ = server.await;
    let _ = stream.await;
}
