"""The Spark peer of `cassflow bench`: the seed notebook's job (spark_stream_cassandra.ipynb:
read topic users_created with Structured Streaming, parse the JSON value with a schema,
append rows to Cassandra spark_streams.created_users), parameterised for the bench and tuned
as the spark-cassandra-connector docs advise. `cassflow bench` writes this file into its cache
and runs it with the bench venv's python; every setting comes from the command line.

With `--format avro` the values are Avro in the Confluent wire format (magic byte, 4-byte
schema id, payload), as `cassflow produce --format avro` sends them. spark-avro's `from_avro`
reads a payload against a schema text and knows nothing of registries, so the job does what
Spark users do: it asks the registry for the subject's latest schema once at start, and cuts
the 5-byte header off every value before decoding it.
"""

import argparse
import base64
import json
import os
import ssl
import sys
import urllib.parse
import urllib.request

from pyspark.sql import SparkSession
from pyspark.sql.avro.functions import from_avro
from pyspark.sql.functions import col, expr, from_json, to_timestamp
from pyspark.sql.types import StringType, StructField, StructType

FIELDS = [
    "id", "first_name", "last_name", "gender", "address", "post_code", "email",
    "username", "dob", "registered_date", "phone", "picture",
]


def latest_schema(registry_url, subject, ca=None):
    """The schema text of `subject`'s latest version, from a Confluent-compatible registry:
    no proxy between (it is on loopback), the CA file trusted when given, and basic auth
    from REGISTRY_USERNAME / REGISTRY_PASSWORD in the environment when set (never argv)."""
    url = "%s/subjects/%s/versions/latest" % (
        registry_url.rstrip("/"), urllib.parse.quote(subject, safe=""))
    handlers = [urllib.request.ProxyHandler({})]
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=ca)
        handlers.append(urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url)
    user, password = os.environ.get("REGISTRY_USERNAME"), os.environ.get("REGISTRY_PASSWORD")
    if user is not None and password is not None:
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    with urllib.request.build_opener(*handlers).open(request, timeout=30) as answer:
        return json.load(answer)["schema"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--cassandra-host", required=True)
    p.add_argument("--cassandra-port", required=True)
    p.add_argument("--keyspace", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--jars", required=True)
    p.add_argument("--starting-offsets", default="earliest")
    p.add_argument("--max-offsets-per-trigger", type=int, default=0)
    p.add_argument("--conf", action="append", default=[], help="key=value Spark setting")
    p.add_argument("--format", choices=["json", "avro"], default="json")
    p.add_argument("--registry-url", help="Confluent-compatible API, for --format avro")
    p.add_argument("--subject", help="the value schema's subject, for --format avro")
    p.add_argument("--registry-ca", help="PEM of the CA of an https registry")
    a = p.parse_args()

    builder = (
        SparkSession.builder.appName("cassflow-bench-spark")
        .master("local[2]")
        .config("spark.jars", a.jars)
        .config("spark.cassandra.connection.host", a.cassandra_host)
        .config("spark.cassandra.connection.port", a.cassandra_port)
    )
    for kv in a.conf:
        k, v = kv.split("=", 1)
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")

    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", a.bootstrap)
        .option("subscribe", a.topic)
        .option("startingOffsets", a.starting_offsets)
        .option("failOnDataLoss", "false")
    )
    if a.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", a.max_offsets_per_trigger)
    if a.format == "avro":
        # The schema types the two dates (timestamp-millis): no conversion after decoding.
        schema = latest_schema(a.registry_url, a.subject, a.registry_ca)
        users = (
            reader.load()
            .select(from_avro(expr("substring(value, 6)"), schema).alias("data"))
            .select("data.*")
        )
    else:
        schema = StructType([StructField(f, StringType(), False) for f in FIELDS])
        users = (
            reader.load()
            .selectExpr("CAST(value AS STRING)")
            .select(from_json(col("value"), schema).alias("data"))
            .select("data.*")
            # The table of docs/record.md types these two; the seed's table kept them as text.
            .withColumn("dob", to_timestamp(col("dob")))
            .withColumn("registered_date", to_timestamp(col("registered_date")))
        )
    query = (
        users.writeStream.format("org.apache.spark.sql.cassandra")
        .option("checkpointLocation", a.checkpoint)
        .option("keyspace", a.keyspace)
        .option("table", a.table)
        .start()
    )
    print("QUERY STARTED", flush=True)
    query.awaitTermination()


if __name__ == "__main__":
    sys.exit(main())
