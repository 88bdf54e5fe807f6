"""Native launcher for the real Kafka, Kafka Connect and Elasticsearch stack."""
