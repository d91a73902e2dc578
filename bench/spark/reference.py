# bench/spark/reference.py: the reference job's transformation, as the reference design's Spark code
# writes it: from_json with its schema (every leaf a string), the selects, and the 12-column group-by with
# count(response). One home for it: bench/spark/job.py (the streaming job, Kafka source and JDBC sink) and the
# differential test (tests/differential/reference_batch.py, a batch over the same bytes) both import it.
from pyspark.sql import functions as func
from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

# --- the reference's code from here (schema, parse, group-by) ---
schema = StructType([
    StructField("venue", StructType([
        StructField("venue_name", StringType(), True),
        StructField("lon", StringType(), True),
        StructField("lat", StringType(), True),
        StructField("venue_id", StringType(), True)
    ])),
    StructField("visibility", StringType(), True),
    StructField("response", StringType(), True),
    StructField("guests", StringType(), True),
    StructField("member", StructType([
        StructField("member_id", StringType(), True),
        StructField("photo", StringType(), True),
        StructField("member_name", StringType(), True)
    ])),
    StructField("rsvp_id", StringType(), True),
    StructField("mtime", StringType(), True),
    StructField("event", StructType([
        StructField("event_name", StringType(), True),
        StructField("event_id", StringType(), True),
        StructField("time", StringType(), True),
        StructField("event_url", StringType(), True)
    ])),
    StructField("group", StructType([
        StructField("group_topics", ArrayType(StructType([
            StructField("urlkey", StringType(), True),
            StructField("topic_name", StringType(), True)
        ]), True), True),
        StructField("group_city", StringType(), True),
        StructField("group_country", StringType(), True),
        StructField("group_id", StringType(), True),
        StructField("group_name", StringType(), True),
        StructField("group_lon", StringType(), True),
        StructField("group_urlname", StringType(), True),
        StructField("group_state", StringType(), True),
        StructField("group_lat", StringType(), True)
    ]))
])



def parse(df):
    """df has the Kafka source's binary `value` and `timestamp` columns: the reference's parsed columns."""
    return (df.selectExpr("CAST(value AS STRING)", "timestamp")
            .select(func.from_json(func.col("value"), schema).alias("data"), "timestamp")
            .select("data.venue.*", "data.response", "data.event.*", "data.group.*", "timestamp"))


def group(df):
    """The reference's aggregate over parse()'s columns: one row per key with response_count."""
    return df.groupBy(func.col("event_name"), func.col("event_url"), func.col("time").alias("event_time"),
                      func.col("group_name"), func.col("group_country"), func.col("group_state"),
                      func.col("group_city"), (func.col("group_lat").cast(DoubleType())).alias("group_lat"),
                      (func.col("group_lon").cast(DoubleType())).alias("group_lon"),
                      (func.col("lat").cast(DoubleType())).alias("lat"),
                      (func.col("lon").cast(DoubleType())).alias("lon"),
                      func.col("response")).agg(func.count(func.col("response")).alias("response_count"))
# --- end of the reference's code ---
