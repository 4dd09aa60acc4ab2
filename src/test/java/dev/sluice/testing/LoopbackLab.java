package dev.sluice.testing;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.runtime.Transport;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Per-test resources on loopback: embedded SMTP backends on one event loop, plus anything else the
 * test registers, all closed in reverse order by {@link #close()}.
 */
public final class LoopbackLab implements AutoCloseable {
  private final EventLoopGroup group = Transport.NIO.newGroup(1);
  private final List<AutoCloseable> resources = new ArrayList<>();

  /** An embedded backend on a free port; {@code exemptDomain} senders pass its back pressure (may be null). */
  public EmbeddedSmtpServer backend(String name, String exemptDomain) throws InterruptedException {
    return add(new EmbeddedSmtpServer(name, exemptDomain).start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO));
  }

  /** Registers {@code r} to be closed with the lab. */
  public <T extends AutoCloseable> T add(T r) {
    resources.add(r);
    return r;
  }

  public EventLoopGroup group() {
    return group;
  }

  @Override
  public void close() throws Exception {
    for (int i = resources.size() - 1; i >= 0; i--) {
      resources.get(i).close();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
