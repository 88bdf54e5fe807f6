"""The search API's settings: environment variables prefixed `SEARCH_API_`."""

from pathlib import Path
from urllib.parse import urlparse

from imgsim_common import access, names
from imgsim_common.access import ElasticsearchAccess
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchApiSettings(BaseSettings, ElasticsearchAccess):
    """Elasticsearch's address and credentials (`SEARCH_API_ELASTICSEARCH_*`,
    imgsim_common.access: the search role's API key reads the alias only), then the API's own."""

    # hide_input_in_errors: a settings error would otherwise print every value read, secrets too.
    model_config = SettingsConfigDict(
        env_prefix="SEARCH_API_", extra="forbid", hide_input_in_errors=True
    )
    index: str = names.PAINTINGS_ALIAS
    image_root: Path = Path("images")
    thumbnail_cache_dir: Path = Path.home() / ".cache" / "imgsim" / "thumbnails"
    default_k: int = Field(10, ge=1)
    max_k: int = Field(100, ge=1, le=1000)
    # kNN looks at k * factor candidates per shard (at least min_num_candidates, at most
    # 10,000): recall against latency, measured by bench/search_api_bench.py.
    num_candidates_factor: int = Field(10, ge=1)
    min_num_candidates: int = Field(100, ge=1, le=10_000)
    # > 0: a quantized field's oversample x k best candidates are rescored with the float
    # vectors (Elasticsearch's rescore_vector; 1 to 10); 0: quantized scores as they are.
    # Measured (bench/search_api_bench.py, 45,000 paintings, trained_style, int8_hnsw): int8
    # scores found 0.80 of the true top 10 by cosine whatever the candidates (50-200); x3
    # found 1.00 for ~1.5 ms more at 1 client.
    rescore_oversample: float = Field(3.0, ge=0, le=10)
    request_timeout_s: float = Field(10.0, gt=0)
    # Connections to Elasticsearch the API may hold open at once (the client's own default is
    # 10; one request for every representation runs three searches at once).
    elasticsearch_connections: int = Field(32, ge=1, le=1024)
    retry_after_s: int = Field(5, ge=1)
    # How old what the API knows of the index behind the alias (its representations and model)
    # may be: an alias swap is followed within this many seconds, without a restart.
    index_model_ttl_s: float = Field(5.0, gt=0)

    # Upload search: the vectorizer's embedding endpoint (VECTORIZER_EMBEDDING_PORT, 9466) that
    # vectorizes uploads with the model of the collection; empty: upload search is off.
    upload_enabled: bool = True
    embedding_url: str = ""
    embedding_timeout_s: float = Field(30.0, gt=0)
    max_upload_bytes: int = Field(20 * 2**20, gt=0)
    # An upload's body must arrive within this: a client that trickles it would otherwise hold
    # one of the few upload slots for as long as it likes.
    upload_read_timeout_s: float = Field(30.0, gt=0, le=600)
    max_upload_pixels: int = Field(100_000_000, gt=0)
    # Uploads read and vectorized at once; past it 429 with Retry-After, before the body is read
    # (admission.py). 2: the vectorizer's own concurrency, and on 2 cores more only queue there
    # (bench/upload_load_bench.py).
    max_concurrent_uploads: int = Field(2, ge=1, le=256)
    # Sent as `Authorization: Bearer` to the embedding endpoint (its VECTORIZER_EMBEDDING_TOKEN);
    # or `_FILE`: a file that holds it.
    embedding_token: SecretStr | None = None
    embedding_token_file: Path | None = None

    # Origins (scheme://host[:port], comma-separated) whose pages may read the API's answers;
    # empty: no CORS, only the gallery's own origin.
    cors_origins: str = ""

    # The consistency checker (imgsim_indexer_check) whose /health and /history the gallery's
    # health page shows; empty: the page shows the search index's readiness alone.
    checker_url: str = "http://127.0.0.1:9465"

    @field_validator("checker_url", "embedding_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.strip():
            return ""
        url = urlparse(value.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as http://127.0.0.1:9465")
        return value.strip().rstrip("/")

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in filter(None, (o.strip() for o in value.split(","))):
            url = urlparse(origin)
            if origin != "*" and (
                url.scheme not in ("http", "https") or not url.hostname or url.path.strip("/")
            ):
                raise ValueError(f"{origin!r} is not an origin such as https://gallery.example")
        return value

    @model_validator(mode="after")
    def _embedding_token_from_file(self) -> "SearchApiSettings":
        if self.embedding_token is not None and not self.embedding_token.get_secret_value():
            self.embedding_token = None  # set but empty: no token, not an empty one
        if self.embedding_token_file is not None:
            if self.embedding_token is not None:
                raise ValueError("set embedding_token or embedding_token_file, not both")
            self.embedding_token = access.read_secret(self.embedding_token_file)
        return self

    @property
    def upload_search(self) -> bool:
        return self.upload_enabled and bool(self.embedding_url)

    @model_validator(mode="after")
    def _default_within_max(self) -> "SearchApiSettings":
        if self.default_k > self.max_k:
            raise ValueError(f"default_k {self.default_k} exceeds max_k {self.max_k}")
        return self
