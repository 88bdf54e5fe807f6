package io.imgsim.connect.transforms;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.connect.connector.ConnectRecord;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.transforms.Transformation;
import org.apache.kafka.connect.transforms.util.SimpleConfig;

/**
 * Turns {@code vectors: {name: [..]}} into {@code vectors: {name: {metric: [..], ...}}}.
 *
 * <p>Elasticsearch fixes the similarity per dense_vector field and cannot copy a vector into a
 * second field itself (no copy_to for vectors, no ingest processors in the minimal
 * distribution), so one field per representation and metric is filled here. The topic keeps one
 * copy of each vector.
 */
public final class VectorsByMetric<R extends ConnectRecord<R>> implements Transformation<R> {
  public static final String FIELD = "field";
  public static final String METRICS = "metrics";

  public static final ConfigDef CONFIG_DEF =
      new ConfigDef()
          .define(FIELD, Type.STRING, "vectors", Importance.MEDIUM, "Top-level field of vectors.")
          .define(
              METRICS,
              Type.LIST,
              ConfigDef.NO_DEFAULT_VALUE,
              Importance.HIGH,
              "Metric names; each becomes a sub-field holding the same vector.");

  private String field;
  private List<String> metrics;

  @Override
  public void configure(Map<String, ?> props) {
    SimpleConfig config = new SimpleConfig(CONFIG_DEF, props);
    field = config.getString(FIELD);
    metrics = config.getList(METRICS);
    if (metrics.isEmpty()) {
      throw new org.apache.kafka.common.config.ConfigException(METRICS, metrics, "name a metric");
    }
  }

  @Override
  public R apply(R record) {
    Object value = record.value();
    if (value == null) {
      return record;
    }
    if (!(value instanceof Map<?, ?> document)) {
      throw new DataException("record value must be a JSON object, got "
          + value.getClass().getSimpleName());
    }
    Object vectors = document.get(field);
    if (vectors == null) {
      return record;
    }
    if (!(vectors instanceof Map<?, ?> byName)) {
      throw new DataException("'" + field + "' must be an object of name -> list of floats");
    }
    Map<Object, Object> expanded = new LinkedHashMap<>();
    for (Map.Entry<?, ?> entry : byName.entrySet()) {
      if (!(entry.getValue() instanceof List<?> vector)) {
        throw new DataException("'" + field + "." + entry.getKey() + "' must be a list of floats");
      }
      Map<String, Object> byMetric = new LinkedHashMap<>();
      for (String metric : metrics) {
        byMetric.put(metric, vector);
      }
      expanded.put(entry.getKey(), byMetric);
    }
    Map<Object, Object> updated = new LinkedHashMap<>(document);
    updated.put(field, expanded);
    return record.newRecord(record.topic(), record.kafkaPartition(), record.keySchema(),
        record.key(), record.valueSchema(), updated, record.timestamp(), record.headers());
  }

  @Override
  public ConfigDef config() {
    return CONFIG_DEF;
  }

  @Override
  public void close() {}
}
