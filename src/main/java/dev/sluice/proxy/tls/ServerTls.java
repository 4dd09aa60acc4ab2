package dev.sluice.proxy.tls;

import dev.sluice.config.ListenerConfig;
import dev.sluice.health.ProbeResult;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.security.cert.X509Certificate;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listener's TLS server context from its PEM certificate and key: TLS 1.2 and 1.3 only, the JDK's
 * modern cipher defaults. The files are checked for changes at most once a second as sessions
 * start, so a renewed certificate (certbot, ACME) is used without a restart; a renewal that cannot
 * be read keeps the old context and says so.
 *
 * <p>Thread-safe: the context is swapped atomically; event loops read it concurrently.
 */
public final class ServerTls {
  private static final Logger log = LoggerFactory.getLogger(ServerTls.class);
  private static final long RECHECK_NANOS = 1_000_000_000L;
  private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

  /** Days before expiry from which loading a certificate is logged as a warning (as cert_warn_days' default). */
  private static final int WARN_DAYS = 14;

  private final ListenerConfig.Tls config;
  private volatile SslContext context;
  /** When the certificate in use expires. */
  private volatile Instant notAfter;
  private volatile FileTime certTime;
  private volatile FileTime keyTime;
  private volatile long checkedAt;

  private ServerTls(ListenerConfig.Tls config, SslContext context, Instant notAfter, FileTime certTime, FileTime keyTime) {
    this.config = config;
    this.context = context;
    this.notAfter = notAfter;
    this.certTime = certTime;
    this.keyTime = keyTime;
    this.checkedAt = System.nanoTime();
  }

  /**
   * Loads the certificate and key.
   *
   * @throws PemKeyPair.BadFileException naming the file and what is wrong with it
   * @throws IOException when TLS cannot be set up with them for another reason
   */
  public static ServerTls load(ListenerConfig.Tls config) throws IOException {
    // Before the file times, so that a missing file is named as such.
    X509Certificate leaf = PemKeyPair.check(config.cert(), config.key());
    FileTime c = Files.getLastModifiedTime(config.cert());
    FileTime k = Files.getLastModifiedTime(config.key());
    ServerTls tls = new ServerTls(config, context(config), leaf.getNotAfter().toInstant(), c, k);
    warnIfExpiring(config, leaf, Instant.now());
    return tls;
  }

  /** When the certificate in use expires (for the expiry metric; a renewal shows once it is loaded). */
  public Instant certificateExpiry() {
    return notAfter;
  }

  /**
   * Says so when a certificate being put in use expires within {@link #WARN_DAYS} or has expired:
   * senders that verify (MTA-STS, DANE) stop delivering once it has, so the warning comes first.
   */
  private static void warnIfExpiring(ListenerConfig.Tls config, X509Certificate leaf, Instant now) {
    ProbeResult.CertificateInfo c = ProbeResult.CertificateInfo.of(leaf, now);
    if (c.expiresWithin(WARN_DAYS)) {
      log.warn("TLS certificate {} ({}) {}", config.cert(), c.subject(), c.describeExpiry());
    }
  }

  private static SslContext context(ListenerConfig.Tls config) throws IOException {
    try {
      return SslContextBuilder.forServer(config.cert().toFile(), config.key().toFile()).protocols(PROTOCOLS).build();
    } catch (Exception e) {
      throw new IOException("cannot use TLS certificate " + config.cert() + " with key " + config.key() + ": "
          + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), e);
    }
  }

  /** Whether the listener speaks TLS from the first byte (port 465 style) rather than after STARTTLS. */
  public boolean implicit() {
    return config.implicit();
  }

  /** Whether STARTTLS must come before any mail transaction or AUTH ({@code tls.required}). */
  public boolean required() {
    return config.required();
  }

  /** A new server-side TLS handler with the current certificate. */
  public SslHandler newHandler(ByteBufAllocator alloc) {
    reloadIfChanged();
    return context.newHandler(alloc);
  }

  private void reloadIfChanged() {
    long now = System.nanoTime();
    if (now - checkedAt < RECHECK_NANOS) {
      return;
    }
    checkedAt = now;
    try {
      FileTime c = Files.getLastModifiedTime(config.cert());
      FileTime k = Files.getLastModifiedTime(config.key());
      if (c.equals(certTime) && k.equals(keyTime)) {
        return;
      }
      // Remember the new times first: a half-written renewal is reported once, not every second.
      certTime = c;
      keyTime = k;
      X509Certificate leaf = PemKeyPair.check(config.cert(), config.key());
      context = context(config);
      notAfter = leaf.getNotAfter().toInstant();
      log.info("TLS certificate {} reloaded", config.cert());
      warnIfExpiring(config, leaf, Instant.now());
    } catch (IOException e) {
      log.warn("TLS certificate changed but cannot be used; keeping the previous one: {}", e.getMessage());
    }
  }
}
