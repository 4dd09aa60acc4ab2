package dev.sluice.proxy;

import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One client session as observers see it: listener, a process-unique id, the endpoints, and the
 * backend currently serving it (null before one is chosen). Created by the session handler;
 * mutable fields are written only on the session's event loop.
 */
public final class SessionInfo {
  private static final AtomicLong IDS = new AtomicLong(System.currentTimeMillis() << 16);

  private final String listener;
  private final long id = IDS.incrementAndGet();
  private final InetSocketAddress local;
  private final InetSocketAddress remote;
  private final long startedNanos = System.nanoTime();
  private volatile String backend;
  private int sequence;

  public SessionInfo(String listener, InetSocketAddress local, InetSocketAddress remote) {
    this.listener = listener;
    this.local = local;
    this.remote = remote;
  }

  public String listener() {
    return listener;
  }

  /** Process-unique, increasing; printed in hex like Exchange session ids. */
  public long id() {
    return id;
  }

  public String idText() {
    return Long.toHexString(id).toUpperCase(java.util.Locale.ROOT);
  }

  public InetSocketAddress local() {
    return local;
  }

  /** The real client (after a PROXY header from a trusted proxy, the address it carried). */
  public InetSocketAddress remote() {
    return remote;
  }

  public long startedNanos() {
    return startedNanos;
  }

  /** Name of the backend serving the current connection or transaction, or null. */
  public String backend() {
    return backend;
  }

  public void backend(String name) {
    this.backend = name;
  }

  /** The next event number within this session (0, 1, 2, …), as the protocol log numbers lines. */
  public int nextSequence() {
    return sequence++;
  }
}
