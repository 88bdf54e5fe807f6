"""The consistency checker: lag and state of both ingestion legs, Connect and Elasticsearch."""
