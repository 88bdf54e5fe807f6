pytest_plugins = [
    "tests.stack.fixtures",
    "tests.stack.secured_fixtures",
    "tests.vectorizer.fixtures",
    "tests.search_api.fixtures",
    "tests.indexer_check.fixtures",
]
