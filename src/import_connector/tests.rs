//! The importer on configurations shaped like the DataStax connector's own samples
//! (dist/conf/cassandra-sink-standalone.properties.sample and the distributed JSON sample).

use super::*;

/// The connector's standalone sample with its commented-out settings filled in.
const STANDALONE: &str = r#"
name=cassandra-sink
connector.class=com.datastax.oss.kafka.sink.CassandraSinkConnector
tasks.max=1
topics=my_topic
contactPoints=10.0.0.1, 10.0.0.2
loadBalancing.localDc=dc1
port=9043
maxConcurrentRequests=500
ignoreErrors=None
auth.provider=PLAIN
auth.username=cassandra
auth.password=s3cr=t
ssl.provider=None
ssl.hostnameValidation=true

### Settings for table my_ks.my_table in topic my_topic ###
topic.my_topic.my_ks.my_table.mapping=col1=key.f1, col2=value.f1, __ttl=value.f2, \
    __timestamp=value.f3, col3=header.f1, col4=now()
topic.my_topic.my_ks.my_table.ttlTimeUnit=HOURS
topic.my_topic.my_ks.my_table.timestampTimeUnit=MILLISECONDS
topic.my_topic.my_ks.my_table.consistencyLevel=LOCAL_QUORUM
topic.my_topic.my_ks.my_table.ttl=2
topic.my_topic.my_ks.my_table.nullToUnset=false
topic.my_topic.my_ks.my_table.deletesEnabled=false
topic.my_topic.codec.locale=en_US
topic.my_topic.codec.timeZone=UTC
topic.my_topic.codec.timestamp=CQL_TIMESTAMP
topic.my_topic.codec.unit=SECONDS
"#;

fn toml_of(text: &str) -> toml::Value {
    toml::from_str(text).unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

fn convert_text(text: &str) -> Result<String, ImportError> {
    convert(&settings::parse(text)?, "test")
}

#[test]
fn the_standalone_sample_becomes_one_pipeline() {
    let out = convert_text(STANDALONE).unwrap();
    let v = toml_of(&out);
    assert_eq!(
        v["cassandra"]["contact_points"].as_str(),
        Some("10.0.0.1:9043,10.0.0.2:9043")
    );
    assert_eq!(v["cassandra"]["username"].as_str(), Some("cassandra"));
    assert_eq!(v["cassandra"]["password"].as_str(), Some("s3cr=t"));
    let p = &v["pipelines"][0];
    for (key, want) in [
        ("name", "my_table"),
        ("topic", "my_topic"),
        ("keyspace", "my_ks"),
        ("table", "my_table"),
        ("format", "json"),
        ("ttl", "7200s"),
        ("ttl_unit", "hours"),
        ("timestamp_unit", "milliseconds"),
        ("consistency", "LOCAL_QUORUM"),
        ("nulls", "null"),
        ("epoch_unit", "seconds"),
    ] {
        assert_eq!(p[key].as_str(), Some(want), "{key} in\n{out}");
    }
    assert_eq!(p["deletes"].as_bool(), Some(false));
    let columns = p["columns"].as_table().unwrap();
    for (column, expr) in [
        ("col1", "key.f1"),
        ("col2", "value.f1"),
        ("__ttl", "value.f2"),
        ("__timestamp", "value.f3"),
        ("col3", "header.f1"),
        ("col4", "now()"),
    ] {
        assert_eq!(columns[column].as_str(), Some(expr), "{column}");
    }
    assert!(out.contains("# loadBalancing.localDc = dc1"), "{out}");
    assert!(out.contains("# maxConcurrentRequests = 500"), "{out}");
}

/// Connect's REST body, two tables from one topic and a topic with dots in its name.
#[test]
fn connect_json_with_several_tables_and_defaults() {
    let json = r#"{
      "name": "orders-sink",
      "config": {
        "connector.class": "com.datastax.oss.kafka.sink.CassandraSinkConnector",
        "tasks.max": "4",
        "topics": "shop.orders,clicks",
        "contactPoints": "",
        "port": 9042,
        "cloud.secureConnectBundle": "",
        "auth.provider": "None",
        "auth.username": "",
        "auth.password": "",
        "ssl.provider": "None",
        "ssl.keystore.path": "",
        "errors.deadletterqueue.topic.name": "orders-dlq",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": false,
        "topic.shop.orders.shop.orders.mapping": "order_id=value.order_id, customer=value.customer.name, total=value.total, items=value.items",
        "topic.shop.orders.shop.orders_by_customer.mapping": "customer=value.customer.name, order_id=value.order_id",
        "topic.shop.orders.shop.orders_by_customer.ttl": 86400,
        "topic.clicks.web.clicks.mapping": "id=key, url=value.url",
        "topic.clicks.web.clicks.query": "UPDATE web.clicks SET urls = urls + [:url] WHERE id = :id",
        "topic.clicks.web.clicks.deletesEnabled": false
      }
    }"#;
    let out = convert_text(json).unwrap();
    let v = toml_of(&out);
    assert_eq!(
        v["cassandra"]["contact_points"].as_str(),
        Some("localhost:9042")
    );
    let pipelines = v["pipelines"].as_array().unwrap();
    assert_eq!(pipelines.len(), 3, "{out}");
    let by_table = |t: &str| {
        pipelines
            .iter()
            .find(|p| p["table"].as_str() == Some(t))
            .unwrap_or_else(|| panic!("{t} in {out}"))
    };
    let orders = by_table("orders");
    assert_eq!(orders["topic"].as_str(), Some("shop.orders"));
    assert_eq!(orders["keyspace"].as_str(), Some("shop"));
    assert_eq!(
        orders["consistency"].as_str(),
        Some("LOCAL_ONE"),
        "the connector's default"
    );
    assert_eq!(orders["dead_letter_topic"].as_str(), Some("orders-dlq"));
    assert_eq!(
        orders["columns"]["customer"].as_str(),
        Some("value.customer.name")
    );
    assert!(orders.get("ttl").is_none());
    assert_eq!(
        by_table("orders_by_customer")["ttl"].as_str(),
        Some("86400s")
    );
    let clicks = by_table("clicks");
    assert_eq!(
        clicks["query"].as_str(),
        Some("UPDATE web.clicks SET urls = urls + [:url] WHERE id = :id")
    );
    assert_eq!(clicks["deletes"].as_bool(), Some(false));
    assert_eq!(clicks["columns"]["id"].as_str(), Some("key"));
    let names: std::collections::BTreeSet<&str> = pipelines
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "distinct names: {names:?}");
}

