package io.imgsim.connect.converters;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.fasterxml.jackson.dataformat.cbor.CBORParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.errors.DataException;

/**
 * Reads a version-2 {@code paintings} value: the version-1 document as a CBOR map (RFC 8949),
 * except that each {@code vectors.<name>} is an RFC 8746 typed array, tag 85 (float32, little
 * endian) around a byte string of 4 bytes per dimension.
 *
 * <p>The result is what JsonConverter (schemas.enable=false) gives for the version-1 document:
 * maps, lists, strings, Long for integers, Double for other numbers, and each vector a
 * {@code List<Float>}, so the transform and the task treat both versions alike. It accepts what
 * imgsim_common's decode_painting accepts, and refuses the rest with the reason: a tag or a byte
 * string anywhere but a vector, a vector that is not a tag-85 byte string of 4 bytes per
 * dimension, a value that is not one map, a missing id, sha1, model or vectors.
 */
final class CborPainting {
  /** RFC 8746: IEEE 754 binary32, little endian, typed array. */
  static final int FLOAT32_LE_TAG = 85;

  private static final String VECTORS = "vectors";
  private static final List<String> REQUIRED = List.of("id", "sha1", "model", VECTORS);
  private static final CBORFactory CBOR = new CBORFactory();

  private CborPainting() {}

  static Map<String, Object> read(byte[] value) {
    try (CBORParser parser = CBOR.createParser(value)) {
      JsonToken first = parser.nextToken();
      if (first != JsonToken.START_OBJECT || parser.getCurrentTag() != -1) {
        throw new DataException("a version-2 paintings value must be a CBOR map, got "
            + describe(parser, first));
      }
      Map<String, Object> document = readMap(parser, "");
      if (parser.nextToken() != null) {
        throw new DataException(
            "a version-2 paintings value must be one CBOR map; bytes follow it");
      }
      for (String field : REQUIRED) {
        if (!document.containsKey(field)) {
          throw new DataException("the paintings value has no '" + field + "'");
        }
      }
      return document;
    } catch (JsonProcessingException e) {
      // Truncated or malformed CBOR.
      String at =
          e.getLocation() == null ? "" : " (at byte " + e.getLocation().getByteOffset() + ")";
      throw new DataException(
          "a version-2 paintings value must be CBOR: " + e.getOriginalMessage() + at, e);
    } catch (IOException e) {
      throw new DataException("a version-2 paintings value must be CBOR: " + e.getMessage(), e);
    }
  }

  private static Map<String, Object> readMap(CBORParser parser, String path) throws IOException {
    Map<String, Object> map = new LinkedHashMap<>();
    for (JsonToken token = parser.nextToken(); token != JsonToken.END_OBJECT;
        token = parser.nextToken()) {
      String name = parser.currentName();
      JsonToken valueToken = parser.nextToken();
      if (path.isEmpty() && VECTORS.equals(name)) {
        map.put(name, readVectors(parser, valueToken));
      } else {
        map.put(name, readValue(parser, valueToken, path + name));
      }
    }
    return map;
  }

  private static Object readValue(CBORParser parser, JsonToken token, String path)
      throws IOException {
    if (parser.getCurrentTag() != -1) {
      throw new DataException("unexpected CBOR tag " + parser.getCurrentTag() + " at '" + path
          + "': only vectors are tagged");
    }
    return switch (token) {
      case START_OBJECT -> readMap(parser, path + ".");
      case START_ARRAY -> readList(parser, path);
      case VALUE_STRING -> parser.getText();
      case VALUE_NUMBER_INT -> parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER
          ? parser.getBigIntegerValue()
          : (Object) parser.getLongValue();
      case VALUE_NUMBER_FLOAT -> parser.getNumberType() == JsonParser.NumberType.BIG_DECIMAL
          ? parser.getDecimalValue()
          : (Object) parser.getDoubleValue();
      case VALUE_TRUE -> Boolean.TRUE;
      case VALUE_FALSE -> Boolean.FALSE;
      case VALUE_NULL -> null;
      default -> throw new DataException(describe(parser, token) + " at '" + path
          + "': only vectors hold binary data");
    };
  }

  private static List<Object> readList(CBORParser parser, String path) throws IOException {
    List<Object> list = new ArrayList<>();
    for (JsonToken token = parser.nextToken(); token != JsonToken.END_ARRAY;
        token = parser.nextToken()) {
      list.add(readValue(parser, token, path + "[" + list.size() + "]"));
    }
    return list;
  }

  private static Map<String, Object> readVectors(CBORParser parser, JsonToken token)
      throws IOException {
    if (token != JsonToken.START_OBJECT || parser.getCurrentTag() != -1) {
      throw new DataException("'vectors' must be a map of name -> float32 typed array, got "
          + describe(parser, token));
    }
    Map<String, Object> vectors = new LinkedHashMap<>();
    for (JsonToken field = parser.nextToken(); field != JsonToken.END_OBJECT;
        field = parser.nextToken()) {
      String name = parser.currentName();
      vectors.put(name, readVector(parser, parser.nextToken(), name));
    }
    return vectors;
  }

  private static List<Float> readVector(CBORParser parser, JsonToken token, String name)
      throws IOException {
    int tag = parser.getCurrentTag();
    if (tag != FLOAT32_LE_TAG || parser.getCurrentTags().size() != 1) {
      throw new DataException("vector '" + name + "' must be a float32 little-endian typed array"
          + " (CBOR tag " + FLOAT32_LE_TAG + "), got " + describe(parser, token)
          + (tag == -1 ? " without a tag" : ""));
    }
    if (token != JsonToken.VALUE_EMBEDDED_OBJECT) {
      throw new DataException("vector '" + name + "': CBOR tag " + FLOAT32_LE_TAG
          + " must wrap a byte string, got " + describe(parser, token));
    }
    byte[] bytes = parser.getBinaryValue();
    if (bytes.length % Float.BYTES != 0) {
      throw new DataException("vector '" + name + "' has " + bytes.length + " bytes, not a"
          + " multiple of 4: a float32 typed array holds 4 bytes per dimension");
    }
    FloatBuffer floats = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    List<Float> vector = new ArrayList<>(floats.remaining());
    while (floats.hasRemaining()) {
      vector.add(floats.get());
    }
    return vector;
  }

  private static String describe(CBORParser parser, JsonToken token) {
    if (token == null) {
      return "nothing (the value is empty)";
    }
    String what = switch (token) {
      case START_OBJECT -> "a map";
      case START_ARRAY -> "an array";
      case VALUE_STRING -> "a text string";
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case VALUE_NULL -> "null";
      case VALUE_EMBEDDED_OBJECT -> "a byte string";
      default -> token.toString();
    };
    int tag = parser.getCurrentTag();
    return tag == -1 ? what : what + " with CBOR tag " + tag;
  }
}
