package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.SluiceFixture;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.Future;
import java.time.Duration;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * New sockets never join an event loop while it is still working through a batch of ready I/O
 * events. Netty finds a channel by its descriptor number, and a batch can hold an event for a
 * descriptor closed earlier in the same batch; a socket that got the number meanwhile would receive
 * that stale event (seen under load as {@code NotYetConnectedException} on backend connects and as
 * clients losing the greeting). Timing makes the race rare, so these tests check the invariant
 * itself: no session starts, and no backend socket is created, from inside the batch.
 */
class EventBatchSafetyTest {

  /** Whether the current thread is inside an event loop's processing of ready I/O events. */
  static boolean insideIoBatch() {
    return StackWalker.getInstance().walk(frames -> frames.anyMatch(f ->
        f.getMethodName().equals("processReady") || f.getMethodName().equals("processSelectedKeys")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "smtp"})
  void sessionsStartAfterTheBatchThatAcceptedThem(String mode) throws Exception {
    Queue<String> inside = new ConcurrentLinkedQueue<>();
    try (LoopbackLab lab = new LoopbackLab()) {
      EmbeddedSmtpServer backend = lab.backend("b", null);
      SluiceFixture sluice = lab.add(SluiceFixture.start("""
          health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
          pools: { p: { backends: [ "127.0.0.1:%d" ] } }
          listeners: { l: { listen: "127.0.0.1:0", mode: %s, pool: p, health: basic } }
          """.formatted(backend.port(), mode), new SessionObserver() {
            @Override
            public void connected(SessionInfo s) {
              if (insideIoBatch()) {
                inside.add(s.remote().toString());
              }
            }
          }));
      for (int i = 0; i < 20; i++) {
        try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("l"), Loopback.client(30 + i), Duration.ofSeconds(10))) {
          assertThat(c.banner().code()).isEqualTo(220);
          c.command("EHLO batch.test");
          assertThat(c.send("a@example.test", "b@example.test", "Subject: x\n\nx\n").code()).isEqualTo(250);
        }
      }
      assertThat(backend.messages()).isEqualTo(20);
    }
    assertThat(inside).as("sessions started inside a batch of ready events").isEmpty();
  }

  @Test
  void backendSocketsAreCreatedAfterTheCallersBatch() throws Exception {
    EventLoopGroup group = Transport.best().newGroup(1);
    try (LoopbackLab lab = new LoopbackLab()) {
      EmbeddedSmtpServer server = lab.backend("b", null);
      Backend backend = new Backend("p", new BackendConfig("b", new HostPort("127.0.0.1", server.port()), 1, 1,
          Map.of(), Location.NONE), 0);
      EventLoop loop = group.next();
      AtomicBoolean callerRunning = new AtomicBoolean();
      AtomicReference<Boolean> createdWhileCallerRan = new AtomicReference<>();
      AtomicReference<Future<Channel>> connected = new AtomicReference<>();
      loop.submit(() -> {
        callerRunning.set(true);
        connected.set(new BackendConnector(Transport.best()).connect(loop, backend, null, false, false, Duration.ofSeconds(5),
            new ChannelInboundHandlerAdapter() {
              @Override
              public void handlerAdded(ChannelHandlerContext ctx) {
                createdWhileCallerRan.set(callerRunning.get());
              }
            }));
        callerRunning.set(false);
      }).sync();
      Channel ch = connected.get().get(5, TimeUnit.SECONDS);
      assertThat(ch.isActive()).isTrue();
      assertThat(createdWhileCallerRan.get()).as("socket created inside the caller's task").isFalse();
      ch.close().sync();
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }
}
