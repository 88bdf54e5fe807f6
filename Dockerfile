# The imgsim Python package. EXTRAS picks one service's dependency set for an image of its own
# (docker-compose builds each: `vectorizer`, `search-api`, `indexer-check`, and empty for `init`,
# whose imgsim-stack provision needs none); the default holds the vectorizer and the search API.
FROM python:3.11-slim
ARG EXTRAS=vectorizer,search-api
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services services
COPY infra/native infra/native
COPY infra/connector infra/connector
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"
CMD ["imgsim-stack", "--help"]
