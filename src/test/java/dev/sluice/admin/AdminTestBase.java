package dev.sluice.admin;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.AdminClient;
import dev.sluice.testing.SluiceFixture;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** Embedded backends and an in-process Sluice with its admin endpoint on a free loopback port. */
abstract class AdminTestBase {
  EventLoopGroup group;
  final List<AutoCloseable> toClose = new ArrayList<>();

  @BeforeEach
  void setUpGroup() {
    group = Transport.NIO.newGroup(1);
  }

  @AfterEach
  void tearDown() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  EmbeddedSmtpServer backend(String name) throws InterruptedException {
    EmbeddedSmtpServer s = new EmbeddedSmtpServer(name, "corp.example")
        .start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO);
    toClose.add(s);
    return s;
  }

  /** YAML with an admin section, a probe profile, pool {@code p} of {@code backends} and {@code listeners}. */
  static String yaml(String top, String listeners, EmbeddedSmtpServer... backends) {
    StringBuilder y = new StringBuilder();
    y.append("admin:\n  listen: 127.0.0.1:0\n").append(top);
    y.append("health:\n  deep:\n    steps: [connect, banner, ehlo, mail_from, quit]\n    mail_from: probe@internet.example\n"
        + "    interval: 60s\n    timeout: 5s\n");
    y.append("pools:\n  p:\n    backends:\n");
    for (EmbeddedSmtpServer b : backends) {
      y.append("      - { name: ").append(b.name()).append(", address: 127.0.0.1:").append(b.port()).append(" }\n");
    }
    y.append("listeners:\n").append(listeners);
    return y.toString();
  }

  static final String SMTP_LISTENER =
      "  l:\n    listen: 127.0.0.1:0\n    mode: smtp\n    pool: p\n    health: deep\n    hostname: mx.test\n";
  static final String TCP_LISTENER = "  t:\n    listen: 127.0.0.1:0\n    mode: tcp\n    pool: p\n    health: deep\n";

  SluiceFixture sluice(String yaml) throws Exception {
    SluiceFixture f = SluiceFixture.start(yaml);
    toClose.add(f);
    return f;
  }

  static AdminClient admin(SluiceFixture f) {
    return new AdminClient(f.server().admin().boundAddress());
  }
}
