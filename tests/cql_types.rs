//! Every CQL type family through the real stream job (Kafka topic -> `format = "json"`
//! pipeline -> Cassandra), read back with the driver: numbers, text/blob/inet, time types,
//! collections, tuples and user-defined types (nested and frozen), vectors; and, on a
//! private Cassandra, quoted (case-sensitive) UDT names, which the scylla 1.9 driver
//! cannot parse in its schema metadata (a session that fetched full metadata failed every
//! DDL cluster-wide while such a table existed, so it must not touch the shared stack).
//! Edge values (integer limits, big varint, decimal precision, far dates, empty
//! collections) round-trip exactly; a value the column's type refuses lands in the
//! dead-letter topic with the field, the column and the type in its reason.

mod common;

use cassflow::config::{Config, EpochUnit, PipelineConfig, RecordFormat};
use cassflow::stream::dead_letter::header;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use scylla::value::{CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlValue, CqlVarint};
use std::collections::HashMap;
use std::time::Duration;

/// A refused message and the parts its dead letter's error must name.
struct Refused<'a> {
    message: &'a str,
    parts: &'a [&'a str],
}

/// A table of the family: its keyspace (with the types `setup` creates), the pipeline.
struct Family {
    config: Config,
    session: Session,
    pipeline: PipelineConfig,
}

impl Family {
    /// A keyspace of its own with `setup` run in it (`{ks}` stands for its name).
    async fn new(tag: &str, setup: &[&str], epoch_unit: EpochUnit) -> Family {
        Family::on(common::stack().await, tag, setup, epoch_unit).await
    }

    /// The same on the Cassandra `config` points at.
    async fn on(config: Config, tag: &str, setup: &[&str], epoch_unit: EpochUnit) -> Family {
        let session = common::session(&config).await;
        let pipeline = PipelineConfig {
            name: common::unique(tag),
            topic: common::unique(tag),
            partitions: 1,
            keyspace: common::unique("ks"),
            table: "t".into(),
            group_id: Some(common::unique("types-group")),
            format: RecordFormat::Json,
            epoch_unit,
            ..PipelineConfig::default()
        };
        cassflow::cassandra::schema::ensure_keyspace(
            &session,
            &config.cassandra,
            &pipeline.keyspace,
        )
        .await
        .expect("keyspace");
        for cql in setup {
            let cql = cql.replace("{ks}", &format!("\"{}\"", pipeline.keyspace));
            session
                .query_unpaged(cql.as_str(), &[])
                .await
                .unwrap_or_else(|e| panic!("{cql}: {e}"));
        }
        Family {
            config,
            session,
            pipeline,
        }
    }

