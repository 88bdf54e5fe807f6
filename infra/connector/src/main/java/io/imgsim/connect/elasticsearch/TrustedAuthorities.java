package io.imgsim.connect.elasticsearch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.apache.kafka.common.config.ConfigException;

/**
 * The certificate authorities an https Elasticsearch must chain to, read from a PEM file: a
 * cluster with its own CA (the native stack's, Elasticsearch's auto-generated one) is trusted
 * without touching the JVM's trust store, and with no library beyond the JDK.
 */
final class TrustedAuthorities {
  private TrustedAuthorities() {}

  static SSLContext sslContext(String pemFile) {
    Path path = Path.of(pemFile);
    Collection<? extends Certificate> certificates;
    try (InputStream in = Files.newInputStream(path)) {
      certificates = CertificateFactory.getInstance("X.509").generateCertificates(in);
    } catch (IOException | GeneralSecurityException e) {
      throw new ConfigException(
          ElasticsearchSinkConfig.CONNECTION_CA_FILE, pemFile, "cannot read a PEM certificate: " + e);
    }
    if (certificates.isEmpty()) {
      throw new ConfigException(
          ElasticsearchSinkConfig.CONNECTION_CA_FILE, pemFile, "holds no PEM certificate");
    }
    try {
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      int n = 0;
      for (Certificate certificate : certificates) {
        store.setCertificateEntry("authority-" + n++, certificate);
      }
      TrustManagerFactory trust =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      trust.init(store);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, trust.getTrustManagers(), null);
      return context;
    } catch (IOException | GeneralSecurityException e) {
      throw new ConfigException(
          ElasticsearchSinkConfig.CONNECTION_CA_FILE, pemFile, "cannot build a trust store: " + e);
    }
  }
}
