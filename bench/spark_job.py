"""The Spark peer of `cassflow bench`: the seed notebook's job (spark_stream_cassandra.ipynb:
read topic users_created with Structured Streaming, parse the JSON value with a schema,
append rows to Cassandra spark_streams.created_users), parameterised for the bench and tuned
as the spark-cassandra-connector docs advise. `cassflow bench` writes this file into its cache
and runs it with the bench venv's python; every setting comes from the command line.
"""

import argparse
import sys

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, from_json, to_timestamp
from pyspark.sql.types import StringType, StructField, StructType

FIELDS = [
    "id", "first_name", "last_name", "gender", "address", "post_code", "email",
    "username", "dob", "registered_date", "phone", "picture",
]


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
