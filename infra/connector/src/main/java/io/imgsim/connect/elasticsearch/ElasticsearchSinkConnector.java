package io.imgsim.connect.elasticsearch;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/**
 * Writes each record to Elasticsearch with the record key as the document {@code _id}: a replay
 * or a duplicate overwrites, a tombstone deletes, and a record Elasticsearch rejects goes to the
 * dead-letter topic with the reason instead of stopping the task.
 */
public final class ElasticsearchSinkConnector extends SinkConnector {
  public static final String VERSION = "1.1.0";

  private Map<String, String> settings;

  @Override
  public void start(Map<String, String> props) {
    new ElasticsearchSinkConfig(props);
    settings = new HashMap<>(props);
  }

  @Override
  public Class<? extends Task> taskClass() {
    return ElasticsearchSinkTask.class;
  }

  @Override
  public List<Map<String, String>> taskConfigs(int maxTasks) {
    List<Map<String, String>> configs = new ArrayList<>(maxTasks);
    for (int i = 0; i < maxTasks; i++) {
      configs.add(new HashMap<>(settings));
    }
    return configs;
  }

  @Override
  public void stop() {}

  @Override
  public ConfigDef config() {
    return ElasticsearchSinkConfig.CONFIG_DEF;
  }

  @Override
  public String version() {
    return VERSION;
  }
}