#[test]
fn what_cannot_be_expressed_fails_naming_the_setting() {
    let base = "topics=t\ntopic.t.ks.tb.mapping=a=value.a\n";
    for (extra, setting) in [
        ("ssl.provider=JDK\n", "ssl.provider"),
        ("auth.provider=GSSAPI\n", "auth.provider"),
        ("topics.regex=t.*\n", "topics.regex"),
        ("cloud.secureConnectBundle=/b.zip\n", "cloud.secureConnectBundle"),
        ("topic.t.codec.timestamp=yyyy-MM-dd HH:mm:ss\n", "topic.t.codec.timestamp"),
        ("topic.t.codec.timeZone=Europe/Paris\n", "topic.t.codec.timeZone"),
        ("topic.t.ks.tb.consistencyLevel=SERIAL\n", "topic.t.ks.tb.consistencyLevel"),
        ("topic.t.ks.tb.timestampTimeUnit=HOURS\n", "topic.t.ks.tb.timestampTimeUnit"),
        ("topic.t.ks.tb.query=INSERT INTO ks.tb (a) VALUES (:a)\ntopic.t.ks.tb.deletesEnabled=true\n", "topic.t.ks.tb.deletesEnabled"),
        ("topic.t.ks.tb.someNewThing=1\n", "topic.t.ks.tb.someNewThing"),
        ("topic.other.ks.tb.mapping=a=value.a\n", "topic.other.ks.tb.mapping"),
        ("value.converter=io.confluent.connect.avro.AvroConverter\n", "value.converter"),
        ("transforms=unwrap\n", "transforms"),
        ("datastax-java-driver.advanced.ssl-engine-factory.class=X\n", "datastax-java-driver.advanced.ssl-engine-factory.class"),
        ("connector.class=io.lenses.streamreactor.connect.cassandra.CassandraSinkConnector\n", "connector.class"),
        ("fancy=1\n", "fancy"),
    ] {
        let err = convert_text(&format!("{base}{extra}")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("`{setting}`")),
            "{extra:?} should name {setting}: {text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
    }
    for (text, setting) in [
        ("topics=t\n", "topic.t.<keyspace>.<table>.mapping"),
        ("topic.t.ks.tb.mapping=a=value.a\n", "topics"),
        (
            "topics=t\ntopic.t.ks.tb.mapping=a=value\n",
            "topic.t.ks.tb.mapping",
        ),
        (
            "topics=t\ntopic.t.ks.tb.mapping=a=kafka.offset\n",
            "topic.t.ks.tb.mapping",
        ),
        (
            "topics=t\ntopic.t.Ks.tb.mapping=a=value.a\n",
            "topic.t.Ks.tb.mapping",
        ),
        ("topics=t\ntopic.t.ks.tb.ttl=1\n", "topic.t.ks.tb.mapping"),
    ] {
        let err = convert_text(text).unwrap_err().to_string();
        assert!(err.contains(&format!("`{setting}`")), "{text:?}: {err}");
    }
}

#[test]
fn a_ttl_of_part_of_a_second_rounds_up_not_to_no_ttl() {
    for (ttl, want) in [("500", "1s"), ("1500", "2s"), ("2000", "2s")] {
        let text = format!(
            "name=s\nconnector.class=com.datastax.oss.kafka.sink.CassandraSinkConnector\n\
             topics=t\ntopic.t.ks.tb.mapping=id=key\ntopic.t.ks.tb.ttl={ttl}\n\
             topic.t.ks.tb.ttlTimeUnit=MILLISECONDS\n"
        );
        let out = convert_text(&text).expect("imports");
        let v = toml_of(&out);
        assert_eq!(
            v["pipelines"][0]["ttl"].as_str(),
            Some(want),
            "{ttl} ms in\n{out}"
        );
    }
}
