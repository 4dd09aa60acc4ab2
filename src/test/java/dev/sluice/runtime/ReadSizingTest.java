package dev.sluice.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.SocketChannel;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Socket reads are sized so that a small message body that follows a run of short SMTP commands
 * still comes in one read (and so goes out in one write). Netty's default sizing shrinks after
 * short reads; the second test shows the split it causes, so the first one can fail.
 */
class ReadSizingTest {
  static final int COMMANDS = 12;
  static final int BODY = 1500;

  @Test
  void aSmallBodyAfterManyShortCommandsIsReadWhole() throws Exception {
    assertThat(readsOfTheBody(Transport.READ_SIZING)).isEqualTo(1);
  }

  @Test
  void nettysDefaultSizingWouldSplitIt() throws Exception {
    assertThat(readsOfTheBody(new AdaptiveRecvByteBufAllocator())).isGreaterThan(1);
  }

  /** Sends short lines one at a time (each read before the next is sent), then one body write. */
  static int readsOfTheBody(RecvByteBufAllocator sizing) throws Exception {
    BlockingQueue<Integer> reads = new LinkedBlockingQueue<>();
    Transport transport = Transport.best();
    EventLoopGroup group = transport.newGroup(1);
    try {
      Channel server = new ServerBootstrap()
          .group(group)
          .channel(transport.serverChannel())
          .childOption(ChannelOption.RECVBUF_ALLOCATOR, sizing)
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
              ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                  ByteBuf in = (ByteBuf) msg;
                  reads.add(in.readableBytes());
                  in.release();
                }
              });
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      try (Socket client = new Socket()) {
        client.connect(server.localAddress());
        OutputStream out = client.getOutputStream();
        for (int i = 0; i < COMMANDS; i++) {
          byte[] line = "RCPT TO:<r@example.test>\r\n".getBytes(StandardCharsets.US_ASCII);
          out.write(line);
          assertThat(reads.poll(10, TimeUnit.SECONDS)).isEqualTo(line.length);
        }
        out.write(new byte[BODY]);
        int total = 0;
        int count = 0;
        while (total < BODY) {
          Integer n = reads.poll(10, TimeUnit.SECONDS);
          assertThat(n).as("bytes read so far: %d", total).isNotNull();
          total += n;
          count++;
        }
        return count;
      } finally {
        server.close().sync();
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }
}
