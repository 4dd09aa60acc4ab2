package dev.sluice.testing;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Self-signed server certificates with chosen validity (valid, about to expire, expired), for TLS
 * peers in tests. Built with BouncyCastle because the JDK has no public API to issue certificates
 * and Netty's {@code SelfSignedCertificate} cannot back-date one.
 */
public final class TestCertificates {
  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

  private TestCertificates() {}

  /** A key pair and the self-signed certificate for it. */
  public record Issued(KeyPair keys, X509Certificate certificate) {
    /** Writes the certificate and the private key (PKCS#8) as PEM files, as a listener's tls: section reads them. */
    public void writePem(java.nio.file.Path cert, java.nio.file.Path key) {
      try (var c = new org.bouncycastle.openssl.jcajce.JcaPEMWriter(java.nio.file.Files.newBufferedWriter(cert));
          var k = new org.bouncycastle.openssl.jcajce.JcaPEMWriter(java.nio.file.Files.newBufferedWriter(key))) {
        c.writeObject(certificate);
        k.writeObject(new org.bouncycastle.openssl.jcajce.JcaPKCS8Generator(keys.getPrivate(), null));
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }

    /** A server-side TLS context presenting this certificate. */
    public SSLContext serverContext() {
      try {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        char[] password = "test".toCharArray();
        ks.setKeyEntry("server", keys.getPrivate(), password, new X509Certificate[] {certificate});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, password);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        return ctx;
      } catch (java.io.IOException | GeneralSecurityException e) {
        throw new IllegalStateException("cannot build a TLS context for " + certificate.getSubjectX500Principal(), e);
      }
    }
  }

  /** A self-signed EC P-256 certificate for {@code CN=commonName} valid from notBefore to notAfter. */
  public static Issued selfSigned(String commonName, Instant notBefore, Instant notAfter) {
    return selfSigned(commonName, notBefore, notAfter, null);
  }

  /** As above, also naming {@code ipAddress} in subjectAltName (what hostname verification checks for an IP). */
  public static Issued selfSigned(String commonName, Instant notBefore, Instant notAfter, String ipAddress) {
    try {
      KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
      gen.initialize(256);
      KeyPair keys = gen.generateKeyPair();
      X500Name name = new X500Name("CN=" + commonName);
      JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, BigInteger.valueOf(SERIAL.incrementAndGet()),
          Date.from(notBefore), Date.from(notAfter), name, keys.getPublic());
      if (ipAddress != null) {
        builder.addExtension(org.bouncycastle.asn1.x509.Extension.subjectAlternativeName, false,
            new org.bouncycastle.asn1.x509.GeneralNames(
                new org.bouncycastle.asn1.x509.GeneralName(org.bouncycastle.asn1.x509.GeneralName.iPAddress, ipAddress)));
      }
      X509Certificate cert = new JcaX509CertificateConverter()
          .getCertificate(builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate())));
      return new Issued(keys, cert);
    } catch (GeneralSecurityException | OperatorCreationException | org.bouncycastle.cert.CertIOException e) {
      throw new IllegalStateException("cannot issue a test certificate", e);
    }
  }
}
