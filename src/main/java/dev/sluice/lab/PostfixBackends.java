package dev.sluice.lab;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * {@link LabBackends} of real Postfix: one throwaway {@link PostfixInstance} per server, in its own
 * directory under the temporary directory, smtpd bound to 127.0.0.1 only. Nothing leaves the
 * machine: DNS is off and every message Postfix accepts, for the local domain or relayed to a
 * foreign one, is delivered by {@code virtual(8)} into the instance's Maildir, where {@link
 * LabBackend#messages()} counts it. Relaying follows {@code mynetworks} ({@code
 * permit_mynetworks, reject_unauth_destination}); back pressure is a policy service asked at every
 * {@code MAIL FROM}; greylisting is a postgrey per instance, asked at every {@code RCPT TO}. Instances are stopped and deleted on {@link LabBackend#close()}, and by a
 * shutdown hook if the JVM ends first (Ctrl-C).
 */
final class PostfixBackends implements LabBackends {
  /** postgrey's shortest delay. */
  private static final Duration POSTGREY_DELAY = Duration.ofSeconds(1);

  @Override
  public List<LabBackend> start(int count, String trustedRelaySource, boolean greylisting) throws Exception {
    String mynetworks = trustedRelaySource == null ? "127.0.0.0/8" : trustedRelaySource + "/32";
    ExecutorService starter = Executors.newFixedThreadPool(count, r -> {
      Thread t = new Thread(r, "postfix-start");
      t.setDaemon(true);
      return t;
    });
    List<Future<PostfixInstance>> starting = new ArrayList<>();
    try {
      // In parallel: a Postfix start takes a second or two, mostly waiting.
      for (int i = 1; i <= count; i++) {
        PostfixInstance.Builder b = PostfixInstance.builder("server" + i)
            .address("127.0.0.1")
            .mynetworks(mynetworks)
            .domains(LOCAL_DOMAIN)
            .backPressureExemptDomain(LOCAL_DOMAIN)
            // Relayed mail stays here too: delivered into the Maildir like local mail.
            .mainCf("default_transport", "virtual")
            .mainCf("relay_transport", "virtual");
        if (greylisting) {
          b.greylisting(POSTGREY_DELAY)
              // Every greylisting 450 is an error to smtpd, which would slow down (1 s a reply after
              // 10) and hang up (after 20) on a balancer's session that carries many senders' mail.
              .mainCf("smtpd_soft_error_limit", "1000")
              .mainCf("smtpd_hard_error_limit", "1000")
              .mainCf("smtpd_error_sleep_time", "0s");
        }
        starting.add(starter.submit(b::start));
      }
      List<LabBackend> servers = new ArrayList<>();
      Exception failure = null;
      for (Future<PostfixInstance> f : starting) {
        try {
          servers.add(new Backend(f.get()));
        } catch (ExecutionException e) {
          if (failure == null) {
            failure = e.getCause() instanceof Exception c ? c : e;
          }
        }
      }
      if (failure != null) {
        servers.forEach(LabBackend::close);
        throw failure;
      }
      return servers;
    } finally {
      starter.shutdown();
    }
  }

  @Override
  public String description() {
    return "Postfix";
  }

  @Override
  public Duration probeTimeout() {
    return Duration.ofSeconds(1);
  }

  /** postgrey compares whole seconds: one more second makes sure a retry passes. */
  @Override
  public Duration greylistDelay() {
    return POSTGREY_DELAY.plusSeconds(1);
  }

  @Override
  public void close() {}

  /** Counts the Maildir: Postfix answers 250 when the message is queued, and delivers it soon after. */
  private static final class Backend implements LabBackend {
    private static final Duration SETTLE = Duration.ofSeconds(60);
    private final PostfixInstance pf;
    private long base;

    Backend(PostfixInstance pf) {
      this.pf = pf;
    }

    @Override
    public String name() {
      return pf.name();
    }

    @Override
    public InetSocketAddress address() {
      return new InetSocketAddress(pf.address(), pf.port());
    }

    @Override
    public void reset() {
      pf.setBackPressure(false);
      pf.forgetGreylisting();
      settle();
      base = pf.deliveredCount();
    }

    @Override
    public void setBackPressure(boolean on) {
      pf.setBackPressure(on);
    }

    @Override
    public void settle() {
      pf.awaitQueueEmpty(SETTLE);
    }

    @Override
    public long messages() {
      return pf.deliveredCount() - base;
    }

    @Override
    public void close() {
      pf.close();
    }
  }
}
