package dev.sluice.proxy.tcp;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalServerChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The relay's idle check is a task on the event loop; it must go when the pair closes, or every
 * closed connection would stay reachable (both channels and their buffers) until its next check.
 */
class RelayIdleWatchTest {
  final EventLoopGroup group = new DefaultEventLoopGroup(1);

  @AfterEach
  void tearDown() throws Exception {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
  }

  /** A connected pair of in-memory channels on one loop, like a client and its backend. */
  Channel[] pair(String name) throws Exception {
    CompletableFuture<Channel> accepted = new CompletableFuture<>();
    LocalAddress address = new LocalAddress(name);
    new ServerBootstrap().group(group).channel(LocalServerChannel.class)
        .childHandler(new ChannelInboundHandlerAdapter() {
          @Override
          public void channelActive(ChannelHandlerContext ctx) {
            accepted.complete(ctx.channel());
          }
        })
        .bind(address).sync();
    Channel client = new Bootstrap().group(group).channel(LocalChannel.class)
        .handler(new ChannelInboundHandlerAdapter()).connect(address).sync().channel();
    return new Channel[] {client, accepted.get(5, TimeUnit.SECONDS)};
  }

  Relay.Ends join(Channel[] p, Duration idle) throws Exception {
    return p[0].eventLoop().submit(() -> Relay.join(p[0], p[1], (in, out) -> {}, false, idle)).get(5, TimeUnit.SECONDS);
  }

  @Test
  void theIdleCheckIsCancelledWhenThePairCloses() throws Exception {
    Channel[] p = pair("relay-idle-close");
    Relay.Ends ends = join(p, Duration.ofMinutes(5));
    assertThat(ends.idleCheckPending()).as("a check is pending while the pair is open").isTrue();

    p[1].close().sync();
    p[0].closeFuture().await(5, TimeUnit.SECONDS);

    assertThat(p[0].isOpen()).isFalse();
    assertThat(p[0].eventLoop().submit(ends::idleCheckPending).get(5, TimeUnit.SECONDS)).as("nothing left scheduled")
        .isFalse();
  }

  @Test
  void noCheckWithoutAnIdleTimeout() throws Exception {
    Channel[] p = pair("relay-idle-none");
    assertThat(join(p, Duration.ZERO).idleCheckPending()).isFalse();
    p[0].close().sync();
  }
}