    /// Streams the messages (written as they are: their numbers keep every digit) until
    /// the table holds `rows` rows and the dead-letter topic has every refused one, then
    /// checks each dead letter's error.
    async fn stream(&self, good: &[&str], refused: &[Refused<'_>]) {
        let producer: FutureProducer = cassflow::kafka::client_config(&self.config.kafka)
            .create()
            .expect("producer");
        cassflow::kafka::admin::ensure_topic(&self.config.kafka, &self.pipeline.topic, 1, 1)
            .await
            .expect("topic");
        for m in good.iter().chain(refused.iter().map(|r| &r.message)) {
            producer
                .send(
                    FutureRecord::<str, str>::to(&self.pipeline.topic).payload(*m),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .expect("produced");
        }
        let dead_letters = self.pipeline.dead_letter_topic();
        cassflow::kafka::admin::ensure_topic(&self.config.kafka, &dead_letters, 1, 1)
            .await
            .expect("dead-letter topic");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let job = common::spawn_pipeline(&self.config, &self.pipeline, &shutdown);
        let letters = common::read_topic(
            &self.config,
            &self.pipeline.dead_letter_topic(),
            refused.len(),
        )
        .await;
        let rows = common::wait_for_rows(
            &self.session,
            &self.pipeline.keyspace,
            &self.pipeline.table,
            good.len() as i64,
            Duration::from_secs(120),
        )
        .await;
        shutdown.cancel();
        let summary = tokio::time::timeout(Duration::from_secs(120), job)
            .await
            .expect("the pipeline stops")
            .expect("job");
        assert_eq!(rows, good.len() as i64, "rows written");
        assert_eq!(
            (summary.written, summary.dead_lettered),
            (good.len() as u64, refused.len() as u64),
            "{summary:?}"
        );
        // Records are converted concurrently, so letters are matched by their value.
        for r in refused {
            let letter = letters
                .iter()
                .find(|l| l.payload() == Some(r.message.as_bytes()))
                .unwrap_or_else(|| panic!("no dead letter for {:?}", r.message));
            let reason = header_text(letter, header::REASON);
            let error = header_text(letter, header::ERROR).unwrap_or_default();
            assert_eq!(reason.as_deref(), Some("incompatible_value"), "{error}");
            for part in r.parts {
                assert!(
                    error.contains(part),
                    "{:?} lacks {part:?}: {error}",
                    r.message
                );
            }
        }
    }

    /// The row whose key `id` is the CQL literal `key`, by column name.
    async fn row(&self, key: &str) -> HashMap<String, Option<CqlValue>> {
        let cql = format!(
            "SELECT * FROM \"{}\".t WHERE id = {key}",
            self.pipeline.keyspace
        );
        common::row_by_name(&self.session, &cql).await
    }
}

fn header_text(m: &rdkafka::message::OwnedMessage, name: &str) -> Option<String> {
    let headers = m.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn varint(n: i128) -> CqlValue {
    CqlValue::Varint(CqlVarint::from_signed_bytes_be(n.to_be_bytes().to_vec()))
}

/// A decimal as Cassandra returns it: the unscaled value's minimal two's complement.
fn decimal(unscaled: i128, scale: i32) -> CqlValue {
    let mut bytes = unscaled.to_be_bytes().to_vec();
    while bytes.len() > 1
        && ((bytes[0] == 0 && bytes[1] & 0x80 == 0) || (bytes[0] == 0xFF && bytes[1] & 0x80 != 0))
    {
        bytes.remove(0);
    }
    CqlValue::Decimal(CqlDecimal::from_signed_be_bytes_and_exponent(bytes, scale))
}

fn text(s: &str) -> CqlValue {
    CqlValue::Text(s.into())
}

fn assert_columns(row: &HashMap<String, Option<CqlValue>>, want: &[(&str, Option<CqlValue>)]) {
    for (column, value) in want {
        assert_eq!(row.get(*column), Some(value), "column {column}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_round_trip_at_their_limits_and_refuse_what_does_not_fit() {
    let f = Family::new(
        "numbers",
        &[
            "CREATE TABLE {ks}.t (id int PRIMARY KEY, ti tinyint, si smallint, i int, bi bigint, \
           vi varint, fl float, db double, dec decimal, ok boolean)",
        ],
        EpochUnit::default(),
    )
    .await;
    f.stream(
        &[
            r#"{"id": 1, "ti": 127, "si": 32767, "i": 2147483647, "bi": 9223372036854775807,
                "vi": 123456789012345678901234567890123456789, "fl": 3.4e38, "db": 1.7976931348623157e308,
                "dec": 12345678901234567890.123456789, "ok": true}"#,
            r#"{"id": 2, "ti": -128, "si": -32768, "i": -2147483648, "bi": -9223372036854775808,
                "vi": "-123456789012345678901234567890123456789", "fl": -1.5, "db": -0.0,
                "dec": "12.50", "ok": "false"}"#,
            r#"{"id": "3", "ti": "7", "i": 42.0, "vi": 0, "dec": -1.5e-3, "db": "1e-300"}"#,
        ],
        &[
            Refused {
                message: r#"{"id": 4, "ti": 128}"#,
                parts: &["`ti`", "(tinyint)", "128 is out of range"],
            },
            Refused {
                message: r#"{"id": 5, "fl": 1e39}"#,
                parts: &["`fl`", "(float)", "out of range for a float"],
            },
            Refused {
                message: r#"{"id": 6, "db": "NaN"}"#,
                parts: &["`db`", "(double)", "not a finite number"],
            },
            Refused {
                message: r#"{"id": 7, "i": 1.5}"#,
                parts: &["`i`", "(int)", "1.5 is not a whole number"],
            },
            Refused {
                message: r#"{"id": 8, "vi": "12a"}"#,
                parts: &["`vi`", "(varint)", "is not a number"],
            },
        ],
    )
    .await;
    assert_columns(
        &f.row("1").await,
        &[
            ("ti", Some(CqlValue::TinyInt(i8::MAX))),
            ("si", Some(CqlValue::SmallInt(i16::MAX))),
            ("i", Some(CqlValue::Int(i32::MAX))),
            ("bi", Some(CqlValue::BigInt(i64::MAX))),
            ("vi", Some(varint(123456789012345678901234567890123456789))),
            ("fl", Some(CqlValue::Float(3.4e38))),
            ("db", Some(CqlValue::Double(f64::MAX))),
            ("dec", Some(decimal(12345678901234567890123456789, 9))),
            ("ok", Some(CqlValue::Boolean(true))),
        ],
    );
    assert_columns(
        &f.row("2").await,
        &[
            ("ti", Some(CqlValue::TinyInt(i8::MIN))),
            ("si", Some(CqlValue::SmallInt(i16::MIN))),
            ("i", Some(CqlValue::Int(i32::MIN))),
            ("bi", Some(CqlValue::BigInt(i64::MIN))),
            ("vi", Some(varint(-123456789012345678901234567890123456789))),
            ("fl", Some(CqlValue::Float(-1.5))),
            ("dec", Some(decimal(1250, 2))),
            ("ok", Some(CqlValue::Boolean(false))),
        ],
    );
    assert_columns(
        &f.row("3").await,
        &[
            ("ti", Some(CqlValue::TinyInt(7))),
            ("si", None),
            ("i", Some(CqlValue::Int(42))),
            ("vi", Some(varint(0))),
            ("dec", Some(decimal(-15, 4))),
            ("db", Some(CqlValue::Double(1e-300))),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_blob_inet_and_uuids_round_trip() {
    let f = Family::new(
        "text",
        &[
            "CREATE TABLE {ks}.t (id text PRIMARY KEY, a ascii, tx text, vc varchar, bl blob, \
           ip inet, u uuid, tu timeuuid)",
        ],
        EpochUnit::default(),
    )
    .await;
    let v1 = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
    let good_1 = format!(
        r#"{{"id": "k1", "a": "plain", "tx": "é ✓ \"q\"", "vc": 12.5, "bl": "AAEC/w==",
            "ip": "192.168.0.1", "u": "5f0c8c2e-8f5e-4d7b-9a53-0b8a5e1c2d3f", "tu": "{v1}"}}"#
    );
    f.stream(
        &[
            &good_1,
            r#"{"id": "k2", "tx": "", "bl": "", "ip": "2001:db8::1", "vc": {"x": [1]}}"#,
        ],
        &[
            Refused {
                message: r#"{"id": "k3", "a": "café"}"#,
                parts: &["`a`", "(ascii)", "beyond ASCII"],
            },
            Refused {
                message: r#"{"id": "k4", "bl": "not base64!"}"#,
                parts: &["`bl`", "(blob)", "is not base64"],
            },
            Refused {
                message: r#"{"id": "k5", "ip": "300.1.1.1"}"#,
                parts: &["`ip`", "(inet)", "not an IPv4 or IPv6 address"],
            },
            Refused {
                message: r#"{"id": "k6", "tu": "5f0c8c2e-8f5e-4d7b-9a53-0b8a5e1c2d3f"}"#,
                parts: &["`tu`", "(timeuuid)", "not a time-based"],
            },
        ],
    )
    .await;
    let u: uuid::Uuid = "5f0c8c2e-8f5e-4d7b-9a53-0b8a5e1c2d3f"
        .parse()
        .expect("uuid");
    let tu: uuid::Uuid = v1.parse().expect("uuid");
    assert_columns(
        &f.row("'k1'").await,
        &[
            ("a", Some(CqlValue::Ascii("plain".into()))),
            ("tx", Some(text("é ✓ \"q\""))),
            ("vc", Some(text("12.5"))),
            ("bl", Some(CqlValue::Blob(vec![0, 1, 2, 255]))),
            (
                "ip",
                Some(CqlValue::Inet("192.168.0.1".parse().expect("ip"))),
            ),
            ("u", Some(CqlValue::Uuid(u))),
            ("tu", Some(CqlValue::Timeuuid(tu.into()))),
        ],
    );
    assert_columns(
        &f.row("'k2'").await,
        &[
            ("tx", Some(text(""))),
            ("bl", Some(CqlValue::Blob(vec![]))),
            (
                "ip",
                Some(CqlValue::Inet("2001:db8::1".parse().expect("ip"))),
            ),
            ("vc", Some(text(r#"{"x":[1]}"#))),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_types_round_trip_far_dates_and_epoch_numbers_in_the_pipelines_unit() {
    let f = Family::new(
        "times",
        &[
            "CREATE TABLE {ks}.t (id int PRIMARY KEY, ts timestamp, te timestamp, d date, \
           dmin date, dmax date, de date, tm time, tn time, du duration, di duration)",
        ],
        EpochUnit::Seconds,
    )
    .await;
    f.stream(
        &[
            r#"{"id": 1, "ts": "2024-05-01T12:30:00.250Z", "te": 1700000000, "d": "2024-02-29",
              "dmin": "-5877641-06-23", "dmax": "5881580-07-11", "de": -1,
              "tm": "23:59:59.999999999", "tn": 1000, "du": "1h30m", "di": "-P1Y2M3DT4H5M6S"}"#,
        ],
        &[
            Refused {
                message: r#"{"id": 2, "d": "2023-02-29"}"#,
                parts: &["`d`", "(date)", "is not a date like"],
            },
            Refused {
                message: r#"{"id": 3, "dmax": "5881580-07-12"}"#,
                parts: &["`dmax`", "(date)", "outside Cassandra's range"],
            },
            Refused {
                message: r#"{"id": 4, "du": "1x"}"#,
                parts: &["`du`", "(duration)", "is not a duration"],
            },
            Refused {
                message: r#"{"id": 5, "ts": "yesterday"}"#,
                parts: &["`ts`", "(timestamp)", "ISO-8601", "seconds"],
            },
            Refused {
                message: r#"{"id": 6, "tm": "24:00:00"}"#,
                parts: &["`tm`", "(time)", "is not a time like"],
            },
        ],
    )
    .await;
    let hour = 3_600_000_000_000i64;
    assert_columns(
        &f.row("1").await,
        &[
            (
                "ts",
                Some(CqlValue::Timestamp(CqlTimestamp(1_714_566_600_250))),
            ),
            (
                "te",
                Some(CqlValue::Timestamp(CqlTimestamp(1_700_000_000_000))),
            ),
            ("d", Some(CqlValue::Date(CqlDate((1 << 31) + 19_782)))),
            ("dmin", Some(CqlValue::Date(CqlDate(0)))),
            ("dmax", Some(CqlValue::Date(CqlDate(u32::MAX)))),
            ("de", Some(CqlValue::Date(CqlDate((1 << 31) - 1)))),
            ("tm", Some(CqlValue::Time(CqlTime(24 * hour - 1)))),
            ("tn", Some(CqlValue::Time(CqlTime(1000)))),
            (
                "du",
                Some(CqlValue::Duration(CqlDuration {
                    months: 0,
                    days: 0,
                    nanoseconds: hour * 3 / 2,
                })),
            ),
            (
                "di",
                Some(CqlValue::Duration(CqlDuration {
                    months: -14,
                    days: -3,
                    nanoseconds: -(4 * hour + 5 * 60_000_000_000 + 6_000_000_000),
                })),
            ),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_round_trip_empty_nested_and_from_text() {
    let f = Family::new(
        "colls",
        &[
            "CREATE TABLE {ks}.t (id int PRIMARY KEY, l list<int>, s set<text>, m map<int, text>, \
           fl frozen<list<double>>, nested map<text, frozen<list<int>>>, el list<int>, \
           fs frozen<set<int>>, txt list<int>, dm map<date, decimal>)",
        ],
        EpochUnit::default(),
    )
    .await;
    f.stream(
        &[
            r#"{"id": 1, "l": [3, 1, 3], "s": ["b", "a", "a"], "m": {"2": "two", "1": "one"},
                "fl": [1.5, -0.25], "nested": {"x": [1, 2], "y": []}, "el": [], "fs": [],
                "txt": "[7, 8]", "dm": {"2024-01-01": 0.10}}"#,
        ],
        &[
            Refused {
                message: r#"{"id": 2, "l": [1, null]}"#,
                parts: &["`l`", "(list<int>)", "element 1 is null"],
            },
            Refused {
                message: r#"{"id": 3, "m": {"x": "a"}}"#,
                parts: &["`m`", "(map<int, text>)", "key \"x\"", "not a whole number"],
            },
            Refused {
                message: r#"{"id": 4, "nested": {"x": "nope"}}"#,
                parts: &[
                    "`nested`",
                    "(map<text, frozen<list<int>>>)",
                    "neither a JSON array",
                ],
            },
        ],
    )
    .await;
    assert_columns(
        &f.row("1").await,
        &[
            (
                "l",
                Some(CqlValue::List(vec![
                    CqlValue::Int(3),
                    CqlValue::Int(1),
                    CqlValue::Int(3),
                ])),
            ),
            ("s", Some(CqlValue::Set(vec![text("a"), text("b")]))),
            (
                "m",
                Some(CqlValue::Map(vec![
                    (CqlValue::Int(1), text("one")),
                    (CqlValue::Int(2), text("two")),
                ])),
            ),
            (
                "fl",
                Some(CqlValue::List(vec![
                    CqlValue::Double(1.5),
                    CqlValue::Double(-0.25),
                ])),
            ),
            (
                "nested",
                Some(CqlValue::Map(vec![
                    (
                        text("x"),
                        CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)]),
                    ),
                    (text("y"), CqlValue::List(vec![])),
                ])),
            ),
            // Cassandra keeps no empty collection that is not frozen: it reads back null.
            ("el", None),
            ("fs", Some(CqlValue::Set(vec![]))),
            (
                "txt",
                Some(CqlValue::List(vec![CqlValue::Int(7), CqlValue::Int(8)])),
            ),
            (
                "dm",
                Some(CqlValue::Map(vec![(
                    CqlValue::Date(CqlDate((1 << 31) + 19_723)),
                    decimal(10, 2),
                )])),
            ),
        ],
    );
}

fn udt(ks: &str, name: &str, fields: Vec<(&str, Option<CqlValue>)>) -> CqlValue {
    CqlValue::UserDefinedType {
        keyspace: ks.into(),
        name: name.into(),
        fields: fields.into_iter().map(|(n, v)| (n.into(), v)).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuples_and_user_defined_types_nested_and_frozen() {
    let f = Family::new(
        "udts",
        &[
            "CREATE TYPE {ks}.address (street text, zip int)",
            "CREATE TYPE {ks}.person (name text, home frozen<address>, tags set<text>)",
            "CREATE TABLE {ks}.t (id int PRIMARY KEY, tp tuple<int, text, date>, \
             home frozen<address>, loose address, person frozen<person>, \
             people list<frozen<person>>, pair frozen<tuple<address, list<int>>>)",
        ],
        EpochUnit::default(),
    )
    .await;
    f.stream(
        &[
            r#"{"id": 1, "tp": [1, null, "1970-01-02"], "home": {"street": "Main", "zip": "12345"},
              "loose": {"zip": 7},
              "person": {"name": "Ann", "home": {"street": "Elm"}, "tags": ["x"]},
              "people": [{"name": "Bo"}, {"name": "Cy", "home": {"zip": 1}}],
              "pair": [{"street": "S"}, [1, 2]]}"#,
        ],
        &[
            Refused {
                message: r#"{"id": 2, "home": {"street": "x", "nope": 1}}"#,
                parts: &[
                    "`home`",
                    "(frozen<address>)",
                    "\"nope\" is not a field of type address",
                ],
            },
            Refused {
                message: r#"{"id": 3, "tp": [1]}"#,
                parts: &["`tp`", "(frozen<tuple<int, text, date>>)", "has 1 elements"],
            },
            Refused {
                message: r#"{"id": 4, "person": {"home": {"zip": "x"}}}"#,
                parts: &[
                    "`person`",
                    "(frozen<person>)",
                    "field \"home\": field \"zip\"",
                ],
            },
        ],
    )
    .await;
    let ks = f.pipeline.keyspace.as_str();
    let address = |street: Option<&str>, zip: Option<i32>| {
        udt(
            ks,
            "address",
            vec![
                ("street", street.map(text)),
                ("zip", zip.map(CqlValue::Int)),
            ],
        )
    };
    assert_columns(
        &f.row("1").await,
        &[
            (
                "tp",
                Some(CqlValue::Tuple(vec![
                    Some(CqlValue::Int(1)),
                    None,
                    Some(CqlValue::Date(CqlDate((1 << 31) + 1))),
                ])),
            ),
            ("home", Some(address(Some("Main"), Some(12345)))),
            ("loose", Some(address(None, Some(7)))),
            (
                "person",
                Some(udt(
                    ks,
                    "person",
                    vec![
                        ("name", Some(text("Ann"))),
                        ("home", Some(address(Some("Elm"), None))),
                        ("tags", Some(CqlValue::Set(vec![text("x")]))),
                    ],
                )),
            ),
            (
                "people",
                Some(CqlValue::List(vec![
                    udt(
                        ks,
                        "person",
                        vec![("name", Some(text("Bo"))), ("home", None), ("tags", None)],
                    ),
                    udt(
                        ks,
                        "person",
                        vec![
                            ("name", Some(text("Cy"))),
                            ("home", Some(address(None, Some(1)))),
                            ("tags", None),
                        ],
                    ),
                ])),
            ),
            (
                "pair",
                Some(CqlValue::Tuple(vec![
                    Some(address(Some("S"), None)),
                    Some(CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)])),
                ])),
            ),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_take_exactly_their_dimension() {
    let f = Family::new(
        "vectors",
        &[
            "CREATE TABLE {ks}.t (id int PRIMARY KEY, v vector<float, 3>, vi vector<int, 2>, \
           vt vector<text, 2>)",
        ],
        EpochUnit::default(),
    )
    .await;
    f.stream(
        &[r#"{"id": 1, "v": [0.5, -1, 3e10], "vi": [1, -2], "vt": ["a", "bc"]}"#],
        &[
            Refused {
                message: r#"{"id": 2, "v": [1, 2]}"#,
                parts: &["`v`", "(vector<float, 3>)", "has 2 elements", "exactly 3"],
            },
            Refused {
                message: r#"{"id": 3, "v": [1, "NaN", 2]}"#,
                parts: &[
                    "`v`",
                    "(vector<float, 3>)",
                    "element 1",
                    "not a finite number",
                ],
            },
        ],
    )
    .await;
    assert_columns(
        &f.row("1").await,
        &[
            (
                "v",
                Some(CqlValue::Vector(vec![
                    CqlValue::Float(0.5),
                    CqlValue::Float(-1.0),
                    CqlValue::Float(3e10),
                ])),
            ),
            (
                "vi",
                Some(CqlValue::Vector(vec![CqlValue::Int(1), CqlValue::Int(-2)])),
            ),
            ("vt", Some(CqlValue::Vector(vec![text("a"), text("bc")]))),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_udt_names_are_written_and_leave_sessions_working() {
    let shared = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = shared.clone();
    let [cql, storage] = common::free_ports();
    config.cassandra.contact_points = format!("127.0.0.1:{cql}");
    config.local.cassandra_storage_port = storage;
    config.local.data_dir = dir.path().to_path_buf();
    config.local.cassandra_heap = "512m".into();
    let cassandra = cassflow::local::LocalStack::new(&config);
    cassandra
        .start_only(&[cassflow::local::Server::Cassandra])
        .await
        .expect("private Cassandra starts");
    // The server is stopped even when the checks fail (a panic in the task).
    let checks = tokio::spawn(async move {
        let f = Family::on(
            config.clone(),
            "quoted",
            &[
                "CREATE TYPE {ks}.\"Person\" (\"Name\" text, \"int\" int)",
                "CREATE TABLE {ks}.t (id int PRIMARY KEY, p frozen<\"Person\">, \
                 ps list<frozen<\"Person\">>)",
                // A DDL after the table exists: its schema agreement reads the metadata.
                "CREATE TABLE {ks}.after (id int PRIMARY KEY)",
            ],
            EpochUnit::default(),
        )
        .await;
        f.stream(
            &[r#"{"id": 1, "p": {"Name": "Ann", "int": 7}, "ps": [{"Name": "Bo"}]}"#],
            &[Refused {
                message: r#"{"id": 2, "p": {"name": "lowercase"}}"#,
                parts: &["`p`", "(frozen<\"Person\">)", "\"name\" is not a field"],
            }],
        )
        .await;
        let ks = f.pipeline.keyspace.as_str();
        let person = |name: &str, n: Option<i32>| {
            udt(
                ks,
                "Person",
                vec![("Name", Some(text(name))), ("int", n.map(CqlValue::Int))],
            )
        };
        assert_columns(
            &f.row("1").await,
            &[
                ("p", Some(person("Ann", Some(7)))),
                ("ps", Some(CqlValue::List(vec![person("Bo", None)]))),
            ],
        );
    })
    .await;
    cassandra
        .stop_only(&[cassflow::local::Server::Cassandra])
        .await
        .expect("stop private Cassandra");
    if let Err(e) = checks {
        std::panic::resume_unwind(e.into_panic());
    }
}
