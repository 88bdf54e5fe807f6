pytest_plugins = [
    "tests.integration.fixtures",
    "tests.vectorizer.fixtures",
    "tests.search_api.fixtures",
    "tests.indexer_check.fixtures",
]
