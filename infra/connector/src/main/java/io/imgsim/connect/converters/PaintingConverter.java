package io.imgsim.connect.converters;

import io.imgsim.connect.elasticsearch.ElasticsearchSinkConnector;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.connect.components.Versioned;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.json.JsonConverterConfig;
import org.apache.kafka.connect.storage.Converter;

/**
 * Reads {@code paintings} values of every contract version into the schemaless map the sink
 * indexes (imgsim_common/painting_records.py is the reference reader).
 *
 * <p>The {@code imgsim-contract} header names the version; without it a record is version 1,
 * JSON, read by Kafka's JsonConverter exactly as before versions existed. A value that is not a
 * JSON object is version 2 even without the header (a copy whose headers were lost): a CBOR map
 * with vectors as float32 typed arrays, read by {@link CborPainting} into the same map, each
 * vector a {@code List<Float>}. The compacted topic keeps version-1 records for ever, so both are
 * read for ever. Anything else is a {@link DataException}: with {@code errors.tolerance=all}
 * Connect sends the record to the dead-letter topic with the message in its headers.
 */
public final class PaintingConverter implements Converter, Versioned {
  public static final String CONTRACT_HEADER = "imgsim-contract";
  public static final int NEWEST_VERSION = 2;

  private final JsonConverter json = new JsonConverter();

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    if (isKey) {
      // The key is the painting id, a plain string: StringConverter reads it.
      throw new ConfigException(
          "PaintingConverter reads paintings values; use StringConverter for the key");
    }
    Object schemas = configs.get(JsonConverterConfig.SCHEMAS_ENABLE_CONFIG);
    if (schemas != null && Boolean.parseBoolean(schemas.toString())) {
      throw new ConfigException(JsonConverterConfig.SCHEMAS_ENABLE_CONFIG, schemas,
          "paintings values are schemaless JSON (version 1) or CBOR (version 2)");
    }
    Map<String, Object> jsonConfigs = new HashMap<>(configs);
    jsonConfigs.put(JsonConverterConfig.SCHEMAS_ENABLE_CONFIG, "false");
    json.configure(jsonConfigs, false);
  }

  @Override
  public SchemaAndValue toConnectData(String topic, byte[] value) {
    return toConnectData(topic, null, value);
  }

  @Override
  public SchemaAndValue toConnectData(String topic, Headers headers, byte[] value) {
    if (value == null) {
      // A tombstone deletes the document, whatever version wrote the painting.
      return SchemaAndValue.NULL;
    }
    int version = contractVersion(headers);
    if (version == 1 && !isJsonObjectOrBlank(value)) {
      version = 2;
    }
    return switch (version) {
      case 1 -> json.toConnectData(topic, headers, value);
      case 2 -> new SchemaAndValue(null, CborPainting.read(value));
      default -> throw new DataException(version > NEWEST_VERSION
          ? "paintings contract version " + version + " is newer than this sink reads (1.."
              + NEWEST_VERSION + "): upgrade the connector"
          : "unknown paintings contract version " + version + " (this sink reads 1.."
              + NEWEST_VERSION + ")");
    };
  }

  /**
   * Only a source would write with this converter. Connect calls it on a sink when a task
   * reports an errant record that is not the one it consumed: then the dead-letter record gets
   * the document as version-1 JSON, which every reader reads, instead of failing the task.
   */
  @Override
  public byte[] fromConnectData(String topic, Schema schema, Object value) {
    return json.fromConnectData(topic, schema, value);
  }

  @Override
  public ConfigDef config() {
    return json.config();
  }

  @Override
  public void close() {
    json.close();
  }

  @Override
  public String version() {
    return ElasticsearchSinkConnector.VERSION;
  }

  static int contractVersion(Headers headers) {
    String text = null;
    if (headers != null) {
      for (Header header : headers.headers(CONTRACT_HEADER)) {
        if (header.value() != null) {
          text = new String(header.value(), StandardCharsets.UTF_8);
        }
      }
    }
    if (text == null) {
      return 1;
    }
    try {
      return Integer.parseInt(text.strip());
    } catch (NumberFormatException e) {
      throw new DataException(
          CONTRACT_HEADER + " header must be a version number, got '" + text + "'");
    }
  }

  /**
   * Version 1 as it was written before versions existed: a JSON object, possibly after JSON
   * whitespace, or nothing at all (both went to the JsonConverter then). A CBOR map's first byte
   * (0xa0..0xbf) is never one of these.
   */
  private static boolean isJsonObjectOrBlank(byte[] value) {
    for (byte b : value) {
      if (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
        return b == '{';
      }
    }
    return true;
  }
}
