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
    this.authorization =
        config.username() == null
            ? null
            : "Basic "
                + Base64.getEncoder()
                    .encodeToString(
                        (config.username() + ":" + config.password())
                            .getBytes(StandardCharsets.UTF_8));
    this.http = HttpClient.newBuilder().connectTimeout(timeout).build();
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
    } catch (IOException e) {
      current = (current + 1) % urls.size();
      throw new RequestFailedException("cannot reach Elasticsearch at " + url + ": " + e, e);
    }
    if (response.statusCode() != 200) {
      String text = new String(response.body(), StandardCharsets.UTF_8);
      throw new RequestFailedException(
          "bulk request to " + url + " answered " + response.statusCode() + ": " + abbreviate(text),
          null);
    }
    return parse(JSON.readTree(response.body()), actions.size());
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
