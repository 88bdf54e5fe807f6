package io.imgsim.connect.elasticsearch;

import io.imgsim.connect.elasticsearch.BulkClient.Action;
import io.imgsim.connect.elasticsearch.BulkClient.ItemResult;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a batch synchronously inside {@link #put}: when put returns, every record is either in
 * Elasticsearch or in the dead-letter topic, so the offsets Connect commits afterwards never
 * point past a record that is not safe. A batch that cannot be written (Elasticsearch away) is
 * handed back with a {@link RetriableException}, and Connect delivers it again.
 */
public final class ElasticsearchSinkTask extends SinkTask {
  private static final Logger log = LoggerFactory.getLogger(ElasticsearchSinkTask.class);

  private record Pending(SinkRecord record, Action action) {}

  private ElasticsearchSinkConfig config;
  private BulkClient client;
  private ErrantRecordReporter reporter;

  @Override
  public String version() {
    return ElasticsearchSinkConnector.VERSION;
  }

  @Override
  public void start(Map<String, String> props) {
    config = new ElasticsearchSinkConfig(props);
    client = new BulkClient(config);
    reporter = context.errantRecordReporter();
    if (reporter == null) {
      log.warn(
          "no dead-letter topic is configured (errors.tolerance=all and"
              + " errors.deadletterqueue.topic.name): a record Elasticsearch rejects will fail"
              + " the task");
    }
  }

  @Override
  public void put(Collection<SinkRecord> records) {
    List<Future<Void>> reports = new ArrayList<>();
    List<Pending> pending = new ArrayList<>(records.size());
    for (SinkRecord record : records) {
      try {
        pending.add(new Pending(record, toAction(record)));
      } catch (DataException e) {
        reports.add(reject(record, e));
      }
    }
    for (int start = 0; start < pending.size(); start += config.batchSize()) {
      write(pending.subList(start, Math.min(pending.size(), start + config.batchSize())), reports);
    }
    awaitReports(reports);
  }

  static Action toAction(SinkRecord record) {
    Object key = record.key();
    if (key == null || (key instanceof String text && text.isEmpty())) {
      throw new DataException("record has no key; the key is the document _id");
    }
    if (!(key instanceof String || key instanceof Number)) {
      throw new DataException(
          "record key must be a string (the document _id), got " + key.getClass().getSimpleName());
    }
    Object value = record.value();
    if (value == null) {
      return new Action(key.toString(), null);
    }
    if (!(value instanceof Map<?, ?> document)) {
      throw new DataException(
          "record value must be a JSON object (schemaless), got " + value.getClass().getSimpleName());
    }
    try {
      return new Action(key.toString(), BulkClient.toJson(document));
    } catch (IOException e) {
      throw new DataException("record value cannot be written as JSON: " + e.getMessage(), e);
    }
  }

  private void write(List<Pending> batch, List<Future<Void>> reports) {
    List<Pending> toSend = batch;
    Exception failure = null;
    for (int attempt = 0; ; attempt++) {
      try {
        List<ItemResult> results = client.send(actions(toSend));
        toSend = unfinished(toSend, results, reports);
        if (toSend.isEmpty()) {
          return;
        }
        failure = new ConnectException(toSend.size() + " documents were not accepted yet");
      } catch (BulkClient.AccessRefusedException e) {
        // Not a passing state of the cluster: retrying would loop for ever, and dead-lettering
        // would empty the topic into the dead-letter topic. The task fails with the reason.
        throw new ConnectException(e.getMessage(), e);
      } catch (IOException e) {
        failure = e;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new RetriableException("interrupted while writing to Elasticsearch", e);
      }
      if (attempt >= config.maxRetries()) {
        log.warn("Elasticsearch did not take the batch after {} tries: {}", attempt + 1, failure.getMessage());
        context.timeout(config.maxRetryBackoffMs());
        throw new RetriableException(
            "Elasticsearch did not take the batch; Connect will deliver it again", failure);
      }
      sleep(backoff(attempt));
    }
  }

  /**
   * Records to send again. From the first item that failed for a passing reason, everything
   * after it is sent again in order: a later record with the same key must not be overtaken by an
   * older one. A record Elasticsearch rejects for what it is goes to the dead-letter topic.
   */
  private List<Pending> unfinished(
      List<Pending> sent, List<ItemResult> results, List<Future<Void>> reports) {
    List<Pending> again = new ArrayList<>();
    for (int i = 0; i < sent.size(); i++) {
      Pending item = sent.get(i);
      ItemResult result = results.get(i);
      if (result.refused()) {
        throw new ConnectException(client.refusal(result));
      }
      if (result.retriable()) {
        again.add(item);
      } else if (!result.succeeded(item.action())) {
        reports.add(reject(item.record(), new DataException("Elasticsearch rejected document "
            + item.action().id() + " (status " + result.status() + "): " + result.errorReason())));
      } else if (!again.isEmpty()) {
        again.add(item);
      }
    }
    return again;
  }

  private Future<Void> reject(SinkRecord record, DataException reason) {
    if (reporter == null) {
      throw new ConnectException("cannot index record at " + record.topic() + "-"
          + record.kafkaPartition() + "@" + record.kafkaOffset() + " and no dead-letter topic is"
          + " configured", reason);
    }
    log.debug("sending record {}-{}@{} to the dead-letter topic: {}", record.topic(),
        record.kafkaPartition(), record.kafkaOffset(), reason.getMessage());
    return reporter.report(record, reason);
  }

  private static void awaitReports(List<Future<Void>> reports) {
    // The dead-letter records must be in Kafka before put() returns and offsets move on.
    for (Future<Void> report : reports) {
      try {
        report.get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new RetriableException("interrupted while writing to the dead-letter topic", e);
      } catch (ExecutionException e) {
        throw new ConnectException("cannot write to the dead-letter topic", e.getCause());
      }
    }
  }

  private static List<Action> actions(List<Pending> pending) {
    List<Action> actions = new ArrayList<>(pending.size());
    for (Pending item : pending) {
      actions.add(item.action());
    }
    return actions;
  }

  private long backoff(int attempt) {
    long delay = config.retryBackoffMs() << Math.min(attempt, 20);
    return Math.min(delay, config.maxRetryBackoffMs());
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RetriableException("interrupted while waiting to retry", e);
    }
  }

  @Override
  public void stop() {}
}
