package dev.sluice.proxy.tls;

import dev.sluice.config.ListenerConfig;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.io.IOException;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * TLS towards backends ({@code backend_tls: starttls | require}): the backend's certificate must
 * chain to a trusted CA ({@code backend_tls_ca}, else the JDK's) and name the host Sluice
 * connects to. {@code backend_tls_verify: false} skips both checks, for labs only.
 *
 * <p>Immutable; thread-safe.
 */
public final class BackendTlsContext {
  private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};
  private final SslContext context;
  private final boolean verify;
  /** What the trust rests on: the CA file's content (empty for the JDK's CAs or without verification). */
  private final byte[] trust;

  private BackendTlsContext(SslContext context, boolean verify, byte[] trust) {
    this.context = context;
    this.verify = verify;
    this.trust = trust;
  }

  /** The context for a listener, or null when it does not use TLS towards backends. */
  public static BackendTlsContext of(ListenerConfig l) throws IOException {
    if (l.backendTls() == ListenerConfig.BackendTls.NONE) {
      return null;
    }
    try {
      SslContextBuilder b = SslContextBuilder.forClient().protocols(PROTOCOLS);
      byte[] trust = new byte[0];
      if (!l.backendTlsVerify()) {
        b.trustManager(InsecureTrustManagerFactory.INSTANCE);
      } else if (l.backendTlsCa() != null) {
        trust = java.nio.file.Files.readAllBytes(l.backendTlsCa());
        b.trustManager(new java.io.ByteArrayInputStream(trust));
      }
      return new BackendTlsContext(b.build(), l.backendTlsVerify(), trust);
    } catch (Exception e) {
      throw new IOException("cannot use backend_tls_ca " + l.backendTlsCa() + ": "
          + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), e);
    }
  }

  /**
   * Equal when the two check certificates the same way (verification on or off, the same CA
   * certificates): health probes of listeners with equal contexts judge backends alike and are
   * shared, and a reload that leaves the trust unchanged keeps their health state.
   */
  @Override
  public boolean equals(Object o) {
    return o instanceof BackendTlsContext c && c.verify == verify && java.util.Arrays.equals(c.trust, trust);
  }

  @Override
  public int hashCode() {
    return java.util.Arrays.hashCode(trust) * 31 + Boolean.hashCode(verify);
  }

  /** A client TLS handler for a backend at {@code host:port}, checking the host name when verifying. */
  public SslHandler newHandler(ByteBufAllocator alloc, String host, int port) {
    SSLEngine engine = context.newEngine(alloc, host, port);
    if (verify) {
      // Hostname verification (RFC 6125), as for HTTPS: the certificate must name this backend.
      SSLParameters p = engine.getSSLParameters();
      p.setEndpointIdentificationAlgorithm("HTTPS");
      engine.setSSLParameters(p);
    }
    return new SslHandler(engine);
  }
}
