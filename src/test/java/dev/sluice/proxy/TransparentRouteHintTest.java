package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.balance.Backend;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.runtime.Transport;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A transparent connection that times out, the symptom of a missing return route, is logged once
 * with the way to check it; a second one within the minute is not logged again. The timeout is
 * made on loopback by a server whose accept queue is full: the kernel then drops new SYNs.
 */
class TransparentRouteHintTest {

  @Test
  void aTimedOutTransparentConnectionNamesTheReturnRouteOnce() throws Exception {
    Transport transport = Transport.best();
    assumeTrue(transport.transparentUnavailable() == null, "IP_TRANSPARENT not permitted here");
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    Logger connectorLog = (Logger) LoggerFactory.getLogger(BackendConnector.class);
    logged.start();
    connectorLog.addAppender(logged);
    EventLoopGroup group = transport.newGroup(1);
    List<Socket> fillers = new ArrayList<>();
    try (ServerSocket full = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      // Backlog 1 and nobody accepting: after a few connections the queue is full.
      for (int i = 0; i < 4; i++) {
        Socket s = new Socket();
        try {
          s.connect(full.getLocalSocketAddress(), 300);
          fillers.add(s);
        } catch (java.io.IOException e) {
          s.close();
          break;
        }
      }
      Backend backend = new Backend("p", new BackendConfig("b", new HostPort("127.0.0.1", full.getLocalPort()), 1, 1,
          Map.of(), Location.NONE), 0);
      BackendConnector connector = new BackendConnector(transport);
      for (int i = 0; i < 2; i++) {
        var f = connector.connect(group.next(), backend, InetAddress.getByName("127.0.0.59"), true, false,
            Duration.ofMillis(300), new ChannelInboundHandlerAdapter());
        try {
          f.get(10, TimeUnit.SECONDS);
          throw new AssertionError("connected to a full accept queue");
        } catch (ExecutionException e) {
          assertThat(e.getCause()).isInstanceOf(ConnectTimeoutException.class);
        }
      }
      assertThat(logged.list).filteredOn(e -> e.getFormattedMessage().startsWith("transparent connection from 127.0.0.59"))
          .singleElement().satisfies(e -> assertThat(e.getFormattedMessage())
              .contains("sluice probe backend 127.0.0.1:" + full.getLocalPort() + " --source 127.0.0.59 --transparent"));
    } finally {
      for (Socket s : fillers) {
        s.close();
      }
      connectorLog.detachAppender(logged);
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }
}
