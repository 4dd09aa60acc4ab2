package dev.sluice.proxy.tls;

import dev.sluice.config.ListenerConfig;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
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

  private final ListenerConfig.Tls config;
  private volatile SslContext context;
  private volatile FileTime certTime;
  private volatile FileTime keyTime;
  private volatile long checkedAt;

  private ServerTls(ListenerConfig.Tls config, SslContext context, FileTime certTime, FileTime keyTime) {
    this.config = config;
    this.context = context;
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
    PemKeyPair.check(config.cert(), config.key()); // before the file times, so a missing file is named as such
    FileTime c = Files.getLastModifiedTime(config.cert());
    FileTime k = Files.getLastModifiedTime(config.key());
    return new ServerTls(config, context(config), c, k);
  }

  /** A context from files not checked yet (a renewal). */
  private static SslContext build(ListenerConfig.Tls config) throws IOException {
    PemKeyPair.check(config.cert(), config.key());
    return context(config);
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
      context = build(config);
      log.info("TLS certificate {} reloaded", config.cert());
    } catch (IOException e) {
      log.warn("TLS certificate changed but cannot be used; keeping the previous one: {}", e.getMessage());
    }
  }
}
