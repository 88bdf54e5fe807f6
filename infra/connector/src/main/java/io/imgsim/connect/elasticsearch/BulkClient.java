package io.imgsim.connect.elasticsearch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLHandshakeException;

/** Elasticsearch's {@code _bulk} API over the JDK's HTTP client; nothing else is needed. */
final class BulkClient {
  /** One line pair of a bulk request: index a document or delete it, by id. */
  record Action(String id, byte[] source) {
    boolean isDelete() {
      return source == null;
    }
  }

  /** The outcome of one action, in request order. */
  record ItemResult(int status, String errorType, String errorReason) {
    boolean succeeded(Action action) {
      // Deleting a document that is not there leaves the index as the tombstone wants it.
      return (status >= 200 && status < 300) || (action.isDelete() && status == 404);
    }

    /** The sink's credentials or privileges, not the record: no document can be written. */
    boolean refused() {
      return status == 401 || status == 403;
    }

    /** Failures that are the cluster's state, not the record's fault: send again later. */
    boolean retriable() {
      return status == 429
          || status >= 500
          || "index_not_found_exception".equals(errorType)
          || "cluster_block_exception".equals(errorType);
    }
  }

  /** The whole request failed (connection refused, 429, 5xx): nothing can be said per item. */
  static final class RequestFailedException extends IOException {
    private static final long serialVersionUID = 1L;

    RequestFailedException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * Elasticsearch will not take the sink's requests as they are: credentials refused (401), a
   * privilege missing (403), or a certificate the sink does not trust. Sending again cannot help,
   * so the task fails with this reason instead of retrying for ever.
   */
  static final class AccessRefusedException extends IOException {
    private static final long serialVersionUID = 1L;

    AccessRefusedException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<String> urls;
  private final String index;
  private final boolean requireAlias;
  private final String authorization;
  private final Duration timeout;
  private final HttpClient http;
  private int current;

  BulkClient(ElasticsearchSinkConfig config) {
    this.urls = new ArrayList<>();
    for (String url : config.urls()) {
      urls.add(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
    }
    this.index = config.index();
    this.requireAlias = config.requireAlias();
    this.timeout = Duration.ofMillis(config.requestTimeoutMs());
    this.authorization = authorization(config);
    HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(timeout);
    if (config.caFile() != null) {
      builder.sslContext(TrustedAuthorities.sslContext(config.caFile()));
    }
    this.http = builder.build();
  }

  private static String authorization(ElasticsearchSinkConfig config) {
    if (config.apiKey() != null) {
      return "ApiKey " + config.apiKey();
    }
    if (config.username() != null) {
      String pair = config.username() + ":" + config.password();
      return "Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
    }
    return null;
  }

  /** Who the sink is to Elasticsearch, for error messages; never the secret itself. */
  private String identity() {
    if (authorization == null) {
      return "no credentials (connection.api.key or connection.username/password unset)";
    }
    return authorization.startsWith("ApiKey") ? "its API key" : "its username and password";
  }

  static byte[] toJson(Map<?, ?> document) throws IOException {
    return JSON.writeValueAsBytes(document);
  }

  List<ItemResult> send(List<Action> actions) throws IOException, InterruptedException {
    String url = urls.get(current) + "/_bulk" + (requireAlias ? "?require_alias=true" : "");
    HttpRequest.Builder request =
        HttpRequest.newBuilder(URI.create(url))
            .timeout(timeout)
            .header("Content-Type", "application/x-ndjson")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body(actions)));
    if (authorization != null) {
      request.header("Authorization", authorization);
    }
    HttpResponse<byte[]> response;
    try {
      response = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (SSLHandshakeException e) {
      throw new AccessRefusedException(
          "TLS handshake with Elasticsearch at " + url + " failed (" + e.getMessage() + "): is"
              + " connection.ca.file the CA that signed its certificate, and does the certificate"
              + " name the URL's host?",
          e);
    } catch (IOException e) {
      current = (current + 1) % urls.size();
      throw new RequestFailedException("cannot reach Elasticsearch at " + url + ": " + e, e);
    }
    int status = response.statusCode();
    if (status == 401 || status == 403) {
      String text = new String(response.body(), StandardCharsets.UTF_8);
      throw new AccessRefusedException(
          "Elasticsearch at " + url + " answered " + status
              + (status == 401 ? " (not authenticated)" : " (not authorized)") + " to the sink with "
              + identity() + ": " + abbreviate(text),
          null);
    }
    if (status != 200) {
      String text = new String(response.body(), StandardCharsets.UTF_8);
      throw new RequestFailedException(
          "bulk request to " + url + " answered " + response.statusCode() + ": " + abbreviate(text),
          null);
    }
    return parse(JSON.readTree(response.body()), actions.size());
  }

  /** An item refused for the sink's privileges, not for what the document holds. */
  String refusal(ItemResult result) {
    return "Elasticsearch refused to write to " + index + " (status " + result.status() + ") with "
        + identity() + ": " + result.errorReason();
  }

  private byte[] body(List<Action> actions) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Action action : actions) {
      Map<String, Map<String, String>> header =
          Map.of(action.isDelete() ? "delete" : "index", Map.of("_index", index, "_id", action.id()));
      out.write(JSON.writeValueAsBytes(header));
      out.write('\n');
      if (!action.isDelete()) {
        out.write(action.source());
        out.write('\n');
      }
    }
    return out.toByteArray();
  }

  private static List<ItemResult> parse(JsonNode response, int expected) throws IOException {
    JsonNode items = response.path("items");
    if (!items.isArray() || items.size() != expected) {
      throw new RequestFailedException(
          "bulk response has " + items.size() + " items for " + expected + " actions", null);
    }
    List<ItemResult> results = new ArrayList<>(expected);
    for (JsonNode item : items) {
      Iterator<JsonNode> operations = item.elements();
      JsonNode outcome = operations.hasNext() ? operations.next() : JSON.createObjectNode();
      JsonNode error = outcome.path("error");
      results.add(
          new ItemResult(
              outcome.path("status").asInt(500),
              error.isMissingNode() ? null : error.path("type").asText(null),
              error.isMissingNode() ? null : describe(error)));
    }
    return results;
  }

  private static String describe(JsonNode error) {
    StringBuilder text = new StringBuilder();
    for (JsonNode cause = error; !cause.isMissingNode(); cause = cause.path("caused_by")) {
      if (text.length() > 0) {
        text.append("; caused by ");
      }
      text.append(cause.path("type").asText("error")).append(": ").append(cause.path("reason").asText(""));
    }
    return text.toString();
  }

  private static String abbreviate(String text) {
    return text.length() > 500 ? text.substring(0, 500) + "..." : text;
  }
}
