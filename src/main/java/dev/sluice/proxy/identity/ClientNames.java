package dev.sluice.proxy.identity;

import io.netty.channel.EventLoop;
import java.net.InetAddress;
import java.util.concurrent.CompletableFuture;

/**
 * Looks up clients' host names for XCLIENT/XFORWARD. {@link #lookup} is called on the client
 * session's event loop and its future completes on that same loop, never exceptionally: a failed
 * lookup is a {@link ClientName} that says so. Implementations are thread-safe.
 */
public interface ClientNames extends AutoCloseable {

  /** {@code client}'s name, as DNS tells it now (or as it told it recently). */
  CompletableFuture<ClientName> lookup(EventLoop loop, InetAddress client);

  /** Stops lookups; ones in flight end as temporarily unavailable. */
  @Override
  void close();
}
