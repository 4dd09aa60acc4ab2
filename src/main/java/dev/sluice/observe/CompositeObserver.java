package dev.sluice.observe;

import dev.sluice.proxy.smtp.SmtpReply;
import dev.sluice.balance.Backend;
import dev.sluice.proxy.identity.ClientName;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import java.time.Duration;
import java.util.List;

/**
 * Passes every event to several observers in order (protocol log, metrics, dashboard series).
 * Immutable and thread-safe as long as its members are.
 */
public final class CompositeObserver implements SessionObserver {
  private final SessionObserver[] members;

  private CompositeObserver(List<SessionObserver> members) {
    this.members = members.toArray(new SessionObserver[0]);
  }

  /** One observer for all of {@code members}, leaving out {@link SessionObserver#NONE}. */
  public static SessionObserver of(List<SessionObserver> members) {
    List<SessionObserver> real = members.stream().filter(m -> m != null && m != NONE).toList();
    return real.isEmpty() ? NONE : real.size() == 1 ? real.get(0) : new CompositeObserver(real);
  }

  @Override
  public void connected(SessionInfo s) {
    for (SessionObserver m : members) {
      m.connected(s);
    }
  }

  @Override
  public void rejected(SessionInfo s, String reason) {
    for (SessionObserver m : members) {
      m.rejected(s, reason);
    }
  }

  @Override
  public void disconnected(SessionInfo s) {
    for (SessionObserver m : members) {
      m.disconnected(s);
    }
  }

  @Override
  public void received(SessionInfo s, String line) {
    for (SessionObserver m : members) {
      m.received(s, line);
    }
  }

  @Override
  public void sent(SessionInfo s, Stage stage, SmtpReply reply) {
    for (SessionObserver m : members) {
      m.sent(s, stage, reply);
    }
  }

  @Override
  public void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes, SmtpReply reply) {
    for (SessionObserver m : members) {
      m.transaction(s, b, outcome, bytes, reply);
    }
  }

  @Override
  public void backendStateChanged(String listener, Backend b, String text) {
    for (SessionObserver m : members) {
      m.backendStateChanged(listener, b, text);
    }
  }

  @Override
  public void info(SessionInfo s, String text) {
    for (SessionObserver m : members) {
      m.info(s, text);
    }
  }

  @Override
  public void tlsStarted(SessionInfo s, boolean implicit) {
    for (SessionObserver m : members) {
      m.tlsStarted(s, implicit);
    }
  }

  @Override
  public void deferralAffinity(SessionInfo s, Backend b, Affinity what, String transaction, Duration ago) {
    for (SessionObserver m : members) {
      m.deferralAffinity(s, b, what, transaction, ago);
    }
  }

  @Override
  public void clientNamed(SessionInfo s, ClientName name) {
    for (SessionObserver m : members) {
      m.clientNamed(s, name);
    }
  }

  @Override
  public void authRefused(SessionInfo s) {
    for (SessionObserver m : members) {
      m.authRefused(s);
    }
  }

  @Override
  public void clientNamedAfterEnd(SessionInfo s, ClientName name) {
    for (SessionObserver m : members) {
      m.clientNamedAfterEnd(s, name);
    }
  }

  @Override
  public void backendChosen(SessionInfo s, Backend b) {
    for (SessionObserver m : members) {
      m.backendChosen(s, b);
    }
  }

  @Override
  public void retry(SessionInfo s, Backend b, String reason, boolean another) {
    for (SessionObserver m : members) {
      m.retry(s, b, reason, another);
    }
  }

  @Override
  public void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes) {
    for (SessionObserver m : members) {
      m.transaction(s, b, outcome, bytes);
    }
  }

  @Override
  public void bytes(SessionInfo s, Backend b, long fromClient, long toClient) {
    for (SessionObserver m : members) {
      m.bytes(s, b, fromClient, toClient);
    }
  }
}
