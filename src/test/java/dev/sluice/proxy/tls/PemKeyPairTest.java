package dev.sluice.proxy.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.Location;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.util.SelfSignedCertificate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

class PemKeyPairTest {
  @TempDir Path dir;

  private Path[] pair(String name, String algorithm, int bits) throws Exception {
    SelfSignedCertificate c = new SelfSignedCertificate(name, algorithm, bits);
    Path cert = Files.copy(c.certificate().toPath(), dir.resolve(name + ".crt"));
    Path key = Files.copy(c.privateKey().toPath(), dir.resolve(name + ".key"));
    c.delete();
    return new Path[] {cert, key};
  }

  private PemKeyPair.BadFileException refused(Path cert, Path key) {
    return catchThrowableOfType(PemKeyPair.BadFileException.class, () -> PemKeyPair.check(cert, key));
  }

  @Test
  void aMatchingPairPassesForRsaAndEc() throws Exception {
    Path[] rsa = pair("rsa.example", "RSA", 2048);
    PemKeyPair.check(rsa[0], rsa[1]);
    Path[] ec = pair("ec.example", "EC", 256);
    PemKeyPair.check(ec[0], ec[1]);
  }

  @Test
  void aKeyOfAnotherCertificateIsRefusedAsTheKeysFault() throws Exception {
    Path[] a = pair("a.example", "RSA", 2048);
    Path[] b = pair("b.example", "RSA", 2048);
    PemKeyPair.BadFileException e = refused(a[0], b[1]);
    assertThat(e.part()).isEqualTo(PemKeyPair.Part.KEY);
    assertThat(e.getMessage()).contains("is not the private key of the certificate").contains("CN=a.example");
    Path[] ec = pair("ec.example", "EC", 256);
    assertThat(refused(a[0], ec[1]).getMessage()).contains("is not a RSA private key");
  }

  @Test
  void keysInFormsSluiceDoesNotReadGetTheConversionCommand() throws Exception {
    Path[] a = pair("a.example", "RSA", 2048);
    for (String type : new String[] {"RSA PRIVATE KEY", "EC PRIVATE KEY"}) {
      Path key = Files.writeString(dir.resolve("legacy.pem"), "-----BEGIN " + type + "-----\nMIIB\n-----END " + type + "-----\n");
      assertThat(refused(a[0], key).hint()).startsWith("convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in " + key);
    }
    // A legacy encrypted PKCS#1 key carries headers with dashes in them.
    Path legacy = Files.writeString(dir.resolve("legacy.pem"), "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        + "DEK-Info: AES-128-CBC,00\n\nMIIB\n-----END RSA PRIVATE KEY-----\n");
    assertThat(refused(a[0], legacy).getMessage()).contains("PKCS#1");
    Path encrypted = Files.writeString(dir.resolve("enc.pem"), "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n");
    assertThat(refused(a[0], encrypted).hint()).contains("openssl pkcs8 -in " + encrypted);
  }

  @Test
  void missingOrSwappedFilesSayWhichFileAndWhat() throws Exception {
    Path[] a = pair("a.example", "RSA", 2048);
    PemKeyPair.BadFileException missing = refused(dir.resolve("nope.pem"), a[1]);
    assertThat(missing.part()).isEqualTo(PemKeyPair.Part.CERT);
    assertThat(missing.getMessage()).endsWith("nope.pem not found");
    PemKeyPair.BadFileException swapped = refused(a[1], a[0]);
    assertThat(swapped.part()).isEqualTo(PemKeyPair.Part.CERT);
    assertThat(swapped.getMessage()).contains("holds no PEM certificate");
    PemKeyPair.BadFileException noKey = refused(a[0], a[0]);
    assertThat(noKey.part()).isEqualTo(PemKeyPair.Part.KEY);
    assertThat(noKey.getMessage()).contains("holds no PEM private key");
  }

  @Test
  void aRenewalWithTheWrongKeyKeepsThePreviousCertificate() throws Exception {
    Path[] a = pair("a.example", "RSA", 2048);
    Path cert = Files.copy(a[0], dir.resolve("live.crt"));
    Path key = Files.copy(a[1], dir.resolve("live.key"));
    ServerTls tls = ServerTls.load(new ListenerConfig.Tls(cert, key, false, false, Location.NONE, Location.NONE));
    Path[] b = pair("b.example", "RSA", 2048);
    Files.copy(b[0], cert, StandardCopyOption.REPLACE_EXISTING); // a new certificate, the old key
    Files.setLastModifiedTime(cert, FileTime.from(Instant.now().plusSeconds(5)));

    Logger logger = (Logger) LoggerFactory.getLogger(ServerTls.class);
    ListAppender<ILoggingEvent> seen = new ListAppender<>();
    seen.start();
    logger.addAppender(seen);
    try {
      // The files are looked at once a second at most, as sessions start.
      await().atMost(Duration.ofSeconds(5)).until(() -> {
        tls.newHandler(ByteBufAllocator.DEFAULT);
        return !seen.list.isEmpty();
      });
    } finally {
      logger.detachAppender(seen);
    }
    assertThat(seen.list.get(0).getLevel()).isEqualTo(Level.WARN);
    assertThat(seen.list.get(0).getFormattedMessage()).contains("keeping the previous one")
        .contains("is not the private key of the certificate");
  }
}
