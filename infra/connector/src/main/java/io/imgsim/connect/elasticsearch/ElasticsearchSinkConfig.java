package io.imgsim.connect.elasticsearch;

import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;

/** Settings of the Elasticsearch sink: where to write, how big a bulk request, how to retry. */
public final class ElasticsearchSinkConfig extends AbstractConfig {
  public static final String CONNECTION_URLS = "connection.urls";
  public static final String CONNECTION_USERNAME = "connection.username";
  public static final String CONNECTION_PASSWORD = "connection.password";
  public static final String CONNECTION_API_KEY = "connection.api.key";
  public static final String CONNECTION_CA_FILE = "connection.ca.file";
  public static final String INDEX = "index";
  public static final String REQUIRE_ALIAS = "require.alias";
  public static final String BATCH_SIZE = "batch.size";
  public static final String REQUEST_TIMEOUT_MS = "request.timeout.ms";
  public static final String MAX_RETRIES = "max.retries";
  public static final String RETRY_BACKOFF_MS = "retry.backoff.ms";
  public static final String MAX_RETRY_BACKOFF_MS = "max.retry.backoff.ms";

  public static final ConfigDef CONFIG_DEF =
      new ConfigDef()
          .define(
              CONNECTION_URLS,
              Type.LIST,
              ConfigDef.NO_DEFAULT_VALUE,
              Importance.HIGH,
              "Elasticsearch HTTP endpoints, e.g. http://localhost:9200; tried in turn.")
          .define(
              CONNECTION_USERNAME,
              Type.STRING,
              null,
              Importance.MEDIUM,
              "Basic auth user; not with " + CONNECTION_API_KEY + ".")
          .define(
              CONNECTION_PASSWORD,
              Type.PASSWORD,
              null,
              Importance.MEDIUM,
              "Basic auth password; best given as ${file:<path>:<key>} through a config"
                  + " provider, so that the connector's configuration never holds it.")
          .define(
              CONNECTION_API_KEY,
              Type.PASSWORD,
              null,
              Importance.MEDIUM,
              "An Elasticsearch API key, encoded (base64 of id:key, as Elasticsearch returns it),"
                  + " sent as 'Authorization: ApiKey ...'; not with " + CONNECTION_USERNAME + ".")
          .define(
              CONNECTION_CA_FILE,
              Type.STRING,
              null,
              Importance.MEDIUM,
              "PEM file of the certificate authorities an https URL's certificate must chain to;"
                  + " empty: the JVM's default trust store.")
          .define(
              INDEX,
              Type.STRING,
              ConfigDef.NO_DEFAULT_VALUE,
              Importance.HIGH,
              "Index or alias (with one write index) every record is written to.")
          .define(
              REQUIRE_ALIAS,
              Type.BOOLEAN,
              false,
              Importance.MEDIUM,
              "Refuse to write unless the index name is an alias: a missing alias is then retried"
                  + " instead of Elasticsearch creating a concrete index with a guessed mapping.")
          .define(
              BATCH_SIZE,
              Type.INT,
              500,
              Range.between(1, 10_000),
              Importance.MEDIUM,
              "Records per bulk request.")
          .define(
              REQUEST_TIMEOUT_MS,
              Type.INT,
              30_000,
              Range.atLeast(1),
              Importance.LOW,
              "Timeout of one bulk request.")
          .define(
              MAX_RETRIES,
              Type.INT,
              5,
              Range.atLeast(0),
              Importance.MEDIUM,
              "Retries of a failed bulk request inside one put() before the batch is handed back"
                  + " to Connect, which redelivers it: the task never drops a record because"
                  + " Elasticsearch is away.")
          .define(
              RETRY_BACKOFF_MS,
              Type.LONG,
              200L,
              Range.atLeast(1),
              Importance.LOW,
              "First backoff between retries; doubled each time.")
          .define(
              MAX_RETRY_BACKOFF_MS,
              Type.LONG,
              10_000L,
              Range.atLeast(1),
              Importance.LOW,
              "Upper bound of the backoff.");

  public ElasticsearchSinkConfig(Map<?, ?> originals) {
    super(CONFIG_DEF, originals);
    if (username() != null && apiKey() != null) {
      throw new ConfigException(
          "set either " + CONNECTION_USERNAME + " or " + CONNECTION_API_KEY + ", not both");
    }
    if (username() != null && password() == null) {
      throw new ConfigException(CONNECTION_USERNAME + " is set but " + CONNECTION_PASSWORD + " is not");
    }
  }

  public List<String> urls() {
    return getList(CONNECTION_URLS);
  }

  public String username() {
    return getString(CONNECTION_USERNAME);
  }

  public String password() {
    Password password = getPassword(CONNECTION_PASSWORD);
    return password == null ? null : password.value();
  }

  public String apiKey() {
    Password key = getPassword(CONNECTION_API_KEY);
    return key == null || key.value().isBlank() ? null : key.value().strip();
  }

  public String caFile() {
    String path = getString(CONNECTION_CA_FILE);
    return path == null || path.isBlank() ? null : path;
  }

  public String index() {
    return getString(INDEX);
  }

  public boolean requireAlias() {
    return getBoolean(REQUIRE_ALIAS);
  }

  public int batchSize() {
    return getInt(BATCH_SIZE);
  }

  public int requestTimeoutMs() {
    return getInt(REQUEST_TIMEOUT_MS);
  }

  public int maxRetries() {
    return getInt(MAX_RETRIES);
  }

  public long retryBackoffMs() {
    return getLong(RETRY_BACKOFF_MS);
  }

  public long maxRetryBackoffMs() {
    return getLong(MAX_RETRY_BACKOFF_MS);
  }
}
