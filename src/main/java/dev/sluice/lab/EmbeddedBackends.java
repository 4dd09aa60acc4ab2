package dev.sluice.lab;

import dev.sluice.config.Cidr;
import dev.sluice.runtime.Transport;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@link LabBackends} of {@link EmbeddedSmtpServer}s, all on one event loop. */
final class EmbeddedBackends implements LabBackends {
  private final Transport transport = Transport.best();
  private final EventLoopGroup group = transport.newGroup(1);

  @Override
  public List<LabBackend> start(int count, String trustedRelaySource, boolean greylisting) throws Exception {
    List<LabBackend> servers = new ArrayList<>();
    try {
      for (int i = 1; i <= count; i++) {
        EmbeddedSmtpServer s = new EmbeddedSmtpServer("server" + i, LOCAL_DOMAIN);
        if (trustedRelaySource != null) {
          // The seed's "Internal Relay" connector: only that address may relay.
          s.relayControl(List.of(Cidr.parse(trustedRelaySource + "/32")), List.of(LOCAL_DOMAIN));
        }
        if (greylisting) {
          s.greylist();
        }
        servers.add(new Embedded(s.start(new InetSocketAddress("127.0.0.1", 0), group, transport), greylisting));
      }
      return servers;
    } catch (Exception | Error e) {
      servers.forEach(LabBackend::close);
      throw e;
    }
  }

  @Override
  public String description() {
    return "embedded";
  }

  @Override
  public Duration probeTimeout() {
    return Duration.ofMillis(250);
  }

  /** The embedded server greylists without a delay: the next attempt passes. */
  @Override
  public Duration greylistDelay() {
    return Duration.ZERO;
  }

  @Override
  public void close() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** The embedded server counts in memory, the moment it answers 250: nothing to settle. */
  private static final class Embedded implements LabBackend {
    private final EmbeddedSmtpServer server;
    private final boolean greylisting;
    private long base;

    Embedded(EmbeddedSmtpServer server, boolean greylisting) {
      this.server = server;
      this.greylisting = greylisting;
    }

    @Override
    public String name() {
      return server.name();
    }

    @Override
    public InetSocketAddress address() {
      return server.address();
    }

    @Override
    public void reset() {
      server.setBackPressure(false);
      if (greylisting) {
        server.greylist(); // a fresh memory: what the last run taught it must not spare this run's mail
      }
      base = server.messages();
    }

    @Override
    public void setBackPressure(boolean on) {
      server.setBackPressure(on);
    }

    @Override
    public void settle() {}

    @Override
    public long messages() {
      return server.messages() - base;
    }

    @Override
    public void close() {
      server.close();
    }
  }
}
